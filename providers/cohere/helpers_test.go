package cohere

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

// suite describes the adapter to the tests every adapter shares.
// Config.Timeout bounds the wait for a stream's first event too.
func suite() providertest.Suite {
	return providertest.Suite{
		New: func(t testing.TB, s providertest.Settings) providertest.Provider {
			return newTestClient(t, Config{BaseURL: s.BaseURL, Timeout: s.Timeout},
				WithHTTPClient(s.HTTPClient), WithMaxResponseBytes(s.MaxResponseBytes), WithMaxEventBytes(s.MaxEventBytes))
		},
		Request:              simpleRequest,
		JSONHeader:           http.Header{"Content-Type": {"application/json"}},
		SSEHeader:            http.Header{"Content-Type": {"text/event-stream"}},
		TextBody:             unaryTextBody,
		TextEvents:           textStream,
		TextContent:          unaryTextWant.Message.Content,
		StreamHead:           3,
		FirstContent:         "Hello!",
		PartialBody:          `{"id":"a","message":{`,
		StreamTimeoutMessage: "no response headers and first event within 50ms",
		TimeoutFirstEvent:    true,
		ReplayBody:           unaryToolBody,
		ReplayWant:           unaryToolWant,
		ReplayErrorBody:      `{"message":"internal server error"}`,
		ReplayErrorKind:      llm.KindServer,
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
      {"id": "get_weather_p1t92w7gfgq7", "type": "function", "function": {"name": "get_weather", "arguments": ` + providertest.MustJSON(madridArgs) + `}},
      {"id": "get_weather_ay6nmvjgp9vn", "type": "function", "function": {"name": "get_weather", "arguments": ` + providertest.MustJSON(brasiliaArgs) + `}}
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

// event returns one SSE event of the given type with the given JSON data.
func event(typ, data string) string {
	return "event: " + typ + "\ndata: " + data + "\n\n"
}

const messageStart = `{"id":"29f14a5a-11de-4cae-9800-25e4747408ea","type":"message-start","delta":{"message":{"role":"assistant","content":[],"tool_plan":"","tool_calls":[],"citations":[]}}}`

func contentDelta(index int, text string) string {
	return event("content-delta", fmt.Sprintf(`{"type":"content-delta","index":%d,"delta":{"message":{"content":{"text":%s}}},"logprobs":null}`, index, providertest.MustJSON(text)))
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
		evs = append(evs, event("tool-plan-delta", `{"type":"tool-plan-delta","delta":{"message":{"tool_plan":`+providertest.MustJSON(w)+`}}}`))
	}
	calls := []struct{ id, args string }{{"get_weather_p1t92w7gfgq7", madridArgs}, {"get_weather_ay6nmvjgp9vn", brasiliaArgs}}
	for i, c := range calls {
		evs = append(evs, event("tool-call-start", fmt.Sprintf(`{"type":"tool-call-start","index":%d,"delta":{"message":{"tool_calls":{"id":%q,"type":"function","function":{"name":"get_weather","arguments":""}}}}}`, i, c.id)))
		for args := c.args; args != ""; {
			k := min(n, len(args))
			evs = append(evs, event("tool-call-delta", fmt.Sprintf(`{"type":"tool-call-delta","index":%d,"delta":{"message":{"tool_calls":{"function":{"arguments":%s}}}}}`, i, providertest.MustJSON(args[:k]))))
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
