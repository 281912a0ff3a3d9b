// Package ratelimit limits each key's chat requests per minute (rpm) and
// tokens per minute (tpm) with GCRA on a state.Limiter, so that with a
// shared backend the limits hold across every replica.
//
// Tokens are reserved before the call: the prompt estimated from the
// request plus its max_tokens, or a default when it sets none. After the
// call the reservation is settled to the tokens the upstream reported
// (prompt + completion); a call that failed gives its reservation back,
// and a stream cut before its end is charged what it streamed. A request
// over a limit is refused with ResourceExhausted and a RetryInfo (HTTP 429
// with Retry-After) and leaves no trace: a request refused on tpm, or
// refused by the budget check after this one, gives its rpm unit back.
//
// Allowed requests carry OpenAI's x-ratelimit-limit-requests,
// x-ratelimit-remaining-requests, x-ratelimit-limit-tokens and
// x-ratelimit-remaining-tokens response metadata.
package ratelimit
