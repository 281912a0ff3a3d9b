package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/llmgateway/llmgateway/llm"
	"github.com/llmgateway/llmgateway/providers/internal/providertest"
)

// benchRequest is a typical agent turn: a system prompt, a few turns, a
// tool round trip and two tools.
func benchRequest() *llm.Request {
	params := json.RawMessage(`{"type":"object","properties":{"location":{"type":"string","description":"City and country"},"unit":{"type":"string","enum":["celsius","fahrenheit"]}},"required":["location"]}`)
	temp := 0.7
	return &llm.Request{
		Model: "gpt-4o-mini",
		Messages: []llm.Message{
			{Role: llm.RoleSystem, Content: strings.Repeat("You are a helpful assistant. ", 20)},
			{Role: llm.RoleUser, Content: "What's the weather like in Boston today, and should I bring an umbrella?"},
			{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "call_abc123", Name: "get_weather", Arguments: `{"location":"Boston, MA"}`}}},
			{Role: llm.RoleTool, ToolCallID: "call_abc123", Content: `{"temperature":22,"conditions":"light rain"}`},
			{Role: llm.RoleAssistant, Content: "It's 22°C with light rain in Boston: bring an umbrella."},
			{Role: llm.RoleUser, Content: "And tomorrow?"},
		},
		MaxTokens:   1024,
		Temperature: &temp,
		Tools: []llm.Tool{
			{Name: "get_weather", Description: "Get the current weather", Parameters: params},
			{Name: "get_forecast", Description: "Get tomorrow's forecast", Parameters: params},
		},
		ToolChoice: &llm.ToolChoice{Mode: llm.ToolChoiceAuto},
		User:       "user-1234",
	}
}

func BenchmarkEncodeRequest(b *testing.B) {
	c, err := New(Config{Name: "bench", BaseURL: "https://api.openai.com/v1", APIKey: "sk-bench"})
	if err != nil {
		b.Fatal(err)
	}
	req := benchRequest()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		body, err := c.buildRequest(req, true)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.newRequest(ctx, req.Model, body, true); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStreamDecode measures Recv over a recorded stream of 200 text
// chunks, a finish chunk, a usage chunk and [DONE], reported per chunk.
func BenchmarkStreamDecode(b *testing.B) {
	var sb strings.Builder
	const n = 200
	for range n {
		sb.WriteString(chunk(`{"content":" token"}`, "null"))
	}
	sb.WriteString(chunk(`{}`, `"stop"`))
	sb.WriteString(usageChunk)
	sb.WriteString(doneEvent)
	wire := []byte(sb.String())
	c, err := New(Config{Name: "bench", BaseURL: "https://api.openai.com/v1"})
	if err != nil {
		b.Fatal(err)
	}
	resp := &http.Response{StatusCode: http.StatusOK, Header: http.Header{}}
	b.SetBytes(int64(len(wire)))
	b.ReportAllocs()
	for b.Loop() {
		resp.Body = io.NopCloser(bytes.NewReader(wire))
		s := c.newStream(c.call.Open(context.Background(), resp))
		got, _, err := providertest.Drain(s)
		if err != nil {
			b.Fatal(err)
		}
		if got != n+2 {
			b.Fatalf("read %d chunks, want %d", got, n+2)
		}
		s.Close()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*(n+2)), "ns/chunk")
}

// benchTextResponse is a chat.completion as OpenAI sends it today: one
// choice of about 16 tokens, usage with details, and the fields the adapter
// ignores.
const benchTextResponse = `{"id":"chatcmpl-BQ4mX7b2Qk9ZsT0yEwq3nLrVh8Jp1","object":"chat.completion","created":1745671234,"model":"gpt-4o-mini-2024-07-18",` +
	`"choices":[{"index":0,"message":{"role":"assistant","content":"Your order 1234 left our warehouse yesterday and should arrive tomorrow before noon.","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],` +
	`"usage":{"prompt_tokens":42,"completion_tokens":16,"total_tokens":58,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},` +
	`"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},` +
	`"service_tier":"default","system_fingerprint":"fp_dbaca60df0"}`

// benchToolResponse is a chat.completion with two parallel tool calls.
const benchToolResponse = `{"id":"chatcmpl-BQ4mX7b2Qk9ZsT0yEwq3nLrVh8Jp2","object":"chat.completion","created":1745671234,"model":"gpt-4o-mini-2024-07-18",` +
	`"choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[` +
	`{"id":"call_Xk2r9TqL0mZ4vB7nW1yH3sJd","type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"Boston, MA\",\"unit\":\"celsius\"}"}},` +
	`{"id":"call_P8fN5cE2aR6uK0wQ9tY4iO1l","type":"function","function":{"name":"get_forecast","arguments":"{\"location\":\"Boston, MA\",\"days\":2}"}}],` +
	`"refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"tool_calls"}],` +
	`"usage":{"prompt_tokens":120,"completion_tokens":52,"total_tokens":172,"prompt_tokens_details":{"cached_tokens":64,"audio_tokens":0},` +
	`"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},` +
	`"service_tier":"default","system_fingerprint":"fp_dbaca60df0"}`

// BenchmarkDecodeResponse measures reading a unary chat.completion body and
// mapping it to an llm.Response, the adapter's part of a unary call after
// the HTTP exchange.
func BenchmarkDecodeResponse(b *testing.B) {
	for _, bb := range []struct {
		name, body string
	}{
		{"text", benchTextResponse},
		{"tools", benchToolResponse},
	} {
		b.Run(bb.name, func(b *testing.B) {
			c, err := New(Config{Name: "bench", BaseURL: "https://api.openai.com/v1"})
			if err != nil {
				b.Fatal(err)
			}
			wire := []byte(bb.body)
			body := &benchBody{}
			resp := &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}}, ContentLength: int64(len(wire))}
			ctx := context.Background()
			b.SetBytes(int64(len(wire)))
			b.ReportAllocs()
			for b.Loop() {
				body.Reset(wire)
				resp.Body = body
				var w chatResponse
				if err := c.call.Open(ctx, resp).ReadJSON(&w); err != nil {
					b.Fatal(err)
				}
				r, err := c.toResponse(&w, resp.StatusCode)
				if err != nil {
					b.Fatal(err)
				}
				if r.Usage.CompletionTokens == 0 {
					b.Fatalf("usage = %+v, want completion tokens", r.Usage)
				}
			}
		})
	}
}

// benchBody is a response body that can be read again.
type benchBody struct{ bytes.Reader }

func (*benchBody) Close() error { return nil }
