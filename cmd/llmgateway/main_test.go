package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestValidate(t *testing.T) {
	good := writeFile(t, `
providers:
  - {name: sim, type: simulator}
models:
  - name: m
    deployments: [{provider: sim}]
`)
	bad := writeFile(t, `
providers:
  - {name: sim, type: simulator, colour: blue}
models:
  - name: m
    deployments: [{provider: nope}]
`)
	tests := []struct {
		name    string
		args    []string
		wantErr string
		wantOut string
	}{
		{"good file", []string{"validate", "--config", good}, "", "ok (1 providers, 1 models)"},
		{"bad file", []string{"validate", "--config", bad}, "colour", ""},
		{"missing file", []string{"validate", "--config", filepath.Join(t.TempDir(), "none.yaml")}, "none.yaml", ""},
		{"no flag", []string{"validate"}, "--config FILE is required", ""},
		{"stray argument", []string{"serve", "extra"}, `unexpected argument "extra"`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := run(ctx, tt.args, &out, &errb)
			if tt.wantErr == "" {
				if err != nil || !strings.Contains(out.String(), tt.wantOut) {
					t.Errorf("run(%v) = %v, stdout %q; want success containing %q", tt.args, err, out.String(), tt.wantOut)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("run(%v) = %v, want an error containing %q", tt.args, err, tt.wantErr)
			}
		})
	}
}

func TestServeStopsOnContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var errb bytes.Buffer
	go func() {
		done <- run(ctx, []string{"--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--log-level", "warn"}, &bytes.Buffer{}, &errb)
	}()
	time.Sleep(200 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run() = %v, want nil after a clean shutdown; log: %s", err, errb.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run() did not return after its context ended")
	}
}
