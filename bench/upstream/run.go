package upstream

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/llmgateway/llmgateway/providers/simulator"
)

// Run is the llmsim command: it parses args (flags --addr, --latency,
// --latency-p99, --chunks, --chunk-delay, --seed), listens, prints
// "llmsim listening on ADDR" to stdout and serves until ctx ends, then
// shuts down gracefully. Flag errors and usage go to stderr.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("llmsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8089", "host:port to listen on (port 0 picks a free port)")
	latency := fs.Duration("latency", 0, "time to the first token (median when --latency-p99 is set)")
	p99 := fs.Duration("latency-p99", 0, "99th percentile of the time to the first token; 0 makes --latency fixed")
	chunks := fs.Int("chunks", 0, "tokens in every answer, one stream chunk each; 0 lets the simulator choose (8 to 40 words)")
	delay := fs.Duration("chunk-delay", 0, "time between two stream chunks")
	seed := fs.Int64("seed", 1, "seed of the latency draws")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (llmsim takes flags only; see -h)", fs.Arg(0))
	}
	srv, err := New(Config{
		Latency:    simulator.LatencyDist{P50: *latency, P99: *p99},
		Chunks:     *chunks,
		ChunkDelay: *delay,
		Seed:       *seed,
	}, WithLogger(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))))
	if err != nil {
		return fmt.Errorf("flags: %w", err)
	}
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listening on --addr: %w", err)
	}
	fmt.Fprintf(stdout, "llmsim listening on %s\n", lis.Addr())
	return Serve(ctx, lis, srv)
}

// Serve serves h on lis until ctx ends, then stops accepting and gives
// requests in flight five seconds to finish before closing them. It
// returns nil after a clean stop.
func Serve(ctx context.Context, lis net.Listener, h http.Handler) error {
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(lis) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close()
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving: %w", err)
	}
	return nil
}
