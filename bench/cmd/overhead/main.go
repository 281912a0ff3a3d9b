// Command overhead runs the overhead benchmark of make bench (package
// bench/harness) and prints its table; see docs/BENCHMARKS.md.
//
// Usage:
//
//	overhead [--gateway bin/llmgateway] [--gateway-debug bin/llmgateway-debug]
//	         [--llmsim bin/llmsim] [--peer-dir DIR] [--out bench/results/latest.json]
//	         [--quick] [--unary-rates 100,300,1000] [--stream-rates 100]
//	         [--warmup 5s] [--duration 20s] [--scale-streams 10000]
//	         [--profile DIR --profile-rate 1000 [--profile-stream]] [--keep-workdir]
//
// BENCH_QUICK=1 in the environment is the same as --quick.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/llmgateway/llmgateway/bench/harness"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "overhead:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("overhead", flag.ContinueOnError)
	fs.SetOutput(stderr)
	gateway := fs.String("gateway", "bin/llmgateway", "our gateway binary")
	debugGW := fs.String("gateway-debug", "bin/llmgateway-debug", "the debug gateway binary (scale test goroutines, profiles); empty to go without")
	llmsim := fs.String("llmsim", "bin/llmsim", "the upstream simulator binary")
	floor := fs.String("floor", "bin/floorproxy", "the floor: a bare Go reverse proxy, measured beside the gateway; empty to go without")
	peerDir := fs.String("peer-dir", "", "folder where bench/peer was installed with npm ci; empty runs without the peer")
	node := fs.String("node", "node", "Node.js binary of the peer")
	out := fs.String("out", "bench/results/latest.json", "JSON report file; empty writes none")
	quick := fs.Bool("quick", os.Getenv("BENCH_QUICK") == "1", "short smoke run (BENCH_QUICK=1)")
	unary := fs.String("unary-rates", "", "comma-separated unary rates per second (default: the plan's)")
	streams := fs.String("stream-rates", "", "comma-separated stream rates per second; \"none\" skips streams")
	ref := fs.Int("reference-rate", 0, "rate of the targets and of the chain-off points (default: the plan's)")
	warmup := fs.Duration("warmup", 0, "warm-up of every point (default: the plan's)")
	duration := fs.Duration("duration", 0, "measured interval of every point (default: the plan's)")
	scale := fs.Int("scale-streams", -1, "concurrent streams of the scale test; 0 skips it (default: the plan's)")
	profile := fs.String("profile", "", "instead of the benchmark, write CPU and allocation profiles of a unary OpenAI point into this folder")
	profileRate := fs.Int("profile-rate", 1000, "rate of the profiled point")
	profileStream := fs.Bool("profile-stream", false, "profile a streaming point instead of a unary one")
	keep := fs.Bool("keep-workdir", false, "keep the folder of generated configs, ledger and logs")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags only; see -h)", fs.Arg(0))
	}
	opts := harness.Full()
	if *quick {
		opts = harness.Quick()
	}
	var err error
	if *unary != "" {
		if opts.UnaryRates, err = parseRates("--unary-rates", *unary); err != nil {
			return err
		}
	}
	switch *streams {
	case "":
	case "none":
		opts.StreamRates = nil
	default:
		if opts.StreamRates, err = parseRates("--stream-rates", *streams); err != nil {
			return err
		}
	}
	if *ref != 0 {
		opts.ReferenceRate = *ref
	}
	if *warmup != 0 {
		opts.Warmup = *warmup
	}
	if *duration != 0 {
		opts.Duration = *duration
	}
	if *scale >= 0 {
		opts.ScaleStreams = *scale
	}
	for _, p := range []struct {
		flag string
		path *string
	}{{"--gateway", gateway}, {"--gateway-debug", debugGW}, {"--llmsim", llmsim}, {"--floor", floor}} {
		if *p.path == "" {
			continue
		}
		abs, err := filepath.Abs(*p.path)
		if err != nil {
			return fmt.Errorf("%s: %w", p.flag, err)
		}
		if _, err := os.Stat(abs); err != nil {
			return fmt.Errorf("%s %s: %w (make bench builds it)", p.flag, *p.path, err)
		}
		*p.path = abs
	}
	opts.GatewayCmd = []string{*gateway}
	opts.LLMSimCmd = []string{*llmsim}
	if *debugGW != "" {
		opts.DebugGatewayCmd = []string{*debugGW}
	}
	if *floor != "" {
		opts.FloorCmd = []string{*floor}
	}
	if *peerDir != "" {
		abs, err := filepath.Abs(*peerDir)
		if err != nil {
			return fmt.Errorf("--peer-dir: %w", err)
		}
		if _, err := os.Stat(filepath.Join(abs, "node_modules", "@portkey-ai", "gateway")); err != nil {
			return fmt.Errorf("--peer-dir %s: the peer is not installed there (npm ci in a copy of bench/peer): %w", *peerDir, err)
		}
		opts.PeerDir = abs
	}
	opts.Node = *node
	opts.Commit = gitHead(".")
	opts.Progress = stderr
	work, err := os.MkdirTemp("", "llmgateway-bench-")
	if err != nil {
		return fmt.Errorf("work folder: %w", err)
	}
	opts.WorkDir = work
	if *keep {
		fmt.Fprintln(stderr, "work folder (kept):", work)
	} else {
		defer os.RemoveAll(work)
	}

	if *profile != "" {
		return runProfile(ctx, opts, *profile, *profileRate, *profileStream, stdout)
	}
	began := time.Now()
	rep, err := harness.Run(ctx, opts)
	if err != nil {
		return err
	}
	if err := rep.WriteTable(stdout); err != nil {
		return err
	}
	if *out != "" {
		if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
			return fmt.Errorf("--out: %w", err)
		}
		f, err := os.Create(*out)
		if err != nil {
			return fmt.Errorf("--out: %w", err)
		}
		if err := rep.WriteJSON(f); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("--out: %w", err)
		}
		fmt.Fprintf(stdout, "\nwrote %s (run took %v)\n", *out, time.Since(began).Round(time.Second))
	}
	return nil
}

