// Package openaiapi serves the OpenAI-compatible HTTP surface of the
// gateway: POST /v1/chat/completions (unary and server-sent events),
// GET /v1/models and GET /v1/models/{id}, so that the official OpenAI SDKs
// work against the gateway by changing only their base URL.
//
// It does not implement chat itself. Each request is translated from
// OpenAI's JSON to the gateway's gRPC contract and sent through an
// llmgatewayv1.LLMGatewayServiceClient that the caller gives; the gateway
// gives one over its in-process channel (app/inproc.go), which runs the
// gRPC server's own interceptor chain, so that every interceptor (auth,
// rate limits, budgets) applies to HTTP callers too. The Authorization,
// x-request-id, traceparent and tracestate headers travel as outgoing gRPC
// metadata, and the HTTP request's context is the call's context: a client
// that disconnects cancels the gRPC call.
//
// Errors take OpenAI's shape, {"error":{"message","type","param","code"}},
// with the HTTP status that surface/httperr assigns to the gRPC status, so
// that this surface and the REST facade answer a failure with the same code.
package openaiapi
