// Command llmgateway runs the LLM gateway: one process serving gRPC and
// HTTP (REST facade and OpenAI-compatible API).
//
// Usage:
//
//	llmgateway [serve] [--config FILE] [--grpc-addr ADDR] [--http-addr ADDR] [--log-level LEVEL] [--watch=false]
//	llmgateway validate --config FILE
//	llmgateway keys new --name NAME [--id ID]
//	llmgateway healthcheck [--url URL] [--timeout DURATION] [--ca-file FILE] [--server-name NAME] [--cert-file FILE --key-file FILE]
//	llmgateway version
//
// Without --config it runs on its embedded default config: simulator
// providers only, no API keys and no network needed.
//
// While it serves, SIGHUP reloads the config file, and so does any change
// to the file or to the TLS certificate files it names (unless
// --watch=false): a config that does not load or build is refused and the
// one in effect stays. SIGTERM and SIGINT shut down gracefully.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/llmgateway/llmgateway/app"
	"github.com/llmgateway/llmgateway/config"
	"github.com/llmgateway/llmgateway/internal/logbuf"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "llmgateway:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "validate":
			return validate(args[1:], stdout, stderr)
		case "healthcheck":
			return healthcheck(ctx, args[1:], stdout, stderr)
		case "keys":
			return keys(args[1:], stdout, stderr)
		case "version":
			fmt.Fprintln(stdout, "llmgateway", app.Version())
			return nil
		case "serve":
			args = args[1:]
		}
	}
	return serve(ctx, args, stderr)
}

func serve(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("llmgateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "config file (default: the embedded default config)")
	grpcAddr := fs.String("grpc-addr", "", "gRPC listen address (overrides server.grpc_addr; default :9090)")
	httpAddr := fs.String("http-addr", "", "HTTP listen address (overrides server.http_addr; default :8080)")
	logLevel := fs.String("log-level", "", "log level: debug, info, warn or error (overrides telemetry.logging.level; default info)")
	watch := fs.Bool("watch", true, "reload when the config file or its TLS files change (SIGHUP always reloads)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (subcommands: serve, validate, keys new, healthcheck, version)", fs.Arg(0))
	}
	var level slog.LevelVar
	if *logLevel != "" {
		if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
			return fmt.Errorf("--log-level: %w", err)
		}
	}
	// SIGHUP would end the process until it is caught: catch it first.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	// Log lines are written in batches (see internal/logbuf): at info
	// level that saves a write per call. Warnings and errors are written
	// at once, and Close writes what is left when serve returns.
	logger, logOut := logbuf.NewJSONLogger(stderr, &level)
	defer logOut.Close()

	// load reads the config, at start and at every reload, with the
	// command line's overrides.
	load := func() (*config.Config, error) {
		cfg, err := loadConfig(*cfgPath)
		if err != nil {
			return nil, err
		}
		if *grpcAddr != "" {
			cfg.Server.GRPCAddr = *grpcAddr
		}
		if *httpAddr != "" {
			cfg.Server.HTTPAddr = *httpAddr
		}
		return cfg, nil
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	if *logLevel == "" && cfg.Telemetry.Logging.Level != "" {
		if err := level.UnmarshalText([]byte(cfg.Telemetry.Logging.Level)); err != nil {
			return fmt.Errorf("telemetry.logging.level: %w", err)
		}
	}
	if *cfgPath == "" {
		logger.Info("no --config given: running on the embedded default config (simulator providers only)")
	}
	gw, err := app.FromConfig(cfg, logger, os.LookupEnv)
	if err != nil {
		return err
	}
	grpcLis, err := net.Listen("tcp", cfg.Server.GRPCAddr)
	if err != nil {
		return fmt.Errorf("gRPC listener: %w", err)
	}
	httpLis, err := net.Listen("tcp", cfg.Server.HTTPAddr)
	if err != nil {
		grpcLis.Close()
		return fmt.Errorf("HTTP listener: %w", err)
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	// Reloads run beside the servers until shutdown begins, and end
	// before serve returns.
	rctx, stopReloads := context.WithCancel(ctx)
	var reloads sync.WaitGroup
	defer func() {
		stopReloads()
		reloads.Wait()
	}()
	reloads.Go(func() {
		for {
			select {
			case <-rctx.Done():
				return
			case <-hup:
				_ = gw.ReloadFrom("SIGHUP", load) // logged and counted by the gateway
			}
		}
	})
	if *watch && *cfgPath != "" {
		reloads.Go(func() {
			if err := gw.WatchConfig(rctx, *cfgPath, load, app.DefaultDebounce); err != nil {
				logger.Error("the config file is not watched: reload it with SIGHUP", "error", err)
			}
		})
	}
	return gw.Serve(ctx, grpcLis, httpLis)
}

func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return config.Default()
	}
	return config.Load(path)
}

func validate(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("llmgateway validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "config file to check (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cfgPath == "" {
		return errors.New("validate: --config FILE is required")
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	if _, err := app.FromConfig(cfg, slog.New(slog.DiscardHandler), os.LookupEnv); err != nil {
		return err
	}
	for i := range cfg.Providers {
		if _, err := cfg.Providers[i].APIKey(os.LookupEnv); err != nil {
			fmt.Fprintf(stderr, "warning: %v: the provider will be disabled until it is set\n", err)
		}
	}
	fmt.Fprintf(stdout, "%s: ok (%d providers, %d models)\n", *cfgPath, len(cfg.Providers), len(cfg.Models))
	return nil
}
