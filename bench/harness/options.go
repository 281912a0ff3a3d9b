package harness

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"time"
)

// Options is the plan of a benchmark run and where its programs are.
type Options struct {
	// GatewayCmd starts our gateway (bin/llmgateway); the harness appends
	// --config, --grpc-addr, --http-addr and --log-level. Required.
	GatewayCmd []string
	// DebugGatewayCmd starts the gateway with a debug listener
	// (bin/llmgateway-debug); the harness appends the same flags and
	// --debug-addr. It serves the scale test, which reads its goroutine
	// count, and profiles. Default: none; the scale test then runs on
	// GatewayCmd and reports no goroutine count, and profiling is off.
	DebugGatewayCmd []string
	// LLMSimCmd starts the upstream (bin/llmsim); the harness appends its
	// flags. Required.
	LLMSimCmd []string
	// FloorCmd starts the floor, a bare Go reverse proxy
	// (bin/floorproxy); the harness appends --addr and --upstream. It is
	// measured on the OpenAI-compatible surface's chain-on points, beside
	// the gateway. Default: none, no floor.
	FloorCmd []string
	// Env is added to the environment of every program started.
	Env []string
	// PeerDir is the folder where bench/peer was installed (npm ci), with
	// loopback.mjs and node_modules inside. Default: "", no peer.
	PeerDir string
	// Node is the Node.js binary that runs the peer. Default: "node".
	Node string
	// WorkDir holds the generated configs, the ledger and the programs'
	// logs. Required.
	WorkDir string

	// UnaryRates and StreamRates are the request rates, per second, of
	// the unary and streaming points. At least one unary rate is
	// required; no stream rate skips streaming.
	UnaryRates  []int
	StreamRates []int
	// ReferenceRate is the rate of the targets' figures and of the
	// chain-off comparison; it should be one of UnaryRates. Default: 1000.
	ReferenceRate int
	// Warmup precedes every measured interval. Default: 5s.
	Warmup time.Duration
	// Duration is every point's measured interval. Default: 20s.
	Duration time.Duration
	// Timeout bounds one request. Default: 10s.
	Timeout time.Duration
	// PeerFailBelow is the success rate under which the peer counts as
	// fallen over at a rate; higher rates are then skipped for it.
	// Default: 0.9.
	PeerFailBelow float64

	// UnaryChunks is the answer length, in tokens, of unary points.
	// Default: 16.
	UnaryChunks int
	// StreamChunks and ChunkDelay shape the upstream's streams. Defaults:
	// 20 chunks, 5ms apart.
	StreamChunks int
	ChunkDelay   time.Duration

	// ScaleStreams is how many streams the scale test holds open at once;
	// 0 skips it. ScaleChunks and ScaleChunkDelay shape its slow upstream
	// (defaults 30 chunks, 500ms apart); ScaleRamp is the rate at which
	// the streams are opened (default 2000 per second).
	ScaleStreams    int
	ScaleChunks     int
	ScaleChunkDelay time.Duration
	ScaleRamp       int

	// Commit is the revision reported when the gateway binary records
	// none (builds with -buildvcs=false). Default: "unknown".
	Commit string

	// Progress receives a line per point as the run goes. Default:
	// io.Discard.
	Progress io.Writer
}

// Full returns the plan of make bench: unary at 100, 300, 1000, 2000 and
// 3000 requests per second, streams at 100, 300 and 1000, 20 s points
// after a 5 s warm-up, and 10,000 concurrent streams.
func Full() Options {
	return Options{
		UnaryRates:    []int{100, 300, 1000, 2000, 3000},
		StreamRates:   []int{100, 300, 1000},
		ReferenceRate: 1000,
		Warmup:        5 * time.Second,
		Duration:      20 * time.Second,
		ScaleStreams:  10000,
	}
}

// Quick returns the plan of BENCH_QUICK=1: the same points at low rates
// and a few seconds each, and 1,000 concurrent streams; a smoke run.
func Quick() Options {
	return Options{
		UnaryRates:      []int{100, 500},
		StreamRates:     []int{100},
		ReferenceRate:   500,
		Warmup:          time.Second,
		Duration:        3 * time.Second,
		ScaleStreams:    1000,
		ScaleChunks:     10,
		ScaleChunkDelay: 200 * time.Millisecond,
	}
}

func (o *Options) setDefaults() {
	if o.Node == "" {
		o.Node = "node"
	}
	if o.ReferenceRate == 0 {
		o.ReferenceRate = 1000
	}
	if o.Warmup == 0 {
		o.Warmup = 5 * time.Second
	}
	if o.Duration == 0 {
		o.Duration = 20 * time.Second
	}
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
	if o.PeerFailBelow == 0 {
		o.PeerFailBelow = 0.9
	}
	if o.UnaryChunks == 0 {
		o.UnaryChunks = 16
	}
	if o.StreamChunks == 0 {
		o.StreamChunks = 20
	}
	if o.ChunkDelay == 0 {
		o.ChunkDelay = 5 * time.Millisecond
	}
	if o.ScaleChunks == 0 {
		o.ScaleChunks = 30
	}
	if o.ScaleChunkDelay == 0 {
		o.ScaleChunkDelay = 500 * time.Millisecond
	}
	if o.ScaleRamp == 0 {
		o.ScaleRamp = 2000
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
}

func (o *Options) validate() error {
	var errs []error
	if len(o.GatewayCmd) == 0 {
		errs = append(errs, errors.New("the gateway command is required (build it with make build)"))
	}
	if len(o.LLMSimCmd) == 0 {
		errs = append(errs, errors.New("the llmsim command is required (go build -o bin/llmsim ./cmd/llmsim)"))
	}
	if o.WorkDir == "" {
		errs = append(errs, errors.New("a work directory is required"))
	}
	if len(o.UnaryRates) == 0 {
		errs = append(errs, errors.New("at least one unary rate is required"))
	}
	for _, r := range slices.Concat(o.UnaryRates, o.StreamRates, []int{o.ReferenceRate, o.ScaleRamp}) {
		if r <= 0 {
			errs = append(errs, fmt.Errorf("rate %d: rates must be > 0 requests per second", r))
		}
	}
	switch {
	case o.Warmup < 0:
		errs = append(errs, fmt.Errorf("warm-up %v: must be >= 0", o.Warmup))
	case o.Duration < 0, o.Timeout < 0, o.ChunkDelay < 0, o.ScaleChunkDelay < 0:
		errs = append(errs, errors.New("durations must be >= 0"))
	case o.UnaryChunks < 0, o.StreamChunks < 0, o.ScaleChunks < 0, o.ScaleStreams < 0:
		errs = append(errs, errors.New("chunk and stream counts must be >= 0"))
	case o.PeerFailBelow < 0 || o.PeerFailBelow > 1:
		errs = append(errs, fmt.Errorf("peer failure threshold %v: must be a share in [0, 1]", o.PeerFailBelow))
	}
	return errors.Join(errs...)
}
