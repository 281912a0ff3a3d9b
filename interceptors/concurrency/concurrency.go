package concurrency

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"

	pb "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
	"github.com/llmgateway/llmgateway/interceptors/auth"
	"github.com/llmgateway/llmgateway/interceptors/internal/chatcall"
	"github.com/llmgateway/llmgateway/state"
)

// retryAfter is the wait suggested to a caller over its cap: a guess, as
// the slot frees when some request of the caller ends.
const retryAfter = time.Second

// Limiter caps requests in flight per key. Create it with New.
type Limiter struct {
	sem  state.Semaphore
	keys *chatcall.PerKey[string] // the semaphore's key of each key
}

// New returns a Limiter on sem.
func New(sem state.Semaphore) *Limiter {
	return &Limiter{sem: sem, keys: chatcall.NewPerKey(func(k *auth.Key) string { return "conc:" + k.ID })}
}

func (l *Limiter) admit(ctx context.Context, _ *pb.ChatRequest, _ bool) (func(chatcall.Outcome), error) {
	k, ok := auth.FromContext(ctx)
	if !ok || k.MaxConcurrent <= 0 {
		return nil, nil
	}
	release, ok, err := l.sem.Acquire(ctx, l.keys.Get(k), k.MaxConcurrent)
	if err != nil {
		return nil, chatcall.StateError(err, "the concurrency limit")
	}
	if !ok {
		return nil, chatcall.RateLimited(
			fmt.Sprintf("this API key already has %d requests in flight, its max_concurrent: retry when one of them ends", k.MaxConcurrent),
			"max_concurrent", retryAfter)
	}
	return func(chatcall.Outcome) { release() }, nil
}

// UnaryServerInterceptor caps Chat calls.
func (l *Limiter) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return chatcall.UnaryServerInterceptor(l.admit)
}

// StreamServerInterceptor caps ChatStream calls.
func (l *Limiter) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return chatcall.StreamServerInterceptor(l.admit)
}
