// Package requestid gives every call an id: the caller's x-request-id
// metadata when it is a sane one (printable ASCII, at most 128 bytes),
// else a fresh random one. The id goes into the call's context (read it
// with FromContext), into the access log's fields, and back to the caller
// as x-request-id response header and trailer metadata (the trailer
// carries it even when a call fails before any header was sent), which
// both HTTP surfaces turn into an X-Request-Id header.
package requestid
