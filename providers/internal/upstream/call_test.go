package upstream

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/llmgateway/llmgateway/llm"
	"github.com/llmgateway/llmgateway/providers/internal/providertest"
	"github.com/llmgateway/llmgateway/providers/internal/sse"
)

func newTestCaller(t *testing.T, cfg CallerConfig, l Limits) *Caller {
	if cfg.Provider == "" {
		cfg.Provider = "test"
	}
	c := NewCaller(cfg, l)
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// post returns a RequestFunc posting {} to url, and records the context it
// was given in *ctx.
func post(c *Caller, url string, stream bool, ctx *context.Context) RequestFunc {
	return func(rctx context.Context) (*http.Request, error) {
		*ctx = rctx
		return c.NewRequest(rctx, url, struct{}{}, stream)
	}
}

// statusError maps a non-2xx response as adapters do, and records the
// context it was given in *ctx.
func statusError(ctx *context.Context) ErrorFunc {
	return func(rctx context.Context, resp *http.Response) *llm.UpstreamError {
		*ctx = rctx
		return ErrorFromResponse("test", resp, nil)
	}
}

func TestNewCallerDefaults(t *testing.T) {
	c := newTestCaller(t, CallerConfig{}, Limits{})
	if c.maxResponseBytes != DefaultMaxResponseBytes || c.maxEventBytes != sse.DefaultMaxEventSize {
		t.Errorf("bounds = %d, %d; want %d, %d", c.maxResponseBytes, c.maxEventBytes, DefaultMaxResponseBytes, sse.DefaultMaxEventSize)
	}
	if c.hc == nil || c.header == nil {
		t.Errorf("HTTP client %v, header %v; want both set", c.hc, c.header)
	}
	if c.unaryCause != nil || c.streamCause != nil {
		t.Errorf("timeout causes %v, %v; want none without a timeout", c.unaryCause, c.streamCause)
	}

	var l Limits
	hc := &http.Client{}
	l.SetHTTPClient(hc)
	l.SetMaxResponseBytes(100)
	l.SetMaxResponseBytes(0)
	l.SetMaxEventBytes(64)
	l.SetMaxEventBytes(-1)
	c = newTestCaller(t, CallerConfig{}, l)
	if c.hc != hc || c.maxResponseBytes != 100 || c.maxEventBytes != 64 {
		t.Errorf("Caller = client %p, bounds %d, %d; want %p, 100, 64 (values below 1 keep the bound)", c.hc, c.maxResponseBytes, c.maxEventBytes, hc)
	}
}

func TestCallerNewRequest(t *testing.T) {
	header := http.Header{"Authorization": {"Bearer k"}}
	c := newTestCaller(t, CallerConfig{Header: header}, Limits{})
	for _, tt := range []struct {
		giveStream bool
		wantAccept string
	}{{false, "application/json"}, {true, "text/event-stream"}} {
		req, err := c.NewRequest(providertest.Context(t), "http://x/v1", map[string]int{"a": 1}, tt.giveStream)
		if err != nil {
			t.Fatal(err)
		}
		if got := req.Header.Get("Accept"); got != tt.wantAccept {
			t.Errorf("NewRequest(stream %v): Accept = %q, want %q", tt.giveStream, got, tt.wantAccept)
		}
		if got := req.Header.Get("Authorization"); got != "Bearer k" {
			t.Errorf("NewRequest(): Authorization = %q, want %q", got, "Bearer k")
		}
	}
	if header.Get("Accept") != "" || len(c.Header()) != 1 {
		t.Errorf("NewRequest changed the configured headers: %v", header)
	}
	if _, err := c.NewRequest(providertest.Context(t), "http://x", func() {}, false); err == nil {
		t.Error("NewRequest() with a body that cannot be encoded succeeded, want an error")
	}
}

func TestCallerUnary(t *testing.T) {
	srv := providertest.NewServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Request-Id", "req_1")
		io.WriteString(w, `{"answer":42}`)
	})
	c := newTestCaller(t, CallerConfig{Timeout: 10 * time.Second}, Limits{})
	var reqCtx, errCtx context.Context
	var v struct{ Answer int }
	resp, err := c.Unary(providertest.Context(t), post(c, srv.URL, false, &reqCtx), statusError(&errCtx), &v)
	if err != nil {
		t.Fatalf("Unary() error = %v", err)
	}
	if v.Answer != 42 || resp.StatusCode != 200 || resp.Header.Get("Request-Id") != "req_1" {
		t.Errorf("Unary() = status %d, request id %q, answer %d; want 200, req_1, 42", resp.StatusCode, resp.Header.Get("Request-Id"), v.Answer)
	}
	if _, ok := reqCtx.Deadline(); !ok {
		t.Errorf("the request was built without the attempt's deadline")
	}
	if errCtx != nil {
		t.Errorf("errorFrom was called for a 2xx answer")
	}
}

