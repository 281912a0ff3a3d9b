package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/llmgateway/llmgateway/bench/debuggw"
	"github.com/llmgateway/llmgateway/bench/floorproxy"
	"github.com/llmgateway/llmgateway/bench/upstream"
	"github.com/llmgateway/llmgateway/config"
)

// The test binary stands in for the programs the harness starts: run
// with a role as its first argument, it is that program instead of the
// tests. This covers the harness end to end, processes included, without
// building binaries.
const (
	roleGateway = "bench-role-gateway"
	roleLLMSim  = "bench-role-llmsim"
	roleFloor   = "bench-role-floor"
)

func TestMain(m *testing.M) {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case roleGateway:
			runRole(debuggw.Run)
		case roleLLMSim:
			runRole(upstream.Run)
		case roleFloor:
			runRole(floorproxy.Run)
		}
	}
	goleak.VerifyTestMain(m)
}

func runRole(main func(ctx context.Context, args []string, stdout, stderr io.Writer) error) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := main(ctx, os.Args[2:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// tinyOptions is a run of the whole plan at a tiny scale: under a second
// per point, a few streams.
func tinyOptions(t *testing.T) Options {
	return Options{
		GatewayCmd:      []string{os.Args[0], roleGateway},
		DebugGatewayCmd: []string{os.Args[0], roleGateway},
		LLMSimCmd:       []string{os.Args[0], roleLLMSim},
		FloorCmd:        []string{os.Args[0], roleFloor},
		WorkDir:         t.TempDir(),
		UnaryRates:      []int{40},
		StreamRates:     []int{20},
		ReferenceRate:   40,
		Warmup:          150 * time.Millisecond,
		Duration:        600 * time.Millisecond,
		StreamChunks:    5,
		ChunkDelay:      5 * time.Millisecond,
		ScaleStreams:    60,
		ScaleChunks:     3,
		ScaleChunkDelay: 100 * time.Millisecond,
		ScaleRamp:       200,
	}
}

func TestRunTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a dozen processes; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var progress bytes.Buffer
	opts := tinyOptions(t)
	opts.Progress = &progress
	rep, err := Run(ctx, opts)
	if err != nil {
		t.Fatalf("Run = %v; progress:\n%s", err, progress.String())
	}

	type key struct {
		Surface, Mode, Chain string
		Rate                 int
	}
	var got []key
	for _, r := range rep.Rows {
		got = append(got, key{r.Surface, r.Mode, r.Chain, r.Rate})
		if !r.Ours.ran() || r.Ours.Summary.Sent == 0 || r.Ours.Summary.OK != r.Ours.Summary.Sent {
			t.Errorf("row %v: ours = %s, want every request to succeed", got[len(got)-1], r.Ours.brief())
		}
		if r.Ours.PeakRSS <= 0 || r.Overhead == nil {
			t.Errorf("row %v: peak RSS %d, overhead %v; want both measured", got[len(got)-1], r.Ours.PeakRSS, r.Overhead)
		}
		if r.Mode == modeStream && (r.Ours.Summary.MinChunks != 5 || r.OverheadTTLT == nil) {
			t.Errorf("row %v: %d chunks at least, TTLT overhead %v; want 5 and measured", got[len(got)-1], r.Ours.Summary.MinChunks, r.OverheadTTLT)
		}
		if r.Peer != nil {
			t.Errorf("row %v has a peer measurement without a peer installed", got[len(got)-1])
		}
		if wantFloor := r.Surface == surfaceOpenAI && r.Chain == string(chainOn); (r.FloorOverhead != nil) != wantFloor ||
			wantFloor && r.Floor.Summary.OK != r.Floor.Summary.Sent {
			floor := "none"
			if r.Floor != nil {
				floor = r.Floor.brief()
			}
			t.Errorf("row %v: floor %s, overhead %v; want it measured, every request successful, on the OpenAI surface's chain-on rows only",
				got[len(got)-1], floor, r.FloorOverhead)
		}
	}
	want := []key{
		{"openai", "unary", "on", 40}, {"grpc", "unary", "on", 40},
		{"openai", "unary", "off", 40}, {"grpc", "unary", "off", 40},
		{"openai", "stream", "on", 20}, {"grpc", "stream", "on", 20},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	t.Log(progress.String())
	if !rep.Chain.KeyEnforced || !rep.Chain.LedgerFile || !rep.Chain.Metrics {
		t.Errorf("chain = %+v, want the key enforced, the ledger file written and metrics served", rep.Chain)
	}
	if len(rep.Scales) != 4 {
		t.Fatalf("scales = %+v, want one per surface and upstream protocol", rep.Scales)
	}
	for _, sc := range rep.Scales {
		if sc.Completed != 60 || sc.Goroutines == 0 || sc.PeakRSS == 0 || sc.Upstream == "" {
			t.Errorf("scale = %+v, want 60 streams completed, goroutines and RSS measured, the upstream protocol named", sc)
		}
	}
	if len(rep.MaxRates) != 2 || len(rep.Targets) == 0 {
		t.Errorf("max rates %v, %d targets; want 2 and some", rep.MaxRates, len(rep.Targets))
	}

	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatalf("WriteTable = %v", err)
	}
	for _, s := range []string{"surface", "openai", "grpc", "stream", "targets:", "highest rate held", "scale, grpc, upstream http/1.1: 60 streams", "floor: a bare Go reverse proxy", "scale, openai, upstream h2+tls: 60 streams"} {
		if !strings.Contains(table.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, table.String())
		}
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatalf("WriteJSON = %v", err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatalf("the JSON report does not decode: %v", err)
	}
	if len(back.Rows) != len(rep.Rows) || back.Rows[0].Ours.Summary.Sent != rep.Rows[0].Ours.Summary.Sent {
		t.Errorf("JSON round trip lost rows: %d rows, want %d", len(back.Rows), len(rep.Rows))
	}
}

func TestProfile(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	opts := tinyOptions(t)
	opts.Duration = time.Second // profiles take whole seconds
	for _, stream := range []bool{false, true} {
		dir := t.TempDir()
		pr, err := Profile(ctx, opts, dir, 50, stream)
		if err != nil {
			t.Fatalf("Profile(stream %v) = %v", stream, err)
		}
		for _, f := range []string{pr.CPU, pr.Allocs} {
			if fi, err := os.Stat(f); err != nil || fi.Size() == 0 {
				t.Errorf("profile %s: %v, want a non-empty file", f, err)
			}
		}
		if pr.Measurement.Summary.OK == 0 {
			t.Errorf("profiled point = %s, want successful requests", pr.Measurement.brief())
		}
		if wantTTFT := stream; (pr.Measurement.Summary.TTFT.P50 > 0) != wantTTFT {
			t.Errorf("profiled point (stream %v) = %s: time to first token measured = %v, want %v", stream, pr.Measurement.brief(), !wantTTFT, wantTTFT)
		}
	}

	opts.DebugGatewayCmd = nil
	if _, err := Profile(ctx, opts, t.TempDir(), 50, false); err == nil || !strings.Contains(err.Error(), "debug gateway") {
		t.Errorf("Profile without the debug gateway = %v, want an error naming it", err)
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*Options)
		wantErr string
	}{
		{name: "no gateway", edit: func(o *Options) { o.GatewayCmd = nil }, wantErr: "gateway command is required"},
		{name: "no llmsim", edit: func(o *Options) { o.LLMSimCmd = nil }, wantErr: "llmsim command is required"},
		{name: "no work dir", edit: func(o *Options) { o.WorkDir = "" }, wantErr: "work directory"},
		{name: "no rates", edit: func(o *Options) { o.UnaryRates = nil }, wantErr: "at least one unary rate"},
		{name: "bad rate", edit: func(o *Options) { o.StreamRates = []int{-5} }, wantErr: "rate -5"},
		{name: "bad threshold", edit: func(o *Options) { o.PeerFailBelow = 2 }, wantErr: "peer failure threshold"},
	}
	for _, tt := range tests {
		o := tinyOptions(t)
		tt.edit(&o)
		_, err := Run(context.Background(), o)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: Run = %v, want an error containing %q", tt.name, err, tt.wantErr)
		}
	}
}

