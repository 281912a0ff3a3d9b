package routing

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/llmgateway/llmgateway/llm"
)

// dep describes one candidate for strategy tests.
type dep struct {
	name     string
	model    int // index into the models of the test
	priority int
	weight   int
	p95      time.Duration // 0: no sample
}

var testModels = []*Model{
	{Name: "cheap", Pricing: llm.Pricing{InputPerMTok: 0.3, OutputPerMTok: 0.5}},
	{Name: "mid", Pricing: llm.Pricing{InputPerMTok: 0.4, OutputPerMTok: 1.6}},
	{Name: "dear", Pricing: llm.Pricing{InputPerMTok: 2, OutputPerMTok: 8}},
	// Prices that cross: which is cheaper depends on the request.
	{Name: "cheap-in", Pricing: llm.Pricing{InputPerMTok: 0.1, OutputPerMTok: 10}},
	{Name: "cheap-out", Pricing: llm.Pricing{InputPerMTok: 5, OutputPerMTok: 0.5}},
}

// candidates builds candidates from ds, with latency samples recorded at
// now.
func candidates(ds []dep, now time.Time) []Candidate {
	out := make([]Candidate, len(ds))
	for i, d := range ds {
		st := &depState{key: Key{Provider: d.name}, stream: newLatencyWindow(), unary: newLatencyWindow()}
		if d.p95 > 0 {
			st.stream.add(now, d.p95)
			st.unary.add(now, d.p95)
		}
		out[i] = Candidate{candidate: &candidate{
			Model:      testModels[d.model],
			Deployment: &Deployment{Provider: d.name, Priority: d.priority, Weight: d.weight},
			rank:       d.model, slot: i, st: st,
		}}
	}
	return out
}

func names(cs []Candidate) []string {
	out := make([]string, len(cs))
	for i := range cs {
		out[i] = cs[i].Deployment.Provider
	}
	return out
}

func TestStrategyOrder(t *testing.T) {
	now := newFakeClock().Now()
	req := &llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "hello there"}}}
	tests := []struct {
		name       string
		strategy   Strategy
		give       []dep
		wantOrder  []string
		wantReason string
	}{
		{
			name: "priority: lowest number first", strategy: PriorityStrategy{},
			give:      []dep{{name: "b", priority: 1, weight: 1}, {name: "a", priority: 0, weight: 1}, {name: "c", priority: 2, weight: 1}},
			wantOrder: []string{"a", "b", "c"}, wantReason: "priority 0",
		},
		{
			name: "priority: equal priority by weight, then config order", strategy: PriorityStrategy{},
			give:      []dep{{name: "a", weight: 1}, {name: "b", weight: 5}, {name: "c", weight: 1}},
			wantOrder: []string{"b", "a", "c"}, wantReason: "priority 0",
		},
		{
			name: "priority: across models, model order first", strategy: PriorityStrategy{},
			give:      []dep{{name: "m1-p0", model: 1}, {name: "m1-p1", model: 1, priority: 1}, {name: "m0-p1", model: 0, priority: 1}},
			wantOrder: []string{"m0-p1", "m1-p0", "m1-p1"}, wantReason: "priority 1",
		},
		{
			name: "weighted: without round-robin state, the heaviest of the lowest priority", strategy: WeightedStrategy{},
			give:      []dep{{name: "a", priority: 1, weight: 9}, {name: "b", weight: 1}, {name: "c", weight: 3}},
			wantOrder: []string{"c", "b", "a"}, wantReason: "priority 0, weighted pick",
		},
		{
			name: "weighted: weight 0 is failover only", strategy: WeightedStrategy{},
			give:      []dep{{name: "z", weight: 0}, {name: "w", weight: 2}},
			wantOrder: []string{"w", "z"}, wantReason: "priority 0, weighted pick",
		},
		{
			name: "least-latency: lowest p95 first", strategy: LatencyStrategy{},
			give: []dep{
				{name: "slow", p95: 900 * time.Millisecond}, {name: "fast", p95: 100 * time.Millisecond},
				{name: "mid", p95: 300 * time.Millisecond},
			},
			wantOrder: []string{"fast", "mid", "slow"}, wantReason: "lowest p95 latency (100ms)",
		},
		{
			name: "least-latency: an unknown deployment is explored first", strategy: LatencyStrategy{},
			give:      []dep{{name: "known", p95: 100 * time.Millisecond}, {name: "new"}, {name: "new2"}},
			wantOrder: []string{"new", "known", "new2"}, wantReason: "no recent latency: exploring",
		},
		{
			name: "least-latency: ties by priority", strategy: LatencyStrategy{},
			give:      []dep{{name: "b", priority: 1, p95: time.Second}, {name: "a", p95: time.Second}},
			wantOrder: []string{"a", "b"}, wantReason: "lowest p95 latency (1s)",
		},
		{
			// 10 prompt tokens (est.) and 256 output tokens.
			name: "cost: cheapest model first", strategy: CostStrategy{},
			give:      []dep{{name: "dear", model: 2}, {name: "cheap", model: 0, priority: 3}, {name: "mid", model: 1}},
			wantOrder: []string{"cheap", "mid", "dear"}, wantReason: "lowest estimated cost",
		},
		{
			// 10 × 0.1 + 256 × 10 against 10 × 5 + 256 × 0.5.
			name: "cost: crossing prices use the estimate", strategy: CostStrategy{},
			give:      []dep{{name: "in", model: 3}, {name: "out", model: 4}},
			wantOrder: []string{"out", "in"}, wantReason: "lowest estimated cost",
		},
		{
			name: "cost: same price goes by priority", strategy: CostStrategy{},
			give:      []dep{{name: "b", model: 1, priority: 1}, {name: "a", model: 1}},
			wantOrder: []string{"a", "b"}, wantReason: "lowest estimated cost",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := candidates(tt.give, now)
			in := &Input{Request: req, Stream: true, Now: now, window: time.Minute, outTokens: 256, promptTokens: -1}
			tt.strategy.Order(cs, in)
			if diff := cmp.Diff(tt.wantOrder, names(cs)); diff != "" {
				t.Errorf("Order() (-want +got):\n%s", diff)
			}
			if cs[0].Reason != tt.wantReason {
				t.Errorf("Order() reason = %q, want %q", cs[0].Reason, tt.wantReason)
			}
			for _, c := range cs[1:] {
				if c.Reason != reasonFailover {
					t.Errorf("Order() reason of %s = %q, want %q", c.Deployment.Provider, c.Reason, reasonFailover)
				}
			}
		})
	}
}

