package providertest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/llmgateway/llmgateway/llm"
)

// Name is the provider name the shared tests give clients, and expect in
// their errors.
const Name = "test"

// ReadStream reads s to the end, returning the chunks and the final error
// (nil at io.EOF). It closes s.
func ReadStream(t testing.TB, s llm.Stream) ([]llm.Chunk, error) {
	t.Helper()
	defer s.Close()
	var chunks []llm.Chunk
	for range 10000 {
		c, err := s.Recv()
		if err == io.EOF {
			return chunks, nil
		}
		if err != nil {
			return chunks, err
		}
		chunks = append(chunks, c)
	}
	t.Fatal("stream did not end after 10000 chunks")
	return nil, nil
}

// ChatStreamError calls p.ChatStream with req and returns its error,
// closing the stream should it open one.
func ChatStreamError(t testing.TB, p Provider, req *llm.Request) error {
	st, err := p.ChatStream(Context(t), req)
	if err == nil {
		st.Close()
	}
	return err
}

// Drain reads s to the end without keeping the chunks, for benchmarks. It
// returns how many chunks it read, how many of them carried content, and
// the error that ended s (nil at io.EOF). It does not close s.
func Drain(s llm.Stream) (chunks, content int, err error) {
	for {
		c, err := s.Recv()
		if err == io.EOF {
			return chunks, content, nil
		}
		if err != nil {
			return chunks, content, err
		}
		chunks++
		if c.HasContent() {
			content++
		}
	}
}

// WantUpstream checks that err is an *llm.UpstreamError of the given kind
// and retryability from the provider Name, and returns it.
func WantUpstream(t testing.TB, err error, kind llm.ErrorKind, retryable bool) *llm.UpstreamError {
	t.Helper()
	ue, ok := llm.AsUpstream(err)
	if !ok {
		t.Fatalf("error = %v (%T), want an *llm.UpstreamError of kind %s", err, err, kind)
	}
	if ue.Kind != kind || ue.Retryable != retryable {
		t.Errorf("error = %v: kind %s retryable %v, want kind %s retryable %v", err, ue.Kind, ue.Retryable, kind, retryable)
	}
	if ue.Provider != Name {
		t.Errorf("error = %v: provider %q, want %q", err, ue.Provider, Name)
	}
	return ue
}

// JSONEqual compares two JSON documents semantically.
func JSONEqual(t testing.TB, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("body %q is not JSON: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("golden body is not JSON: %v", err)
	}
	if diff := cmp.Diff(w, g); diff != "" {
		t.Errorf("body mismatch (-want +got):\n%s\ngot: %s", diff, strings.TrimSpace(string(got)))
	}
}

// CheckHeaders checks that got has the values of want; "" means absent.
func CheckHeaders(t testing.TB, got http.Header, want map[string]string) {
	t.Helper()
	for k, w := range want {
		if v := got.Get(k); v != w {
			t.Errorf("header %s = %q, want %q", k, v, w)
		}
	}
}

// MustJSON returns v encoded as JSON, panicking when it cannot be.
func MustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// ErrorCase is an upstream's error response and the error it must map to.
type ErrorCase struct {
	Name       string
	GiveStatus int
	GiveHeader map[string]string
	GiveBody   string

	WantKind      llm.ErrorKind
	WantRetryable bool
	// WantRetry is the RetryAfter wanted: exactly, or at most and no more
	// than 5s less when WantRetryAbout is set (a date in a header).
	WantRetry      time.Duration
	WantRetryAbout bool
	// WantMessage is a fragment of the error's Message, which Summary
	// must not carry.
	WantMessage string
}

// CheckErrorCase checks that err is what tt says.
func CheckErrorCase(t testing.TB, tt ErrorCase, err error) {
	t.Helper()
	ue := WantUpstream(t, err, tt.WantKind, tt.WantRetryable)
	if ue.StatusCode != tt.GiveStatus {
		t.Errorf("StatusCode = %d, want %d", ue.StatusCode, tt.GiveStatus)
	}
	if tt.WantRetryAbout {
		if ue.RetryAfter < tt.WantRetry-5*time.Second || ue.RetryAfter > tt.WantRetry {
			t.Errorf("RetryAfter = %v, want about %v", ue.RetryAfter, tt.WantRetry)
		}
	} else if ue.RetryAfter != tt.WantRetry {
		t.Errorf("RetryAfter = %v, want %v", ue.RetryAfter, tt.WantRetry)
	}
	if !strings.Contains(ue.Message, tt.WantMessage) {
		t.Errorf("Message = %q, want it to contain %q", ue.Message, tt.WantMessage)
	}
	if tt.WantMessage != "" && strings.Contains(ue.Summary(), tt.WantMessage) {
		t.Errorf("Summary() = %q carries the upstream message", ue.Summary())
	}
}

// CheckCollected collects st and checks that it makes want, but for the
// ID, which a stream does not carry.
func CheckCollected(t testing.TB, st llm.Stream, want *llm.Response) {
	t.Helper()
	got, err := llm.Collect(st)
	if err != nil {
		t.Fatalf("Collect() error = %v", err)
	}
	w := *want
	w.ID = ""
	if diff := cmp.Diff(&w, got); diff != "" {
		t.Errorf("Collect() mismatch (-want +got):\n%s", diff)
	}
}

// WantNewError checks that err, from New(give), is an error containing
// wantErr; c is what New returned with it.
func WantNewError(t testing.TB, give, c any, err error, wantErr string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), wantErr) {
		t.Errorf("New(%+v) = %v, %v; want an error containing %q", give, c, err, wantErr)
	}
}

// NewClient returns the client newClient makes of cfg and opts (an
// adapter's New), failing the test when it fails, and closes the client's
// idle connections at the end of the test.
func NewClient[C, O any, P interface{ CloseIdleConnections() }](t testing.TB, newClient func(C, ...O) (P, error), cfg C, opts ...O) P {
	t.Helper()
	c, err := newClient(cfg, opts...)
	if err != nil {
		t.Fatalf("New(%+v) error = %v", cfg, err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}
