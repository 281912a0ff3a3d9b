package allowlist

import (
	"context"
	"testing"

	"github.com/llmgateway/llmgateway/interceptors/auth"
	"github.com/llmgateway/llmgateway/interceptors/internal/calltest"
)

func BenchmarkUnary(b *testing.B) {
	unary := New(resolve).UnaryServerInterceptor()
	ctx := auth.NewContext(context.Background(), &auth.Key{ID: "k", Models: []string{"gpt-4o", "deepseek-*", "gpt-4.1"}})
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
