// Package budget holds each key to its budget in US dollars per UTC day
// and per UTC month, on a state.Budget, so that with a shared backend the
// budget holds across every replica.
//
// Before a chat call it reserves the call's estimated cost (the prompt
// estimated from the request plus max_tokens, or a default, at the
// model's price); after the call it settles the reservation to the cost
// the gateway reports. A failed call releases its reservation, and a
// stream cut before its end is charged what it streamed. Concurrent
// requests therefore overshoot a budget by at most what they cost beyond
// their reservations. A call that does not fit is refused with
// ResourceExhausted carrying a QuotaFailure (HTTP 429, OpenAI code
// insufficient_quota).
package budget
