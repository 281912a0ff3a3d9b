package anthropic

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

// The interface guard: Client is a routing.Provider. It lives in a test
// file so that the adapter does not import routing.
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
		w.Header().Set("request-id", "req_test")
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
		w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
		w.Header().Set("request-id", "req_test")
		w.WriteHeader(http.StatusOK)
		for _, e := range events {
			io.WriteString(w, e)
			w.(http.Flusher).Flush()
		}
	}
}

// event formats one named server-sent event as the Messages API sends it.
func event(name, data string) string {
	return "event: " + name + "\ndata: " + data + "\n\n"
}

// The fixtures below follow the documented Messages API wire format
// (docs.anthropic.com: Messages, Streaming Messages, Tool use).

const unaryTextBody = `{
  "content": [{"text": "Hi! My name is Claude.", "type": "text"}],
  "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
  "model": "claude-sonnet-4-5-20250929",
  "role": "assistant",
  "stop_reason": "end_turn",
  "stop_sequence": null,
  "type": "message",
  "usage": {"input_tokens": 2095, "output_tokens": 503, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
}`

// unaryTextWant is what unaryTextBody maps to.
var unaryTextWant = &llm.Response{
	ID:           "msg_013Zva2CMHLNnXjNJJKqJ2EF",
	Model:        "claude-sonnet-4-5-20250929",
	Message:      llm.Message{Role: llm.RoleAssistant, Content: "Hi! My name is Claude."},
	FinishReason: llm.FinishStop,
	Usage:        llm.Usage{PromptTokens: 2095, CompletionTokens: 503},
}

// textStream streams the same exchange as unaryTextBody.
var textStream = []string{
	event("message_start", `{"type":"message_start","message":{"id":"msg_013Zva2CMHLNnXjNJJKqJ2EF","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-5-20250929","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":2095,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1}}}`),
	event("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`),
	event("ping", `{"type": "ping"}`),
	event("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi! My"}}`),
	event("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" name is Claude."}}`),
	event("content_block_stop", `{"type":"content_block_stop","index":0}`),
	event("message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":503}}`),
	event("message_stop", `{"type":"message_stop"}`),
}

const weatherArgs = `{"location":"San Francisco, CA","unit":"celsius"}`

const unaryToolBody = `{
  "id": "msg_01Aq9w938a90dw8q",
  "type": "message",
  "role": "assistant",
  "model": "claude-sonnet-4-5-20250929",
  "content": [
    {"type": "text", "text": "I'll check the current weather in San Francisco for you."},
    {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather", "input": {"location": "San Francisco, CA", "unit": "celsius"}}
  ],
  "stop_reason": "tool_use",
  "stop_sequence": null,
  "usage": {"input_tokens": 472, "output_tokens": 89}
}`

var unaryToolWant = &llm.Response{
	ID:    "msg_01Aq9w938a90dw8q",
	Model: "claude-sonnet-4-5-20250929",
	Message: llm.Message{
		Role:      llm.RoleAssistant,
		Content:   "I'll check the current weather in San Francisco for you.",
		ToolCalls: []llm.ToolCall{{ID: "toolu_01A09q90qw90lq917835lq9", Name: "get_weather", Arguments: weatherArgs}},
	},
	FinishReason: llm.FinishToolCalls,
	Usage:        llm.Usage{PromptTokens: 472, CompletionTokens: 89},
}

// toolStream streams the same exchange as unaryToolBody, the arguments
// cut into fragments of n bytes.
func toolStream(n int) []string {
	evs := []string{
		event("message_start", `{"type":"message_start","message":{"id":"msg_01Aq9w938a90dw8q","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","stop_sequence":null,"usage":{"input_tokens":472,"output_tokens":2},"content":[],"stop_reason":null}}`),
		event("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`),
		event("ping", `{"type": "ping"}`),
		event("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"I'll check the current weather"}}`),
		event("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" in San Francisco for you."}}`),
		event("content_block_stop", `{"type":"content_block_stop","index":0}`),
		event("content_block_start", `{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01A09q90qw90lq917835lq9","name":"get_weather","input":{}}}`),
		event("content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}`),
	}
	for args := weatherArgs; args != ""; {
		k := min(n, len(args))
		evs = append(evs, event("content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":`+mustJSON(args[:k])+`}}`))
		args = args[k:]
	}
	return append(evs,
		event("content_block_stop", `{"type":"content_block_stop","index":1}`),
		event("message_delta", `{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":89}}`),
		event("message_stop", `{"type":"message_stop"}`),
	)
}

// cachedUnaryBody is a response that read from and wrote to the prompt
// cache.
const cachedUnaryBody = `{
  "id": "msg_cache",
  "type": "message",
  "role": "assistant",
  "model": "claude-sonnet-4-5-20250929",
  "content": [{"type": "text", "text": "Cached."}],
  "stop_reason": "max_tokens",
  "stop_sequence": null,
  "usage": {"input_tokens": 21, "cache_creation_input_tokens": 188, "cache_read_input_tokens": 1024, "cache_creation": {"ephemeral_5m_input_tokens": 188, "ephemeral_1h_input_tokens": 0}, "output_tokens": 393, "service_tier": "standard"}
}`

var cachedUnaryWant = &llm.Response{
	ID:           "msg_cache",
	Model:        "claude-sonnet-4-5-20250929",
	Message:      llm.Message{Role: llm.RoleAssistant, Content: "Cached."},
	FinishReason: llm.FinishLength,
	// 21 uncached + 1024 read + 188 written.
	Usage: llm.Usage{PromptTokens: 1233, CompletionTokens: 393, CachedTokens: 1024, CacheWriteTokens: 188},
}

// cachedStream streams the same exchange as cachedUnaryBody; its
// message_delta repeats the input usage, as the API now does.
var cachedStream = []string{
	event("message_start", `{"type":"message_start","message":{"model":"claude-sonnet-4-5-20250929","id":"msg_cache","type":"message","role":"assistant","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":21,"cache_creation_input_tokens":188,"cache_read_input_tokens":1024,"cache_creation":{"ephemeral_5m_input_tokens":188,"ephemeral_1h_input_tokens":0},"output_tokens":1,"service_tier":"standard"}}}`),
	event("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`),
	event("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Cached."}}`),
	event("content_block_stop", `{"type":"content_block_stop","index":0}`),
	event("message_delta", `{"type":"message_delta","delta":{"stop_reason":"max_tokens","stop_sequence":null},"usage":{"input_tokens":21,"cache_creation_input_tokens":188,"cache_read_input_tokens":1024,"output_tokens":393}}`),
	event("message_stop", `{"type":"message_stop"}`),
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// simpleRequest is a minimal valid request.
func simpleRequest() *llm.Request {
	return &llm.Request{Model: "claude-sonnet-4-5", Messages: []llm.Message{{Role: llm.RoleUser, Content: "Hello, Claude"}}}
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

// errorBodyJSON formats an Anthropic error body.
func errorBodyJSON(typ, msg string) string {
	return fmt.Sprintf(`{"type":"error","error":{"type":%q,"message":%s},"request_id":"req_011CSHoEeqs5C35K2UUqR7Fy"}`, typ, mustJSON(msg))
}
