// Package anthropic is the provider adapter for the Anthropic Messages API
// (POST {BaseURL}/v1/messages), and for the proxies and gateways that speak
// it.
//
// It owns the wire format: mapping llm.Request to the Messages request body
// (system and developer messages to the top-level system prompt, turns to
// alternating user and assistant messages of content blocks, tool calls to
// tool_use blocks and tool results to tool_result blocks), the Message
// response and the named server-sent events of a streamed response back to
// llm types, Anthropic's token usage to the llm.Usage convention, and the
// Anthropic error body and rate-limit headers to *llm.UpstreamError.
//
// A Client holds no per-request state and is safe for concurrent use.
package anthropic
