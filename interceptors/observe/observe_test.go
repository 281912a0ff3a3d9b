package observe_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
	"github.com/llmgateway/llmgateway/interceptors/accounting"
	"github.com/llmgateway/llmgateway/interceptors/auth"
	"github.com/llmgateway/llmgateway/interceptors/internal/calltest"
	"github.com/llmgateway/llmgateway/interceptors/internal/chatcall"
	"github.com/llmgateway/llmgateway/interceptors/observe"
	"github.com/llmgateway/llmgateway/llm"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type markKey struct{}

// log is an Observer that marks the call's context and keeps the calls it
// is told of.
type log struct {
	mu      sync.Mutex
	begun   int
	ended   []observe.Call
	endMark []any
}

func (l *log) Begin(ctx context.Context, c *observe.Call) context.Context {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.begun++
	return context.WithValue(ctx, markKey{}, "observed")
}

func (l *log) End(ctx context.Context, c *observe.Call) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ended = append(l.ended, *c)
	l.endMark = append(l.endMark, ctx.Value(markKey{}))
}

// clock ticks 100 ms on every reading.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(100 * time.Millisecond)
	return c.t
}

func resolve(m string) (string, bool) {
	switch strings.ToLower(m) {
	case "gpt-4", "gpt-4.1":
		return "gpt-4.1", true
	case "auto":
		return "auto", true
	}
	return "", false
}

// ignore leaves out what the table does not pin down.
var ignore = cmpopts.IgnoreFields(observe.Call{}, "Start", "Err", "Latency", "TTFT", "Key")

func TestUnary(t *testing.T) {
	key := &auth.Key{ID: "k1", Labels: map[string]string{"team": "cs"}}
	ctx := metadata.NewIncomingContext(auth.NewContext(context.Background(), key), metadata.Pairs(accounting.SurfaceHeader, "openai"))
	answered := calltest.Response("gpt-4.1", "sim-a", 10, 5, 0.25)
	answered.Route.Attempts = []*pb.RouteAttempt{{Provider: "sim-b", UpstreamModel: "b", Outcome: "error"}, {Provider: "sim-a", UpstreamModel: "gpt-4.1-up", Outcome: "ok"}}
	tests := []struct {
		name   string
		model  string
		resp   any
		err    error
		panics bool
		want   observe.Call
	}{
		{
			name: "answered after a failover", model: "gpt-4", resp: answered,
			want: observe.Call{Surface: "openai", Requested: "gpt-4", RequestModel: "gpt-4.1", Code: codes.OK,
				Model: "gpt-4.1", Provider: "sim-a", UpstreamModel: "gpt-4.1-up", Answered: true,
				Usage: llm.Usage{PromptTokens: 10, CompletionTokens: 5}, CostUSD: 0.25, Attempts: 2},
		},
		{
			name: "refused by a rate limit", model: "auto",
			err: chatcall.RateLimited("slow down", "rpm", time.Second),
			want: observe.Call{Surface: "openai", Requested: "auto", RequestModel: "auto", Code: codes.ResourceExhausted,
				Reason: "RATE_LIMITED", Limit: "rpm"},
		},
		{
			name: "unknown model", model: "gpt-9", err: status.Error(codes.NotFound, "no such model"),
			want: observe.Call{Surface: "openai", Requested: "gpt-9", Code: codes.NotFound},
		},
		{
			name: "handler panics", model: "gpt-4", panics: true,
			want: observe.Call{Surface: "openai", Requested: "gpt-4", RequestModel: "gpt-4.1", Code: codes.Internal},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := &log{}
			clk := &clock{}
			icpt := observe.New(l, observe.WithResolver(resolve), observe.WithClock(clk.now)).UnaryServerInterceptor()
			var seen any
			func() {
				defer func() {
					if p := recover(); (p != nil) != tt.panics {
						t.Errorf("panic = %v, want one: %v", p, tt.panics)
					}
				}()
				_, err := icpt(ctx, calltest.Request(tt.model, "hi", 0), calltest.ChatInfo, func(ctx context.Context, _ any) (any, error) {
					seen = ctx.Value(markKey{})
					if tt.panics {
						panic("handler bug")
					}
					return tt.resp, tt.err
				})
				if !errors.Is(err, tt.err) {
					t.Errorf("error = %v, want %v", err, tt.err)
				}
			}()
			if l.begun != 1 || len(l.ended) != 1 {
				t.Fatalf("Begin called %d times, End %d; want once each", l.begun, len(l.ended))
			}
			got := l.ended[0]
			if diff := cmp.Diff(tt.want, got, ignore); diff != "" {
				t.Errorf("ended call (-want +got):\n%s", diff)
			}
			if got.Key != key || got.Latency != 100*time.Millisecond || got.TTFT != 0 {
				t.Errorf("ended call key %v, latency %v, TTFT %v; want the caller's key, 100ms, 0", got.Key, got.Latency, got.TTFT)
			}
			if seen != "observed" || l.endMark[0] != "observed" {
				t.Errorf("the handler saw mark %v and End %v, want Begin's context in both", seen, l.endMark[0])
			}
		})
	}
}

