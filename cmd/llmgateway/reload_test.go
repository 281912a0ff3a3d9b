package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// modelsConfig is a config serving one model named model.
func modelsConfig(model string) string {
	return `
providers:
  - {name: sim, type: simulator}
models:
  - name: ` + model + `
    deployments: [{provider: sim}]
`
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	return lis.Addr().String()
}

// waitModels polls the OpenAI surface's model list until it names model,
// calling poke (when not nil) every half second meanwhile.
func waitModels(t *testing.T, ctx context.Context, httpAddr, model string, poke func()) {
	t.Helper()
	var last string
	for i := 0; ctx.Err() == nil; i++ {
		if poke != nil && i%25 == 0 {
			poke()
		}
		resp, err := http.Get("http://" + httpAddr + "/v1/models")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			last = string(b)
			if strings.Contains(last, `"`+model+`"`) {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("/v1/models never listed %s; last answer %q", model, last)
}

// TestServeReloads: serve reloads its config on SIGHUP, and on a change of
// the file while --watch is on.
func TestServeReloads(t *testing.T) {
	tests := []struct {
		name   string
		watch  bool
		signal bool
	}{
		{"SIGHUP", false, true},
		{"file change", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, modelsConfig("first-model"))
			httpAddr := freeAddr(t)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			serveCtx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			var logs bytes.Buffer
			go func() {
				done <- run(serveCtx, []string{"--config", path, "--grpc-addr", "127.0.0.1:0", "--http-addr", httpAddr,
					"--log-level", "error", "--watch=" + map[bool]string{true: "true", false: "false"}[tt.watch]}, io.Discard, &logs)
			}()
			defer func() {
				stop()
				if err := <-done; err != nil {
					t.Errorf("serve = %v, want nil after a clean shutdown", err)
				}
			}()
			waitModels(t, ctx, httpAddr, "first-model", nil)
			// The watch may start after the listeners answer: write until
			// the change is seen, each time with other bytes.
			n := 0
			waitModels(t, ctx, httpAddr, "second-model", func() {
				n++
				if err := os.WriteFile(path, []byte(modelsConfig("second-model")+strings.Repeat("\n", n)), 0o600); err != nil {
					t.Fatal(err)
				}
				if tt.signal {
					if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
						t.Fatal(err)
					}
				}
			})
		})
	}
}
