package observe_test

import (
	"context"
	"testing"

	"google.golang.org/grpc/metadata"

	"github.com/llmgateway/llmgateway/interceptors/accounting"
	"github.com/llmgateway/llmgateway/interceptors/auth"
	"github.com/llmgateway/llmgateway/interceptors/internal/calltest"
	"github.com/llmgateway/llmgateway/interceptors/observe"
)

// nop is an Observer that does nothing, so that the benchmark measures
// the interceptor alone.
type nop struct{}

func (nop) Begin(ctx context.Context, _ *observe.Call) context.Context { return ctx }
func (nop) End(context.Context, *observe.Call)                         {}

func BenchmarkUnary(b *testing.B) {
	unary := observe.New(nop{}, observe.WithResolver(resolve)).UnaryServerInterceptor()
	ctx := metadata.NewIncomingContext(auth.NewContext(context.Background(), &auth.Key{ID: "k"}),
		metadata.Pairs(accounting.SurfaceHeader, "openai"))
	req := calltest.Request("gpt-4", "what is the status of order 1234?", 100)
	resp := calltest.Response("gpt-4.1", "p", 10, 20, 0.0002)
	h := func(context.Context, any) (any, error) { return resp, nil }
	b.ReportAllocs()
	for b.Loop() {
		if _, err := unary(ctx, req, calltest.ChatInfo, h); err != nil {
			b.Fatal(err)
		}
	}
}
