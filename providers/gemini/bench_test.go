package gemini

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

// benchRequest is a typical agent turn: a system prompt, history with a
// tool round trip, and two tools.
func benchRequest() *llm.Request {
	schema := json.RawMessage(`{"type":"object","properties":{"location":{"type":"string","description":"City and state"},"unit":{"anyOf":[{"type":"string","enum":["celsius","fahrenheit"]},{"type":"null"}]}},"required":["location"],"additionalProperties":false}`)
	return &llm.Request{
		Model: "gemini-2.5-flash",
		Messages: []llm.Message{
			{Role: llm.RoleSystem, Content: "You are a helpful assistant. Answer briefly."},
			{Role: llm.RoleUser, Content: strings.Repeat("What's the weather like in Boston today? ", 20)},
			{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "call_1", Name: "get_weather", Arguments: `{"location":"Boston, MA","unit":"celsius"}`}}},
			{Role: llm.RoleTool, ToolCallID: "call_1", Content: `{"temperature":22,"conditions":"sunny"}`},
			{Role: llm.RoleUser, Content: "And tomorrow?"},
		},
		MaxTokens:   1024,
		Temperature: ptr(0.7),
		Tools: []llm.Tool{
			{Name: "get_weather", Description: "Get the current weather", Parameters: schema},
			{Name: "get_forecast", Description: "Get the forecast", Parameters: schema},
		},
		ToolChoice: &llm.ToolChoice{Mode: llm.ToolChoiceAuto},
	}
}

func BenchmarkEncodeRequest(b *testing.B) {
	c, err := New(Config{Name: "bench", APIKey: "k"})
	if err != nil {
		b.Fatal(err)
	}
	req := benchRequest()
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		_, body, err := c.prepare(req, true)
		if err != nil {
			b.Fatal(err)
		}
		buf.Reset()
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStreamDecode(b *testing.B) {
	const chunk = `data: {"candidates": [{"content": {"parts": [{"text": "Hello, this is a token or two"}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 120,"candidatesTokenCount": 40,"totalTokenCount": 160},"modelVersion": "gemini-2.5-flash","responseId": "k3VOaLmIKsCKvdIPmKy9iAE"}` + "\r\n\r\n"
	const last = `data: {"candidates": [{"content": {"parts": [{"text": "."}],"role": "model"},"finishReason": "STOP","index": 0}],"usageMetadata": {"promptTokenCount": 120,"candidatesTokenCount": 41,"totalTokenCount": 161},"modelVersion": "gemini-2.5-flash","responseId": "k3VOaLmIKsCKvdIPmKy9iAE"}` + "\r\n\r\n"
	body := []byte(strings.Repeat(chunk, 500) + last)
	c, err := New(Config{Name: "bench", APIKey: "k"})
	if err != nil {
		b.Fatal(err)
	}
	resp := &http.Response{StatusCode: http.StatusOK, Header: http.Header{}}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		resp.Body = io.NopCloser(bytes.NewReader(body))
		s := c.newStream(c.call.Open(context.Background(), resp))
		n, _, err := providertest.Drain(s)
		if err != nil {
			b.Fatal(err)
		}
		if n != 502 {
			b.Fatalf("read %d chunks, want 502", n)
		}
	}
}
