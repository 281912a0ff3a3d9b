// Package requestid gives every call an id: the caller's x-request-id
// metadata when it is a sane one (printable ASCII, at most 128 bytes),
// else a fresh random one. The id goes into the call's context (read it
// with FromContext), into the access log's fields, and back to the caller
// as x-request-id response metadata, which both HTTP surfaces turn into a
// header.
package requestid
