package app

import (
	"context"
	"log/slog"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/llmgateway/llmgateway/config"
	pb "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
)

// chain composes unary interceptors the way grpc.ChainUnaryInterceptor
// does.
func chain(is []grpc.UnaryServerInterceptor, h grpc.UnaryHandler) grpc.UnaryHandler {
	for i := len(is) - 1; i >= 0; i-- {
		icpt, next := is[i], h
		h = func(ctx context.Context, req any) (any, error) {
			return icpt(ctx, req, &grpc.UnaryServerInfo{FullMethod: "/llmgateway.v1.LLMGatewayService/Chat"}, next)
		}
	}
	return h
}

// benchmarkDoor measures the door's unary chain (request id, access log,
// auth, accounting, allowlist, concurrency, rpm/tpm, budget) around a
// handler that answers at once, on the in-memory state.
func benchmarkDoor(b *testing.B, keyed bool) {
	k := newKey(b, "bench")
	yaml := doorBase
	if keyed {
		yaml += "keys:\n" + k.entry("models: [gpt-4.1, 'deep*'], rpm: 1000000000, tpm: 1000000000000, max_concurrent: 1000, budget: {daily_usd: 1000000000}")
	}
	cfg, err := config.Parse([]byte(yaml))
	if err != nil {
		b.Fatal(err)
	}
	d, err := newDoor(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	gt, err := d.newGate(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	d.gate = func() *gate { return gt }
	ctx := context.Background()
	if err := d.start(ctx); err != nil {
		b.Fatal(err)
	}
	defer d.stop(ctx)
	var unary []grpc.UnaryServerInterceptor
	for _, o := range d.options() {
		var opts options
		o(&opts)
		unary = append(unary, opts.unary...)
	}
	unary = append(unary, gt.unary...)
	resp := &pb.ChatResponse{Model: "gpt-4.1", Provider: "sim-a", CostUsd: 0.0002,
		Usage: &pb.Usage{PromptTokens: 12, CompletionTokens: 20, TotalTokens: 32}}
	h := chain(unary, func(context.Context, any) (any, error) { return resp, nil })
	mt := int32(100)
	req := &pb.ChatRequest{Model: "gpt-4", MaxTokens: &mt, Messages: []*pb.Message{{Role: "user", Content: "what is the status of order 1234?"}}}
	cctx := metadata.NewIncomingContext(ctx, metadata.Pairs("authorization", "Bearer "+k.key, "x-request-id", "bench-1"))
	cctx = grpc.NewContextWithServerTransportStream(cctx, transportStream{})
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := h(cctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDoorChain(b *testing.B) {
	b.Run("keyed", func(b *testing.B) { benchmarkDoor(b, true) })
	b.Run("open", func(b *testing.B) { benchmarkDoor(b, false) })
}

// transportStream takes the response headers the interceptors set, as a
// server's stream would.
type transportStream struct{}

func (transportStream) Method() string                  { return "/llmgateway.v1.LLMGatewayService/Chat" }
func (transportStream) SetHeader(metadata.MD) error     { return nil }
func (transportStream) SendHeader(metadata.MD) error    { return nil }
func (transportStream) SetTrailer(md metadata.MD) error { return nil }
