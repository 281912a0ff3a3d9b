package metrics_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/llmgateway/llmgateway/interceptors/auth"
	"github.com/llmgateway/llmgateway/interceptors/observe"
	"github.com/llmgateway/llmgateway/llm"
	"github.com/llmgateway/llmgateway/metrics"
	"github.com/llmgateway/llmgateway/routing"
)

// BenchmarkCall measures what the metrics add to one chat call that
// fails over once: Begin, two attempts and End.
func BenchmarkCall(b *testing.B) {
	for _, bc := range []struct {
		name   string
		labels []string
	}{{"no key labels", nil}, {"two key labels", []string{"team", "app"}}} {
		b.Run(bc.name, func(b *testing.B) {
			m := metrics.New(metrics.WithKeyLabels(bc.labels...), metrics.WithoutRuntimeMetrics())
			key := &auth.Key{ID: "k", Labels: map[string]string{"team": "cs", "app": "bot"}}
			ka := routing.Key{Model: "gpt-4.1", Provider: "a", UpstreamModel: "a-up"}
			kb := routing.Key{Model: "gpt-4.1", Provider: "b", UpstreamModel: "b-up"}
			failed := &routing.Attempt{Provider: "a", Model: "gpt-4.1", UpstreamModel: "a-up", Outcome: routing.OutcomeError, Kind: llm.KindServer, Latency: time.Millisecond}
			ok := &routing.Attempt{Provider: "b", Model: "gpt-4.1", UpstreamModel: "b-up", Outcome: routing.OutcomeOK, Latency: 2 * time.Millisecond}
			usage := &llm.Usage{PromptTokens: 100, CompletionTokens: 20, CachedTokens: 50}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				c := &observe.Call{Surface: "grpc", Key: key, Requested: "gpt-4", RequestModel: "gpt-4.1"}
				cctx := m.Begin(ctx, c)
				m.AttemptFinished(m.AttemptStarted(cctx, routing.AttemptStart{Key: ka, Cause: routing.CauseFirst}), failed, nil)
				m.AttemptFinished(m.AttemptStarted(cctx, routing.AttemptStart{Key: kb, Cause: routing.CauseFailover}), ok, usage)
				c.Code, c.Model, c.Provider, c.UpstreamModel, c.Answered = codes.OK, "gpt-4.1", "b", "b-up", true
				c.Usage, c.CostUSD, c.Latency = *usage, 0.001, 5*time.Millisecond
				m.End(cctx, c)
			}
		})
	}
}
