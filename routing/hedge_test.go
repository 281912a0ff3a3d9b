package routing

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/llmgateway/llmgateway/llm"
)

// eventually polls cond for up to 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func hedgeRouter(t *testing.T, a, b *scriptProvider, h HedgePolicy, opts ...Option) *Router {
	t.Helper()
	cat := catalogOf(t, map[string][]string{"m": {"a", "b"}})
	r, err := New(cat, map[string]Provider{"a": a, "b": b},
		append([]Option{WithModelPolicy("m", ModelPolicy{Hedge: &h, Strategy: PriorityStrategy{}})}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestHedging(t *testing.T) {
	tests := []struct {
		name         string
		stream       bool
		a, b         reply
		hedge        HedgePolicy
		wantProvider string
		wantOutcomes []string
		wantBCalls   int
		loser        string
	}{
		{
			name: "unary: the hedge wins and the slow primary is cancelled",
			a:    reply{delay: 10 * time.Second}, hedge: HedgePolicy{Delay: 50 * time.Millisecond},
			wantProvider: "b", wantOutcomes: []string{"a:hedge_lost", "b:ok"}, wantBCalls: 1, loser: "a",
		},
		{
			name: "stream: the hedge's first token wins and the slow primary is cancelled", stream: true,
			a: reply{delay: 10 * time.Second}, hedge: HedgePolicy{Delay: 50 * time.Millisecond},
			wantProvider: "b", wantOutcomes: []string{"a:hedge_lost", "b:ok"}, wantBCalls: 1, loser: "a",
		},
		{
			name: "stream: the primary wins the race and the hedge is cancelled", stream: true,
			a: reply{delay: 300 * time.Millisecond}, b: reply{delay: 10 * time.Second}, hedge: HedgePolicy{Delay: 50 * time.Millisecond},
			wantProvider: "a", wantOutcomes: []string{"a:ok", "b:hedge_lost"}, wantBCalls: 1, loser: "b",
		},
		{
			name:         "a fast primary is not hedged",
			hedge:        HedgePolicy{Delay: 5 * time.Second},
			wantProvider: "a", wantOutcomes: []string{"a:ok"},
		},
		{
			name: "a failed hedge leaves the primary running", stream: true,
			a: reply{delay: 300 * time.Millisecond}, b: reply{err: serverErr("b")}, hedge: HedgePolicy{Delay: 50 * time.Millisecond},
			wantProvider: "a", wantOutcomes: []string{"a:ok", "b:error"}, wantBCalls: 1,
		},
		{
			name: "a primary failing before the delay fails over at once",
			a:    reply{err: serverErr("a")}, hedge: HedgePolicy{Delay: 5 * time.Second},
			wantProvider: "b", wantOutcomes: []string{"a:error", "b:ok"}, wantBCalls: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &scriptProvider{name: "a", def: tt.a}
			b := &scriptProvider{name: "b", def: tt.b}
			r := hedgeRouter(t, a, b, tt.hedge)
			start := time.Now()
			var (
				route     Route
				provider  string
				cost      float64
				hedgeCost float64
			)
			if tt.stream {
				s, err := r.ChatStream(testCtx(t), "m", hello())
				if err != nil {
					t.Fatal(err)
				}
				if _, err := llm.Collect(s); err != nil {
					t.Fatal(err)
				}
				route, provider, cost, hedgeCost = s.Route(), s.Deployment().Provider, s.Cost(), s.HedgeCost()
			} else {
				res, err := r.Chat(testCtx(t), "m", hello())
				if err != nil {
					t.Fatal(err)
				}
				route, provider, cost, hedgeCost = res.Route, res.Deployment.Provider, res.Cost, res.HedgeCost
			}
			if el := time.Since(start); el > 5*time.Second {
				t.Errorf("took %v: the race did not end with its winner", el)
			}
			if provider != tt.wantProvider {
				t.Errorf("answered by %s, want %s", provider, tt.wantProvider)
			}
			if diff := cmp.Diff(tt.wantOutcomes, outcomes(route.Attempts)); diff != "" {
				t.Errorf("attempts (-want +got):\n%s", diff)
			}
			if b.Calls() != tt.wantBCalls {
				t.Errorf("b called %d times, want %d", b.Calls(), tt.wantBCalls)
			}
			// 100 prompt tokens × $1/M + 10 output × $2/M for the winner.
			const winner = 100*1e-6 + 10*2e-6
			if tt.loser == "" {
				if hedgeCost != 0 || cost != winner {
					t.Errorf("cost = %v (hedge %v), want %v and no hedge cost", cost, hedgeCost, winner)
				}
				return
			}
			loser := map[string]*scriptProvider{"a": a, "b": b}[tt.loser]
			eventually(t, "the loser's cancellation", func() bool { return loser.Cancelled() == 1 })
			var lost Attempt
			for _, at := range route.Attempts {
				if at.Outcome == OutcomeHedgeLost {
					lost = at
				}
			}
			// The loser's prompt: "hello" is 2 tokens + 4 framing + 3.
			if wantLoser := 9 * 1e-6; lost.Cost != wantLoser || hedgeCost != wantLoser {
				t.Errorf("loser cost = %v, hedge cost %v, want %v", lost.Cost, hedgeCost, wantLoser)
			}
			if d := cost - (winner + hedgeCost); d > 1e-12 || d < -1e-12 {
				t.Errorf("cost = %v, want the winner's %v plus the hedge's %v", cost, winner, hedgeCost)
			}
			if !route.Attempts[1].Hedge || route.Attempts[0].Hedge {
				t.Errorf("hedge flags = %v, %v, want the second attempt marked", route.Attempts[0].Hedge, route.Attempts[1].Hedge)
			}
		})
	}
}

func TestHedgeAfterP95(t *testing.T) {
	a := &scriptProvider{name: "a", def: reply{delay: 10 * time.Second}}
	b := &scriptProvider{name: "b"}
	r := hedgeRouter(t, a, b, HedgePolicy{Delay: 8 * time.Second, UseP95: true})
	// a usually answers within 20 ms: hedge after that, not after 8 s.
	for range 10 {
		r.deps[Key{"a", "m@a", "m"}].stream.add(time.Now(), 20*time.Millisecond)
	}
	start := time.Now()
	s, err := r.ChatStream(testCtx(t), "m", hello())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if el := time.Since(start); el > 4*time.Second || s.Deployment().Provider != "b" {
		t.Errorf("answered by %s after %v, want b after about 20ms", s.Deployment().Provider, el)
	}
	if got := s.Route().Attempts[1].Reason; got != "hedge after 20ms without a first token; failover" {
		t.Errorf("hedge reason = %q", got)
	}
	eventually(t, "a's cancellation", func() bool { return a.Cancelled() == 1 })
	// The loser taught a's window that it is slow.
	if p, _ := r.deps[Key{"a", "m@a", "m"}].stream.P95(time.Now(), time.Minute); p < 20*time.Millisecond {
		t.Errorf("a's p95 = %v, want the loser's wait recorded", p)
	}
}

func TestHedgeRespectsCallerCancel(t *testing.T) {
	a := &scriptProvider{name: "a", def: reply{delay: 10 * time.Second}}
	b := &scriptProvider{name: "b", def: reply{delay: 10 * time.Second}}
	r := hedgeRouter(t, a, b, HedgePolicy{Delay: 20 * time.Millisecond})
	ctx, cancel := contextWithTimeout(t, 200*time.Millisecond)
	defer cancel()
	_, err := r.ChatStream(ctx, "m", hello())
	if err == nil {
		t.Fatal("ChatStream() = nil error after the caller's deadline")
	}
	eventually(t, "both attempts cancelled", func() bool { return a.Cancelled() == 1 && b.Cancelled() == 1 })
}
