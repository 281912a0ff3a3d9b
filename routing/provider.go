package routing

import (
	"context"

	"github.com/llmgateway/llmgateway/llm"
)

// Provider is an upstream API that answers chat requests: one adapter per
// API family (providers/openai, providers/simulator, ...). The router owns
// the choice of deployment; a Provider only speaks its wire format.
//
// Chat and ChatStream must honour ctx: when it is cancelled or its deadline
// passes, the upstream request is cancelled and the call returns promptly.
// Upstream failures are returned as *llm.UpstreamError. ChatStream returns
// once the upstream has accepted the request (HTTP status received); errors
// after that come from the stream's Recv.
type Provider interface {
	Chat(ctx context.Context, req *llm.Request) (*llm.Response, error)
	ChatStream(ctx context.Context, req *llm.Request) (llm.Stream, error)
}
