// Package accesslog logs one line per finished gRPC call with
// go-grpc-middleware's logging interceptor on log/slog: method, status
// code (grpc.code), duration (latency_ms), peer, request id, the trace id
// when the call is traced and, once auth has run, the key id. A chat
// call's line also names its surface, the model asked for and the one
// that answered, the provider and upstream model, the attempts, the
// tokens and cost, and for streams the time to first content (ttft_ms).
//
// It never logs payloads (prompts and answers) or metadata (where the
// API key travels). Health checks and reflection are logged at debug
// level only, so that probes do not flood the log.
package accesslog
