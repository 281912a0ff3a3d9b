package accounting

import (
	"context"
	"testing"

	"github.com/llmgateway/llmgateway/interceptors/internal/calltest"
	"github.com/llmgateway/llmgateway/ledger"
)

// discard is a Recorder that keeps nothing.
type discard struct{}

func (discard) Record(ledger.Record) bool { return true }

func BenchmarkUnary(b *testing.B) {
	unary := New(discard{}).UnaryServerInterceptor()
	ctx := callCtx("openai")
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
