package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"
)

func main() {
	if err := runMain(context.Background(), os.Args[1:], os.Stdout); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "drill:", err)
		}
		os.Exit(1)
	}
}

// Targets are the drill's pass marks.
type Targets struct {
	// Availability is the least share of requests answered.
	Availability float64
	// CostShare is the most the gateway may cost per request, as a share
	// of the baseline.
	CostShare float64
	// SlowP99 is the most the p99 latency with a provider slowed may be,
	// as a multiple of the healthy phases' p99.
	SlowP99 float64
}

// defaultTargets are the targets.
func defaultTargets() Targets { return Targets{Availability: 1, CostShare: 0.40, SlowP99: 1.5} }

func runMain(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("drill", flag.ContinueOnError)
	duration := fs.Duration("duration", time.Minute, "how long each run sends requests")
	rps := fs.Int("rps", 300, "requests per second")
	seed := fs.Uint64("seed", 1, "workload seed")
	scale := fs.Float64("scale", 1, "multiplies simulated latencies, timeouts and fault periods")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *duration <= 0 || *rps <= 0 || *scale <= 0 {
		return fmt.Errorf("-duration, -rps and -scale must be > 0")
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	sc := Scenario{Duration: *duration, RPS: *rps, Seed: *seed, Scale: *scale}
	fmt.Fprintf(out, "llmgateway fault drill: %s at %d req/s, %d requests per run (seed %d, scale %g)\n",
		sc.Duration, sc.RPS, int(sc.Duration.Seconds()*float64(sc.RPS)), sc.Seed, sc.Scale)
	fmt.Fprintln(out, faultLine(sc))
	fmt.Fprintln(out, "running the gateway...")
	gw, err := run(ctx, "gateway", "auto", gatewayYAML, sc, nil)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "running the baseline...")
	base, err := run(ctx, "baseline", "gpt-4.1", baselineYAML, sc, nil)
	if err != nil {
		return err
	}
	failed := printTable(out, summarize(gw), summarize(base), defaultTargets())
	if len(failed) > 0 {
		return fmt.Errorf("targets missed: %s", strings.Join(failed, "; "))
	}
	return nil
}

// faultLine describes the fault schedule in seconds.
func faultLine(sc Scenario) string {
	var parts []string
	for _, w := range schedule() {
		from := time.Duration(w.start * float64(sc.Duration)).Round(100 * time.Millisecond)
		to := time.Duration(w.end * float64(sc.Duration)).Round(100 * time.Millisecond)
		parts = append(parts, fmt.Sprintf("%s-%s %s", from, to, w.phase))
	}
	return "faults: " + strings.Join(parts, ", ")
}

// printTable prints the comparison and returns the targets missed.
func printTable(out io.Writer, gw, base Summary, t Targets) []string {
	row := func(name, g, b string) { fmt.Fprintf(out, "  %-40s %-22s %s\n", name, g, b) }
	ms := func(d time.Duration) string {
		if d == 0 {
			return "-" // no request answered
		}
		return d.Round(time.Millisecond).String()
	}
	fmt.Fprintln(out)
	row("", "gateway", "baseline (gpt-4.1 only, no failover)")
	row("requests answered", fmt.Sprintf("%d/%d", gw.Answered, gw.Requests), fmt.Sprintf("%d/%d", base.Answered, base.Requests))
	row("availability", pct(gw.Availability), pct(base.Availability))
	row("cost per 1,000 requests", fmt.Sprintf("$%.4f", gw.CostPer1k), fmt.Sprintf("$%.4f", base.CostPer1k))
	row("p50 latency (first token)", ms(gw.P50), ms(base.P50))
	row("p99 latency (first token)", ms(gw.P99), ms(base.P99))
	row("p99 latency (whole answer)", ms(gw.P99Total), ms(base.P99Total))
	for p := range nPhases {
		row("p99 first token, "+p.String(), ms(gw.PhaseP99[p]), ms(base.PhaseP99[p]))
	}
	row("failovers (answered requests)", fmt.Sprint(gw.Failovers), fmt.Sprint(base.Failovers))
	row("failed attempts / skipped", fmt.Sprintf("%d / %d", gw.FailedAttempts, gw.Skipped), fmt.Sprintf("%d / %d", base.FailedAttempts, base.Skipped))
	row("breaker trips", fmt.Sprint(gw.Trips), fmt.Sprint(base.Trips))
	row("hedges", fmt.Sprint(gw.Hedges), fmt.Sprint(base.Hedges))
	if gw.Answered > 0 {
		row("tiers (simple/standard/complex)", fmt.Sprintf("%s/%s/%s",
			pct(share(gw.Tiers["simple"], gw.Answered)), pct(share(gw.Tiers["standard"], gw.Answered)), pct(share(gw.Tiers["complex"], gw.Answered))), "-")
		row("tier differs from workload label", fmt.Sprint(gw.Misclassified), "-")
	}
	fmt.Fprintln(out)

	var failed []string
	check := func(ok bool, format string, args ...any) {
		mark := "PASS"
		if !ok {
			mark = "FAIL"
			failed = append(failed, fmt.Sprintf(format, args...))
		}
		fmt.Fprintf(out, "  %s  "+format+"\n", append([]any{mark}, args...)...)
	}
	check(gw.Availability >= t.Availability, "availability %s (target %s)", pct(gw.Availability), pct(t.Availability))
	costShare := 0.0
	if base.CostPer1k > 0 {
		costShare = gw.CostPer1k / base.CostPer1k
	}
	check(base.CostPer1k > 0 && costShare <= t.CostShare, "cost %s of the baseline (target at most %s)", pct(costShare), pct(t.CostShare))
	healthy := gw.PhaseP99[PhaseHealthy]
	ratio := 0.0
	if healthy > 0 {
		ratio = float64(gw.PhaseP99[PhaseSlow]) / float64(healthy)
	}
	check(healthy > 0 && ratio <= t.SlowP99, "p99 with deepseek slowed %.2fx the healthy p99 (target at most %.1fx)", ratio, t.SlowP99)
	return failed
}

func pct(f float64) string { return fmt.Sprintf("%.2f%%", 100*f) }

func share(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) / float64(of)
}
