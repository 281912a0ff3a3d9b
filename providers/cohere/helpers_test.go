package cohere

import (
	"context"
	"encoding/json"
	"fmt"
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
	"github.com/llmgateway/llmgateway/routing"
)

var _ routing.Provider = (*Client)(nil)

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

// newTestClient returns a client for cfg, with "test" as the default name,
// whose idle connections are closed at the end of the test.
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
	rc.reqs = append(rc.reqs, recorded{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: body})
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

// jsonHandler records each request and answers status with body.
func jsonHandler(rc *recorder, status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if rc != nil {
			rc.record(r)
		}
		w.Header().Set("Content-Type", "application/json")
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

// The fixtures below follow the documented Cohere v2 wire format
// (docs.cohere.com/reference/chat, /v2/docs/streaming and
// /v2/docs/tool-use-streaming).

const unaryTextBody = `{
  "id": "c14c80c3-18eb-4519-9460-6c92edd8cfb4",
  "finish_reason": "COMPLETE",
  "message": {
    "role": "assistant",
    "content": [
      {"type": "text", "text": "Hello! How can I help"},
      {"type": "text", "text": " you today?"}
    ]
  },
  "usage": {
    "billed_units": {"input_tokens": 5, "output_tokens": 10},
    "tokens": {"input_tokens": 71, "output_tokens": 10},
    "cached_tokens": 64
  }
}`

// unaryTextWant is what unaryTextBody maps to; the streamed textStream
// gives the same.
var unaryTextWant = &llm.Response{
	ID:           "c14c80c3-18eb-4519-9460-6c92edd8cfb4",
	Message:      llm.Message{Role: llm.RoleAssistant, Content: "Hello! How can I help you today?"},
	FinishReason: llm.FinishStop,
	Usage:        llm.Usage{PromptTokens: 71, CompletionTokens: 10, CachedTokens: 64},
}

const (
	madridArgs   = "{\n    \"location\": \"Madrid\"\n}"
	brasiliaArgs = "{\n    \"location\": \"Brasilia\"\n}"
)

var unaryToolBody = `{
  "id": "fba98ad3-e5a1-413c-a8de-84fbf9baabf7",
  "finish_reason": "TOOL_CALL",
  "message": {
    "role": "assistant",
    "tool_plan": "I will search for the weather in Madrid and Brasilia.",
    "tool_calls": [
      {"id": "get_weather_p1t92w7gfgq7", "type": "function", "function": {"name": "get_weather", "arguments": ` + mustJSON(madridArgs) + `}},
      {"id": "get_weather_ay6nmvjgp9vn", "type": "function", "function": {"name": "get_weather", "arguments": ` + mustJSON(brasiliaArgs) + `}}
    ]
  },
  "usage": {
    "billed_units": {"input_tokens": 37, "output_tokens": 28},
    "tokens": {"input_tokens": 913, "output_tokens": 83}
  }
}`

// unaryToolWant is what unaryToolBody maps to; toolStream gives the same.
var unaryToolWant = &llm.Response{
	ID: "fba98ad3-e5a1-413c-a8de-84fbf9baabf7",
	Message: llm.Message{
		Role: llm.RoleAssistant,
		ToolCalls: []llm.ToolCall{
			{ID: "get_weather_p1t92w7gfgq7", Name: "get_weather", Arguments: madridArgs},
			{ID: "get_weather_ay6nmvjgp9vn", Name: "get_weather", Arguments: brasiliaArgs},
		},
	},
	FinishReason: llm.FinishToolCalls,
	Usage:        llm.Usage{PromptTokens: 913, CompletionTokens: 83},
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// event returns one SSE event of the given type with the given JSON data.
func event(typ, data string) string {
	return "event: " + typ + "\ndata: " + data + "\n\n"
}

const messageStart = `{"id":"29f14a5a-11de-4cae-9800-25e4747408ea","type":"message-start","delta":{"message":{"role":"assistant","content":[],"tool_plan":"","tool_calls":[],"citations":[]}}}`

func contentDelta(index int, text string) string {
	return event("content-delta", fmt.Sprintf(`{"type":"content-delta","index":%d,"delta":{"message":{"content":{"text":%s}}},"logprobs":null}`, index, mustJSON(text)))
}

func messageEnd(finish, usage string) string {
	return event("message-end", fmt.Sprintf(`{"type":"message-end","delta":{"finish_reason":%q,"usage":%s}}`, finish, usage))
}

// textStream streams unaryTextBody.
var textStream = []string{
	event("message-start", messageStart),
	event("content-start", `{"type":"content-start","index":0,"delta":{"message":{"content":{"type":"text","text":""}}}}`),
	contentDelta(0, "Hello!"),
	contentDelta(0, " How can I help"),
	contentDelta(0, " you"),
	contentDelta(0, " today?"),
	event("content-end", `{"type":"content-end","index":0}`),
	messageEnd("COMPLETE", `{"billed_units":{"input_tokens":5,"output_tokens":10},"tokens":{"input_tokens":71,"output_tokens":10},"cached_tokens":64}`),
}

// toolStream streams unaryToolBody, with the arguments cut into fragments
// of n bytes and a tool plan before the calls.
func toolStream(n int) []string {
	evs := []string{event("message-start", messageStart)}
	for _, w := range []string{"I will", " search for the weather", " in Madrid and Brasilia."} {
		evs = append(evs, event("tool-plan-delta", `{"type":"tool-plan-delta","delta":{"message":{"tool_plan":`+mustJSON(w)+`}}}`))
	}
	calls := []struct{ id, args string }{{"get_weather_p1t92w7gfgq7", madridArgs}, {"get_weather_ay6nmvjgp9vn", brasiliaArgs}}
	for i, c := range calls {
		evs = append(evs, event("tool-call-start", fmt.Sprintf(`{"type":"tool-call-start","index":%d,"delta":{"message":{"tool_calls":{"id":%q,"type":"function","function":{"name":"get_weather","arguments":""}}}}}`, i, c.id)))
		for args := c.args; args != ""; {
			k := min(n, len(args))
			evs = append(evs, event("tool-call-delta", fmt.Sprintf(`{"type":"tool-call-delta","index":%d,"delta":{"message":{"tool_calls":{"function":{"arguments":%s}}}}}`, i, mustJSON(args[:k]))))
			args = args[k:]
		}
		evs = append(evs, event("tool-call-end", fmt.Sprintf(`{"type":"tool-call-end","index":%d}`, i)))
	}
	return append(evs, messageEnd("TOOL_CALL", `{"billed_units":{"input_tokens":37.0,"output_tokens":28.0},"tokens":{"input_tokens":913.0,"output_tokens":83.0}}`))
}

// simpleRequest is a minimal valid request.
func simpleRequest() *llm.Request {
	return &llm.Request{Model: "command-a-03-2025", Messages: []llm.Message{{Role: llm.RoleUser, Content: "Hello!"}}}
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
		t.Fatalf("request body %q is not JSON: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("golden body is not JSON: %v", err)
	}
	if diff := cmp.Diff(w, g); diff != "" {
		t.Errorf("request body mismatch (-want +got):\n%s\ngot: %s", diff, strings.TrimSpace(string(got)))
	}
}

// drainBody reads a request's body. The HTTP server notices that a client
// went away (and cancels r.Context()) only once the body has been read.
func drainBody(r *http.Request) {
	io.Copy(io.Discard, r.Body)
}

// waitClientGone waits, for a bounded time, until the client of r goes
// away, and reports whether it did.
func waitClientGone(r *http.Request) bool {
	select {
	case <-r.Context().Done():
		return true
	case <-time.After(20 * time.Second):
		return false
	}
}
