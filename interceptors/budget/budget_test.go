package budget

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
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
	"github.com/llmgateway/llmgateway/llm"
	"github.com/llmgateway/llmgateway/state"
	"github.com/llmgateway/llmgateway/state/memory"
	"github.com/llmgateway/llmgateway/surface/httperr"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var gpt41 = llm.Pricing{InputPerMTok: 2, OutputPerMTok: 8}

func price(string) (llm.Pricing, bool) { return gpt41, true }

var now = time.Date(2025, 3, 31, 23, 0, 0, 0, time.UTC)

func guard(store state.Budget) *Guard {
	return New(store, price, WithDefaultMaxTokens(100), WithClock(func() time.Time { return now }))
}

func spent(t *testing.T, s *memory.Store, key string, w state.Window) (int64, int64) {
	t.Helper()
	sp, res, err := s.Spent(context.Background(), key, w)
	if err != nil {
		t.Fatal(err)
	}
	return sp, res
}

// estimate is what the guard reserves for req.
func estimate(req *pb.ChatRequest) int64 {
	p, c := chatcall.EstimateTokens(req, 100)
	return state.NanoUSD(gpt41.Cost(llm.Usage{PromptTokens: p, CompletionTokens: c}))
}

// TestConcurrentRequestsOvershootOnlyByTheirUnderestimate sends 200
// concurrent requests against a budget of about 20 requests. A third of
// them cost 50% more than they reserved: the spend may pass the budget by
// no more than those excesses of the requests admitted.
func TestConcurrentRequestsOvershootOnlyByTheirUnderestimate(t *testing.T) {
	store := memory.New()
	g := guard(store)
	unary := g.UnaryServerInterceptor()
	k := &auth.Key{ID: "team", DailyUSD: 0.08}
	ctx := auth.NewContext(context.Background(), k)
	req := calltest.Request("gpt-4.1", "what is the status of order 1234?", 500)
	est := estimate(req)
	var admitted, refused atomic.Int64
	var excess atomic.Int64 // nanodollars the admitted requests cost beyond their reservations
	var i atomic.Int64
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range 200 {
		wg.Go(func() {
			<-start
			cost := est
			if i.Add(1)%3 == 0 {
				cost = est * 3 / 2
			}
			_, err := unary(ctx, req, calltest.ChatInfo, func(context.Context, any) (any, error) {
				admitted.Add(1)
				excess.Add(cost - est)
				time.Sleep(time.Millisecond) // stay in flight
				return calltest.Response("gpt-4.1", "p", 1, 1, state.USD(cost)), nil
			})
			if err != nil {
				if httperr.Reason(status.Convert(err)) != httperr.ReasonBudgetExceeded {
					t.Error(err)
				}
				refused.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	limit := state.NanoUSD(k.DailyUSD)
	day := state.Day(now, limit)
	got, reserved := spent(t, store, "team", day)
	t.Logf("admitted %d, refused %d, spent %d of %d nanodollars, excess %d", admitted.Load(), refused.Load(), got, limit, excess.Load())
	if reserved != 0 {
		t.Errorf("reserved %d after every request ended, want 0", reserved)
	}
	if got > limit+excess.Load() {
		t.Errorf("spent %d, more than the budget %d plus the admitted requests' excess %d", got, limit, excess.Load())
	}
	if admitted.Load() == 0 || refused.Load() == 0 || admitted.Load() > limit/est {
		t.Errorf("admitted %d, refused %d; want both, and at most %d admitted", admitted.Load(), refused.Load(), limit/est)
	}
}

func TestSettlement(t *testing.T) {
	req := calltest.Request("gpt-4.1", "hi", 100)
	est := estimate(req)
	tests := []struct {
		name    string
		handler func(context.Context, any) (any, error)
		want    int64
	}{
		{"settled to the cost", func(context.Context, any) (any, error) {
			return calltest.Response("gpt-4.1", "p", 1, 1, 0.0001), nil
		}, 100_000},
		{"released on failure", func(context.Context, any) (any, error) {
			return nil, status.Error(codes.Unavailable, "down")
		}, 0},
		{"released on panic", func(context.Context, any) (any, error) { panic("bug") }, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := memory.New()
			unary := guard(store).UnaryServerInterceptor()
			ctx := auth.NewContext(context.Background(), &auth.Key{ID: "k", DailyUSD: 1, MonthlyUSD: 10})
			var during int64
			func() {
				defer func() { _ = recover() }()
				_, _ = unary(ctx, req, calltest.ChatInfo, func(ctx context.Context, r any) (any, error) {
					_, during = spent(t, store, "k", state.Day(now, 0))
					return tt.handler(ctx, r)
				})
			}()
			if during != est {
				t.Errorf("reserved %d during the call, want the estimate %d", during, est)
			}
			for _, w := range []state.Window{state.Day(now, 0), state.Month(now, 0)} {
				if got, res := spent(t, store, "k", w); got != tt.want || res != 0 {
					t.Errorf("%s: spent %d, reserved %d; want %d, 0", w.ID, got, res, tt.want)
				}
			}
		})
	}
}

func TestStreamCutIsCharged(t *testing.T) {
	store := memory.New()
	ctx := auth.NewContext(context.Background(), &auth.Key{ID: "k", DailyUSD: 1})
	req := calltest.Request("gpt-4", "hi", 1000)
	ss := &calltest.Stream{Ctx: ctx, Req: req}
	text := strings.Repeat("abcd", 100) // 100 tokens
	_ = guard(store).StreamServerInterceptor()(nil, ss, calltest.StreamInfo,
		calltest.StreamHandler([]*pb.ChatStreamResponse{calltest.Delta("gpt-4.1", text)}, status.Error(codes.Canceled, "gone")))
	prompt, _ := chatcall.EstimateTokens(req, 100)
	want := state.NanoUSD(gpt41.Cost(llm.Usage{PromptTokens: prompt, CompletionTokens: 100}))
	if got, res := spent(t, store, "k", state.Day(now, 0)); got != want || res != 0 {
		t.Errorf("a stream cut after 100 tokens: spent %d, reserved %d; want %d, 0", got, res, want)
	}
}

func TestRefusals(t *testing.T) {
	store := memory.New()
	unary := guard(store).UnaryServerInterceptor()
	k := &auth.Key{ID: "k", DailyUSD: 0.001, MonthlyUSD: 0.002}
	ctx := auth.NewContext(context.Background(), k)
	h := func(context.Context, any) (any, error) { return calltest.Response("gpt-4.1", "p", 1, 1, 0.0009), nil }
	tests := []struct {
		name      string
		seedMonth int64
		req       *pb.ChatRequest
		wantMsg   string
		wantLimit string
	}{
		{"larger than the budget", 0, calltest.Request("gpt-4.1", "hi", 1000), "exceeds this API key's whole daily budget of $0.001", "daily_usd"},
		{"day used up", 0, calltest.Request("gpt-4.1", "hi", 50), "daily budget of $0.001 is used up: $0.0009 spent", "daily_usd"},
		{"month used up", 1_950_000, calltest.Request("gpt-4.1", "hi", 50), "monthly budget of $0.002 is used up", "monthly_usd"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if i == 1 {
				if _, err := unary(ctx, calltest.Request("gpt-4.1", "hi", 50), calltest.ChatInfo, h); err != nil {
					t.Fatal(err)
				}
			}
			if tt.seedMonth > 0 {
				store = memory.New()
				unary = guard(store).UnaryServerInterceptor()
				_ = store.Seed(context.Background(), "k", state.Month(now, 0), tt.seedMonth)
			}
			called := false
			_, err := unary(ctx, tt.req, calltest.ChatInfo, func(context.Context, any) (any, error) { called = true; return nil, nil })
			st := status.Convert(err)
			if st.Code() != codes.ResourceExhausted || called || !strings.Contains(st.Message(), tt.wantMsg) {
				t.Fatalf("= %v (handler called %v), want ResourceExhausted containing %q", err, called, tt.wantMsg)
			}
			var info *errdetails.ErrorInfo
			var quota *errdetails.QuotaFailure
			for _, d := range st.Details() {
				switch d := d.(type) {
				case *errdetails.ErrorInfo:
					info = d
				case *errdetails.QuotaFailure:
					quota = d
				}
			}
			if info.GetReason() != httperr.ReasonBudgetExceeded || info.GetMetadata()["limit"] != tt.wantLimit || len(quota.GetViolations()) != 1 {
				t.Errorf("details = %v, %v; want BUDGET_EXCEEDED on %s and a QuotaFailure", info, quota, tt.wantLimit)
			}
		})
	}
}

func TestUSD(t *testing.T) {
	for give, want := range map[float64]string{50: "$50.00", 0.5: "$0.50", 0.005: "$0.005", 0.0001234: "$0.000123", 0: "$0.00"} {
		if got := usd(give); got != want {
			t.Errorf("usd(%v) = %q, want %q", give, got, want)
		}
	}
}

func BenchmarkUnary(b *testing.B) {
	store := memory.New()
	unary := New(store, price).UnaryServerInterceptor()
	ctx := auth.NewContext(context.Background(), &auth.Key{ID: "k", DailyUSD: 1e9, MonthlyUSD: 1e9})
	req := calltest.Request("gpt-4.1", "what is the status of order 1234?", 100)
	h := func(context.Context, any) (any, error) { return calltest.Response("gpt-4.1", "p", 10, 20, 0.0002), nil }
	b.ReportAllocs()
	for b.Loop() {
		if _, err := unary(ctx, req, calltest.ChatInfo, h); err != nil {
			b.Fatal(err)
		}
	}
}
