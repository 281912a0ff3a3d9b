// Package app assembles a running gateway: the gRPC server with health and
// reflection, the REST facade and the OpenAI-compatible surface on the
// HTTP listener, the door (keys, limits, budgets, usage ledger), the
// listeners' limits (load shedding, stream caps, keepalive, HTTP timeouts)
// and TLS, and the graceful shutdown that drains both listeners.
//
// A gateway built by FromConfig reloads its config while it serves
// (Reload, ReloadFrom, WatchConfig): everything a config decides is built
// into a generation, swapped in atomically; each call keeps the generation
// it started on until it ends.
package app
