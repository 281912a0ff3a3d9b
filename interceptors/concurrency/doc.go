// Package concurrency caps the chat requests each key has in flight (its
// max_concurrent), on a state.Semaphore, so that with a shared backend the
// cap holds across every replica. A request over the cap is refused with
// ResourceExhausted and a RetryInfo (HTTP 429 with Retry-After); the slot
// is freed when the call ends, however it ends.
package concurrency
