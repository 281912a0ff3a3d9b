package providertest

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Context returns a context bounded by a generous test timeout, cancelled
// at the end of the test.
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// NewServer starts an httptest server closed at the end of the test. The
// request body is read before h runs, as a real API server does, so that
// the server notices when the client goes away (r.Context() is done); h
// can still read the body, from a copy.
func NewServer(t testing.TB, h http.HandlerFunc) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// WaitClientGone blocks until the client abandons r, and reports whether
// it did; it gives up after a bound so that a failing test cannot hang the
// server's shutdown.
func WaitClientGone(r *http.Request) bool {
	select {
	case <-r.Context().Done():
		return true
	case <-time.After(20 * time.Second):
		return false
	}
}

// Stall returns a handler that answers nothing until the client goes away
// or release is called, which the test must do before it ends.
func Stall() (h http.HandlerFunc, release func()) {
	ch := make(chan struct{})
	return func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-ch:
		case <-r.Context().Done():
		}
	}, func() { close(ch) }
}

// Recorded is what a test server saw of one request.
type Recorded struct {
	Method   string
	Path     string
	RawPath  string // the escaped path, as sent
	RawQuery string
	Header   http.Header
	Body     []byte
}

// Recorder records the requests a test server receives. Its zero value is
// ready to use; it is safe for concurrent use.
type Recorder struct {
	mu   sync.Mutex
	reqs []Recorded
}

// Record records r, reading its body.
func (rc *Recorder) Record(r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.reqs = append(rc.reqs, Recorded{
		Method: r.Method, Path: r.URL.Path, RawPath: r.URL.EscapedPath(), RawQuery: r.URL.RawQuery,
		Header: r.Header.Clone(), Body: body,
	})
}

// Last returns the last request recorded, failing the test when there is
// none.
func (rc *Recorder) Last(t testing.TB) Recorded {
	t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.reqs) == 0 {
		t.Fatal("the server received no request")
	}
	return rc.reqs[len(rc.reqs)-1]
}

// Count returns how many requests were recorded.
func (rc *Recorder) Count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.reqs)
}

// JSONHandler records each request in rc, when it is not nil, and answers
// status with body and the headers in header (a Content-Type among them).
func JSONHandler(rc *Recorder, header http.Header, status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if rc != nil {
			rc.Record(r)
		}
		copyHeader(w.Header(), header)
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// SSEHandler records each request in rc, when it is not nil, and answers
// 200 with the headers in header (a Content-Type among them) and the raw
// events, flushing after each.
func SSEHandler(rc *Recorder, header http.Header, events ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if rc != nil {
			rc.Record(r)
		}
		copyHeader(w.Header(), header)
		w.WriteHeader(http.StatusOK)
		for _, e := range events {
			io.WriteString(w, e)
			w.(http.Flusher).Flush()
		}
	}
}

// copyHeader sets the headers of src in dst, replacing dst's.
func copyHeader(dst, src http.Header) {
	for k, vs := range src {
		dst.Del(k)
		for _, v := range vs {
			dst.Add(k, v)
		}
	}
}
