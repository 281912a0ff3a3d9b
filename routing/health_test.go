package routing

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/llmgateway/llmgateway/llm"
)

func TestHealthChecks(t *testing.T) {
	a := &scriptProvider{name: "a"}
	b := &scriptProvider{name: "b"}
	cat := catalogOf(t, map[string][]string{"m": {"a", "b"}})
	r, err := New(cat, map[string]Provider{"a": a, "b": b},
		WithProviderPolicy("a", ProviderPolicy{HealthCheck: &HealthCheck{Interval: time.Hour, Failures: 2}}))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.checks) != 1 || r.checks[0].hc.Timeout != 10*time.Second || r.checks[0].dep.UpstreamModel != "m@a" {
		t.Fatalf("checks = %+v", r.checks)
	}
	probe := func(rep reply) {
		a.mu.Lock()
		a.script = []reply{rep}
		a.mu.Unlock()
		r.probe(testCtx(t), r.checks[0])
	}
	route := func() []string {
		res, err := r.Chat(testCtx(t), "m", hello())
		if err != nil {
			t.Fatal(err)
		}
		return outcomes(res.Route.Attempts)
	}
	tests := []struct {
		name string
		give reply
		want []string
	}{
		{name: "one failed probe is not enough", give: reply{err: serverErr("a")}, want: []string{"a:ok"}},
		{name: "two in a row mark it failing", give: reply{err: upErr("a", llm.KindConnection, 0)}, want: []string{"a:skipped", "b:ok"}},
		{name: "a rejected probe says nothing", give: reply{err: upErr("a", llm.KindBadRequest, 400)}, want: []string{"a:skipped", "b:ok"}},
		{name: "one success clears it", give: reply{}, want: []string{"a:ok"}},
	}
	for _, tt := range tests {
		probe(tt.give)
		if diff := cmp.Diff(tt.want, route()); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
	// Probes ask for one token of the probed deployment's upstream model.
	if got := a.models[0]; got != "m@a" {
		t.Errorf("probe model = %q", got)
	}
}

func TestRunHealthChecks(t *testing.T) {
	a := &scriptProvider{name: "a", def: reply{err: serverErr("a")}}
	cat := catalogOf(t, map[string][]string{"m": {"a"}})
	r, err := New(cat, map[string]Provider{"a": a},
		WithProviderPolicy("a", ProviderPolicy{HealthCheck: &HealthCheck{Interval: 10 * time.Millisecond, Timeout: time.Second}}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(testCtx(t))
	done := make(chan struct{})
	go func() {
		r.RunHealthChecks(ctx)
		close(done)
	}()
	eventually(t, "the provider to fail its checks", func() bool { return r.Health()[0].ProviderFailing })
	a.mu.Lock()
	a.def = reply{}
	a.mu.Unlock()
	eventually(t, "the provider to pass again", func() bool { return !r.Health()[0].ProviderFailing })
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("RunHealthChecks did not return after its context ended")
	}
	// Without checks it returns at once.
	plain, _ := New(cat, map[string]Provider{"a": a})
	plain.RunHealthChecks(testCtx(t))
}
