package harness

import (
	"cmp"
	"debug/buildinfo"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/llmgateway/llmgateway/bench/load"
)

// Report is the outcome of a run.
type Report struct {
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Machine  Machine   `json:"machine"`
	Plan     PlanInfo  `json:"plan"`
	Chain    ChainInfo `json:"chain"`
	// Rows are the points, surface × mode × chain × rate.
	Rows []Row `json:"rows"`
	// MaxRates are, per target, the highest rate held with 100% success
	// and a p99 overhead under 1 ms (unary, chain on).
	MaxRates []MaxRate `json:"max_rates"`
	// Scales are the scale test on each surface.
	Scales []Scale `json:"scales,omitempty"`
	// Targets compares the run with the targets of the performance issue.
	Targets []Check `json:"targets"`
}

// Machine describes where the run took place.
type Machine struct {
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model"`
	Kernel    string `json:"kernel"`
	GoVersion string `json:"go_version"`
	// Commit is the VCS revision the gateway binary was built from (or,
	// when the build has none, Options.Commit); Tree is "clean" or
	// "modified" when the build recorded it, "unknown" otherwise.
	Commit string `json:"commit"`
	Tree   string `json:"tree"`
	Node   string `json:"node,omitempty"`
	Peer   string `json:"peer,omitempty"`
}

// PlanInfo records the plan of the run.
type PlanInfo struct {
	UnaryRates      []int         `json:"unary_rates"`
	StreamRates     []int         `json:"stream_rates"`
	ReferenceRate   int           `json:"reference_rate"`
	Warmup          time.Duration `json:"warmup_ns"`
	Duration        time.Duration `json:"duration_ns"`
	UnaryChunks     int           `json:"unary_chunks"`
	StreamChunks    int           `json:"stream_chunks"`
	ChunkDelay      time.Duration `json:"chunk_delay_ns"`
	ScaleStreams    int           `json:"scale_streams"`
	ScaleChunks     int           `json:"scale_chunks"`
	ScaleChunkDelay time.Duration `json:"scale_chunk_delay_ns"`
}

// ChainInfo says what the production chain of the run really did.
type ChainInfo struct {
	// KeyEnforced is whether a request without the key was refused
	// (HTTP 401); WithoutKeyStatus is what it got.
	KeyEnforced      bool `json:"key_enforced"`
	WithoutKeyStatus int  `json:"without_key_status"`
	// LedgerFile is whether the SQLite ledger file was written.
	LedgerFile bool `json:"ledger_file"`
	// Metrics is whether GET /metrics answered 200.
	Metrics bool `json:"metrics"`
	// Config is the chain-on config, addresses and secret elided.
	Config string   `json:"config"`
	Notes  []string `json:"notes,omitempty"`
}

// Measurement is one target at one point.
type Measurement struct {
	Summary load.Summary `json:"summary"`
	// CPUPer1k is the process's CPU seconds per 1,000 requests over the
	// measured interval; PeakRSS its VmHWM over it. Zero for direct.
	CPUPer1k float64 `json:"cpu_seconds_per_1000,omitempty"`
	PeakRSS  int64   `json:"peak_rss_bytes,omitempty"`
	// Note explains missing figures; Skipped says why the point was not
	// run.
	Note    string `json:"note,omitempty"`
	Skipped string `json:"skipped,omitempty"`
}

func (m *Measurement) ran() bool { return m != nil && m.Skipped == "" }

// brief is the progress line of a measurement.
func (m *Measurement) brief() string {
	s := &m.Summary
	out := fmt.Sprintf("ok %6.2f%% (%d)  p50 %s  p99 %s", 100*s.SuccessRate(), s.Sent, ms(s.Latency.P50), ms(s.Latency.P99))
	if s.MinChunks > 0 {
		out += fmt.Sprintf("  ttft p50 %s p99 %s  gap %s", ms(s.TTFT.P50), ms(s.TTFT.P99), ms(s.ChunkGap))
	}
	if m.PeakRSS > 0 {
		out += fmt.Sprintf("  cpu %.3fs/1k  rss %.1fMB", m.CPUPer1k, mb(m.PeakRSS))
	}
	for e, n := range s.Errors {
		out += fmt.Sprintf("  [%d× %s]", n, e)
	}
	return out
}