func TestGatewayConfigIsValid(t *testing.T) {
	k, err := newKey()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(k.token, "sk-"+keyID+"-") || len(k.secretSHA256) != 64 {
		t.Fatalf("newKey = %q, %q; want sk-bench-<secret> and a 64-digit hash", k.token, k.secretSHA256)
	}
	for _, c := range []chain{chainOn, chainOff} {
		text := gatewayConfig(gwConfig{chain: c, key: k, grpcAddr: "127.0.0.1:1", httpAddr: "127.0.0.1:2",
			upstreamAddr: "127.0.0.1:3", ledgerPath: t.TempDir() + "/ledger.db", maxInFlight: 20000})
		path := t.TempDir() + "/gateway.yaml"
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(path)
		if err != nil {
			t.Fatalf("chain %s: config.Load = %v; config:\n%s", c, err, text)
		}
		if gotKeys := len(cfg.Keys); (c == chainOn) != (gotKeys == 1) {
			t.Errorf("chain %s: %d keys, want 1 on chain on and 0 off", c, gotKeys)
		}
		if cfg.Server.MaxInFlight != 20000 {
			t.Errorf("chain %s: server.max_in_flight = %d, want 20000", c, cfg.Server.MaxInFlight)
		}
	}
}

func TestFreePorts(t *testing.T) {
	addrs, err := freePorts(3)
	if err != nil {
		t.Fatalf("freePorts = %v", err)
	}
	seen := map[string]bool{}
	for _, a := range addrs {
		if seen[a] || !strings.HasPrefix(a, "127.0.0.1:") {
			t.Errorf("freePorts = %v, want three distinct loopback addresses", addrs)
		}
		seen[a] = true
	}
}
