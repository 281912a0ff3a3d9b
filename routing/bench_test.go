package routing

import (
	"testing"
	"time"

	"github.com/llmgateway/llmgateway/llm"
)

// BenchmarkRouteDecision measures the routing decision of one request:
// resolving the name (and classifying, for auto), checking each
// deployment's breaker, cool-down and provider health, and ordering the
// candidates with the strategy. It makes no upstream call.
func BenchmarkRouteDecision(b *testing.B) {
	r, _ := autoRouter(b)
	req := &llm.Request{Messages: []llm.Message{
		{Role: llm.RoleSystem, Content: "You are a helpful customer-service agent for an online shop."},
		{Role: llm.RoleUser, Content: "Hi, where is my order A-1001? It was supposed to arrive yesterday."},
	}}
	for _, strategy := range StrategyNames() {
		s, _ := StrategyByName(strategy)
		b.Run(strategy, func(b *testing.B) {
			r, _ := autoRouter(b, WithDefaultStrategy(s), WithModelPolicy("gpt-4.1", ModelPolicy{Strategy: s}))
			now := time.Now()
			for k := range r.deps {
				r.deps[k].unary.add(now, 100*time.Millisecond)
			}
			benchDecide(b, r, "gpt-4.1", req)
		})
	}
	b.Run("auto", func(b *testing.B) { benchDecide(b, r, "auto", req) })
}

func benchDecide(b *testing.B, r *Router, model string, req *llm.Request) {
	b.ReportAllocs()
	for b.Loop() {
		t, route, err := r.resolve(model, req)
		if err != nil {
			b.Fatal(err)
		}
		x := r.newExec(b.Context(), t, req, false, route)
		c, ok := x.next(false)
		if !ok || c.Deployment == nil {
			b.Fatal("no candidate")
		}
	}
}

// BenchmarkLatencyWindowAdd measures recording one attempt's latency in a
// full window, which every finished attempt does whatever the strategy.
func BenchmarkLatencyWindowAdd(b *testing.B) {
	w := newLatencyWindow()
	now := time.Now()
	for i := range latencySamples {
		w.add(now, time.Duration(i%17)*time.Millisecond)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		w.add(now.Add(time.Duration(i)), time.Duration(i%17)*time.Millisecond)
	}
}