// Row is one point: a surface, a mode, a chain and a rate, with the
// upstream alone, our gateway and the peer.
type Row struct {
	Surface string `json:"surface"`
	Mode    string `json:"mode"`
	Chain   string `json:"chain"`
	Rate    int    `json:"rate"`
	// Direct is the upstream alone at this rate (shared by both
	// surfaces); Peer is nil where the peer does not apply.
	Direct *Measurement `json:"direct"`
	Ours   *Measurement `json:"ours"`
	Peer   *Measurement `json:"peer,omitempty"`
	// Floor is the bare Go reverse proxy (bench/floorproxy) at this
	// point: the least one more HTTP hop adds here. Measured on the
	// OpenAI-compatible surface's chain-on rows when the plan has it.
	Floor *Measurement `json:"floor,omitempty"`
	// Overhead is ours − direct: whole-response latency for unary points,
	// time to first token for streams; OverheadTTLT the time to last token
	// of streams. The Peer fields are the same for the peer.
	Overhead         *load.Percentiles `json:"overhead,omitempty"`
	OverheadTTLT     *load.Percentiles `json:"overhead_ttlt,omitempty"`
	PeerOverhead     *load.Percentiles `json:"peer_overhead,omitempty"`
	PeerOverheadTTLT *load.Percentiles `json:"peer_overhead_ttlt,omitempty"`
	// FloorOverhead is floor − direct, as Overhead.
	FloorOverhead *load.Percentiles `json:"floor_overhead,omitempty"`
	// RatioP50 and RatioP99 are the peer's overhead over ours; 0 when
	// either is missing or ours is not positive.
	RatioP50 float64 `json:"ratio_p50,omitempty"`
	RatioP99 float64 `json:"ratio_p99,omitempty"`
}

// metric returns the percentiles that overhead is computed on.
func (r *Row) metric(m *Measurement) load.Percentiles {
	if r.Mode == modeStream {
		return m.Summary.TTFT
	}
	return m.Summary.Latency
}

func (r *Row) compute() {
	if !r.Direct.ran() || r.Direct.Summary.OK == 0 {
		return
	}
	over := func(m *Measurement) (*load.Percentiles, *load.Percentiles) {
		if !m.ran() || m.Summary.OK == 0 {
			return nil, nil
		}
		o := r.metric(m).Sub(r.metric(r.Direct))
		if r.Mode != modeStream {
			return &o, nil
		}
		t := m.Summary.TTLT.Sub(r.Direct.Summary.TTLT)
		return &o, &t
	}
	r.Overhead, r.OverheadTTLT = over(r.Ours)
	r.PeerOverhead, r.PeerOverheadTTLT = over(r.Peer)
	r.FloorOverhead, _ = over(r.Floor)
	if r.Overhead != nil && r.PeerOverhead != nil {
		r.RatioP50 = ratio(r.PeerOverhead.P50, r.Overhead.P50)
		r.RatioP99 = ratio(r.PeerOverhead.P99, r.Overhead.P99)
	}
}

