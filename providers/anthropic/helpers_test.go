package anthropic

import (
	"fmt"
	"net/http"
	"testing"

	"go.uber.org/goleak"

	"github.com/llmgateway/llmgateway/llm"
	"github.com/llmgateway/llmgateway/providers/internal/providertest"
	"github.com/llmgateway/llmgateway/providers/internal/upstream"
	"github.com/llmgateway/llmgateway/routing"
)

// The interface guard: Client is a routing.Provider. It lives in a test
// file so that the adapter does not import routing.
var _ routing.Provider = (*Client)(nil)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// newTestClient returns a client for cfg, with "test" as the default name,
// whose idle connections are closed at the end of the test.
func newTestClient(t testing.TB, cfg Config, opts ...Option) *Client {
	if cfg.Name == "" {
		cfg.Name = providertest.Name
	}
	return providertest.NewClient(t, New, cfg, opts...)
}

// suite describes the adapter to the tests every adapter shares. The fake
// upstream sends a request-id header, as the API does.
func suite() providertest.Suite {
	return providertest.Suite{
		New: func(t testing.TB, s providertest.Settings) providertest.Provider {
			return newTestClient(t, Config{BaseURL: s.BaseURL, Timeout: s.Timeout},
				WithHTTPClient(s.HTTPClient), WithMaxResponseBytes(s.MaxResponseBytes), WithMaxEventBytes(s.MaxEventBytes))
		},
		Request:              simpleRequest,
		JSONHeader:           http.Header{"Content-Type": {"application/json"}, "Request-Id": {"req_test"}},
		SSEHeader:            http.Header{"Content-Type": {"text/event-stream; charset=utf-8"}, "Request-Id": {"req_test"}},
		TextBody:             unaryTextBody,
		TextEvents:           textStream,
		TextContent:          unaryTextWant.Message.Content,
		StreamHead:           4,
		FirstContent:         "Hi! My",
		PartialBody:          `{"id":"msg_1","content":[`,
		StreamTimeoutMessage: "no response headers within 50ms",
		ReplayBody:           unaryToolBody,
		ReplayWant:           unaryToolWant,
		ReplayErrorBody:      errorBodyJSON("overloaded_error", "Overloaded"),
		ReplayErrorKind:      llm.KindOverloaded,
		ErrorCases:           errorCases,
		ErrClosed:            upstream.ErrStreamClosed,
	}
}

func TestTransport(t *testing.T) {
	suite().Run(t)
}

// jsonHandler records each request in rc, when not nil, and answers status
// with body.
func jsonHandler(rc *providertest.Recorder, status int, body string) http.HandlerFunc {
	return suite().JSON(rc, status, body)
}

// sseHandler records each request in rc, when not nil, and answers with the
// raw SSE events, flushing after each.
func sseHandler(rc *providertest.Recorder, events ...string) http.HandlerFunc {
	return suite().SSE(rc, events...)
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
		evs = append(evs, event("content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":`+providertest.MustJSON(args[:k])+`}}`))
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

// simpleRequest is a minimal valid request.
func simpleRequest() *llm.Request {
	return &llm.Request{Model: "claude-sonnet-4-5", Messages: []llm.Message{{Role: llm.RoleUser, Content: "Hello, Claude"}}}
}

// errorBodyJSON formats an Anthropic error body.
func errorBodyJSON(typ, msg string) string {
	return fmt.Sprintf(`{"type":"error","error":{"type":%q,"message":%s},"request_id":"req_011CSHoEeqs5C35K2UUqR7Fy"}`, typ, providertest.MustJSON(msg))
}
