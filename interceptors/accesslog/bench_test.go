package accesslog_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	pb "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
	"github.com/llmgateway/llmgateway/interceptors/accesslog"
	"github.com/llmgateway/llmgateway/interceptors/accounting"
	"github.com/llmgateway/llmgateway/interceptors/internal/calltest"
)

// benchContext is what a call's context holds when it reaches the access
// log in production: incoming metadata, the peer and the request id field
// that the requestid interceptor injects.
func benchContext() context.Context {
	ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs(
		"authorization", "Bearer "+apiKey, accounting.SurfaceHeader, "openai"))
	ctx = peer.NewContext(ctx, &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 54321}})
	return logging.InjectLogField(ctx, "request_id", "req-42")
}

// benchLogger logs JSON at info level to io.Discard, as production does
// to stderr.
func benchLogger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func BenchmarkUnaryServerInterceptor(b *testing.B) {
	answered := calltest.Response("gpt-4.1", "sim-a", 10, 5, 0.25)
	for _, bb := range []struct {
		name string
		info *grpc.UnaryServerInfo
		req  any
		resp any
	}{
		{"ListModels", &grpc.UnaryServerInfo{FullMethod: "/llmgateway.v1.LLMGatewayService/ListModels"}, &pb.ListModelsRequest{}, &pb.ListModelsResponse{}},
		{"Chat", calltest.ChatInfo, calltest.Request("gpt-4", prompt, 0), answered},
		{"HealthCheck", &grpc.UnaryServerInfo{FullMethod: "/grpc.health.v1.Health/Check"}, &healthpb.HealthCheckRequest{}, &healthpb.HealthCheckResponse{}},
	} {
		b.Run(bb.name, func(b *testing.B) {
			ctx, al := benchContext(), accesslog.UnaryServerInterceptor(benchLogger())
			handler := func(context.Context, any) (any, error) { return bb.resp, nil }
			b.ReportAllocs()
			for b.Loop() {
				if _, err := al(ctx, bb.req, bb.info, handler); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchStream is a server stream that only has a context.
type benchStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s benchStream) Context() context.Context { return s.ctx }

func BenchmarkStreamServerInterceptor(b *testing.B) {
	ss := benchStream{ctx: benchContext()}
	al := accesslog.StreamServerInterceptor(benchLogger())
	handler := func(any, grpc.ServerStream) error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		if err := al(nil, ss, calltest.StreamInfo, handler); err != nil {
			b.Fatal(err)
		}
	}
}
