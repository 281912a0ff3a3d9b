package debuggw

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	tests := []struct {
		path       string
		wantStatus int
		check      func(body string) bool
	}{
		{path: "/debug/goroutines", wantStatus: 200, check: func(b string) bool {
			n, err := strconv.Atoi(strings.TrimSpace(b))
			return err == nil && n > 0
		}},
		{path: "/debug/pprof/", wantStatus: 200, check: func(b string) bool { return strings.Contains(b, "goroutine") }},
		{path: "/debug/pprof/goroutine?debug=1", wantStatus: 200, check: func(b string) bool { return strings.Contains(b, "goroutine profile") }},
		{path: "/elsewhere", wantStatus: 404, check: func(string) bool { return true }},
	}
	for _, tt := range tests {
		resp, err := srv.Client().Get(srv.URL + tt.path)
		if err != nil {
			t.Fatalf("GET %s: %v", tt.path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.wantStatus || !tt.check(string(b)) {
			t.Errorf("GET %s = %d %.80q, want %d and the expected body", tt.path, resp.StatusCode, b, tt.wantStatus)
		}
	}
	srv.Client().CloseIdleConnections()
}

func TestRunRefusesBadFlags(t *testing.T) {
	tests := []struct {
		give    []string
		wantErr string
	}{
		{give: nil, wantErr: "--config FILE is required"},
		{give: []string{"--config", "x.yaml", "extra"}, wantErr: "unexpected argument"},
		{give: []string{"--config", "x.yaml", "--log-level", "loud"}, wantErr: "--log-level"},
		{give: []string{"--config", "/nonexistent/gateway.yaml"}, wantErr: "gateway.yaml"},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tt := range tests {
		err := Run(ctx, tt.give, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("Run(%q) = %v, want an error containing %q", tt.give, err, tt.wantErr)
		}
	}
}

var _ http.Handler = Handler()
