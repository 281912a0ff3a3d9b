// Package metrics owns the gateway's Prometheus metrics: one registry per
// process (never the global one), the collectors, and the handler that
// serves them (GET /metrics).
//
// Metrics hears of the gateway's work three ways. It is the
// observe.Observer of every chat call (requests, latency, time to first
// token, tokens, cost, refusals, calls in flight, the gateway's own
// overhead); it is the routing.Observer of every upstream attempt and
// breaker change (attempts, upstream latency, retries, failovers, hedges,
// breaker transitions); and at scrape time it reads the router's
// deployment health, the usage ledger's counters, the Redis state store's
// counters and the gateway's own (load shedding, config reloads) through
// the functions given to WatchRouter, WatchLedger, WatchRedis and
// WatchGateway. It also carries the standard gRPC server
// metrics of go-grpc-middleware's prometheus provider.
//
// Names follow the OpenTelemetry GenAI semantic conventions where they
// exist (gen_ai_client_token_usage, gen_ai_server_request_duration_seconds,
// gen_ai_server_time_to_first_token_seconds, with gen_ai_* labels) and
// Prometheus conventions with an llmgateway_ prefix otherwise. Every label
// value comes from the config (models, providers, deployments, key
// labels) or from a small fixed set (surfaces, status codes, outcomes):
// never user ids, request ids, prompts or key ids.
package metrics
