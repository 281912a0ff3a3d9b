// Package observe reports every chat call (Chat and ChatStream) to an
// Observer as it starts and as it ends, with what the gateway knows of it
// then: the surface it came in on, the caller's key, the model asked for
// and the one that answered, the provider and deployment, the status,
// usage, cost, latency and time to first token. Metrics (package
// metrics) hang off it.
//
// It belongs in the chain after auth, so that it knows the key, and
// before the limits and budgets, so that it sees their refusals.
package observe
