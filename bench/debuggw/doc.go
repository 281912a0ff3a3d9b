// Package debuggw runs the gateway exactly as cmd/llmgateway serves it
// (config.Load, app.FromConfig, the two listeners, graceful stop on the
// context), plus a debug HTTP listener on loopback with net/http/pprof
// under /debug/pprof/ and the goroutine count at /debug/goroutines.
//
// The benchmark uses it where it needs to look inside the process: CPU
// and allocation profiles of a run, and the goroutines of the 10,000
// stream scale test. Every overhead figure is measured on the real
// bin/llmgateway instead.
package debuggw
