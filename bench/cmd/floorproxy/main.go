// Command floorproxy is the floor of the overhead benchmark: a bare Go
// reverse proxy in front of one upstream. See package bench/floorproxy.
//
// Usage:
//
//	floorproxy --upstream http://127.0.0.1:8089 [--addr 127.0.0.1:0]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/llmgateway/llmgateway/bench/floorproxy"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := floorproxy.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "floorproxy:", err)
		}
		os.Exit(1)
	}
}
