package anthropic

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/llmgateway/llmgateway/llm"
	"github.com/llmgateway/llmgateway/providers/internal/providertest"
)

// benchRequest is a multi-turn request with a system prompt, tools, a tool
// call and its result.
func benchRequest() *llm.Request {
	msgs := []llm.Message{{Role: llm.RoleSystem, Content: strings.Repeat("You are a helpful assistant. ", 20)}}
	for i := range 5 {
		msgs = append(msgs,
			llm.Message{Role: llm.RoleUser, Content: fmt.Sprintf("Question %d: %s", i, strings.Repeat("what is the weather like? ", 10))},
			llm.Message{Role: llm.RoleAssistant, Content: strings.Repeat("It is sunny and warm. ", 10)},
		)
	}
	msgs = append(msgs,
		llm.Message{Role: llm.RoleUser, Content: "And in Paris?"},
		llm.Message{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "toolu_1", Name: "get_weather", Arguments: `{"location":"Paris, FR","unit":"celsius"}`}}},
		llm.Message{Role: llm.RoleTool, ToolCallID: "toolu_1", Content: `{"temperature":21,"conditions":"sunny"}`},
	)
	return &llm.Request{
		Model:     "claude-sonnet-4-5",
		Messages:  msgs,
		MaxTokens: 1024,
		Tools: []llm.Tool{{
			Name:        "get_weather",
			Description: "Get the current weather in a given location",
			Parameters:  json.RawMessage(`{"type":"object","properties":{"location":{"type":"string"},"unit":{"type":"string","enum":["celsius","fahrenheit"]}},"required":["location"]}`),
		}},
		ToolChoice: &llm.ToolChoice{Mode: llm.ToolChoiceAuto},
	}
}

func BenchmarkEncodeRequest(b *testing.B) {
	c, err := New(Config{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	req := benchRequest()
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		body, err := c.buildRequest(req, true)
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

// benchStreamBody is a streamed answer of 200 text deltas and a tool call
// in 20 fragments.
func benchStreamBody() []byte {
	var sb strings.Builder
	sb.WriteString(textStream[0])
	sb.WriteString(textStream[1])
	for i := range 200 {
		sb.WriteString(event("content_block_delta", fmt.Sprintf(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" token%d"}}`, i)))
	}
	sb.WriteString(event("content_block_stop", `{"type":"content_block_stop","index":0}`))
	sb.WriteString(event("content_block_start", `{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{}}}`))
	for range 20 {
		sb.WriteString(event("content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"loc\":"}}`))
	}
	sb.WriteString(event("content_block_stop", `{"type":"content_block_stop","index":1}`))
	sb.WriteString(textStream[6])
	sb.WriteString(textStream[7])
	return []byte(sb.String())
}

func BenchmarkDecodeStream(b *testing.B) {
	c, err := New(Config{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	body := benchStreamBody()
	resp := &http.Response{StatusCode: http.StatusOK, Header: http.Header{}}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		resp.Body = io.NopCloser(bytes.NewReader(body))
		s := c.newStream(c.call.Open(context.Background(), resp), "req_bench")
		n, _, err := providertest.Drain(s)
		if err != nil {
			b.Fatal(err)
		}
		if n != 222 {
			b.Fatalf("got %d chunks, want 222", n)
		}
	}
}
