package harness

import (
	"strings"
	"testing"
	"time"

	"github.com/llmgateway/llmgateway/bench/load"
)

// TestMissedTargetsSayWhy checks that a missed latency target names the
// floor's share and the gateway's, that a met one says nothing more, and
// that the scale target gives the memory per stream.
func TestMissedTargetsSayWhy(t *testing.T) {
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	meas := func(p50, p99 float64, cpu float64) *Measurement {
		return &Measurement{CPUPer1k: cpu, PeakRSS: 1, Summary: load.Summary{Sent: 10, OK: 10,
			Latency: load.Percentiles{P50: ms(p50), P99: ms(p99)}}}
	}
	row := Row{Surface: surfaceOpenAI, Mode: modeUnary, Chain: string(chainOn), Rate: 1000,
		Direct: meas(0.2, 0.9, 0), Ours: meas(0.7, 1.5, 0.5), Floor: meas(0.45, 1.2, 0.3)}
	row.compute()
	// At 3,000/s the gateway fell behind: 5 of 10 failed.
	behind := Row{Surface: surfaceOpenAI, Mode: modeUnary, Chain: string(chainOn), Rate: 3000,
		Direct: meas(0.2, 1.5, 0), Ours: meas(900, 9000, 0.4), Floor: meas(0.5, 6, 0.2)}
	behind.Ours.Summary.OK = 5
	behind.compute()
	rep := &Report{Machine: Machine{CPUs: 2}, Rows: []Row{row, behind}, Scales: []Scale{
		{Surface: surfaceGRPC, Upstream: upstreamH2, Streams: 1000, Completed: 1000, MaxOpen: 1000, PeakRSS: 400 << 20, RSSAtMaxOpen: 50 << 20, Goroutines: 2000},
	}}
	rep.evaluate(Options{ReferenceRate: 1000, StreamChunks: 20, ScaleStreams: 1000})

	byName := map[string]Check{}
	for _, c := range rep.Targets {
		byName[c.Name] = c
	}
	p50 := byName["OpenAI surface, unary, chain on, 1000/s: p50 overhead"]
	if p50.Met || !strings.Contains(p50.Why, "floor") || !strings.Contains(p50.Why, "adds p50 0.250 ms") || !strings.Contains(p50.Why, "own work 0.250 ms") {
		t.Errorf("p50 check = %+v, want missed, with the floor's 0.250 ms and the gateway's 0.250", p50)
	}
	p99 := byName["OpenAI surface, unary, chain on, 1000/s: p99 overhead"]
	if !p99.Met || p99.Why != "" {
		t.Errorf("p99 check = %+v, want met (0.6 ms), with no why", p99)
	}
	high := byName["OpenAI surface, unary, chain on, 3000/s"]
	if high.Met || !strings.Contains(high.Why, "5 of 10 requests through the gateway failed") || strings.Contains(high.Why, "own work") ||
		!strings.Contains(high.Why, "1.20 of the machine's 2 CPUs") {
		t.Errorf("3000/s check = %+v, want missed, naming the failures instead of the gateway's own work, and 1.20 CPUs", high)
	}
	sc := byName["1000 concurrent streams through one gateway, upstream h2+tls"]
	if sc.Met || !strings.Contains(sc.Why, "51 KB per stream") || !strings.Contains(sc.Why, "2.0 goroutines per stream") {
		t.Errorf("scale check = %+v, want missed with 51 KB and 2.0 goroutines per stream", sc)
	}

	var table strings.Builder
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "why: a bare Go proxy") {
		t.Errorf("the table does not print the why lines:\n%s", table.String())
	}
}
