// Package httperr maps the gateway's gRPC status errors to HTTP statuses,
// so that the REST facade and the OpenAI-compatible surface answer the same
// failure with the same HTTP code.
//
// The mapping follows google.rpc.Code's documented HTTP equivalents, with
// one refinement taken from the status's ErrorInfo detail: ResourceExhausted
// with reason ReasonRequestTooLarge is 413, not 429.
package httperr
