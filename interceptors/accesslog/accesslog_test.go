package accesslog_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	pb "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
	"github.com/llmgateway/llmgateway/interceptors/accesslog"
	"github.com/llmgateway/llmgateway/interceptors/accounting"
	"github.com/llmgateway/llmgateway/interceptors/internal/calltest"
	"github.com/llmgateway/llmgateway/interceptors/requestid"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	apiKey = "sk-cs_bot-Z8rPq0aXw3bT6yV1nM4kL7jH2gF5dS9e"
	prompt = "my card is 4111 1111 1111 1111, where is order 1234?"
)

// logs collects JSON log lines.
type logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// lines returns the logged records.
func (l *logs) lines(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func (l *logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// incoming is the metadata of a call from the OpenAI surface with a key
// and a request id.
func incoming(ctx context.Context) context.Context {
	return metadata.NewIncomingContext(ctx, metadata.Pairs(
		"authorization", "Bearer "+apiKey,
		requestid.Header, "req-42",
		accounting.SurfaceHeader, "openai"))
}

// authLike does what auth does for the log: it adds the key id.
func authLike(ctx context.Context) { logging.AddFields(ctx, logging.Fields{"key_id", "cs_bot"}) }

func unary(l *slog.Logger) func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	rid, al := requestid.UnaryServerInterceptor(), accesslog.UnaryServerInterceptor(l)
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		return rid(ctx, req, info, func(ctx context.Context, req any) (any, error) {
			return al(ctx, req, info, func(ctx context.Context, req any) (any, error) {
				authLike(ctx)
				return h(ctx, req)
			})
		})
	}
}

func TestUnaryLines(t *testing.T) {
	answered := calltest.Response("gpt-4.1", "sim-a", 10, 5, 0.25)
	answered.Route.Attempts = []*pb.RouteAttempt{{Provider: "sim-b", Outcome: "error"}, {Provider: "sim-a", UpstreamModel: "gpt-4.1-up", Outcome: "ok"}}
	traced := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{0x4b, 0xf9, 1}, SpanID: trace.SpanID{1}, TraceFlags: trace.FlagsSampled}))
	tests := []struct {
		name  string
		ctx   context.Context
		info  *grpc.UnaryServerInfo
		req   any
		resp  any
		err   error
		level string
		want  map[string]any
		never []string
	}{
		{
			name: "chat answered", ctx: context.Background(), info: calltest.ChatInfo, req: calltest.Request("gpt-4", prompt, 0), resp: answered,
			level: "INFO",
			want: map[string]any{"msg": "finished call", "grpc.service": "llmgateway.v1.LLMGatewayService", "grpc.method": "Chat",
				"grpc.code": "OK", "request_id": "req-42", "key_id": "cs_bot", "surface": "openai", "requested_model": "gpt-4",
				"model": "gpt-4.1", "provider": "sim-a", "upstream_model": "gpt-4.1-up", "attempts": 2.0,
				"prompt_tokens": 10.0, "completion_tokens": 5.0, "cost_usd": 0.25},
			never: []string{"trace_id"},
		},
		{
			name: "chat failed", ctx: context.Background(), info: calltest.ChatInfo, req: calltest.Request("gpt-4", prompt, 0),
			err:   status.Error(codes.Unavailable, "no upstream could answer"),
			level: "WARN",
			want:  map[string]any{"grpc.code": "Unavailable", "grpc.error": "rpc error: code = Unavailable desc = no upstream could answer", "requested_model": "gpt-4"},
			never: []string{"model", "provider", "prompt_tokens"},
		},
		{
			name: "traced call", ctx: traced, info: calltest.ChatInfo, req: calltest.Request("gpt-4", prompt, 0), resp: answered,
			level: "INFO",
			want:  map[string]any{"trace_id": "4bf90100000000000000000000000000"},
		},
		{
			name: "other methods log their own fields", ctx: context.Background(), info: &grpc.UnaryServerInfo{FullMethod: "/llmgateway.v1.LLMGatewayService/ListModels"},
			req: &pb.ListModelsRequest{}, resp: &pb.ListModelsResponse{}, level: "INFO",
			want:  map[string]any{"grpc.method": "ListModels", "grpc.code": "OK", "key_id": "cs_bot"},
			never: []string{"surface", "model"},
		},
		{
			name: "health checks are debug", ctx: context.Background(), info: &grpc.UnaryServerInfo{FullMethod: "/grpc.health.v1.Health/Check"},
			req: &healthpb.HealthCheckRequest{}, resp: &healthpb.HealthCheckResponse{}, level: "DEBUG",
			want: map[string]any{"grpc.method": "Check"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out logs
			l := slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
			_, _ = unary(l)(incoming(tt.ctx), tt.req, tt.info, func(context.Context, any) (any, error) { return tt.resp, tt.err })
			lines := out.lines(t)
			if len(lines) != 1 {
				t.Fatalf("logged %d lines, want 1:\n%s", len(lines), out.String())
			}
			got := lines[0]
			if got["level"] != tt.level {
				t.Errorf("level = %v, want %s", got["level"], tt.level)
			}
			for k, w := range tt.want {
				if got[k] != w {
					t.Errorf("%s = %#v, want %#v", k, got[k], w)
				}
			}
			if ms, ok := got["latency_ms"].(float64); !ok || ms < 0 {
				t.Errorf("latency_ms = %v, want a number of milliseconds", got["latency_ms"])
			}
			for _, k := range tt.never {
				if _, ok := got[k]; ok {
					t.Errorf("unexpected field %s = %v", k, got[k])
				}
			}
			for _, leak := range []string{apiKey, "Z8rPq0aXw3bT6yV1nM4kL7jH2gF5dS9e", "4111", "order 1234"} {
				if strings.Contains(out.String(), leak) {
					t.Errorf("the log contains %q:\n%s", leak, out.String())
				}
			}
		})
	}
}