func TestLatencyStrategyExploresOnce(t *testing.T) {
	clock := newFakeClock()
	cs := candidates([]dep{{name: "known", p95: 100 * time.Millisecond}, {name: "new"}}, clock.Now())
	in := &Input{Stream: true, Now: clock.Now(), window: time.Minute}
	LatencyStrategy{}.Order(cs, in)
	if got := names(cs); got[0] != "new" || !cs[0].explore {
		t.Fatalf("first Order() = %v, want new explored", got)
	}
	cs[0].st.stream.explore(clock.Now(), exploreStale) // as the router does when it sends it
	cs2 := append([]Candidate(nil), cs...)
	LatencyStrategy{}.Order(cs2, in)
	if got := names(cs2); got[0] != "known" {
		t.Errorf("Order() while exploring = %v, want known first", got)
	}
	// The exploring request never reported back: another may explore.
	clock.Advance(exploreStale + time.Second)
	in.Now = clock.Now()
	cs[1].st.stream.add(clock.Now().Add(-2*exploreStale), time.Millisecond) // keep "known" known
	LatencyStrategy{}.Order(cs2, in)
	if got := names(cs2); got[0] != "new" {
		t.Errorf("Order() after the exploration went stale = %v, want new first", got)
	}
}

func TestLatencyWindowDecays(t *testing.T) {
	clock := newFakeClock()
	w := newLatencyWindow()
	for i := range 19 {
		w.add(clock.Now(), time.Duration(i+1)*10*time.Millisecond)
	}
	w.add(clock.Now(), 5*time.Second)
	if p, ok := w.P95(clock.Now(), time.Minute); !ok || p != 190*time.Millisecond {
		t.Errorf("P95() = %v, %v, want 190ms (19th of 20)", p, ok)
	}
	clock.Advance(30 * time.Second)
	w.add(clock.Now(), 50*time.Millisecond)
	clock.Advance(31 * time.Second)
	// The first 20 samples are older than a minute now.
	if p, ok := w.P95(clock.Now(), time.Minute); !ok || p != 50*time.Millisecond {
		t.Errorf("P95() after decay = %v, %v, want 50ms", p, ok)
	}
	clock.Advance(time.Minute)
	if p, ok := w.P95(clock.Now(), time.Minute); ok {
		t.Errorf("P95() with every sample expired = %v, want unknown", p)
	}
}

