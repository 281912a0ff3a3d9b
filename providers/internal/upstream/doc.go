// Package upstream holds the HTTP plumbing that provider adapters share: a
// transport tuned for many concurrent calls to one API host, JSON request
// and response helpers with size bounds, and the mapping of HTTP error
// responses and transport failures to *llm.UpstreamError.
//
// It owns the classification rules that must not differ between adapters:
// which statuses are retryable, how long an upstream asked us to wait
// (Retry-After, retry-after-ms, x-ratelimit-reset-*), how a context-length
// overflow is recognised, and when a failure is the caller's cancellation
// rather than the upstream's fault. Each adapter supplies only how to pull
// the message out of its provider's error body.
package upstream