func TestStreamLine(t *testing.T) {
	var out logs
	l := slog.New(slog.NewJSONHandler(&out, nil))
	rid, al := requestid.StreamServerInterceptor(), accesslog.StreamServerInterceptor(l)
	ss := &calltest.Stream{Ctx: incoming(context.Background()), Req: calltest.Request("gpt-4", prompt, 0)}
	events := []*pb.ChatStreamResponse{calltest.Delta("gpt-4.1", "Hello"), calltest.Final("gpt-4.1", "sim-a", 7, 4, 0.1)}
	err := rid(nil, ss, calltest.StreamInfo, func(srv any, ss grpc.ServerStream) error {
		return al(srv, ss, calltest.StreamInfo, func(srv any, ss grpc.ServerStream) error {
			authLike(ss.Context())
			return calltest.StreamHandler(events, nil)(srv, ss)
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	lines := out.lines(t)
	if len(lines) != 1 {
		t.Fatalf("logged %d lines, want 1:\n%s", len(lines), out.String())
	}
	got := lines[0]
	for k, w := range map[string]any{"grpc.method": "ChatStream", "grpc.code": "OK", "request_id": "req-42", "key_id": "cs_bot",
		"model": "gpt-4.1", "provider": "sim-a", "prompt_tokens": 7.0, "completion_tokens": 4.0, "surface": "openai"} {
		if got[k] != w {
			t.Errorf("%s = %#v, want %#v", k, got[k], w)
		}
	}
	if ttft, ok := got["ttft_ms"].(float64); !ok || ttft < 0 {
		t.Errorf("ttft_ms = %v, want a time", got["ttft_ms"])
	}
	if strings.Contains(out.String(), "4111") || strings.Contains(out.String(), apiKey) || strings.Contains(out.String(), "Hello") {
		t.Errorf("the log contains the key, the prompt or the answer:\n%s", out.String())
	}
}

// keys returns the keys of a JSON log line, in order.
func keys(t *testing.T, line string) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(line))
	if _, err := dec.Token(); err != nil { // {
		t.Fatalf("log line %q: %v", line, err)
	}
	var out []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, k.(string))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
	}
	return out
}

// TestLineLayout pins the order of the fields and which of two fields of
// the same key wins to what go-grpc-middleware's logging interceptor
// wrote, so that the line reads the same since this package logs it
// itself.
func TestLineLayout(t *testing.T) {
	answered := calltest.Response("gpt-4.1", "sim-a", 10, 5, 0.25)
	ctx, cancel := context.WithTimeout(incoming(context.Background()), time.Minute)
	defer cancel()
	ctx = trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{0x4b, 0xf9, 1}, SpanID: trace.SpanID{1}, TraceFlags: trace.FlagsSampled}))
	ctx = peer.NewContext(ctx, &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 5}})
	var out logs
	l := slog.New(slog.NewJSONHandler(&out, nil))
	_, _ = unary(l)(ctx, calltest.Request("gpt-4", prompt, 0), calltest.ChatInfo, func(ctx context.Context, _ any) (any, error) {
		// The newest fields come first: these before auth's key_id.
		logging.AddFields(ctx, logging.Fields{"request_id", "overridden", "grpc.code", "overridden"})
		return answered, nil
	})
	want := []string{"time", "level", "msg", "trace_id", "protocol", "grpc.service", "grpc.method", "request_id",
		"peer.address", "grpc.start_time", "grpc.request.deadline", "surface", "requested_model", "model", "provider",
		"upstream_model", "attempts", "prompt_tokens", "completion_tokens", "cost_usd", "grpc.code", "key_id", "latency_ms"}
	if diff := cmp.Diff(want, keys(t, out.String())); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
	got := out.lines(t)[0]
	for k, w := range map[string]any{"request_id": "req-42", "grpc.code": "overridden", "peer.address": "10.0.0.1:5", "protocol": "grpc"} {
		if got[k] != w {
			t.Errorf("%s = %#v, want %#v", k, got[k], w)
		}
	}
}

