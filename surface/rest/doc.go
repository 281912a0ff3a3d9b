// Package rest is the REST/JSON facade: a grpc-gateway mux, mounted under
// /api/v1/, that calls the gateway's service through a connection the
// gateway gives (its in-process channel, which runs the gRPC server's
// interceptor chain), so that every gRPC interceptor applies to REST
// callers too. It also serves the generated
// OpenAPI document.
//
// JSON uses the proto field names (snake_case) on output and accepts both
// snake_case and lowerCamelCase on input. Streams are newline-delimited
// JSON: one {"result": ChatStreamResponse} object per line, or one
// {"error": Status} line when the stream fails.
package rest
