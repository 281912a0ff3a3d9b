package ratelimit

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
	"github.com/llmgateway/llmgateway/interceptors/auth"
	"github.com/llmgateway/llmgateway/interceptors/internal/calltest"
	"github.com/llmgateway/llmgateway/interceptors/internal/chatcall"
	"github.com/llmgateway/llmgateway/state"
	"github.com/llmgateway/llmgateway/state/memory"
	"github.com/llmgateway/llmgateway/surface/httperr"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func setup(k *auth.Key) (*Limiter, *memory.Store, *clock, context.Context) {
	clk := &clock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	store := memory.New(memory.WithClock(clk.Now))
	return New(store, WithDefaultMaxTokens(100)), store, clk, auth.NewContext(context.Background(), k)
}

// remaining returns the units left in key's allowance of limit per minute.
func remaining(t *testing.T, s *memory.Store, key string, limit int64) int64 {
	t.Helper()
	// Take 0 units: a read that changes nothing.
	d, err := s.Take(context.Background(), key, state.Rate{Limit: limit, Period: time.Minute}, 0)
	if err != nil {
		t.Fatal(err)
	}
	return d.Remaining
}

func ok(prompt, completion int32) func(context.Context, any) (any, error) {
	return func(context.Context, any) (any, error) {
		return calltest.Response("gpt-4.1", "p", prompt, completion, 0), nil
	}
}

func TestRPM(t *testing.T) {
	l, _, clk, ctx := setup(&auth.Key{ID: "k", RPM: 2})
	unary := l.UnaryServerInterceptor()
	req := calltest.Request("gpt-4.1", "hi", 0)
	for i := range 2 {
		if _, err := unary(ctx, req, calltest.ChatInfo, ok(1, 1)); err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
	}
	_, err := unary(ctx, req, calltest.ChatInfo, ok(1, 1))
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted || httperr.Reason(st) != httperr.ReasonRateLimited || !strings.Contains(st.Message(), "2 requests per minute") {
		t.Fatalf("3rd request = %v, want ResourceExhausted RATE_LIMITED naming rpm", err)
	}
	var retry time.Duration
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			retry = ri.GetRetryDelay().AsDuration()
		}
	}
	if retry < 29*time.Second || retry > 31*time.Second {
		t.Errorf("RetryInfo = %v, want 30s", retry)
	}
	clk.Advance(retry)
	if _, err := unary(ctx, req, calltest.ChatInfo, ok(1, 1)); err != nil {
		t.Errorf("request after the retry delay = %v", err)
	}
}

func TestTPMReservesAndSettles(t *testing.T) {
	l, store, _, ctx := setup(&auth.Key{ID: "k", TPM: 1000, RPM: 100})
	unary := l.UnaryServerInterceptor()
	req := calltest.Request("gpt-4.1", "hi", 50) // reserves the prompt estimate + 50
	prompt, _ := chatcall.EstimateTokens(req, 100)
	tests := []struct {
		name    string
		handler func(context.Context, any) (any, error)
		want    int64 // tpm remaining after the call
		wantRPM int64
	}{
		{"settled to the usage", ok(10, 20), 1000 - 30, 99},
		{"released on failure", func(context.Context, any) (any, error) {
			return nil, status.Error(codes.Unavailable, "down")
		}, 1000 - 30, 98},
		{"budget refusal gives rpm back too", func(context.Context, any) (any, error) {
			return nil, httperr.New(codes.ResourceExhausted, httperr.ReasonBudgetExceeded, "no budget", nil)
		}, 1000 - 30, 98},
	}
	for _, tt := range tests {
		var during int64
		h := func(ctx context.Context, r any) (any, error) {
			during = remaining(t, store, "tpm:k", 1000)
			return tt.handler(ctx, r)
		}
		_, _ = unary(ctx, req, calltest.ChatInfo, h)
		if wantDuring := int64(1000-30) - prompt - 50; tt.name == "released on failure" && during != wantDuring {
			t.Errorf("%s: during the call %d remain, want %d reserved away", tt.name, during, wantDuring)
		}
		if got := remaining(t, store, "tpm:k", 1000); got != tt.want {
			t.Errorf("%s: tpm remaining = %d, want %d", tt.name, got, tt.want)
		}
		if got := remaining(t, store, "rpm:k", 100); got != tt.wantRPM {
			t.Errorf("%s: rpm remaining = %d, want %d", tt.name, got, tt.wantRPM)
		}
	}
}

func TestTPMRefusalLeavesNoTrace(t *testing.T) {
	l, store, _, ctx := setup(&auth.Key{ID: "k", TPM: 10, RPM: 5})
	unary := l.UnaryServerInterceptor()
	if _, err := unary(ctx, calltest.Request("gpt-4.1", "hi", 50), calltest.ChatInfo, ok(10, 50)); err != nil {
		t.Fatalf("a request larger than the whole allowance is admitted on a full one: %v", err)
	}
	_, err := unary(ctx, calltest.Request("gpt-4.1", "hi", 1), calltest.ChatInfo, ok(1, 1))
	if st := status.Convert(err); st.Code() != codes.ResourceExhausted || !strings.Contains(st.Message(), "tpm") {
		t.Fatalf("next request = %v, want refused on tpm", err)
	}
	if got := remaining(t, store, "rpm:k", 5); got != 4 {
		t.Errorf("rpm remaining = %d, want 4: the refused request gave its unit back", got)
	}
}

func TestStreamSettlesStreamedTokens(t *testing.T) {
	l, store, _, ctx := setup(&auth.Key{ID: "k", TPM: 10000})
	req := calltest.Request("gpt-4.1", "hi", 500)
	prompt, _ := chatcall.EstimateTokens(req, 100)
	ss := &calltest.Stream{Ctx: ctx, Req: req}
	text := strings.Repeat("abcd", 40) // 40 tokens
	cut := status.Error(codes.Canceled, "client went away")
	err := l.StreamServerInterceptor()(nil, ss, calltest.StreamInfo,
		calltest.StreamHandler([]*pb.ChatStreamResponse{calltest.Delta("gpt-4.1", text)}, cut))
	_ = err
	if got, want := remaining(t, store, "tpm:k", 10000), 10000-prompt-40; got != want {
		t.Errorf("after a cut stream, tpm remaining = %d, want %d (prompt + streamed)", got, want)
	}
	if len(ss.Header.Get("x-ratelimit-limit-tokens")) != 1 {
		t.Errorf("stream headers = %v, want x-ratelimit-limit-tokens", ss.Header)
	}
}

func TestNoLimitsNoWork(t *testing.T) {
	l, store, _, ctx := setup(&auth.Key{ID: "k"})
	if _, err := l.UnaryServerInterceptor()(ctx, calltest.Request("m", "hi", 0), calltest.ChatInfo, ok(1, 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := l.UnaryServerInterceptor()(context.Background(), calltest.Request("m", "hi", 0), calltest.ChatInfo, ok(1, 1)); err != nil {
		t.Fatal(err)
	}
	_ = store
}

func BenchmarkUnary(b *testing.B) {
	store := memory.New()
	l := New(store)
	ctx := auth.NewContext(context.Background(), &auth.Key{ID: "k", RPM: 1 << 40, TPM: 1 << 50})
	unary := l.UnaryServerInterceptor()
	req := calltest.Request("gpt-4.1", "what is the status of order 1234?", 100)
	h := ok(10, 20)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := unary(ctx, req, calltest.ChatInfo, h); err != nil {
			b.Fatal(err)
		}
	}
}