// TestLevels checks that a call is logged at the level of its code even
// when the logger is above info, and that probes are not logged above
// debug.
func TestLevels(t *testing.T) {
	tests := []struct {
		give    slog.Level
		method  string
		err     error
		want    string
		wantKey bool
	}{
		{give: slog.LevelWarn, method: "/llmgateway.v1.LLMGatewayService/ListModels", want: ""},
		{give: slog.LevelWarn, method: "/llmgateway.v1.LLMGatewayService/ListModels", err: status.Error(codes.Unavailable, "down"), want: "WARN", wantKey: true},
		{give: slog.LevelWarn, method: "/llmgateway.v1.LLMGatewayService/ListModels", err: errors.New("boom"), want: "ERROR", wantKey: true},
		{give: slog.LevelInfo, method: "/llmgateway.v1.LLMGatewayService/ListModels", err: io.EOF, want: "INFO", wantKey: true},
		{give: slog.LevelInfo, method: "/grpc.health.v1.Health/Check", err: status.Error(codes.Internal, "x"), want: ""},
		{give: slog.LevelInfo, method: "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", want: ""},
		{give: slog.LevelDebug, method: "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", want: "DEBUG", wantKey: true},
		{give: slog.LevelError + 1, method: "/llmgateway.v1.LLMGatewayService/ListModels", err: errors.New("boom"), want: ""},
	}
	for _, tt := range tests {
		var out logs
		l := slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: tt.give}))
		info := &grpc.UnaryServerInfo{FullMethod: tt.method}
		_, _ = unary(l)(incoming(context.Background()), nil, info, func(context.Context, any) (any, error) { return nil, tt.err })
		lines := out.lines(t)
		var got string
		if len(lines) > 0 {
			got, _ = lines[0]["level"].(string)
		}
		if len(lines) > 1 || got != tt.want {
			t.Errorf("Log(%v, %s, %v) = %d lines at %q, want %q", tt.give, tt.method, tt.err, len(lines), got, tt.want)
		}
		if len(lines) == 1 && (lines[0]["key_id"] == "cs_bot") != tt.wantKey {
			t.Errorf("Log(%v, %s, %v) key_id = %v, want cs_bot", tt.give, tt.method, tt.err, lines[0]["key_id"])
		}
		if len(lines) == 1 && tt.err == io.EOF && (lines[0]["grpc.code"] != "OK" || lines[0]["grpc.error"] != nil) {
			t.Errorf("io.EOF logged as %v, want code OK and no error", lines[0])
		}
	}
}

// TestOtherStream checks that a stream other than ChatStream is logged
// with the fields added to its context.
func TestOtherStream(t *testing.T) {
	var out logs
	l := slog.New(slog.NewJSONHandler(&out, nil))
	info := &grpc.StreamServerInfo{FullMethod: "/x.Y/Z", IsClientStream: true, IsServerStream: true}
	ss := &calltest.Stream{Ctx: incoming(context.Background())}
	err := accesslog.StreamServerInterceptor(l)(nil, ss, info, func(_ any, ss grpc.ServerStream) error {
		authLike(ss.Context())
		return status.Error(codes.PermissionDenied, "no")
	})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("err = %v, want the handler's", err)
	}
	got := out.lines(t)
	if len(got) != 1 || got[0]["level"] != "WARN" || got[0]["key_id"] != "cs_bot" || got[0]["grpc.method"] != "Z" ||
		got[0]["grpc.error"] != "rpc error: code = PermissionDenied desc = no" {
		t.Errorf("lines = %v, want one WARN line for Z with key_id and the error", got)
	}
}
