// Package providertest holds what the provider adapters' tests share: a
// fake upstream (an httptest server that records the requests it receives
// and answers with canned JSON bodies or server-sent events), checks of
// streams, errors and request bodies, and Suite, the tests of the
// behaviour every adapter must have whatever its wire format (timeouts,
// cancellation, Close, connection failures, the mapping of error statuses,
// size bounds, the replay of a JSON answer to a streamed request).
//
// Each adapter describes itself to Suite with its own fixtures, which
// follow its provider's documented wire format; the tests of its wire
// mapping stay in the adapter.
//
// It is imported by tests only.
package providertest
