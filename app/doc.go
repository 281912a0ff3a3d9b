// Package app assembles a running gateway: the gRPC server with health and
// reflection, the REST facade and the OpenAI-compatible surface on the
// HTTP listener, and the graceful shutdown that drains both.
package app