func ratio(a, b time.Duration) float64 {
	if b <= 0 || a <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// MaxRate is the highest rate a target held with 100% success and a p99
// overhead under 1 ms, among the unary rates of the plan; 0 when none.
type MaxRate struct {
	Target string `json:"target"`
	Rate   int    `json:"rate"`
}

// Check is one target of the performance issue, met or not.
type Check struct {
	Name string `json:"name"`
	Want string `json:"want"`
	Got  string `json:"got"`
	// Met is true when the target is met, false when missed; Measured
	// false when the run did not measure it.
	Met      bool `json:"met"`
	Measured bool `json:"measured"`
	// Why gives, for a missed target, the run's own figures that explain
	// it where it has them: the floor's overhead at the same point (what
	// one more HTTP hop costs on the machine), the CPU the rate needs,
	// the memory per stream.
	Why string `json:"why,omitempty"`
}

// oneMillisecond is the p99 overhead bound of the max-rate figure.
const oneMillisecond = time.Millisecond

func heldAt(m *Measurement, over *load.Percentiles) bool {
	return m.ran() && m.Summary.Sent > 0 && m.Summary.OK == m.Summary.Sent && over != nil && over.P99 < oneMillisecond
}

func (rep *Report) row(surface, mode string, c chain, rate int) *Row {
	for i := range rep.Rows {
		r := &rep.Rows[i]
		if r.Surface == surface && r.Mode == mode && r.Chain == string(c) && r.Rate == rate {
			return r
		}
	}
	return nil
}

// evaluate fills MaxRates and Targets.
func (rep *Report) evaluate(o Options) {
	best := map[string]int{}
	for i := range rep.Rows {
		r := &rep.Rows[i]
		if r.Mode != modeUnary || r.Chain != string(chainOn) {
			continue
		}
		if heldAt(r.Ours, r.Overhead) {
			best["ours/"+r.Surface] = max(best["ours/"+r.Surface], r.Rate)
		}
		if heldAt(r.Peer, r.PeerOverhead) {
			best["peer/"+r.Surface] = max(best["peer/"+r.Surface], r.Rate)
		}
	}
	targets := []string{"ours/" + surfaceOpenAI, "ours/" + surfaceGRPC}
	if o.PeerDir != "" {
		targets = append(targets, "peer/"+surfaceOpenAI)
	}
	for _, t := range targets {
		rep.MaxRates = append(rep.MaxRates, MaxRate{Target: t, Rate: best[t]})
	}
	rep.Targets = rep.checks(o)
}

func (rep *Report) checks(o Options) []Check {
	var cs []Check
	ref := o.ReferenceRate
	add := func(name, want string, measured, met bool, got string) {
		cs = append(cs, Check{Name: name, Want: want, Got: got, Met: measured && met, Measured: measured})
	}
	// why explains the last check added, if it was missed.
	why := func(text string) {
		if c := &cs[len(cs)-1]; c.Measured && !c.Met {
			c.Why = text
		}
	}
	oa := rep.row(surfaceOpenAI, modeUnary, chainOn, ref)
	measured := oa != nil && oa.Overhead != nil
	add(fmt.Sprintf("OpenAI surface, unary, chain on, %d/s: p50 overhead", ref), "≤ 0.150 ms",
		measured, measured && oa.Overhead.P50 <= 150*time.Microsecond, gotOverhead(oa, func(p *load.Percentiles) time.Duration { return p.P50 }))
	why(floorWhy(oa, func(p *load.Percentiles) time.Duration { return p.P50 }, "p50"))
	add(fmt.Sprintf("OpenAI surface, unary, chain on, %d/s: p99 overhead", ref), "≤ 1.000 ms",
		measured, measured && oa.Overhead.P99 <= time.Millisecond, gotOverhead(oa, func(p *load.Percentiles) time.Duration { return p.P99 }))
	why(floorWhy(oa, func(p *load.Percentiles) time.Duration { return p.P99 }, "p99"))
	g := rep.row(surfaceGRPC, modeUnary, chainOn, ref)
	gm := measured && g != nil && g.Overhead != nil
	got := "not measured"
	if gm {
		got = fmt.Sprintf("gRPC p50 %s p99 %s vs OpenAI p50 %s p99 %s", ms(g.Overhead.P50), ms(g.Overhead.P99), ms(oa.Overhead.P50), ms(oa.Overhead.P99))
	}
	add(fmt.Sprintf("gRPC surface, unary, chain on, %d/s: overhead", ref), "no worse than the OpenAI surface (p99)",
		gm, gm && g.Overhead.P99 <= oa.Overhead.P99, got)

	// highRate is the rate of the second unary target.
	const highRate = 3000
	for _, s := range []string{surfaceOpenAI, surfaceGRPC} {
		r := rep.row(s, modeUnary, chainOn, highRate)
		m := r != nil && r.Ours.ran()
		got := fmt.Sprintf("not measured (%d/s is not in the plan)", highRate)
		met := false
		if m {
			sum := &r.Ours.Summary
			got = fmt.Sprintf("%.2f%% success, p99 %s", 100*sum.SuccessRate(), ms(sum.Latency.P99))
			met = sum.OK == sum.Sent && sum.Sent > 0 && sum.Latency.P99 < 10*time.Millisecond
		}
		add(fmt.Sprintf("%s surface, unary, chain on, %d/s", surfaceName(s), highRate), "100% success and p99 < 10 ms", m, met, got)
		if m {
			w := fmt.Sprintf("the gateway spends %.3f CPU-ms per request, %.2f of the machine's %d CPUs at this rate, beside the load generator and the upstream",
				r.Ours.CPUPer1k, r.Ours.CPUPer1k*highRate/1000, rep.Machine.CPUs)
			w += floorNote(rep.row(surfaceOpenAI, modeUnary, chainOn, highRate), s, func(p *load.Percentiles) time.Duration { return p.P99 }, "p99")
			why(w)
		}
	}

	var parts []string
	peerMeasured, peerMet := false, true
	for i := range rep.Rows {
		r := &rep.Rows[i]
		if r.Peer == nil || !r.Peer.ran() || r.Peer.Summary.SuccessRate() < 0.99 || r.PeerOverhead == nil || r.Overhead == nil {
			continue
		}
		peerMeasured = true
		if r.RatioP99 < 5 {
			peerMet = false
		}
		parts = append(parts, fmt.Sprintf("%s %d/s %s", r.Mode, r.Rate, ratioText(r.RatioP99, r.PeerOverhead.P99, r.Overhead.P99)))
	}
	got = "not measured (no peer, or it sustained no rate)"
	if peerMeasured {
		got = strings.Join(parts, "; ")
	}
	add("p99 overhead against the peer's, at every rate it sustains (≥ 99% success)", "≥ 5× lower", peerMeasured, peerMet, got)

	sr := ref
	if len(o.StreamRates) > 0 && !containsInt(o.StreamRates, ref) {
		sr = o.StreamRates[len(o.StreamRates)-1]
	}
	for _, s := range []string{surfaceOpenAI, surfaceGRPC} {
		r := rep.row(s, modeStream, chainOn, sr)
		m := r != nil && r.Overhead != nil
		got := "not measured"
		if m {
			got = fmt.Sprintf("p50 %s, p99 %s", ms(r.Overhead.P50), ms(r.Overhead.P99))
		}
		add(fmt.Sprintf("%s surface, streams, chain on, %d/s: TTFT overhead (p50)", surfaceName(s), sr), "≤ 0.200 ms",
			m, m && r.Overhead.P50 <= 200*time.Microsecond, got)
		if m {
			w := fmt.Sprintf("every chunk is read, decoded, handed over, encoded and written in its own system call: the gateway spends %.3f CPU-s per 1,000 streams of %d chunks",
				r.Ours.CPUPer1k, o.StreamChunks)
			w += floorNote(rep.row(surfaceOpenAI, modeStream, chainOn, sr), s, func(p *load.Percentiles) time.Duration { return p.P50 }, "TTFT p50")
			why(w)
		}
	}

	relayMeasured, relayMet := false, true
	parts = parts[:0]
	for i := range rep.Rows {
		r := &rep.Rows[i]
		// Only points the gateway carried in full: an overloaded one
		// shows queueing, not buffering.
		if r.Mode != modeStream || !r.Ours.ran() || r.Ours.Summary.OK == 0 || r.Ours.Summary.OK != r.Ours.Summary.Sent || r.Direct.Summary.ChunkGap == 0 {
			continue
		}
		relayMeasured = true
		gap, want := r.Ours.Summary.ChunkGap, r.Direct.Summary.ChunkGap
		ok := r.Ours.Summary.MinChunks == o.StreamChunks && float64(gap) >= 0.8*float64(want)
		relayMet = relayMet && ok
		parts = append(parts, fmt.Sprintf("%s %d/s: %d chunks, gap %s (upstream %s)", surfaceName(r.Surface), r.Rate, r.Ours.Summary.MinChunks, ms(gap), ms(want)))
	}
	got = "not measured"
	if relayMeasured {
		got = strings.Join(parts, "; ")
	}
	add(fmt.Sprintf("streams relayed chunk by chunk (upstream: %d chunks, %s apart)", o.StreamChunks, o.ChunkDelay),
		"every chunk, spaced ≥ 0.8× the upstream's gap, at every stream point held with 100% success", relayMeasured, relayMet, got)

	// One target per upstream protocol: over HTTP/1.1 every open stream
	// holds an upstream connection, over HTTP/2 they share a few.
	for _, up := range []string{upstreamH2, upstreamH1} {
		var scaleParts []string
		scaleMeasured, scaleMet := false, true
		for _, sc := range rep.Scales {
			if sc.Upstream != up && !(sc.Upstream == "" && up == upstreamH1) {
				continue
			}
			if sc.Skipped != "" {
				scaleParts = append(scaleParts, surfaceName(sc.Surface)+": skipped ("+sc.Skipped+")")
				continue
			}
			scaleMeasured = true
			scaleMet = scaleMet && sc.Completed == sc.Streams && sc.Streams > 0 && sc.PeakRSS < 300<<20
			scaleParts = append(scaleParts, fmt.Sprintf("%s: %d of %d completed, %d open at once, peak RSS %.1f MB",
				surfaceName(sc.Surface), sc.Completed, sc.Streams, sc.MaxOpen, mb(sc.PeakRSS)))
		}
		got = "not measured"
		if len(scaleParts) > 0 {
			got = strings.Join(scaleParts, "; ")
		}
		add(fmt.Sprintf("%d concurrent streams through one gateway, upstream %s", o.ScaleStreams, up), "all complete, peak RSS < 300 MB",
			scaleMeasured, scaleMeasured && scaleMet, got)
		var whys []string
		for _, sc := range rep.Scales {
			if sc.Skipped != "" || sc.Streams == 0 || sc.Upstream != up && !(sc.Upstream == "" && up == upstreamH1) {
				continue
			}
			w := fmt.Sprintf("%s: %.0f KB per stream with the most open", surfaceName(sc.Surface), float64(sc.RSSAtMaxOpen)/1024/float64(sc.Streams))
			if sc.Goroutines > 0 {
				w += fmt.Sprintf(", %.1f goroutines per stream", float64(sc.Goroutines)/float64(sc.Streams))
			}
			whys = append(whys, w)
		}
		if len(whys) > 0 {
			why(strings.Join(whys, "; ") + "; the peak adds the garbage collector's headroom (GOGC=100: the heap grows to twice its live size between collections)")
		}
	}
	return cs
}

// floorNote is "; " and floorWhy of the OpenAI surface's row fr for that
// surface; for gRPC, whose own row has no floor, only the floor's figure.
func floorNote(fr *Row, surface string, pick func(*load.Percentiles) time.Duration, label string) string {
	if fr == nil || fr.FloorOverhead == nil {
		return ""
	}
	if surface == surfaceOpenAI {
		return "; " + floorWhy(fr, pick, label)
	}
	return fmt.Sprintf("; a bare Go HTTP proxy (the floor) adds %s %s ms at this rate by itself", label, ms(pick(fr.FloorOverhead)))
}

// floorWhy compares r's overhead with the floor's at the same point, at
// the percentile pick chooses; "" without a floor.
func floorWhy(r *Row, pick func(*load.Percentiles) time.Duration, label string) string {
	if r == nil || r.Overhead == nil || r.FloorOverhead == nil {
		return ""
	}
	f, o := pick(r.FloorOverhead), pick(r.Overhead)
	w := fmt.Sprintf("a bare Go proxy on the same path (the floor) adds %s %s ms by itself; the gateway's own work %s ms", label, ms(f), ms(o-f))
	if r.Ours.ran() {
		if sum := &r.Ours.Summary; sum.OK < sum.Sent {
			// Failed requests' latencies are timeouts and refusals, not
			// work: the difference would blame the gateway's code for
			// its queue.
			w = fmt.Sprintf("%d of %d requests through the gateway failed, so its percentiles are of failures and timeouts as much as of work; a bare Go proxy on the same path (the floor) adds %s %s ms by itself",
				sum.Sent-sum.OK, sum.Sent, label, ms(f))
		}
	}
	if r.Floor.ran() && r.Ours.ran() {
		w += fmt.Sprintf("; CPU per 1,000: floor %.3f s, ours %.3f s", r.Floor.CPUPer1k, r.Ours.CPUPer1k)
	}
	return w
}

func gotOverhead(r *Row, f func(*load.Percentiles) time.Duration) string {
	if r == nil || r.Overhead == nil {
		return "not measured"
	}
	return ms(f(r.Overhead))
}

func ratioText(x float64, peer, ours time.Duration) string {
	if x == 0 {
		return fmt.Sprintf("n/a (peer %s, ours %s)", ms(peer), ms(ours))
	}
	return fmt.Sprintf("%.1f× (peer %s, ours %s)", x, ms(peer), ms(ours))
}

func containsInt(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func surfaceName(s string) string {
	if s == surfaceOpenAI {
		return "OpenAI"
	}
	return "gRPC"
}

// ms formats d in milliseconds with microsecond resolution.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.3f", float64(d)/float64(time.Millisecond))
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }

// WriteJSON writes the report as indented JSON.
func (rep *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		return fmt.Errorf("encoding the report: %w", err)
	}
	return nil
}