func TestCallerUnaryErrors(t *testing.T) {
	t.Run("status", func(t *testing.T) {
		srv := providertest.NewServer(t, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusTooManyRequests)
			io.WriteString(w, "slow down")
		})
		c := newTestCaller(t, CallerConfig{Timeout: 10 * time.Second}, Limits{})
		var reqCtx, errCtx context.Context
		_, err := c.Unary(providertest.Context(t), post(c, srv.URL, false, &reqCtx), statusError(&errCtx), new(any))
		ue, ok := llm.AsUpstream(err)
		if !ok || ue.Kind != llm.KindRateLimited || ue.Message != "slow down" {
			t.Errorf("Unary() error = %v, want errorFrom's rate limit error", err)
		}
		if errCtx != reqCtx {
			t.Errorf("errorFrom was given another context than the attempt's")
		}
	})
	t.Run("request not built", func(t *testing.T) {
		c := newTestCaller(t, CallerConfig{}, Limits{})
		buildErr := errors.New("no body")
		build := func(context.Context) (*http.Request, error) { return nil, buildErr }
		if _, err := c.Unary(providertest.Context(t), build, nil, new(any)); err != buildErr {
			t.Errorf("Unary() error = %v, want %v as it is", err, buildErr)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		h, release := providertest.Stall()
		defer release()
		srv := providertest.NewServer(t, h)
		c := newTestCaller(t, CallerConfig{Timeout: 50 * time.Millisecond}, Limits{})
		var reqCtx, errCtx context.Context
		_, err := c.Unary(providertest.Context(t), post(c, srv.URL, false, &reqCtx), statusError(&errCtx), new(any))
		ue, ok := llm.AsUpstream(err)
		if !ok || ue.Kind != llm.KindTimeout || !ue.Retryable || !strings.Contains(ue.Error(), "no response within 50ms") {
			t.Errorf("Unary() error = %v, want a retryable timeout naming the bound", err)
		}
	})
	t.Run("body over the bound", func(t *testing.T) {
		srv := providertest.NewServer(t, func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"answer":"`+strings.Repeat("x", 100)+`"}`)
		})
		var l Limits
		l.SetMaxResponseBytes(50)
		c := newTestCaller(t, CallerConfig{}, l)
		var reqCtx, errCtx context.Context
		_, err := c.Unary(providertest.Context(t), post(c, srv.URL, false, &reqCtx), statusError(&errCtx), new(any))
		ue, ok := llm.AsUpstream(err)
		if !ok || ue.Kind != llm.KindMalformed || !strings.Contains(ue.Message, "exceeds 50 bytes") {
			t.Errorf("Unary() error = %v, want a malformed error naming the bound", err)
		}
	})
}

func TestCallerStreamTimeout(t *testing.T) {
	tests := []struct {
		name           string
		giveFirstEvent bool
		wantMessage    string
	}{
		{"headers", false, "no response headers within 50ms"},
		{"headers and first event", true, "no response headers and first event within 50ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, release := providertest.Stall()
			defer release()
			srv := providertest.NewServer(t, h)
			c := newTestCaller(t, CallerConfig{Timeout: 50 * time.Millisecond, TimeoutFirstEvent: tt.giveFirstEvent}, Limits{})
			var reqCtx, errCtx context.Context
			_, err := c.Stream(providertest.Context(t), post(c, srv.URL, true, &reqCtx), statusError(&errCtx))
			ue, ok := llm.AsUpstream(err)
			if !ok || ue.Kind != llm.KindTimeout || !ue.Retryable || !strings.Contains(ue.Error(), tt.wantMessage) {
				t.Errorf("Stream() error = %v, want a retryable timeout containing %q", err, tt.wantMessage)
			}
			if reqCtx.Err() == nil {
				t.Errorf("the attempt's context is live after Stream failed")
			}
		})
	}
}

func TestCallerStreamStatus(t *testing.T) {
	srv := providertest.NewServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	for _, firstEvent := range []bool{false, true} {
		c := newTestCaller(t, CallerConfig{Timeout: 10 * time.Second, TimeoutFirstEvent: firstEvent}, Limits{})
		var reqCtx, errCtx context.Context
		_, err := c.Stream(providertest.Context(t), post(c, srv.URL, true, &reqCtx), func(ctx context.Context, resp *http.Response) *llm.UpstreamError {
			if ctx.Err() != nil {
				t.Errorf("errorFrom was given a done context: %v", ctx.Err())
			}
			return statusError(&errCtx)(ctx, resp)
		})
		if ue, ok := llm.AsUpstream(err); !ok || ue.Kind != llm.KindOverloaded || ue.StatusCode != 503 {
			t.Errorf("Stream() error = %v, want errorFrom's 503", err)
		}
		if errCtx != reqCtx || reqCtx.Err() == nil {
			t.Errorf("errorFrom got the attempt's context: %v; the attempt ended: %v; want both", errCtx == reqCtx, reqCtx.Err() != nil)
		}
	}
}

func TestOpenedReadJSON(t *testing.T) {
	srv := providertest.NewServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		io.WriteString(w, `{"answer":7}`)
	})
	c := newTestCaller(t, CallerConfig{Timeout: 10 * time.Second, TimeoutFirstEvent: true}, Limits{})
	var reqCtx, errCtx context.Context
	o, err := c.Stream(providertest.Context(t), post(c, srv.URL, true, &reqCtx), statusError(&errCtx))
	if err != nil {
		t.Fatalf("Stream() error = %v", err)
	}
	if !o.IsJSON() {
		t.Fatalf("IsJSON() = false for %q, want true", o.Response.Header.Get("Content-Type"))
	}
	var v struct{ Answer int }
	if err := o.ReadJSON(&v); err != nil || v.Answer != 7 {
		t.Errorf("ReadJSON() = %v, answer %d; want nil, 7", err, v.Answer)
	}
	if reqCtx.Err() == nil {
		t.Errorf("the attempt's context is live after ReadJSON")
	}
}

// TestCallerStreamFirstEventTimer checks that with TimeoutFirstEvent the
// timeout bounds the first event, and nothing after it.
func TestCallerStreamFirstEventTimer(t *testing.T) {
	const timeout = 200 * time.Millisecond
	tests := []struct {
		name     string
		giveHead string // sent with the headers
		wantErr  bool
	}{
		{"no first event", "", true},
		{"slow after the first event", "data: 1\n\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := providertest.NewServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				io.WriteString(w, tt.giveHead)
				w.(http.Flusher).Flush()
				select {
				case <-time.After(3 * timeout):
				case <-r.Context().Done():
					return
				}
				io.WriteString(w, "data: 2\n\ndata: end\n\n")
			})
			c := newTestCaller(t, CallerConfig{Timeout: timeout, TimeoutFirstEvent: true}, Limits{})
			var reqCtx, errCtx context.Context
			o, err := c.Stream(providertest.Context(t), post(c, srv.URL, true, &reqCtx), statusError(&errCtx))
			if err != nil {
				t.Fatalf("Stream() error = %v", err)
			}
			s := &eventStream{}
			o.Start(&s.EventStream)
			defer s.Close()
			got, err := s.readAll()
			if tt.wantErr {
				if ue, ok := llm.AsUpstream(err); !ok || ue.Kind != llm.KindTimeout || !strings.Contains(ue.Error(), "first event") {
					t.Errorf("reading = %q, %v; want a timeout naming the first event", got, err)
				}
				return
			}
			if err != nil || got != "1,2" {
				t.Errorf("reading = %q, %v; want %q, nil", got, err, "1,2")
			}
		})
	}
}
