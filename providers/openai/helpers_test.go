package openai

import (
	"fmt"
	"net/http"
	"testing"

	"go.uber.org/goleak"

	"github.com/llmgateway/llmgateway/llm"
	"github.com/llmgateway/llmgateway/providers/internal/providertest"
	"github.com/llmgateway/llmgateway/providers/internal/upstream"
)

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
func suite() providertest.Suite {
	return providertest.Suite{
		New: func(t testing.TB, s providertest.Settings) providertest.Provider {
			return newTestClient(t, Config{BaseURL: s.BaseURL, Timeout: s.Timeout},
				WithHTTPClient(s.HTTPClient), WithMaxResponseBytes(s.MaxResponseBytes), WithMaxEventBytes(s.MaxEventBytes))
		},
		Request:              simpleRequest,
		JSONHeader:           http.Header{"Content-Type": {"application/json"}},
		SSEHeader:            http.Header{"Content-Type": {"text/event-stream; charset=utf-8"}},
		TextBody:             unaryTextBody,
		TextEvents:           textStream,
		TextContent:          "Hello world!",
		StreamHead:           2,
		FirstContent:         "Hello",
		PartialBody:          `{"id":"a","choices":[`,
		StreamTimeoutMessage: "no response headers within 50ms",
		ReplayBody:           unaryToolBody,
		ReplayWant:           unaryToolWant,
		ReplayErrorBody:      `{"error":{"message":"no capacity","type":"overloaded_error"}}`,
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

// The fixtures below follow the documented OpenAI wire format.

const unaryTextBody = `{
  "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
  "object": "chat.completion",
  "created": 1741569952,
  "model": "gpt-4.1-2025-04-14",
  "choices": [
    {
      "index": 0,
      "message": {
        "role": "assistant",
        "content": "Hello! How can I assist you today?",
        "refusal": null,
        "annotations": []
      },
      "logprobs": null,
      "finish_reason": "stop"
    }
  ],
  "usage": {
    "prompt_tokens": 19,
    "completion_tokens": 10,
    "total_tokens": 29,
    "prompt_tokens_details": {"cached_tokens": 3, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 2, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
  },
  "service_tier": "default",
  "system_fingerprint": "fp_44709d6fcb"
}`

const weatherArgs = "{\n\"location\": \"Boston, MA\",\n\"unit\": \"celsius\"\n}"

var unaryToolBody = `{
  "id": "chatcmpl-abc123",
  "object": "chat.completion",
  "created": 1699896916,
  "model": "gpt-4o-mini-2024-07-18",
  "choices": [
    {
      "index": 0,
      "message": {
        "role": "assistant",
        "content": null,
        "tool_calls": [
          {
            "id": "call_abc123",
            "type": "function",
            "function": {"name": "get_current_weather", "arguments": ` + providertest.MustJSON(weatherArgs) + `}
          }
        ],
        "refusal": null
      },
      "logprobs": null,
      "finish_reason": "tool_calls"
    }
  ],
  "usage": {
    "prompt_tokens": 82,
    "completion_tokens": 17,
    "total_tokens": 99,
    "completion_tokens_details": {"reasoning_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
  }
}`

// chunk returns one chat.completion.chunk event with the given delta and
// finish reason (a JSON value).
func chunk(delta, finish string) string {
	return fmt.Sprintf(`data: {"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","system_fingerprint":"fp_44709d6fcb","choices":[{"index":0,"delta":%s,"logprobs":null,"finish_reason":%s}],"usage":null}`+"\n\n", delta, finish)
}

// usageChunk is the final usage-only chunk that include_usage asks for.
const usageChunk = `data: {"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","system_fingerprint":"fp_44709d6fcb","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":12,"total_tokens":21,"prompt_tokens_details":{"cached_tokens":4,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":5,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}` + "\n\n"

const doneEvent = "data: [DONE]\n\n"

// textStream is a streamed "Hello world!" with usage.
var textStream = []string{
	chunk(`{"role":"assistant","content":"","refusal":null}`, "null"),
	chunk(`{"content":"Hello"}`, "null"),
	chunk(`{"content":" world"}`, "null"),
	chunk(`{"content":"!"}`, "null"),
	chunk(`{}`, `"stop"`),
	usageChunk,
	doneEvent,
}

// toolStream streams the unary tool call above, its arguments cut into
// fragments of n bytes.
func toolStream(n int) []string {
	evs := []string{
		chunk(`{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_abc123","type":"function","function":{"name":"get_current_weather","arguments":""}}],"refusal":null}`, "null"),
	}
	for args := weatherArgs; args != ""; {
		k := min(n, len(args))
		evs = append(evs, chunk(`{"tool_calls":[{"index":0,"function":{"arguments":`+providertest.MustJSON(args[:k])+`}}]}`, "null"))
		args = args[k:]
	}
	return append(evs,
		chunk(`{}`, `"tool_calls"`),
		`data: {"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":82,"completion_tokens":17,"total_tokens":99}}`+"\n\n",
		doneEvent,
	)
}

// simpleRequest is a minimal valid request.
func simpleRequest() *llm.Request {
	return &llm.Request{Model: "gpt-4o-mini", Messages: []llm.Message{{Role: llm.RoleUser, Content: "Hello!"}}}
}
