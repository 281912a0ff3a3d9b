package debuggw

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
	"strconv"
	"time"

	"github.com/llmgateway/llmgateway/app"
	"github.com/llmgateway/llmgateway/config"
	"github.com/llmgateway/llmgateway/internal/logbuf"
)

// Run parses args (--config FILE, required; --grpc-addr, --http-addr,
// --log-level as for llmgateway; --debug-addr, default 127.0.0.1:0) and
// serves the gateway until ctx ends. The debug listener's address is
// printed to stdout as "debug listening on ADDR"; logs go to stderr.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("llmgateway-debug", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "config file (required)")
	grpcAddr := fs.String("grpc-addr", "", "gRPC listen address (overrides server.grpc_addr)")
	httpAddr := fs.String("http-addr", "", "HTTP listen address (overrides server.http_addr)")
	debugAddr := fs.String("debug-addr", "127.0.0.1:0", "listen address of /debug/pprof/ and /debug/goroutines; keep it on loopback")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags only)", fs.Arg(0))
	}
	if *cfgPath == "" {
		return errors.New("--config FILE is required")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	// As the gateway's command logs (cmd/llmgateway).
	logger, logOut := logbuf.NewJSONLogger(stderr, level)
	defer logOut.Close()
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	if *grpcAddr != "" {
		cfg.Server.GRPCAddr = *grpcAddr
	}
	if *httpAddr != "" {
		cfg.Server.HTTPAddr = *httpAddr
	}
	gw, err := app.FromConfig(cfg, logger, os.LookupEnv)
	if err != nil {
		return err
	}
	debugLis, err := net.Listen("tcp", *debugAddr)
	if err != nil {
		return fmt.Errorf("debug listener: %w", err)
	}
	grpcLis, err := net.Listen("tcp", cfg.Server.GRPCAddr)
	if err != nil {
		debugLis.Close()
		return fmt.Errorf("gRPC listener: %w", err)
	}
	httpLis, err := net.Listen("tcp", cfg.Server.HTTPAddr)
	if err != nil {
		debugLis.Close()
		grpcLis.Close()
		return fmt.Errorf("HTTP listener: %w", err)
	}
	ds := &http.Server{Handler: Handler(), ReadHeaderTimeout: 10 * time.Second}
	dsDone := make(chan struct{})
	go func() { ds.Serve(debugLis); close(dsDone) }()
	defer func() { ds.Close(); <-dsDone }()
	fmt.Fprintf(stdout, "debug listening on %s\n", debugLis.Addr())
	return gw.Serve(ctx, grpcLis, httpLis)
}

// Handler serves net/http/pprof under /debug/pprof/ and the number of
// goroutines, as a decimal line, at /debug/goroutines.
func Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /debug/goroutines", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, strconv.Itoa(runtime.NumGoroutine())+"\n")
	})
	return mux
}