func runProfile(ctx context.Context, opts harness.Options, dir string, rate int, stream bool, stdout io.Writer) error {
	pr, err := harness.Profile(ctx, opts, dir, rate, stream)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s and %s\n", pr.CPU, pr.Allocs)
	for _, top := range [][]string{
		{"tool", "pprof", "-top", "-nodecount=25", pr.CPU},
		{"tool", "pprof", "-top", "-cum", "-nodecount=25", pr.CPU},
		{"tool", "pprof", "-top", "-sample_index=alloc_space", "-nodecount=25", pr.Allocs},
		{"tool", "pprof", "-top", "-sample_index=alloc_objects", "-nodecount=25", pr.Allocs},
	} {
		fmt.Fprintf(stdout, "\n$ go %s\n", strings.Join(top, " "))
		cmd := exec.CommandContext(ctx, "go", top...)
		cmd.Stdout, cmd.Stderr = stdout, stdout
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go tool pprof: %w", err)
		}
	}
	return nil
}

// gitHead reads the commit checked out in the repository at dir from its
// .git folder, without running git; "" when it cannot.
func gitHead(dir string) string {
	gitDir := filepath.Join(dir, ".git")
	head, err := os.ReadFile(filepath.Join(gitDir, "HEAD"))
	if err != nil {
		return ""
	}
	ref, ok := strings.CutPrefix(strings.TrimSpace(string(head)), "ref: ")
	if !ok {
		return strings.TrimSpace(string(head)) // detached
	}
	if b, err := os.ReadFile(filepath.Join(gitDir, filepath.FromSlash(ref))); err == nil {
		return strings.TrimSpace(string(b))
	}
	packed, err := os.ReadFile(filepath.Join(gitDir, "packed-refs"))
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(packed), "\n") {
		if sha, name, ok := strings.Cut(line, " "); ok && name == ref {
			return sha
		}
	}
	return ""
}

func parseRates(flagName, s string) ([]int, error) {
	var rates []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%s: %q is not a positive number of requests per second", flagName, f)
		}
		rates = append(rates, n)
	}
	return rates, nil
}
