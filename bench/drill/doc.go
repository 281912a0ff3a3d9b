// Command drill is the gateway's fault drill (make drill): a reproducible
// run, on simulated providers and through the real gRPC server, of a
// customer-service workload (70% simple, 20% standard, 10% complex
// requests, Chinese and English) at a steady rate while faults are
// injected: one provider hard down for a window, one answering bursts of
// 429 with Retry-After, one slowed five times. The same run against the
// baseline (everything to GPT-4.1 on one provider, no failover) gives the
// comparison. It prints availability, cost per 1,000 requests, p50/p99
// latency, failovers, breaker trips and hedges, checks the targets and
// exits non-zero when one is missed.
//
// Usage:
//
//	go run ./bench/drill [-duration 60s] [-rps 300] [-seed 1] [-scale 1]
package main
