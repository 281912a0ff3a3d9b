// Package auth authenticates callers by virtual API key, on
// go-grpc-middleware's auth interceptor (an AuthFunc that returns a child
// context) composed with selector, so that health checks and reflection
// need no key.
//
// A key has the form sk-<id>-<secret>, id and secret made of letters,
// digits and underscores. The gateway stores only the id and the hex
// SHA-256 of the secret; a presented key is hashed and compared in
// constant time, and an unknown id is compared against a random hash, so
// that a wrong secret and an unknown id take the same time and get the
// same answer.
//
// The authenticated Key, with its policy (allowed models, limits, budget,
// labels), travels in the context: later interceptors read it with
// FromContext.
package auth