// WriteTable prints the report: the table of points (latencies in
// milliseconds), the highest rates held, the scale test and the targets.
func (rep *Report) WriteTable(w io.Writer) error {
	m := &rep.Machine
	fmt.Fprintf(w, "llmgateway overhead benchmark, %s (%s)\n", rep.Started.Format(time.RFC3339), rep.Finished.Sub(rep.Started).Round(time.Second))
	fmt.Fprintf(w, "machine: %d CPUs, %s, %s, %s; gateway commit %s (tree %s)\n", m.CPUs, m.CPUModel, m.Kernel, m.GoVersion, m.Commit, m.Tree)
	if m.Peer != "" {
		fmt.Fprintf(w, "peer: %s on Node.js %s\n", m.Peer, m.Node)
	} else {
		fmt.Fprintln(w, "peer: not installed (run make bench, or bench/run.sh, to install it)")
	}
	p := &rep.Plan
	fmt.Fprintf(w, "points: %v warm-up + %v measured, open loop; unary answers %d tokens; streams %d chunks %v apart\n",
		p.Warmup, p.Duration, p.UnaryChunks, p.StreamChunks, p.ChunkDelay)
	fmt.Fprintln(w, "latency columns: whole response (unary) or time to first token (stream), ms; overhead = through − direct at the same rate")
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "surface\tmode\tchain\trate/s\tsuccess% d/o/p\tdirect p50/p99\tours p50/p99\tpeer p50/p99\tours +p50/+p90/+p99/+p99.9\tpeer +p50/+p99\tratio p50/p99\tTTLT +p50/+p99 o|p\tCPU s/1k o/p\tRSS MB o/p\t")
	for i := range rep.Rows {
		r := &rep.Rows[i]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n",
			r.Surface, r.Mode, r.Chain, r.Rate,
			strings.Join([]string{success(r.Direct), success(r.Ours), success(r.Peer)}, "/"),
			pair(r, r.Direct), pair(r, r.Ours), pair(r, r.Peer),
			overheadCells(r.Overhead, true), overheadCells(r.PeerOverhead, false),
			ratioCells(r), ttltCells(r),
			cpuCells(r), rssCells(r))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if err := rep.writeFloor(w); err != nil {
		return err
	}
	var held []string
	for _, mr := range rep.MaxRates {
		v := "none of the rates"
		if mr.Rate > 0 {
			v = fmt.Sprintf("%d/s", mr.Rate)
		}
		held = append(held, mr.Target+" "+v)
	}
	fmt.Fprintf(w, "highest rate held with 100%% success and p99 overhead < 1 ms (unary, chain on): %s\n", strings.Join(held, ", "))
	for _, sc := range rep.Scales {
		if sc.Skipped != "" {
			fmt.Fprintf(w, "scale, %s, upstream %s: %d streams skipped: %s\n", sc.Surface, sc.Upstream, sc.Streams, sc.Skipped)
			continue
		}
		gr := fmt.Sprint(sc.Goroutines)
		if sc.GoroutinesNote != "" {
			gr = sc.GoroutinesNote
		}
		fmt.Fprintf(w, "scale, %s, upstream %s: %d streams of %v held by one gateway: %d completed, %d open at once; peak RSS %.1f MB (%.1f MB with the most open), %s goroutines, %d threads, %.1f CPU s\n",
			sc.Surface, sc.Upstream, sc.Streams, sc.StreamLength, sc.Completed, sc.MaxOpen, mb(sc.PeakRSS), mb(sc.RSSAtMaxOpen), gr, sc.Threads, sc.CPUSeconds)
	}
	fmt.Fprintf(w, "chain on: virtual key enforced: %v; SQLite ledger written: %v; metrics served: %v; logs at info\n", rep.Chain.KeyEnforced, rep.Chain.LedgerFile, rep.Chain.Metrics)
	for _, n := range rep.Chain.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "targets:")
	for _, c := range rep.Targets {
		v := "MISSED"
		switch {
		case !c.Measured:
			v = "n/a"
		case c.Met:
			v = "met"
		}
		fmt.Fprintf(w, "  [%-6s] %s: want %s, got %s\n", v, c.Name, c.Want, c.Got)
		if c.Why != "" {
			fmt.Fprintf(w, "           why: %s\n", c.Why)
		}
	}
	return nil
}

