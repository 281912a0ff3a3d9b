package cohere

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/llmgateway/llmgateway/llm"
	"github.com/llmgateway/llmgateway/providers/internal/providertest"
)

// benchRequest is a mid-sized conversation with tools.
func benchRequest() *llm.Request {
	req := &llm.Request{
		Model:       "command-a-03-2025",
		MaxTokens:   1024,
		Temperature: ptr(0.3),
		Tools: []llm.Tool{{
			Name:        "get_weather",
			Description: "Gets the weather for a location",
			Parameters:  json.RawMessage(`{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}`),
		}},
	}
	req.Messages = append(req.Messages, llm.Message{Role: llm.RoleSystem, Content: strings.Repeat("You are a helpful assistant. ", 20)})
	for i := range 10 {
		req.Messages = append(req.Messages,
			llm.Message{Role: llm.RoleUser, Content: strings.Repeat("What is the weather like? ", 10)},
			llm.Message{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "call_" + string(rune('a'+i)), Name: "get_weather", Arguments: `{"location":"Madrid"}`}}},
			llm.Message{Role: llm.RoleTool, ToolCallID: "call_" + string(rune('a'+i)), Content: `{"temperature":"24C"}`},
		)
	}
	return req
}

func BenchmarkEncodeRequest(b *testing.B) {
	req := benchRequest()
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		body, err := buildRequest(req, true)
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
	b.SetBytes(int64(buf.Len()))
}

// nopCloser adapts a bytes.Reader to io.ReadCloser without allocating.
type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

func BenchmarkDecodeStream(b *testing.B) {
	evs := []string{event("message-start", messageStart)}
	for range 500 {
		evs = append(evs, contentDelta(0, " token"))
	}
	evs = append(evs, toolStream(8)[4:]...) // the tool calls and message-end
	stream := []byte(strings.Join(evs, ""))
	c, err := New(Config{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	br := bytes.NewReader(stream)
	resp := &http.Response{StatusCode: http.StatusOK, Header: http.Header{}}
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for b.Loop() {
		br.Reset(stream)
		resp.Body = nopCloser{br}
		s := c.newStream(c.call.Open(context.Background(), resp))
		n, _, err := providertest.Drain(s)
		if err != nil {
			b.Fatal(err)
		}
		if n < 500 {
			b.Fatalf("read %d chunks, want at least 500", n)
		}
	}
}
