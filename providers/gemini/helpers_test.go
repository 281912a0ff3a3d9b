package gemini

import (
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
		JSONHeader:           http.Header{"Content-Type": {"application/json; charset=UTF-8"}},
		SSEHeader:            http.Header{"Content-Type": {"text/event-stream"}},
		TextBody:             unaryTextBody,
		TextEvents:           textStream,
		TextContent:          unaryTextWant.Message.Content,
		StreamHead:           2,
		FirstContent:         "Hello! How",
		PartialBody:          `{"candidates":[`,
		StreamTimeoutMessage: "no response headers within 50ms",
		ReplayBody:           unaryToolBody,
		ReplayWant:           unaryToolWant,
		ReplayErrorBody:      `{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}`,
		ReplayErrorKind:      llm.KindOverloaded,
		ErrorCases:           errorCases,
		ErrClosed:            upstream.ErrStreamClosed,
		RejectsAsBadRequest:  true,
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

func ptr[T any](v T) *T { return &v }
