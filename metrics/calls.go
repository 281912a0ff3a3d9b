package metrics

import (
	"context"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/llmgateway/llmgateway/interceptors/observe"
	"github.com/llmgateway/llmgateway/surface/httperr"
)

var _ observe.Observer = (*Metrics)(nil)

// operation is the gen_ai_operation_name of every chat call.
const operation = "chat"

// span is the part of a call its upstream attempts took: from the first
// one's start to the last one's end, in unix nanoseconds (0 until an
// attempt ended). Hedged attempts may end on other goroutines than the
// call's.
type span struct {
	first, last atomic.Int64
}

func (s *span) add(start, end time.Time) {
	for st := start.UnixNano(); ; {
		cur := s.first.Load()
		if cur != 0 && cur <= st || s.first.CompareAndSwap(cur, st) {
			break
		}
	}
	for e := end.UnixNano(); ; {
		cur := s.last.Load()
		if cur >= e || s.last.CompareAndSwap(cur, e) {
			break
		}
	}
}

// length returns how long the attempts took; false when none ended.
func (s *span) length() (time.Duration, bool) {
	first, last := s.first.Load(), s.last.Load()
	if first == 0 || last < first {
		return 0, false
	}
	return time.Duration(last - first), true
}

type spanKey struct{}

func method(stream bool) string {
	if stream {
		return "chat_stream"
	}
	return "chat"
}

// Begin implements observe.Observer: it counts the call in flight and
// gives it a span for its upstream attempts to fill.
func (m *Metrics) Begin(ctx context.Context, c *observe.Call) context.Context {
	m.inFlight.WithLabelValues(c.Surface, method(c.Stream)).Inc()
	return context.WithValue(ctx, spanKey{}, &span{})
}

// End implements observe.Observer: it records the finished call.
func (m *Metrics) End(ctx context.Context, c *observe.Call) {
	meth := method(c.Stream)
	m.inFlight.WithLabelValues(c.Surface, meth).Dec()
	model := c.Model
	if model == "" {
		model = c.RequestModel
	}
	deployment := ""
	if c.Provider != "" && c.UpstreamModel != "" {
		deployment = c.Provider + "/" + c.UpstreamModel
	}
	m.requests.WithLabelValues(c.Surface, meth, model, c.Provider, deployment, c.Code.String()).Inc()

	errType := ""
	if c.Code != codes.OK {
		errType = c.Code.String()
	}
	m.duration.WithLabelValues(operation, c.Provider, c.RequestModel, c.Model, errType).Observe(c.Latency.Seconds())
	if c.TTFT > 0 {
		m.ttft.WithLabelValues(operation, c.Provider, c.RequestModel, c.Model).Observe(c.TTFT.Seconds())
	}
	if s, ok := ctx.Value(spanKey{}).(*span); ok {
		if up, ok := s.length(); ok {
			m.overhead.WithLabelValues(c.Surface, meth).Observe(max(c.Latency-up, 0).Seconds())
		}
	}

	keys := m.keyValues(c)
	if c.Answered {
		u := &c.Usage
		m.tokenUsage.WithLabelValues(operation, c.Provider, c.RequestModel, c.Model, "input").Observe(float64(u.PromptTokens))
		m.tokenUsage.WithLabelValues(operation, c.Provider, c.RequestModel, c.Model, "output").Observe(float64(u.CompletionTokens))
		if u.CachedTokens > 0 {
			m.tokenUsage.WithLabelValues(operation, c.Provider, c.RequestModel, c.Model, "cached").Observe(float64(u.CachedTokens))
		}
	}
	if c.Answered || c.Estimated {
		for _, t := range [...]struct {
			kind string
			n    int64
		}{{"input", c.Usage.PromptTokens}, {"output", c.Usage.CompletionTokens}, {"cached", c.Usage.CachedTokens}} {
			if t.n > 0 {
				m.tokens.WithLabelValues(append([]string{t.kind, model, c.Provider}, keys...)...).Add(float64(t.n))
			}
		}
		if c.CostUSD > 0 {
			m.cost.WithLabelValues(append([]string{model, c.Provider}, keys...)...).Add(c.CostUSD)
		}
	}
	switch c.Reason {
	case httperr.ReasonRateLimited, httperr.ReasonBudgetExceeded:
		m.refusals.WithLabelValues(append([]string{strings.ToLower(c.Reason), c.Limit}, keys...)...).Inc()
	}
}

// keyValues returns the values of the key labels for c's key.
func (m *Metrics) keyValues(c *observe.Call) []string {
	if len(m.keyLabels) == 0 {
		return nil
	}
	vals := make([]string, len(m.keyLabels))
	if c.Key != nil {
		for i, n := range m.keyLabels {
			vals[i] = c.Key.Labels[n]
		}
	}
	return vals
}