func success(m *Measurement) string {
	if !m.ran() {
		return "—"
	}
	return fmt.Sprintf("%.1f", 100*m.Summary.SuccessRate())
}

func pair(r *Row, m *Measurement) string {
	if !m.ran() || m.Summary.OK == 0 {
		if m != nil && m.Skipped != "" {
			return m.Skipped
		}
		return "—"
	}
	p := r.metric(m)
	return ms(p.P50) + "/" + ms(p.P99)
}

// writeFloor writes the floor rows, if any: the overhead of a bare Go
// reverse proxy beside ours, point by point, and what ours adds to it.
func (rep *Report) writeFloor(w io.Writer) error {
	var rows []*Row
	for i := range rep.Rows {
		if rep.Rows[i].Floor != nil {
			rows = append(rows, &rep.Rows[i])
		}
	}
	if len(rows) == 0 {
		return nil
	}
	fmt.Fprintln(w, "floor: a bare Go reverse proxy (bench/floorproxy: net/http in and out, no parsing, auth, routing or accounting) on the same path;")
	fmt.Fprintln(w, "       what one more HTTP hop through a Go process costs on this machine. ours − floor is what the gateway's own work adds.")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "surface\tmode\trate/s\tsuccess% floor\tfloor +p50/+p90/+p99/+p99.9\tours +p50/+p90/+p99/+p99.9\tours − floor p50/p99\tCPU s/1k f/o\t")
	for _, r := range rows {
		diff := "—"
		if r.Overhead != nil && r.FloorOverhead != nil {
			diff = ms(r.Overhead.P50-r.FloorOverhead.P50) + "/" + ms(r.Overhead.P99-r.FloorOverhead.P99)
		}
		cpu := "—"
		if r.Floor.ran() && r.Ours.ran() {
			cpu = fmt.Sprintf("%.3f/%.3f", r.Floor.CPUPer1k, r.Ours.CPUPer1k)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t\n", r.Surface, r.Mode, r.Rate, success(r.Floor),
			overheadCells(r.FloorOverhead, true), overheadCells(r.Overhead, true), diff, cpu)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	return nil
}

