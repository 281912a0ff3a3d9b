// Package chatcall is the plumbing the door's interceptors share: it finds
// the chat request of a Chat or ChatStream call (in the unary request, or
// in the stream's first received message), lets an interceptor admit or
// refuse the call, and reports how the call ended (the response, or the
// stream's final event, or the error), so that reservations are settled
// exactly once, also when the handler panics. PerKey keeps what an
// interceptor derives from a caller's key from one call to the next.
package chatcall
