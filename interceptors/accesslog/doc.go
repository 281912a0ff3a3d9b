// Package accesslog logs one line per finished gRPC call with
// go-grpc-middleware's logging interceptor on log/slog: method, code,
// duration, peer, request id and, once auth has run, the key id.
//
// It never logs payloads (prompts and answers) or metadata (where the
// API key travels). Health checks and reflection are logged at debug
// level only, so that probes do not flood the log.
package accesslog
