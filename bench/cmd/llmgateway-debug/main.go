// Command llmgateway-debug is the gateway with a loopback debug listener
// (pprof and the goroutine count), for the benchmark's profiles and scale
// test. See package bench/debuggw.
//
// Usage:
//
//	llmgateway-debug --config FILE [--grpc-addr ADDR] [--http-addr ADDR]
//	                 [--log-level info] [--debug-addr 127.0.0.1:0]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/llmgateway/llmgateway/bench/debuggw"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := debuggw.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "llmgateway-debug:", err)
		}
		os.Exit(1)
	}
}
