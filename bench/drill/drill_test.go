package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestDrillSmall runs the drill's scenario at small scale, four times
// faster than the real one, and holds the gateway to the availability
// target while a provider is down, another rate limits and a third is
// slow. Latency targets are left to make drill: they need a quiet machine.
func TestDrillSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("the drill takes about 10 s")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Seed 23's first 200 requests are 141 simple, 39 standard and 20
	// complex: the brief's mix.
	sc := Scenario{Duration: 5 * time.Second, RPS: 40, Seed: 23, Scale: 0.25}
	gwRep, err := run(ctx, "gateway", "auto", gatewayYAML, sc, nil)
	if err != nil {
		t.Fatal(err)
	}
	baseRep, err := run(ctx, "baseline", "gpt-4.1", baselineYAML, sc, nil)
	if err != nil {
		t.Fatal(err)
	}
	gw, base := summarize(gwRep), summarize(baseRep)
	var out bytes.Buffer
	failed := printTable(&out, gw, base, Targets{Availability: 1, CostShare: 0.40, SlowP99: 1e9})
	t.Logf("drill table:\n%s", out.String())
	if gw.Requests != 200 || base.Requests != 200 {
		t.Fatalf("requests = %d and %d, want 200 each", gw.Requests, base.Requests)
	}
	if gw.Availability != 1 {
		for _, r := range gwRep.Results {
			if !r.OK {
				t.Errorf("unanswered in phase %s: %s", r.Phase, r.ErrorText)
			}
		}
	}
	if len(failed) > 0 {
		t.Errorf("targets missed: %v", failed)
	}
	// The faults bit: the baseline lost the requests of openai's outage,
	// and the gateway routed around them.
	if base.Availability > 0.95 {
		t.Errorf("baseline availability = %v, want the outage to show", base.Availability)
	}
	if gw.Failovers == 0 {
		t.Errorf("failovers = 0, want the gateway to have routed around the faults")
	}
	if gw.Tiers["simple"] == 0 || gw.Tiers["standard"] == 0 || gw.Tiers["complex"] == 0 {
		t.Errorf("tiers = %v, want every tier used", gw.Tiers)
	}
}

func TestWorkloadMix(t *testing.T) {
	a, b := workload(10000, 1), workload(10000, 1)
	count := map[string]int{}
	for i := range a {
		if a[i] != b[i] {
			t.Fatal("workload is not repeatable for a seed")
		}
		count[a[i].class]++
	}
	for class, want := range map[string]int{"simple": 7000, "standard": 2000, "complex": 1000} {
		if got := count[class]; got < want*9/10 || got > want*11/10 {
			t.Errorf("%s requests = %d of 10000, want about %d", class, got, want)
		}
	}
}

func TestPhases(t *testing.T) {
	tests := []struct {
		give float64
		want Phase
	}{
		{0, PhaseHealthy}, {0.15, PhaseDown}, {0.29, PhaseDown}, {0.35, PhaseHealthy},
		{0.4, PhaseRateLimit}, {0.7, PhaseSlow}, {0.8, PhaseHealthy}, {0.99, PhaseHealthy},
	}
	for _, tt := range tests {
		if got := phaseAt(tt.give); got != tt.want {
			t.Errorf("phaseAt(%v) = %v, want %v", tt.give, got, tt.want)
		}
	}
}

func TestRenderScales(t *testing.T) {
	got, err := render(`a: {{d "2s"}}, b: {{tps 100}}`, 0.5)
	if err != nil || got != "a: 1s, b: 200" {
		t.Errorf("render() = %q, %v", got, err)
	}
	if _, err := render(`{{d "soon"}}`, 1); err == nil || !strings.Contains(err.Error(), "soon") {
		t.Errorf("render(bad duration) error = %v", err)
	}
}

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	tests := []struct {
		q    int
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}}
	for _, tt := range tests {
		if got := percentile(ds, tt.q); got != tt.want {
			t.Errorf("percentile(%d) = %v, want %v", tt.q, got, tt.want)
		}
	}
	if got := percentile(nil, 99); got != 0 {
		t.Errorf("percentile(nil) = %v, want 0", got)
	}
}

func TestRunMainRejectsBadFlags(t *testing.T) {
	var out bytes.Buffer
	if err := runMain(context.Background(), []string{"-rps", "0"}, &out); err == nil {
		t.Error("runMain(-rps 0) = nil error")
	}
}