func overheadCells(p *load.Percentiles, all bool) string {
	if p == nil {
		return "—"
	}
	if all {
		return ms(p.P50) + "/" + ms(p.P90) + "/" + ms(p.P99) + "/" + ms(p.P999)
	}
	return ms(p.P50) + "/" + ms(p.P99)
}

func ratioCells(r *Row) string {
	if r.PeerOverhead == nil {
		return "—"
	}
	f := func(x float64) string {
		if x == 0 || math.IsInf(x, 0) {
			return "n/a"
		}
		return fmt.Sprintf("%.1f×", x)
	}
	return f(r.RatioP50) + "/" + f(r.RatioP99)
}

func ttltCells(r *Row) string {
	if r.Mode != modeStream {
		return "—"
	}
	s := "—"
	if r.OverheadTTLT != nil {
		s = ms(r.OverheadTTLT.P50) + "/" + ms(r.OverheadTTLT.P99)
	}
	if r.PeerOverheadTTLT != nil {
		s += "|" + ms(r.PeerOverheadTTLT.P50) + "/" + ms(r.PeerOverheadTTLT.P99)
	}
	return s
}

func cpuCells(r *Row) string {
	s := "—"
	if r.Ours.ran() && r.Ours.PeakRSS > 0 {
		s = fmt.Sprintf("%.3f", r.Ours.CPUPer1k)
	}
	if r.Peer.ran() && r.Peer.PeakRSS > 0 {
		s += fmt.Sprintf("/%.3f", r.Peer.CPUPer1k)
	}
	return s
}