func TestStream(t *testing.T) {
	events := []*pb.ChatStreamResponse{
		calltest.Delta("gpt-4.1", "Hello there, "),
		calltest.Delta("gpt-4.1", "friend"),
		calltest.Final("gpt-4.1", "sim-a", 7, 4, 0.1),
	}
	streamed := llm.EstimateTokens("Hello there, ") + llm.EstimateTokens("friend")
	prompt := chatcall.EstimatePromptTokens(calltest.Request("gpt-4", "hi", 0))
	tests := []struct {
		name    string
		handler grpc.StreamHandler
		want    observe.Call
		ttft    bool
	}{
		{
			name: "answered", handler: calltest.StreamHandler(events, nil), ttft: true,
			want: observe.Call{Surface: "grpc", Stream: true, Requested: "gpt-4", RequestModel: "gpt-4.1", Code: codes.OK,
				Model: "gpt-4.1", Provider: "sim-a", Answered: true, Usage: llm.Usage{PromptTokens: 7, CompletionTokens: 4}, CostUSD: 0.1, Attempts: 1},
		},
		{
			name: "cut before its end", handler: calltest.StreamHandler(events[:2], status.Error(codes.Canceled, "gone")), ttft: true,
			want: observe.Call{Surface: "grpc", Stream: true, Requested: "gpt-4", RequestModel: "gpt-4.1", Code: codes.Canceled,
				Model: "gpt-4.1", Estimated: true, CostUSD: 8e-6 * float64(prompt+streamed),
				Usage: llm.Usage{PromptTokens: prompt, CompletionTokens: streamed}},
		},
		{
			name: "ended before its request", handler: func(any, grpc.ServerStream) error { return status.Error(codes.Canceled, "gone") },
			want: observe.Call{Surface: "grpc", Stream: true, Code: codes.Canceled},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := &log{}
			// The real clock: the time of the first content is read
			// from it.
			price := func(m string) (llm.Pricing, bool) {
				return llm.Pricing{InputPerMTok: 8, OutputPerMTok: 8}, m == "gpt-4.1"
			}
			icpt := observe.New(l, observe.WithResolver(resolve), observe.WithPricing(price)).StreamServerInterceptor()
			ss := &calltest.Stream{Ctx: context.Background(), Req: calltest.Request("gpt-4", "hi", 0)}
			var seen any
			_ = icpt(nil, ss, calltest.StreamInfo, func(srv any, s grpc.ServerStream) error {
				seen = s.Context().Value(markKey{})
				return tt.handler(srv, s)
			})
			if l.begun != 1 || len(l.ended) != 1 {
				t.Fatalf("Begin called %d times, End %d; want once each", l.begun, len(l.ended))
			}
			got := l.ended[0]
			if diff := cmp.Diff(tt.want, got, ignore); diff != "" {
				t.Errorf("ended call (-want +got):\n%s", diff)
			}
			if tt.ttft != (got.TTFT > 0) || got.TTFT > got.Latency {
				t.Errorf("TTFT = %v (latency %v), want one: %v", got.TTFT, got.Latency, tt.ttft)
			}
			if seen != "observed" {
				t.Errorf("the handler's stream context has mark %v, want Begin's", seen)
			}
		})
	}
}

func TestOtherMethodsPass(t *testing.T) {
	l := &log{}
	i := observe.New(l)
	called := 0
	_, _ = i.UnaryServerInterceptor()(context.Background(), &pb.ListModelsRequest{}, &grpc.UnaryServerInfo{FullMethod: chatcall.MethodListModels},
		func(context.Context, any) (any, error) { called++; return nil, nil })
	_ = i.StreamServerInterceptor()(nil, &calltest.Stream{Ctx: context.Background()}, &grpc.StreamServerInfo{FullMethod: "/x.Y/Z"},
		func(any, grpc.ServerStream) error { called++; return nil })
	if called != 2 || l.begun != 0 {
		t.Errorf("handlers called %d times, Begin %d; want 2 and 0", called, l.begun)
	}
}

func TestObservers(t *testing.T) {
	a, b := &log{}, &log{}
	i := observe.New(observe.Observers{a, b})
	_, _ = i.UnaryServerInterceptor()(context.Background(), calltest.Request("m", "hi", 0), calltest.ChatInfo,
		func(context.Context, any) (any, error) { return nil, nil })
	if a.begun != 1 || b.begun != 1 || len(a.ended) != 1 || len(b.ended) != 1 {
		t.Errorf("observers told %d/%d and %d/%d times, want once each", a.begun, len(a.ended), b.begun, len(b.ended))
	}
}
