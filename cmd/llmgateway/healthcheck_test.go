package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestHealthcheck(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("GET /moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/healthz", http.StatusFound)
	})
	release := make(chan struct{})
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer close(release)

	// A port nothing listens on: bound, then closed.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + lis.Addr().String() + "/healthz"
	lis.Close()

	tests := []struct {
		name    string
		give    []string
		wantOut string
		wantErr string
	}{
		{"healthy", []string{"--url", srv.URL + "/healthz"}, "/healthz: 200 OK", ""},
		{"unhealthy status quotes the body", []string{"--url", srv.URL + "/readyz"}, "", `answered 503 Service Unavailable, want 200 OK (body "shutting down")`},
		{"redirect is not followed", []string{"--url", srv.URL + "/moved"}, "", "answered 302 Found"},
		{"unknown path", []string{"--url", srv.URL + "/nope"}, "", "answered 404 Not Found"},
		{"nothing listening", []string{"--url", refused}, "", "connection refused"},
		{"no answer in time", []string{"--url", srv.URL + "/slow", "--timeout", "100ms"}, "", "no answer from " + srv.URL + "/slow within 100ms"},
		{"zero timeout", []string{"--timeout", "0s"}, "", "--timeout 0s: want a duration above 0"},
		{"bad timeout", []string{"--timeout", "soon"}, "", "invalid value"},
		{"relative url", []string{"--url", "/healthz"}, "", `--url "/healthz": want an absolute http or https URL`},
		{"other scheme", []string{"--url", "ftp://127.0.0.1/healthz"}, "", "want an absolute http or https URL"},
		{"stray argument", []string{"now"}, "", `unexpected argument "now"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var out, errb bytes.Buffer
			args := append([]string{"healthcheck"}, tt.give...)
			err := run(ctx, args, &out, &errb)
			if tt.wantErr == "" {
				if err != nil || !strings.Contains(out.String(), tt.wantOut) {
					t.Errorf("run(%q) = %v, stdout %q; want success with stdout containing %q", args, err, out.String(), tt.wantOut)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("run(%q) = %v, want an error containing %q", args, err, tt.wantErr)
			}
		})
	}
}

// TestHealthcheckAgainstGateway probes a real gateway's /healthz with the
// default flags' shape, as the image's HEALTHCHECK does.
func TestHealthcheckAgainstGateway(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpAddr := lis.Addr().String()
	lis.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	serveCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- run(serveCtx, []string{"--grpc-addr", "127.0.0.1:0", "--http-addr", httpAddr, "--log-level", "error"}, &bytes.Buffer{}, &bytes.Buffer{})
	}()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("serve = %v, want nil after a clean shutdown", err)
		}
	}()

	args := []string{"healthcheck", "--url", "http://" + httpAddr + "/healthz", "--timeout", "2s"}
	var lastErr error
	for ctx.Err() == nil {
		var out bytes.Buffer
		if lastErr = run(ctx, args, &out, &bytes.Buffer{}); lastErr == nil {
			return
		}
		select {
		case err := <-done:
			done <- err
			t.Fatalf("gateway exited before it was healthy: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("run(%q) never succeeded; last error: %v", args, lastErr)
}
