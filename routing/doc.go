// Package routing decides which deployment answers a chat request and
// carries the request there. A deployment (one model on one provider) is
// the unit of health.
//
// # Choosing
//
// The Catalog resolves model names and aliases. Each model's deployments
// are ordered per request by its Strategy: PriorityStrategy,
// WeightedStrategy (smooth weighted round robin), LatencyStrategy (lowest
// recent p95) or CostStrategy (cheapest estimate). A virtual model such as
// "auto" first classifies the request (Classifier: keywords in Chinese and
// English, length, tools, conversation depth) into a simple, standard or
// complex tier, then orders the tier's models' deployments together. Each
// model or tier may name fallback models, tried once its own deployments
// are exhausted. Session affinity keeps a session on the deployment that
// last answered it.
//
// Choosing never blocks and never does I/O: it consults each deployment's
// circuit breaker, its Retry-After cool-down (CooldownStore) and its
// provider's last health-check result, all in memory, and skips the
// deployments they rule out. Active health checks (RunHealthChecks) run in
// the background.
//
// # Carrying
//
// A failed attempt counts against its deployment's breaker when the
// upstream caused it (not for bad requests, auth or the caller going
// away); a 429 or 503 with Retry-After cools the deployment down. The
// request then fails over to the next candidate, down the fallback chain,
// and, within RetryPolicy's attempts and the caller's deadline, starts
// over after a jittered exponential back-off. Streams fail over only until
// their first content; a slow first token may be hedged (HedgePolicy). The
// Route returned with every result records each attempt and skip, with
// its reason.
//
// # State
//
// Breakers, latency windows, cool-downs, affinity and health results live
// in a State keyed by deployment (Key), which a router built from a
// reloaded config inherits with WithState.
//
// # Observing
//
// An Observer (WithObserver) hears of every attempt as it starts, with its
// cause (first, failover, retry, hedge), and as it ends, with its outcome
// and usage, and of every breaker change: metrics and traces hang off it
// without routing knowing them.
package routing