func rssCells(r *Row) string {
	s := "—"
	if r.Ours.ran() && r.Ours.PeakRSS > 0 {
		s = fmt.Sprintf("%.0f", mb(r.Ours.PeakRSS))
	}
	if r.Peer.ran() && r.Peer.PeakRSS > 0 {
		s += fmt.Sprintf("/%.0f", mb(r.Peer.PeakRSS))
	}
	return s
}

// machine describes this machine and the gateway binary.
func machine(o Options) Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), CPUModel: "unknown", Kernel: "unknown",
		Commit: cmp.Or(o.Commit, "unknown"), Tree: "unknown"}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = "Linux " + strings.TrimSpace(string(b))
	}
	if len(o.GatewayCmd) > 0 {
		if bi, err := buildinfo.ReadFile(o.GatewayCmd[0]); err == nil {
			m.GoVersion = bi.GoVersion
			for _, s := range bi.Settings {
				switch s.Key {
				case "vcs.revision":
					m.Commit = s.Value
				case "vcs.modified":
					m.Tree = map[bool]string{true: "modified", false: "clean"}[s.Value == "true"]
				}
			}
		}
	}
	if o.PeerDir != "" {
		if out, err := exec.Command(cmp.Or(o.Node, "node"), "--version").Output(); err == nil {
			m.Node = strings.TrimSpace(string(out))
		}
	}
	return m
}

// peerVersion reads the installed peer's name and version.
func peerVersion(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "node_modules", "@portkey-ai", "gateway", "package.json"))
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	var pkg struct{ Name, Version string }
	if err := json.Unmarshal(b, &pkg); err != nil {
		return "unknown (" + err.Error() + ")"
	}
	return pkg.Name + "@" + pkg.Version
}

func planOf(o Options) PlanInfo {
	return PlanInfo{
		UnaryRates: o.UnaryRates, StreamRates: o.StreamRates, ReferenceRate: o.ReferenceRate,
		Warmup: o.Warmup, Duration: o.Duration,
		UnaryChunks: o.UnaryChunks, StreamChunks: o.StreamChunks, ChunkDelay: o.ChunkDelay,
		ScaleStreams: o.ScaleStreams, ScaleChunks: o.ScaleChunks, ScaleChunkDelay: o.ScaleChunkDelay,
	}
}
