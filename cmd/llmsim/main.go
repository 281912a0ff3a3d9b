// Command llmsim serves the built-in simulator as a standalone
// OpenAI-compatible HTTP server (POST /v1/chat/completions, unary and
// streamed), the upstream of the overhead benchmark (make bench).
//
// Usage:
//
//	llmsim [--addr 127.0.0.1:8089] [--latency 0] [--latency-p99 0]
//	       [--chunks 0] [--chunk-delay 0] [--seed 1]
//
// Point a gateway's openai provider at it with base_url
// http://ADDR/v1. It stops gracefully on SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/llmgateway/llmgateway/bench/upstream"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := upstream.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "llmsim:", err)
		}
		os.Exit(1)
	}
}
