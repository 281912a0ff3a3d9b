package routing

import (
	"strings"
	"testing"
	"time"

	"github.com/llmgateway/llmgateway/llm"
)

func TestStreamFirstTokenTimeout(t *testing.T) {
	tests := []struct {
		name string
		opts []Option
	}{
		{name: "router default", opts: []Option{WithFirstTokenTimeout(50 * time.Millisecond)}},
		{name: "model policy", opts: []Option{WithFirstTokenTimeout(time.Hour), WithModelPolicy("m", ModelPolicy{FirstTokenTimeout: 50 * time.Millisecond})}},
		{name: "provider policy", opts: []Option{WithProviderPolicy("a", ProviderPolicy{FirstTokenTimeout: 50 * time.Millisecond})}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &scriptProvider{name: "a", def: reply{delay: 10 * time.Second}}
			b := &scriptProvider{name: "b"}
			r, err := New(catalogOf(t, map[string][]string{"m": {"a", "b"}}), map[string]Provider{"a": a, "b": b}, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			s, err := r.ChatStream(testCtx(t), "m", hello())
			if err != nil {
				t.Fatal(err)
			}
			resp, err := llm.Collect(s)
			if err != nil || resp.Message.Content != "answer from b" {
				t.Fatalf("Collect() = %q, %v, want b's answer", resp.Message.Content, err)
			}
			first := s.Route().Attempts[0]
			if first.Kind != llm.KindTimeout || first.Outcome != OutcomeError || !strings.Contains(first.Error, "timeout") {
				t.Errorf("first attempt = %+v, want a timeout", first)
			}
			if a.Cancelled() != 1 {
				t.Errorf("a's stream was not cancelled")
			}
			// The timeout taught a's window that it is slow.
			if p, ok := r.deps[Key{"a", "m@a", "m"}].stream.P95(time.Now(), time.Minute); !ok || p < 50*time.Millisecond {
				t.Errorf("a's p95 = %v, %v, want at least the timeout", p, ok)
			}
		})
	}
}

func TestStreamMidwayFailureCountsAgainstBreaker(t *testing.T) {
	r := newTestRouter(t, []Deployment{{Provider: "a", UpstreamModel: "a", Weight: 1}},
		map[string]Provider{"a": &errAfterFirst{}}, WithBreaker(BreakerPolicy{ConsecutiveFailures: 2, OpenFor: time.Minute}))
	for range 2 {
		s, err := r.ChatStream(testCtx(t), "gpt-4.1", hello())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := llm.Collect(s); err == nil {
			t.Fatal("Collect() = nil error, want the cut")
		}
	}
	if h := r.Health(); h[0].Breaker != BreakerOpen {
		t.Errorf("breaker = %v after two cut streams, want open", h[0].Breaker)
	}
}

func TestStreamClosedByCallerIsNeutral(t *testing.T) {
	r := newTestRouter(t, []Deployment{{Provider: "a", UpstreamModel: "a", Weight: 1}},
		map[string]Provider{"a": &scriptProvider{name: "a"}}, WithBreaker(BreakerPolicy{ConsecutiveFailures: 1, OpenFor: time.Minute}))
	for range 3 {
		s, err := r.ChatStream(testCtx(t), "gpt-4.1", hello())
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	if h := r.Health(); h[0].Breaker != BreakerClosed {
		t.Errorf("breaker = %v after streams the caller closed, want closed", h[0].Breaker)
	}
}