func TestLatencyWindowRecomputesAfterWrites(t *testing.T) {
	clock := newFakeClock()
	w := newLatencyWindow()
	w.add(clock.Now(), 10*time.Millisecond)
	// A window that knew nothing shows its first sample at once.
	if p, ok := w.P95(clock.Now(), time.Minute); !ok || p != 10*time.Millisecond {
		t.Fatalf("P95() after the first sample = %v, %v, want 10ms", p, ok)
	}
	for range 20 {
		w.add(clock.Now(), time.Second)
	}
	// Writes within latencyRecompute of the last computation wait for it...
	if p, _ := w.P95(clock.Now(), time.Minute); p != 10*time.Millisecond {
		t.Errorf("P95() right after more samples = %v, want the cached 10ms", p)
	}
	// ...and show once it has passed, long before latencyRefresh.
	clock.Advance(latencyRecompute + time.Millisecond)
	if p, _ := w.P95(clock.Now(), time.Minute); p != time.Second {
		t.Errorf("P95() %v after more samples = %v, want 1s", latencyRecompute+time.Millisecond, p)
	}
	if latencyRecompute >= latencyRefresh {
		t.Errorf("latencyRecompute %v should be shorter than latencyRefresh %v", latencyRecompute, latencyRefresh)
	}
}

func TestWeightedRoundRobinIsSmooth(t *testing.T) {
	now := newFakeClock().Now()
	base := candidates([]dep{{name: "a", weight: 5}, {name: "b", weight: 1}, {name: "c", weight: 1}}, now)
	in := &Input{Now: now, wrr: &wrrState{cur: make([]int, len(base))}}
	var got []string
	for range 7 {
		cs := append([]Candidate(nil), base...)
		WeightedStrategy{}.Order(cs, in)
		got = append(got, cs[0].Deployment.Provider)
	}
	// nginx's smooth weighted round robin for 5:1:1.
	if want := []string{"a", "a", "b", "a", "c", "a", "a"}; !cmp.Equal(got, want) {
		t.Errorf("picks = %v, want %v", got, want)
	}
	// Without b (unhealthy) the others share its turns.
	got = got[:0]
	for range 6 {
		cs := []Candidate{base[0], base[2]}
		WeightedStrategy{}.Order(cs, in)
		got = append(got, cs[0].Deployment.Provider)
	}
	count := map[string]int{}
	for _, g := range got {
		count[g]++
	}
	if count["a"] != 5 || count["c"] != 1 {
		t.Errorf("picks without b = %v, want a 5 and c 1", got)
	}
}

func TestStrategyByName(t *testing.T) {
	for _, name := range StrategyNames() {
		s, err := StrategyByName(name)
		if err != nil || s.Name() != name {
			t.Errorf("StrategyByName(%q) = %v, %v", name, s, err)
		}
	}
	if _, err := StrategyByName("fastest"); err == nil {
		t.Error("StrategyByName(fastest) = nil error, want one")
	}
}

func TestPriorityReason(t *testing.T) {
	for p := -2; p <= 12; p++ {
		for _, w := range []bool{false, true} {
			want := "priority " + strconv.Itoa(p)
			if w {
				want += ", weighted pick"
			}
			if got := priorityReason(p, w); got != want {
				t.Errorf("priorityReason(%d, %v) = %q, want %q", p, w, got, want)
			}
		}
	}
}

func TestCostStrategyUsesRequestSize(t *testing.T) {
	now := newFakeClock().Now()
	long := &llm.Request{Messages: []llm.Message{userMsg(strings.Repeat("word ", 20000))}, MaxTokens: 10}
	cs := candidates([]dep{{name: "in", model: 3}, {name: "out", model: 4}}, now)
	CostStrategy{}.Order(cs, &Input{Request: long, Now: now, outTokens: 256, promptTokens: -1})
	// A long prompt with a short answer: the cheap input wins.
	if got := names(cs); got[0] != "in" {
		t.Errorf("Order() = %v, want in first for a long prompt", got)
	}
}
