// Package routing decides which deployment answers a chat request and
// carries the request there: it resolves model names and aliases through
// the Catalog, orders a model's deployments, and fails over to the next
// deployment when one fails in a way another might not. Every attempt is
// recorded in the Route returned with the result.
//
// Routing declares the Provider it consumes; it never imports a concrete
// adapter. Choosing a deployment never blocks and never does I/O.
package routing
