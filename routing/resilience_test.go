package routing

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/llmgateway/llmgateway/llm"
)

func TestBackoffBounds(t *testing.T) {
	p := RetryPolicy{Backoff: 100 * time.Millisecond, MaxBackoff: time.Second}
	tests := []struct {
		n        int
		rand     float64
		want     time.Duration
		wantCeil time.Duration
	}{
		{n: 1, rand: 0, want: 0},
		{n: 1, rand: 0.5, want: 50 * time.Millisecond},
		{n: 2, rand: 0.5, want: 100 * time.Millisecond},
		{n: 3, rand: 0.5, want: 200 * time.Millisecond},
		{n: 4, rand: 0.5, want: 400 * time.Millisecond},
		{n: 5, rand: 0.5, want: 500 * time.Millisecond}, // ceiling capped at 1 s
		{n: 40, rand: 0.5, want: 500 * time.Millisecond},
		{n: 40, rand: 0.999, want: 999 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := backoff(&p, tt.n, func() float64 { return tt.rand }); got != tt.want {
			t.Errorf("backoff(n=%d, rand=%v) = %v, want %v", tt.n, tt.rand, got, tt.want)
		}
	}
	// Full jitter: every draw is within [0, ceiling).
	for n := 1; n <= 8; n++ {
		ceil := min(p.Backoff<<(n-1), p.MaxBackoff)
		for range 100 {
			if d := backoff(&p, n, defaultOptions.rand); d < 0 || d >= ceil {
				t.Fatalf("backoff(n=%d) = %v, want in [0, %v)", n, d, ceil)
			}
		}
	}
}

func TestRetries(t *testing.T) {
	tests := []struct {
		name       string
		policy     RetryPolicy
		scriptA    []reply
		defA       reply
		scriptB    []reply
		defB       reply
		oneDep     bool
		wantErr    bool
		wantCallsA int
		wantCallsB int
		wantWaits  []time.Duration
	}{
		{
			name:   "failover to an untried deployment does not wait",
			policy: RetryPolicy{MaxAttempts: 5, Backoff: 100 * time.Millisecond, MaxBackoff: time.Second},
			defA:   reply{err: serverErr("a")}, wantCallsA: 1, wantCallsB: 1,
		},
		{
			name:   "a single deployment is retried after a back-off",
			policy: RetryPolicy{MaxAttempts: 3, Backoff: 100 * time.Millisecond, MaxBackoff: time.Second},
			oneDep: true, scriptA: []reply{{err: serverErr("a")}, {err: serverErr("a")}},
			wantCallsA: 3, wantWaits: []time.Duration{50 * time.Millisecond, 100 * time.Millisecond},
		},
		{
			name:   "attempts bound the retries",
			policy: RetryPolicy{MaxAttempts: 4, Backoff: 100 * time.Millisecond, MaxBackoff: time.Second},
			defA:   reply{err: serverErr("a")}, defB: reply{err: serverErr("b")}, wantErr: true,
			wantCallsA: 2, wantCallsB: 2, wantWaits: []time.Duration{50 * time.Millisecond},
		},
		{
			name:   "one attempt means no retry",
			policy: RetryPolicy{MaxAttempts: 1, Backoff: 100 * time.Millisecond},
			defA:   reply{err: serverErr("a")}, wantErr: true, wantCallsA: 1,
		},
		{
			name:   "a deployment that refused our key is not retried",
			policy: RetryPolicy{MaxAttempts: 5, Backoff: 100 * time.Millisecond, MaxBackoff: time.Second},
			defA:   reply{err: upErr("a", llm.KindAuth, 401)}, defB: reply{err: serverErr("b")}, wantErr: true,
			wantCallsA: 1, wantCallsB: 4,
			wantWaits: []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond},
		},
		{
			name:   "a bad request is neither failed over nor retried",
			policy: RetryPolicy{MaxAttempts: 5, Backoff: 100 * time.Millisecond},
			defA:   reply{err: upErr("a", llm.KindBadRequest, 400)}, wantErr: true, wantCallsA: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			rec := &recorder{clock: clock}
			a := &scriptProvider{name: "a", script: tt.scriptA, def: tt.defA}
			b := &scriptProvider{name: "b", script: tt.scriptB, def: tt.defB}
			deps := []Deployment{{Provider: "a", UpstreamModel: "a", Weight: 1}, {Provider: "b", UpstreamModel: "b", Weight: 1, Priority: 1}}
			if tt.oneDep {
				deps = deps[:1]
			}
			r := newTestRouter(t, deps, map[string]Provider{"a": a, "b": b},
				WithClock(clock.Now), WithSleep(rec.sleep), WithRand(func() float64 { return 0.5 }),
				WithRetry(tt.policy), WithBreaker(BreakerPolicy{}))
			_, err := r.Chat(testCtx(t), "gpt-4.1", hello())
			if (err != nil) != tt.wantErr {
				t.Fatalf("Chat() error = %v, wantErr %v", err, tt.wantErr)
			}
			if a.Calls() != tt.wantCallsA || b.Calls() != tt.wantCallsB {
				t.Errorf("calls = a %d, b %d, want a %d, b %d", a.Calls(), b.Calls(), tt.wantCallsA, tt.wantCallsB)
			}
			if diff := cmp.Diff(tt.wantWaits, rec.Waits()); diff != "" {
				t.Errorf("back-off waits (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRetryBoundedByDeadline(t *testing.T) {
	a := &scriptProvider{name: "a", def: reply{err: serverErr("a")}}
	r := newTestRouter(t, []Deployment{{Provider: "a", UpstreamModel: "a", Weight: 1}}, map[string]Provider{"a": a},
		WithRetry(RetryPolicy{MaxAttempts: 5, Backoff: time.Minute, MaxBackoff: time.Minute}),
		WithRand(func() float64 { return 0.5 }))
	ctx, cancel := context.WithTimeout(testCtx(t), 2*time.Second)
	defer cancel()
	start := time.Now()
	_, err := r.Chat(ctx, "gpt-4.1", hello())
	var nr *NoRouteError
	if !errors.As(err, &nr) || nr.Last == nil || !llm.IsRetryable(nr.Last) {
		t.Fatalf("Chat() error = %v, want the upstream's error", err)
	}
	if a.Calls() != 1 {
		t.Errorf("calls = %d, want 1: a 30 s back-off does not fit a 2 s deadline", a.Calls())
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("Chat() took %v: it waited for a back-off past the deadline", el)
	}
}

func TestRetryAfterCoolsDown(t *testing.T) {
	rateLimited := func(p string, ra time.Duration) error {
		return &llm.UpstreamError{Provider: p, Kind: llm.KindRateLimited, StatusCode: 429, Retryable: true, RetryAfter: ra}
	}
	t.Run("waits for a short cool-down, then retries", func(t *testing.T) {
		clock := newFakeClock()
		rec := &recorder{clock: clock}
		a := &scriptProvider{name: "a", script: []reply{{err: rateLimited("a", 300*time.Millisecond)}}}
		r := newTestRouter(t, []Deployment{{Provider: "a", UpstreamModel: "a", Weight: 1}}, map[string]Provider{"a": a},
			WithClock(clock.Now), WithSleep(rec.sleep), WithRand(func() float64 { return 0.5 }),
			WithRetry(RetryPolicy{MaxAttempts: 3, Backoff: 100 * time.Millisecond, MaxRetryAfter: time.Second}))
		res, err := r.Chat(testCtx(t), "gpt-4.1", hello())
		if err != nil {
			t.Fatal(err)
		}
		// No back-off: the cool-down's end is when a could answer.
		if diff := cmp.Diff([]time.Duration{300 * time.Millisecond}, rec.Waits()); diff != "" {
			t.Errorf("waits (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"a:error", "a:ok"}, outcomes(res.Route.Attempts)); diff != "" {
			t.Errorf("attempts (-want +got):\n%s", diff)
		}
	})
	for _, strategy := range StrategyNames() {
		t.Run("every strategy skips a cooling deployment: "+strategy, func(t *testing.T) {
			clock := newFakeClock()
			s, _ := StrategyByName(strategy)
			a := &scriptProvider{name: "a", script: []reply{{err: rateLimited("a", 30*time.Second)}}}
			b := &scriptProvider{name: "b"}
			r := newTestRouter(t, []Deployment{{Provider: "a", UpstreamModel: "a", Weight: 5}, {Provider: "b", UpstreamModel: "b", Weight: 1}},
				map[string]Provider{"a": a, "b": b}, WithClock(clock.Now), WithDefaultStrategy(s))
			// Teach least-latency that a is the fastest.
			r.deps[Key{"a", "a", "gpt-4.1"}].unary.add(clock.Now(), time.Millisecond)
			r.deps[Key{"b", "b", "gpt-4.1"}].unary.add(clock.Now(), time.Second)
			if _, err := r.Chat(testCtx(t), "gpt-4.1", hello()); err != nil {
				t.Fatal(err)
			}
			for i := range 5 {
				clock.Advance(5 * time.Second)
				res, err := r.Chat(testCtx(t), "gpt-4.1", hello())
				if err != nil {
					t.Fatal(err)
				}
				if res.Deployment.Provider != "b" || res.Route.Attempts[0].Outcome != OutcomeSkipped {
					t.Fatalf("request %d: %v, want a skipped and b answering", i, outcomes(res.Route.Attempts))
				}
			}
			clock.Advance(10 * time.Second) // 35 s: the cool-down is over
			var sawA bool
			for range 6 {
				res, err := r.Chat(testCtx(t), "gpt-4.1", hello())
				if err != nil {
					t.Fatal(err)
				}
				sawA = sawA || res.Deployment.Provider == "a"
			}
			if !sawA {
				t.Error("a got no traffic after its cool-down ended")
			}
		})
	}
	t.Run("a long cool-down is reported to the caller", func(t *testing.T) {
		clock := newFakeClock()
		a := &scriptProvider{name: "a", def: reply{err: rateLimited("a", 10*time.Second)}}
		r := newTestRouter(t, []Deployment{{Provider: "a", UpstreamModel: "a", Weight: 1}}, map[string]Provider{"a": a},
			WithClock(clock.Now), WithSleep((&recorder{clock: clock}).sleep),
			WithRetry(RetryPolicy{MaxAttempts: 3, Backoff: 10 * time.Millisecond, MaxRetryAfter: time.Second}))
		_, err := r.Chat(testCtx(t), "gpt-4.1", hello())
		var nr *NoRouteError
		if !errors.As(err, &nr) {
			t.Fatalf("Chat() error = %v, want NoRouteError", err)
		}
		if wait, ok := nr.RateLimited(); !ok || wait < 9*time.Second || wait > 10*time.Second {
			t.Errorf("RateLimited() = %v, %v, want about 10s", wait, ok)
		}
		if a.Calls() != 1 {
			t.Errorf("calls = %d, want 1", a.Calls())
		}
	})
	t.Run("a Retry-After is capped by the max cool-down", func(t *testing.T) {
		clock := newFakeClock()
		a := &scriptProvider{name: "a", script: []reply{{err: rateLimited("a", time.Hour)}}}
		r := newTestRouter(t, []Deployment{{Provider: "a", UpstreamModel: "a", Weight: 1}}, map[string]Provider{"a": a},
			WithClock(clock.Now), WithMaxCooldown(time.Minute), WithRetry(RetryPolicy{MaxAttempts: 1}))
		r.Chat(testCtx(t), "gpt-4.1", hello())
		if u := r.cooldowns.Until(Key{"a", "a", "gpt-4.1"}); !u.Equal(clock.Now().Add(time.Minute)) {
			t.Errorf("cool-down until %v, want a minute from now", u)
		}
	})
}

func TestBreakerSkipsDeployment(t *testing.T) {
	clock := newFakeClock()
	a := &scriptProvider{name: "a", def: reply{err: serverErr("a")}}
	b := &scriptProvider{name: "b"}
	r := newTestRouter(t, []Deployment{{Provider: "a", UpstreamModel: "a", Weight: 1}, {Provider: "b", UpstreamModel: "b", Weight: 1, Priority: 1}},
		map[string]Provider{"a": a, "b": b}, WithClock(clock.Now),
		WithBreaker(BreakerPolicy{ConsecutiveFailures: 2, OpenFor: 10 * time.Second, HalfOpenProbes: 1}))
	for range 2 {
		if _, err := r.Chat(testCtx(t), "gpt-4.1", hello()); err != nil {
			t.Fatal(err)
		}
	}
	res, err := r.Chat(testCtx(t), "gpt-4.1", hello())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a:skipped", "b:ok"}, outcomes(res.Route.Attempts)); diff != "" {
		t.Fatalf("attempts with a's breaker open (-want +got):\n%s", diff)
	}
	if got := res.Route.Attempts[0].Reason; got != "circuit open: 10s left" {
		t.Errorf("skip reason = %q", got)
	}
	h := r.Health()
	if h[0].Key.Provider != "a" || h[0].Breaker != BreakerOpen || h[0].Trips != 1 || h[1].Breaker != BreakerClosed {
		t.Errorf("Health() = %+v", h)
	}
	// After the cool-down one probe goes to a; it still fails, so the
	// breaker opens again, for longer.
	clock.Advance(10 * time.Second)
	res, _ = r.Chat(testCtx(t), "gpt-4.1", hello())
	if diff := cmp.Diff([]string{"a:error", "b:ok"}, outcomes(res.Route.Attempts)); diff != "" {
		t.Errorf("attempts after the cool-down (-want +got):\n%s", diff)
	}
	clock.Advance(15 * time.Second)
	res, _ = r.Chat(testCtx(t), "gpt-4.1", hello())
	if got := res.Route.Attempts[0]; got.Outcome != OutcomeSkipped || got.Reason != "circuit open: 5s left" {
		t.Errorf("after a failed probe: %+v, want skipped for the doubled cool-down", got)
	}
	if calls := a.Calls(); calls != 3 {
		t.Errorf("a called %d times, want 3 (2 failures, 1 probe)", calls)
	}
}

func TestCallerFaultsDoNotTripBreaker(t *testing.T) {
	for _, kind := range []llm.ErrorKind{llm.KindBadRequest, llm.KindAuth, llm.KindContextLength, llm.KindContentFilter, llm.KindNotFound} {
		t.Run(string(kind), func(t *testing.T) {
			a := &scriptProvider{name: "a", def: reply{err: upErr("a", kind, 400)}}
			b := &scriptProvider{name: "b"}
			r := newTestRouter(t, []Deployment{{Provider: "a", UpstreamModel: "a", Weight: 1}, {Provider: "b", UpstreamModel: "b", Weight: 1, Priority: 1}},
				map[string]Provider{"a": a, "b": b}, WithBreaker(BreakerPolicy{ConsecutiveFailures: 1, OpenFor: time.Minute}))
			for range 5 {
				r.Chat(testCtx(t), "gpt-4.1", hello())
			}
			if a.Calls() != 5 {
				t.Errorf("a called %d times, want 5: its breaker must stay closed", a.Calls())
			}
		})
	}
}

func TestFallbackChain(t *testing.T) {
	cat := catalogOf(t, map[string][]string{"gpt-4.1": {"oa", "az"}, "claude-sonnet-4.5": {"an"}, "gemini-2.5-flash": {"go"}})
	provs := map[string]Provider{
		"oa": &scriptProvider{name: "oa", def: reply{err: serverErr("oa")}},
		"az": &scriptProvider{name: "az", def: reply{err: upErr("az", llm.KindOverloaded, 503)}},
		"an": &scriptProvider{name: "an", def: reply{err: upErr("an", llm.KindTimeout, 0)}},
		"go": &scriptProvider{name: "go"},
	}
	r, err := New(cat, provs, WithModelPolicy("gpt-4.1", ModelPolicy{Fallbacks: []string{"claude-sonnet-4.5", "gemini-2.5-flash"}}))
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Chat(testCtx(t), "gpt-4.1", hello())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"oa:error", "az:error", "an:error", "go:ok"}, outcomes(res.Route.Attempts)); diff != "" {
		t.Errorf("attempts (-want +got):\n%s", diff)
	}
	if res.Model.Name != "gemini-2.5-flash" || res.Route.Resolved != "gemini-2.5-flash" || res.Route.Requested != "gpt-4.1" {
		t.Errorf("answered by %s, route %+v", res.Model.Name, res.Route)
	}
	// A model without fallbacks does not use another's.
	if _, err := r.Chat(testCtx(t), "claude-sonnet-4.5", hello()); err == nil {
		t.Error("claude-sonnet-4.5 answered through a fallback it does not have")
	}
}

func TestNewRejectsBadPolicies(t *testing.T) {
	cat := catalogOf(t, map[string][]string{"m": {"p"}, "n": {"p", "q"}})
	provs := map[string]Provider{"p": &scriptProvider{name: "p"}, "q": &scriptProvider{name: "q"}}
	tiers := func() map[Tier]TierPolicy {
		return map[Tier]TierPolicy{TierSimple: {Models: []string{"m"}}, TierStandard: {Models: []string{"m"}}, TierComplex: {Models: []string{"n"}}}
	}
	tests := []struct {
		name string
		give []Option
		want string
	}{
		{name: "unknown model", give: []Option{WithModelPolicy("x", ModelPolicy{})}, want: `unknown model "x"`},
		{name: "unknown fallback", give: []Option{WithModelPolicy("m", ModelPolicy{Fallbacks: []string{"x"}})}, want: `fallback "x"`},
		{name: "unknown provider", give: []Option{WithProviderPolicy("x", ProviderPolicy{})}, want: `unknown provider "x"`},
		{name: "hedge without delay", give: []Option{WithModelPolicy("m", ModelPolicy{Hedge: &HedgePolicy{}})}, want: "hedge delay"},
		{name: "virtual clashes with a model", give: []Option{WithVirtualModel(VirtualModel{Name: "M", Tiers: tiers()})}, want: "already a model"},
		{name: "virtual twice", give: []Option{WithVirtualModel(VirtualModel{Name: "auto", Tiers: tiers()}), WithVirtualModel(VirtualModel{Name: "auto", Tiers: tiers()})}, want: "defined twice"},
		{name: "missing tier", give: []Option{WithVirtualModel(VirtualModel{Name: "auto", Tiers: map[Tier]TierPolicy{TierSimple: {Models: []string{"m"}}}})}, want: "tier standard is not configured"},
		{name: "tier of unknown model", give: []Option{WithVirtualModel(VirtualModel{Name: "auto", Tiers: map[Tier]TierPolicy{
			TierSimple: {Models: []string{"m"}}, TierStandard: {Models: []string{"zz"}}, TierComplex: {Models: []string{"n"}}}})}, want: `"zz" is not a model`},
		{name: "bad rule", give: []Option{WithVirtualModel(VirtualModel{Name: "auto", Tiers: tiers(), Rules: []Rule{{Name: "r", Tier: TierSimple}}})}, want: "no condition"},
		{name: "health check without interval", give: []Option{WithProviderPolicy("p", ProviderPolicy{HealthCheck: &HealthCheck{}})}, want: "interval"},
		{name: "health check on an unknown model", give: []Option{WithProviderPolicy("p", ProviderPolicy{HealthCheck: &HealthCheck{Interval: time.Second, Model: "zz"}})}, want: `"zz" is not a model`},
		{name: "health check on a model not on the provider", give: []Option{WithProviderPolicy("q", ProviderPolicy{HealthCheck: &HealthCheck{Interval: time.Second, Model: "m"}})}, want: "no deployment"},
		{name: "bad breaker", give: []Option{WithBreaker(BreakerPolicy{FailureRate: 2})}, want: "failure rate"},
		{name: "bad latency window", give: []Option{WithLatencyWindow(0)}, want: "latency window"},
		{name: "bad max cool-down", give: []Option{WithMaxCooldown(-time.Second)}, want: "max cool-down"},
		{name: "bad sessions", give: []Option{WithSessions(time.Hour, 0)}, want: "sessions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(cat, provs, tt.give...)
			if err == nil || !contains(err.Error(), tt.want) {
				t.Errorf("New() error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func contains(s, sub string) bool {
	return len(sub) == 0 || len(s) >= len(sub) && (s == sub || indexOf(s, sub) >= 0)
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

func TestSessionAffinity(t *testing.T) {
	clock := newFakeClock()
	a := &scriptProvider{name: "a"}
	b := &scriptProvider{name: "b"}
	cat := catalogOf(t, map[string][]string{"m": {"a", "b"}})
	for i := range cat.models[0].Deployments {
		cat.models[0].Deployments[i].Priority = 0 // one weighted group
	}
	r, err := New(cat, map[string]Provider{"a": a, "b": b}, WithClock(clock.Now),
		WithModelPolicy("m", ModelPolicy{Affinity: true}), WithSessions(time.Minute, 100))
	if err != nil {
		t.Fatal(err)
	}
	ask := func(user string) *Result {
		t.Helper()
		req := hello()
		req.User = user
		res, err := r.Chat(testCtx(t), "m", req)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	first := ask("alice").Deployment.Provider
	for i := range 6 {
		if res := ask("alice"); res.Deployment.Provider != first || res.Route.Attempts[0].Reason != "session affinity" {
			t.Fatalf("request %d of alice went to %s (%s), want %s by affinity", i, res.Deployment.Provider, res.Route.Attempts[0].Reason, first)
		}
	}
	// Requests without a session still spread.
	spread := map[string]int{}
	for range 4 {
		spread[ask("").Deployment.Provider]++
	}
	if spread["a"] != 2 || spread["b"] != 2 {
		t.Errorf("sessionless spread = %v, want 2 and 2", spread)
	}
	// A 503 on alice's deployment moves her at once.
	other := map[string]string{"a": "b", "b": "a"}[first]
	p := map[string]*scriptProvider{"a": a, "b": b}[first]
	p.mu.Lock()
	p.script = []reply{{err: upErr(first, llm.KindOverloaded, 503)}}
	p.mu.Unlock()
	if res := ask("alice"); res.Deployment.Provider != other {
		t.Fatalf("after a 503 alice went to %s, want %s", res.Deployment.Provider, other)
	}
	for range 3 {
		if res := ask("alice"); res.Deployment.Provider != other {
			t.Fatalf("alice went back to %s, want to stay on %s", res.Deployment.Provider, other)
		}
	}
	// Sessions expire.
	clock.Advance(2 * time.Minute)
	if res := ask("alice"); res.Route.Attempts[0].Reason == "session affinity" {
		t.Errorf("an expired session still pinned alice")
	}
}

func TestStateSurvivesRebuild(t *testing.T) {
	clock := newFakeClock()
	a := &scriptProvider{name: "a", def: reply{err: serverErr("a")}}
	b := &scriptProvider{name: "b"}
	provs := map[string]Provider{"a": a, "b": b}
	policy := BreakerPolicy{ConsecutiveFailures: 1, OpenFor: time.Minute}
	old, err := New(catalogOf(t, map[string][]string{"m": {"a", "b"}}), provs, WithClock(clock.Now), WithBreaker(policy))
	if err != nil {
		t.Fatal(err)
	}
	old.Chat(testCtx(t), "m", hello())
	old.coolDown(Key{"b", "m@b", "m"}, clock.Now(), time.Second) // and b is cooling down briefly
	// A new config: same deployments, one more model.
	next, err := New(catalogOf(t, map[string][]string{"m": {"a", "b"}, "n": {"b"}}), provs,
		WithClock(clock.Now), WithBreaker(policy), WithState(old.State()), WithRetry(RetryPolicy{MaxAttempts: 3}))
	if err != nil {
		t.Fatal(err)
	}
	if next.State() != old.State() {
		t.Fatal("State() is not the state handed over")
	}
	_, err = next.Chat(testCtx(t), "m", hello())
	var nr *NoRouteError
	if !errors.As(err, &nr) || !cmp.Equal(outcomes(nr.Attempts), []string{"a:skipped", "b:skipped"}) {
		t.Fatalf("Chat() = %v, want a (breaker open) and b (cooling down) skipped", err)
	}
	if _, err := next.Chat(testCtx(t), "n", hello()); err != nil {
		t.Fatalf("the new model's own deployment on b: %v", err)
	}
	clock.Advance(time.Second)
	res, err := next.Chat(testCtx(t), "m", hello())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a:skipped", "b:ok"}, outcomes(res.Route.Attempts)); diff != "" {
		t.Errorf("the new router forgot a's open breaker (-want +got):\n%s", diff)
	}
}

func TestFailedRebuildKeepsState(t *testing.T) {
	provs := map[string]Provider{"a": &scriptProvider{name: "a"}, "b": &scriptProvider{name: "b"}}
	old, err := New(catalogOf(t, map[string][]string{"m": {"a"}, "n": {"b"}}), provs)
	if err != nil {
		t.Fatal(err)
	}
	nKey := Key{"b", "n@b", "n"}
	before := old.deps[nKey]
	// A reload without n that fails to build...
	_, err = New(catalogOf(t, map[string][]string{"m": {"a"}}), provs, WithState(old.State()),
		WithModelPolicy("m", ModelPolicy{Fallbacks: []string{"gone"}}))
	if err == nil {
		t.Fatal("New() with a bad fallback = nil error")
	}
	// ...leaves n's state for the next attempt.
	next, err := New(catalogOf(t, map[string][]string{"m": {"a"}, "n": {"b"}}), provs, WithState(old.State()))
	if err != nil {
		t.Fatal(err)
	}
	if next.deps[nKey] != before {
		t.Error("a failed rebuild made the state forget a deployment")
	}
	// A successful one without n forgets it.
	if _, err := New(catalogOf(t, map[string][]string{"m": {"a"}}), provs, WithState(old.State())); err != nil {
		t.Fatal(err)
	}
	old.State().mu.Lock()
	_, kept := old.State().deps[nKey]
	old.State().mu.Unlock()
	if kept {
		t.Error("the state kept a deployment no router has")
	}
}

// sharedStore is a CooldownStore standing in for one shared between
// gateway processes.
type sharedStore struct {
	MemoryCooldowns
	mu   sync.Mutex
	sets []Key
}

func (s *sharedStore) CoolDown(k Key, until time.Time) {
	s.mu.Lock()
	s.sets = append(s.sets, k)
	s.mu.Unlock()
	s.MemoryCooldowns.CoolDown(k, until)
}

func TestCustomCooldownStore(t *testing.T) {
	store := &sharedStore{}
	clock := newFakeClock()
	a := &scriptProvider{name: "a", script: []reply{{err: &llm.UpstreamError{Provider: "a", Kind: llm.KindOverloaded, StatusCode: 503, Retryable: true, RetryAfter: time.Minute}}}}
	b := &scriptProvider{name: "b"}
	r := newTestRouter(t, []Deployment{{Provider: "a", UpstreamModel: "a", Weight: 1}, {Provider: "b", UpstreamModel: "b", Weight: 1, Priority: 1}},
		map[string]Provider{"a": a, "b": b}, WithClock(clock.Now), WithCooldownStore(store))
	r.Chat(testCtx(t), "gpt-4.1", hello())
	if diff := cmp.Diff([]Key{{"a", "a", "gpt-4.1"}}, store.sets); diff != "" {
		t.Errorf("cool-downs written (-want +got):\n%s", diff)
	}
	// Another process's cool-down is honoured too.
	store.MemoryCooldowns.CoolDown(Key{"b", "b", "gpt-4.1"}, clock.Now().Add(time.Minute))
	_, err := r.Chat(testCtx(t), "gpt-4.1", hello())
	var nr *NoRouteError
	if !errors.As(err, &nr) || !cmp.Equal(outcomes(nr.Attempts), []string{"a:skipped", "b:skipped"}) {
		t.Errorf("Chat() = %v, want both skipped", err)
	}
	if wait, ok := nr.RateLimited(); !ok || wait != time.Minute {
		t.Errorf("RateLimited() = %v, %v, want 1m", wait, ok)
	}
}
