// Package upstream holds the HTTP plumbing that provider adapters share: a
// transport tuned for many concurrent calls to one API host; the Caller,
// which sends an adapter's JSON requests, bounds each attempt by its
// timeout (a unary call whole, a streamed one until its headers arrive)
// and reads answers within size limits; the EventStream, which reads a
// streamed answer's server-sent events and owns the attempt's lifecycle
// (Close from any goroutine, cancellation, releasing the connection once);
// the checks of the settings and requests every adapter takes; and the
// mapping of HTTP error responses and transport failures to
// *llm.UpstreamError.
//
// It owns the rules that must not differ between adapters: which statuses
// are retryable, how long an upstream asked us to wait (Retry-After,
// retry-after-ms, x-ratelimit-reset-*), how a context-length overflow is
// recognised, when a failure is the caller's cancellation rather than the
// upstream's fault, and how a stream ends. Each adapter supplies only its
// URLs, its credential header, its wire format and how to pull the
// message out of its provider's error body.
package upstream
