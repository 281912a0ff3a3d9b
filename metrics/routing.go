package metrics

import (
	"context"
	"time"

	"github.com/llmgateway/llmgateway/llm"
	"github.com/llmgateway/llmgateway/routing"
)

// deployment names a deployment in labels: provider/upstream model.
func deployment(provider, upstreamModel string) string { return provider + "/" + upstreamModel }

// AttemptStarted implements routing.Observer: it counts retries,
// failovers and hedges.
func (m *Metrics) AttemptStarted(ctx context.Context, s routing.AttemptStart) context.Context {
	switch s.Cause {
	case routing.CauseRetry:
		m.retries.WithLabelValues(s.Key.Model, s.Key.Provider).Inc()
	case routing.CauseFailover:
		m.failovers.WithLabelValues(s.Key.Model, s.Key.Provider).Inc()
	case routing.CauseHedge:
		m.hedges.WithLabelValues(s.Key.Model, s.Key.Provider).Inc()
	}
	return ctx
}

// AttemptFinished implements routing.Observer: it counts the attempt,
// records its latency and widens its call's upstream span.
func (m *Metrics) AttemptFinished(ctx context.Context, a *routing.Attempt, _ *llm.Usage) {
	dep := deployment(a.Provider, a.UpstreamModel)
	m.attempts.WithLabelValues(a.Model, a.Provider, dep, string(a.Outcome), string(a.Kind)).Inc()
	m.upstream.WithLabelValues(a.Model, a.Provider, dep, string(a.Outcome)).Observe(a.Latency.Seconds())
	if s, ok := ctx.Value(spanKey{}).(*span); ok {
		end := time.Now()
		s.add(end.Add(-a.Latency), end)
	}
}

// BreakerChanged implements routing.Observer: it counts the transition.
func (m *Metrics) BreakerChanged(k routing.Key, _, to routing.BreakerState) {
	m.transitions.WithLabelValues(k.Model, k.Provider, deployment(k.Provider, k.UpstreamModel), to.String()).Inc()
}
