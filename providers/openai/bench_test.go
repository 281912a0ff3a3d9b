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
