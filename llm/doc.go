// Package llm holds the gateway's provider-neutral domain types: chat
// requests and responses, stream chunks, token usage, pricing, and the
// normalised error that every provider adapter returns for upstream
// failures.
//
// It imports only the standard library, so that providers, routing and the
// server can all depend on it without depending on each other.
package llm
