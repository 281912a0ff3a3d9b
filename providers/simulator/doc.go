// Package simulator is a routing.Provider that answers chat requests
// without any network: the gateway's default deployment, so that a fresh
// clone runs with no API key, and the test double for resilience work
// (circuit breakers, retries, failover, hedging, fault drills).
//
// Answers are deterministic: the reply depends only on the request's model
// and messages (then bounded by MaxTokens and Stop), so the same request
// always gets the same text, the same tool call and the same usage, streamed
// or not. Timing and faults are drawn from a per-provider random source
// seeded by Config.Seed:
//
//   - Config.Latency is the time to the first token (and the base latency
//     of a unary call), a lognormal distribution fitted through its P50 and
//     P99.
//   - Config.TokensPerSecond paces the stream, one token per chunk; a
//     unary call returns when the stream would have sent its last token.
//   - Config.Faults answers a share of requests like a failing upstream
//     would: HTTP 500, 429 with Retry-After, 503, a hang until the caller's
//     context ends, or a connection cut part-way through the answer.
//     Provider.SetFaults changes them at run time, under load.
//
// A request can force one outcome through its metadata, for tests that must
// not depend on chance:
//
//	req.Metadata = map[string]string{
//		simulator.MetadataFault:   simulator.FaultRateLimit,
//		simulator.MetadataLatency: "250ms",
//	}
//
// Faults are returned as *llm.UpstreamError with the provider's name, kind,
// HTTP status, retryability and Retry-After that a real adapter would
// report. A malformed request or metadata value is answered like an
// upstream's HTTP 400, with a message saying what to fix.
//
// # Tokens and usage
//
// A token is a word with the whitespace that follows it; a tool call is one
// token for its id and name plus one per four bytes of arguments.
// CompletionTokens counts the tokens sent; PromptTokens estimates the
// input at four characters per token plus a small overhead per message and
// per tool. A stream reports the same usage as the unary call, on its final
// chunk.
package simulator

// Request metadata keys the simulator reads. Other keys are ignored.
const (
	// MetadataFault forces one outcome for the request: one of
	// FaultError, FaultRateLimit, FaultOverloaded, FaultTimeout, FaultCut,
	// FaultAuth or FaultBadRequest. It takes precedence over the fault
	// rates.
	MetadataFault = "simulator.fault"
	// MetadataLatency sets the time to the first token exactly, as a Go
	// duration ("150ms"), instead of sampling Config.Latency. SlowFactor
	// does not apply to it; it still applies to the time between tokens.
	MetadataLatency = "simulator.latency"
	// MetadataReply sets the exact reply text. The reply is then text even
	// when the request offers tools; MaxTokens and Stop still apply.
	MetadataReply = "simulator.reply"
)

// Values of MetadataFault.
const (
	// FaultError answers like an HTTP 500: llm.KindServer, retryable.
	FaultError = "error"
	// FaultRateLimit answers like an HTTP 429 with Retry-After
	// (Faults.RetryAfter): llm.KindRateLimited, retryable.
	FaultRateLimit = "rate_limit"
	// FaultOverloaded answers like an HTTP 503: llm.KindOverloaded,
	// retryable.
	FaultOverloaded = "overloaded"
	// FaultTimeout never answers: the call blocks until its context ends
	// and returns llm.KindTimeout (deadline) or llm.KindCanceled.
	FaultTimeout = "timeout"
	// FaultCut drops the connection half-way through the answer: a stream
	// sends half of its tokens, then Recv returns llm.KindConnection
	// (retryable); a unary call returns that error when the cut happens.
	FaultCut = "cut"
	// FaultAuth answers like an HTTP 401: llm.KindAuth, not retryable.
	FaultAuth = "auth"
	// FaultBadRequest answers like an HTTP 400: llm.KindBadRequest, not
	// retryable.
	FaultBadRequest = "bad_request"
)
