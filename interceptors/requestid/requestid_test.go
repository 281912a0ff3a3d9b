package requestid

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"
	reflectpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRequestID(t *testing.T) {
	tests := []struct {
		name string
		give []string
		keep bool
	}{
		{"caller's id kept", []string{"req-123"}, true},
		{"none", nil, false},
		{"too long", []string{strings.Repeat("a", 129)}, false},
		{"spaces", []string{"a b"}, false},
		{"control characters", []string{"a\nb"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			md := metadata.MD{}
			for _, v := range tt.give {
				md.Append(Header, v)
			}
			ctx := metadata.NewIncomingContext(context.Background(), md)
			var got string
			_, err := UnaryServerInterceptor()(ctx, nil, &grpc.UnaryServerInfo{FullMethod: "/x/Y"}, func(ctx context.Context, _ any) (any, error) {
				got = FromContext(ctx)
				return nil, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if tt.keep && got != tt.give[0] || !tt.keep && (!valid(got) || len(got) < 16 || len(tt.give) > 0 && got == tt.give[0]) {
				t.Errorf("request id = %q (given %q), keep %v", got, tt.give, tt.keep)
			}
		})
	}
	if FromContext(context.Background()) != "" {
		t.Error("FromContext outside a call is not empty")
	}
}

// TestReturnedInHeaderAndTrailer runs the interceptors on a real server:
// the id comes back in the response header and trailer, on success and
// on failure, unary and streaming.
func TestReturnedInHeaderAndTrailer(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(UnaryServerInterceptor()), grpc.ChainStreamInterceptor(StreamServerInterceptor()))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	reflection.Register(srv)
	done := make(chan struct{})
	go func() { _ = srv.Serve(lis); close(done) }()
	defer func() { srv.Stop(); <-done }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	tests := []struct {
		name    string
		service string
		give    string
	}{
		{"success with the caller's id", "", "req-7"},
		{"failure with a fresh id", "no.such.Service", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cctx := ctx
			if tt.give != "" {
				cctx = metadata.AppendToOutgoingContext(ctx, Header, tt.give)
			}
			var hdr, trl metadata.MD
			_, _ = client.Check(cctx, &healthpb.HealthCheckRequest{Service: tt.service}, grpc.Header(&hdr), grpc.Trailer(&trl))
			h, tr := hdr.Get(Header), trl.Get(Header)
			if len(h) != 1 || len(tr) != 1 || h[0] != tr[0] || tt.give != "" && h[0] != tt.give || !valid(h[0]) {
				t.Errorf("header %v, trailer %v; want the same id in both (given %q)", h, tr, tt.give)
			}
		})
	}

	rc, err := reflectpb.NewServerReflectionClient(conn).ServerReflectionInfo(metadata.AppendToOutgoingContext(ctx, Header, "req-8"))
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Send(&reflectpb.ServerReflectionRequest{MessageRequest: &reflectpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	if _, err := rc.Recv(); err != nil {
		t.Fatal(err)
	}
	_ = rc.CloseSend()
	for {
		if _, err := rc.Recv(); err != nil {
			break
		}
	}
	hdr, err := rc.Header()
	if err != nil || len(hdr.Get(Header)) != 1 || hdr.Get(Header)[0] != "req-8" {
		t.Errorf("stream header = %v, %v; want req-8", hdr, err)
	}
	if trl := rc.Trailer(); len(trl.Get(Header)) != 1 || trl.Get(Header)[0] != "req-8" {
		t.Errorf("stream trailer = %v, want req-8", trl)
	}
}
