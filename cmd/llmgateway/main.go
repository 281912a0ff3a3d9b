// Command llmgateway runs the LLM gateway: one process serving gRPC and
// HTTP (REST facade and OpenAI-compatible API).
//
// Usage:
//
//	llmgateway [--config FILE] [--grpc-addr ADDR] [--http-addr ADDR]
//	llmgateway validate --config FILE
//	llmgateway version
//
// Without --config it runs on its embedded default config: simulator
// providers only, no API keys and no network needed.
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
	"syscall"

	"github.com/llmgateway/llmgateway/app"
	"github.com/llmgateway/llmgateway/config"
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
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (subcommands: serve, validate, version)", fs.Arg(0))
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))

	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if *grpcAddr != "" {
		cfg.Server.GRPCAddr = *grpcAddr
	}
	if *httpAddr != "" {
		cfg.Server.HTTPAddr = *httpAddr
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
