// Package harness is the overhead benchmark behind make bench: it starts
// an upstream (llmsim), our gateway and, when installed, the peer gateway
// (Portkey AI Gateway, from npm) as separate processes on loopback, drives
// each at the same constant rates with package load, and reports what each
// gateway adds to the latency of going straight to the upstream.
//
// A point is one target at one rate: a warm-up, then the measured
// interval. At every rate the upstream alone (direct) is measured first,
// then our gateway on its OpenAI-compatible surface and on gRPC, then the
// peer; overhead is through − direct, percentile by percentile. Each
// gateway process is started afresh for its point, so that its CPU time
// (from /proc/PID/stat) and peak RSS (VmHWM) belong to that point alone.
// Our gateway runs with the production chain on (a virtual key, rate
// limits and a budget that are never hit, the ledger on SQLite, logs at
// info) and, at the reference rate, once more with everything off.
//
// Streams are measured by time to first token (TTFT) and to last token
// (TTLT); the upstream spaces its chunks by a fixed delay, and the spacing
// seen through each gateway shows whether chunks are relayed as they come.
// A scale test holds thousands of streams open through one gateway
// process and reports its RSS and goroutines.
//
// Run returns a Report; Report.WriteTable prints the one table and
// Report.WriteJSON the machine-readable form.
package harness
