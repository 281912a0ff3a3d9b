// Package cohere is the provider adapter for the Cohere Chat API, version 2
// (POST {BaseURL}/v2/chat).
//
// It owns the wire format: mapping llm.Request to Cohere's request body
// (system, user, assistant and tool messages; tools; tool_choice; the p,
// stop_sequences and max_tokens sampling fields), the JSON response and the
// typed server-sent events of a streamed response (message-start,
// content-delta, tool-call-start, tool-call-delta, message-end, ...) back to
// llm types, and Cohere's error bodies ({"id","message"}) and statuses (498,
// 499, ...) to *llm.UpstreamError.
//
// A Client holds no per-request state and is safe for concurrent use.
package cohere
