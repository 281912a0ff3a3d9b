package app

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/llmgateway/llmgateway/config"
	pb "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
	"github.com/llmgateway/llmgateway/telemetry/telemetrytest"
)

// benchmarkTelemetry serves a gateway on telemetry (a telemetry section)
// and measures unary calls through it over loopback gRPC: the whole
// request path, with the door, routing and a simulator that answers at
// once.
func benchmarkTelemetry(b *testing.B, telemetry string) {
	cfg, err := config.Parse([]byte(`
server: {drain_timeout: 5s}
providers: [{name: sim-a, type: simulator}]
models: [{name: gpt-4.1, deployments: [{provider: sim-a}], pricing: {input_per_mtok: 2, output_per_mtok: 8}}]
` + telemetry))
	if err != nil {
		b.Fatal(err)
	}
	gw, err := FromConfig(cfg, slog.New(slog.DiscardHandler), noEnv)
	if err != nil {
		b.Fatal(err)
	}
	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gw.Serve(ctx, gl, hl) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	}()
	conn, err := grpc.NewClient(gl.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	client := pb.NewLLMGatewayServiceClient(conn)
	mt := int32(16)
	req := &pb.ChatRequest{Model: "gpt-4.1", MaxTokens: &mt, Messages: []*pb.Message{{Role: "user", Content: "where is order 1234?"}}}
	cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer ccancel()
	if _, err := client.Chat(cctx, req, grpc.WaitForReady(true)); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := client.Chat(cctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTelemetry compares a gateway without metrics or tracing, with
// metrics (the default: tracing off installs nothing), and with tracing
// on, every call sampled or none. The traced runs export to an in-process
// OTLP collector, whose own work (and allocations) the numbers include.
func BenchmarkTelemetry(b *testing.B) {
	b.Run("metrics off, tracing off", func(b *testing.B) {
		benchmarkTelemetry(b, "telemetry: {metrics: {enabled: false}}\n")
	})
	b.Run("metrics on, tracing off", func(b *testing.B) { benchmarkTelemetry(b, "") })
	for _, ratio := range []string{"0", "1"} {
		b.Run("metrics on, tracing on, sample_ratio "+ratio, func(b *testing.B) {
			col := telemetrytest.NewGRPC(b)
			benchmarkTelemetry(b, "telemetry: {tracing: {enabled: true, insecure: true, sample_ratio: "+ratio+", endpoint: '"+col.Endpoint+"'}}\n")
		})
	}
}
