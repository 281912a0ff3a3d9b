package gemini

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/llmgateway/llmgateway/llm"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testContext returns a context bounded by a generous test timeout.
func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newServer starts an httptest server closed at the end of the test.
func newServer(t testing.TB, h http.HandlerFunc) *httptest.Server {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// newTestClient returns a client for cfg, with "test" as the default name
// and "test-key" as the default key, whose idle connections are closed at
// the end of the test.
func newTestClient(t testing.TB, cfg Config, opts ...Option) *Client {
	if cfg.Name == "" {
		cfg.Name = "test"
	}
	c, err := New(cfg, opts...)
	if err != nil {
		t.Fatalf("New(%+v) error = %v", cfg, err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// recorded is what a test server saw of one request.
type recorded struct {
	Method   string
	Path     string
	RawPath  string
	RawQuery string
	Header   http.Header
	Body     []byte
}

// recorder records the requests a test server receives.
type recorder struct {
	mu   sync.Mutex
	reqs []recorded
}

func (rc *recorder) record(r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.reqs = append(rc.reqs, recorded{
		Method: r.Method, Path: r.URL.Path, RawPath: r.URL.EscapedPath(), RawQuery: r.URL.RawQuery,
		Header: r.Header.Clone(), Body: body,
	})
}

func (rc *recorder) last(t testing.TB) recorded {
	t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.reqs) == 0 {
		t.Fatal("the server received no request")
	}
	return rc.reqs[len(rc.reqs)-1]
}

func (rc *recorder) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.reqs)
}

// drain reads the request body to its end. The server notices that the
// client went away (and cancels r.Context()) only once the body is read.
func drain(r *http.Request) {
	io.Copy(io.Discard, r.Body)
}

// jsonHandler records each request and answers status with body.
func jsonHandler(rc *recorder, status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if rc != nil {
			rc.record(r)
		}
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// sseHandler records each request and answers with the raw SSE events,
// flushing after each.
func sseHandler(rc *recorder, events ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if rc != nil {
			rc.record(r)
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		for _, e := range events {
			io.WriteString(w, e)
			w.(http.Flusher).Flush()
		}
	}
}

// The fixtures below follow the documented Gemini wire format: unary
// bodies are indented as the API sends them, streamed events are
// "data: {...}" lines ended by CRLF CRLF.

// unaryTextBody is a text answer with cached and thinking tokens.
const unaryTextBody = `{
  "candidates": [
    {
      "content": {
        "parts": [
          {
            "text": "**Considering the greeting**\n\nThe user says hello.",
            "thought": true
          },
          {
            "text": "Hello! How can I help you today?"
          }
        ],
        "role": "model"
      },
      "finishReason": "STOP",
      "index": 0
    }
  ],
  "usageMetadata": {
    "promptTokenCount": 2105,
    "candidatesTokenCount": 9,
    "totalTokenCount": 2148,
    "cachedContentTokenCount": 2048,
    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 2105}],
    "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": 2048}],
    "thoughtsTokenCount": 34
  },
  "modelVersion": "gemini-2.5-flash",
  "responseId": "k3VOaLmIKsCKvdIPmKy9iAE"
}`

// unaryTextWant is what unaryTextBody maps to.
var unaryTextWant = &llm.Response{
	ID:           "k3VOaLmIKsCKvdIPmKy9iAE",
	Model:        "gemini-2.5-flash",
	Message:      llm.Message{Role: llm.RoleAssistant, Content: "Hello! How can I help you today?"},
	FinishReason: llm.FinishStop,
	Usage:        llm.Usage{PromptTokens: 2105, CompletionTokens: 43, CachedTokens: 2048, ReasoningTokens: 34},
}

// unaryToolBody is a text preamble and two parallel function calls.
const unaryToolBody = `{
  "candidates": [
    {
      "content": {
        "parts": [
          {
            "text": "Let me check both cities."
          },
          {
            "functionCall": {
              "name": "get_weather",
              "args": {
                "location": "Boston, MA",
                "unit": "celsius"
              }
            },
            "thoughtSignature": "CiQB0e2Kb3dRh+BYdbZvmulSN2Pwwc75DdfFh4Sx9lgR"
          },
          {
            "functionCall": {
              "name": "get_weather",
              "args": {
                "location": "Paris"
              }
            }
          }
        ],
        "role": "model"
      },
      "finishReason": "STOP",
      "index": 0
    }
  ],
  "usageMetadata": {
    "promptTokenCount": 82,
    "candidatesTokenCount": 17,
    "totalTokenCount": 99
  },
  "modelVersion": "gemini-2.0-flash",
  "responseId": "aF2_tool-resp.1"
}`

var unaryToolWant = &llm.Response{
	ID:    "aF2_tool-resp.1",
	Model: "gemini-2.0-flash",
	Message: llm.Message{
		Role:    llm.RoleAssistant,
		Content: "Let me check both cities.",
		ToolCalls: []llm.ToolCall{
			{ID: "call_aF2_tool-resp1_0", Name: "get_weather", Arguments: `{"location":"Boston, MA","unit":"celsius"}`},
			{ID: "call_aF2_tool-resp1_1", Name: "get_weather", Arguments: `{"location":"Paris"}`},
		},
	},
	FinishReason: llm.FinishToolCalls,
	Usage:        llm.Usage{PromptTokens: 82, CompletionTokens: 17},
}

// event returns one streamed event carrying obj.
func event(obj string) string {
	return "data: " + obj + "\r\n\r\n"
}

// textStream streams unaryTextBody: the thought first, the text in three
// pieces, running usage totals on every chunk.
var textStream = []string{
	event(`{"candidates": [{"content": {"parts": [{"text": "**Considering the greeting**\n\nThe user says hello.","thought": true}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 2105,"totalTokenCount": 2139,"cachedContentTokenCount": 2048,"thoughtsTokenCount": 34},"modelVersion": "gemini-2.5-flash","responseId": "k3VOaLmIKsCKvdIPmKy9iAE"}`),
	event(`{"candidates": [{"content": {"parts": [{"text": "Hello! How"}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 2105,"candidatesTokenCount": 3,"totalTokenCount": 2142,"cachedContentTokenCount": 2048,"thoughtsTokenCount": 34},"modelVersion": "gemini-2.5-flash","responseId": "k3VOaLmIKsCKvdIPmKy9iAE"}`),
	event(`{"candidates": [{"content": {"parts": [{"text": " can I help"}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 2105,"candidatesTokenCount": 6,"totalTokenCount": 2145,"cachedContentTokenCount": 2048,"thoughtsTokenCount": 34},"modelVersion": "gemini-2.5-flash","responseId": "k3VOaLmIKsCKvdIPmKy9iAE"}`),
	event(`{"candidates": [{"content": {"parts": [{"text": " you today?"}],"role": "model"},"finishReason": "STOP","index": 0}],"usageMetadata": {"promptTokenCount": 2105,"candidatesTokenCount": 9,"totalTokenCount": 2148,"cachedContentTokenCount": 2048,"promptTokensDetails": [{"modality": "TEXT","tokenCount": 2105}],"thoughtsTokenCount": 34},"modelVersion": "gemini-2.5-flash","responseId": "k3VOaLmIKsCKvdIPmKy9iAE"}`),
}

// toolStream streams unaryToolBody: the text, then each call in a chunk
// of its own.
var toolStream = []string{
	event(`{"candidates": [{"content": {"parts": [{"text": "Let me check both cities."}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 82,"totalTokenCount": 82},"modelVersion": "gemini-2.0-flash","responseId": "aF2_tool-resp.1"}`),
	event(`{"candidates": [{"content": {"parts": [{"functionCall": {"name": "get_weather","args": {"location": "Boston, MA","unit": "celsius"}},"thoughtSignature": "CiQB0e2Kb3dRh+BYdbZvmulSN2Pwwc75DdfFh4Sx9lgR"}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 82,"candidatesTokenCount": 12,"totalTokenCount": 94},"modelVersion": "gemini-2.0-flash","responseId": "aF2_tool-resp.1"}`),
	event(`{"candidates": [{"content": {"parts": [{"functionCall": {"name": "get_weather","args": {"location": "Paris"}}}],"role": "model"},"finishReason": "STOP","index": 0}],"usageMetadata": {"promptTokenCount": 82,"candidatesTokenCount": 17,"totalTokenCount": 99},"modelVersion": "gemini-2.0-flash","responseId": "aF2_tool-resp.1"}`),
}

// simpleRequest is a minimal valid request.
func simpleRequest() *llm.Request {
	return &llm.Request{Model: "gemini-2.5-flash", Messages: []llm.Message{{Role: llm.RoleUser, Content: "Hello!"}}}
}

// readStream reads s to the end, returning the chunks and the final error
// (nil at io.EOF).
func readStream(t testing.TB, s llm.Stream) ([]llm.Chunk, error) {
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

// wantUpstream checks that err is an *llm.UpstreamError of the given kind
// and retryability, and returns it.
func wantUpstream(t testing.TB, err error, kind llm.ErrorKind, retryable bool) *llm.UpstreamError {
	t.Helper()
	ue, ok := llm.AsUpstream(err)
	if !ok {
		t.Fatalf("error = %v (%T), want an *llm.UpstreamError of kind %s", err, err, kind)
	}
	if ue.Kind != kind || ue.Retryable != retryable {
		t.Errorf("error = %v: kind %s retryable %v, want kind %s retryable %v", err, ue.Kind, ue.Retryable, kind, retryable)
	}
	if ue.Provider != "test" {
		t.Errorf("error = %v: provider %q, want %q", err, ue.Provider, "test")
	}
	return ue
}

// jsonEqual compares two JSON documents semantically.
func jsonEqual(t testing.TB, got []byte, want string) {
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

func ptr[T any](v T) *T { return &v }
