package anthropic

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/llmgateway/llmgateway/llm"
	"github.com/llmgateway/llmgateway/providers/internal/providertest"
)

func TestStreamTextChunks(t *testing.T) {
	chunks, err := providertest.ReadStream(t, suite().StreamEvents(t, textStream...))
	if err != nil {
		t.Fatalf("reading stream: %v", err)
	}
	const model = "claude-sonnet-4-5-20250929"
	want := []llm.Chunk{
		{Content: "Hi! My", Model: model},
		{Content: " name is Claude.", Model: model},
		{FinishReason: llm.FinishStop, Usage: &llm.Usage{PromptTokens: 2095, CompletionTokens: 503}, Model: model},
	}
	if diff := cmp.Diff(want, chunks); diff != "" {
		t.Errorf("chunks mismatch (-want +got):\n%s", diff)
	}
}

func TestStreamToolCallChunks(t *testing.T) {
	chunks, err := providertest.ReadStream(t, suite().StreamEvents(t, toolStream(20)...))
	if err != nil {
		t.Fatalf("reading stream: %v", err)
	}
	const model = "claude-sonnet-4-5-20250929"
	want := []llm.Chunk{
		{Content: "I'll check the current weather", Model: model},
		{Content: " in San Francisco for you.", Model: model},
		{ToolCalls: []llm.ToolCallDelta{{Index: 0, ID: "toolu_01A09q90qw90lq917835lq9", Name: "get_weather"}}, Model: model},
		{ToolCalls: []llm.ToolCallDelta{{Index: 0, Arguments: weatherArgs[:20]}}, Model: model},
		{ToolCalls: []llm.ToolCallDelta{{Index: 0, Arguments: weatherArgs[20:40]}}, Model: model},
		{ToolCalls: []llm.ToolCallDelta{{Index: 0, Arguments: weatherArgs[40:]}}, Model: model},
		{FinishReason: llm.FinishToolCalls, Usage: &llm.Usage{PromptTokens: 472, CompletionTokens: 89}, Model: model},
	}
	if diff := cmp.Diff(want, chunks); diff != "" {
		t.Errorf("chunks mismatch (-want +got):\n%s", diff)
	}
}

// TestStreamMatchesUnary checks that a streamed exchange, collected,
// equals the same exchange made unary, and that the stream reports usage
// exactly once, on or after the finish reason.
func TestStreamMatchesUnary(t *testing.T) {
	tests := []struct {
		name       string
		giveUnary  string
		giveStream []string
		want       *llm.Response
	}{
		{"text", unaryTextBody, textStream, unaryTextWant},
		{"tool call in 1-byte fragments", unaryToolBody, toolStream(1), unaryToolWant},
		{"tool call in 7-byte fragments", unaryToolBody, toolStream(7), unaryToolWant},
		{"tool call in one fragment", unaryToolBody, toolStream(1000), unaryToolWant},
		{"cached tokens", cachedUnaryBody, cachedStream, cachedUnaryWant},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			suite().CheckChat(t, tt.giveUnary, tt.want)
			suite().CheckStreamMatchesUnary(t, tt.giveUnary, tt.giveStream)
		})
	}
}

func TestStreamCollect(t *testing.T) {
	providertest.CheckCollected(t, suite().StreamEvents(t, toolStream(3)...), unaryToolWant)
}

// TestStreamBlocks covers content the gateway does not return (thinking,
// server tools, citations), several tool calls, a call without arguments,
// events without an event line, comments, and event types this adapter
// does not know.
func TestStreamBlocks(t *testing.T) {
	events := []string{
		": keep-alive comment\n\n",
		event("message_start", `{"type":"message_start","message":{"id":"msg_x","type":"message","role":"assistant","content":[],"model":"claude-opus-4-1","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":50,"output_tokens":1}}}`),
		event("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}`),
		event("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Let me think about the weather."}}`),
		event("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds..."}}`),
		event("content_block_stop", `{"type":"content_block_stop","index":0}`),
		event("content_block_start", `{"type":"content_block_start","index":1,"content_block":{"type":"server_tool_use","id":"srvtoolu_1","name":"web_search","input":{}}}`),
		event("content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"query\":\"weather\"}"}}`),
		event("content_block_stop", `{"type":"content_block_stop","index":1}`),
		event("future_event", `{"type":"future_event","something":[1,2,3]}`),
		// No event line: the type comes from the data.
		"data: " + `{"type":"content_block_start","index":2,"content_block":{"type":"text","text":"Checking"}}` + "\n\n",
		event("content_block_delta", `{"type":"content_block_delta","index":2,"delta":{"type":"citations_delta","citation":{"type":"char_location","cited_text":"x"}}}`),
		event("content_block_delta", `{"type":"content_block_delta","index":2,"delta":{"type":"text_delta","text":" two places."}}`),
		event("content_block_stop", `{"type":"content_block_stop","index":2}`),
		event("content_block_start", `{"type":"content_block_start","index":3,"content_block":{"type":"tool_use","id":"toolu_a","name":"get_time","input":{}}}`),
		event("content_block_delta", `{"type":"content_block_delta","index":3,"delta":{"type":"input_json_delta","partial_json":""}}`),
		event("content_block_stop", `{"type":"content_block_stop","index":3}`),
		event("content_block_start", `{"type":"content_block_start","index":4,"content_block":{"type":"tool_use","id":"toolu_b","name":"get_weather","input":{}}}`),
		event("ping", `{"type":"ping"}`),
		event("content_block_delta", `{"type":"content_block_delta","index":4,"delta":{"type":"input_json_delta","partial_json":"{\"location\":"}}`),
		event("content_block_delta", `{"type":"content_block_delta","index":4,"delta":{"type":"input_json_delta","partial_json":"\"Paris\"}"}}`),
		event("content_block_stop", `{"type":"content_block_stop","index":4}`),
		event("message_delta", `{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":120}}`),
		event("message_stop", `{"type":"message_stop"}`),
	}
	chunks, err := providertest.ReadStream(t, suite().StreamEvents(t, events...))
	if err != nil {
		t.Fatalf("reading stream: %v", err)
	}
	const model = "claude-opus-4-1"
	want := []llm.Chunk{
		{Content: "Checking", Model: model},
		{Content: " two places.", Model: model},
		{ToolCalls: []llm.ToolCallDelta{{Index: 0, ID: "toolu_a", Name: "get_time"}}, Model: model},
		{ToolCalls: []llm.ToolCallDelta{{Index: 0, Arguments: "{}"}}, Model: model},
		{ToolCalls: []llm.ToolCallDelta{{Index: 1, ID: "toolu_b", Name: "get_weather"}}, Model: model},
		{ToolCalls: []llm.ToolCallDelta{{Index: 1, Arguments: `{"location":`}}, Model: model},
		{ToolCalls: []llm.ToolCallDelta{{Index: 1, Arguments: `"Paris"}`}}, Model: model},
		{FinishReason: llm.FinishToolCalls, Usage: &llm.Usage{PromptTokens: 50, CompletionTokens: 120}, Model: model},
	}
	if diff := cmp.Diff(want, chunks); diff != "" {
		t.Errorf("chunks mismatch (-want +got):\n%s", diff)
	}
}

// TestStreamMissingBlockStop checks that a tool call whose block never
// stopped still gets its arguments with the finish chunk.
func TestStreamMissingBlockStop(t *testing.T) {
	events := []string{
		event("message_start", `{"type":"message_start","message":{"id":"msg_x","type":"message","role":"assistant","content":[],"model":"m","usage":{"input_tokens":5,"output_tokens":1}}}`),
		event("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_a","name":"get_time","input":{}}}`),
		event("message_delta", `{"type":"message_delta","delta":{},"usage":{"output_tokens":9}}`),
		event("message_stop", `{"type":"message_stop"}`),
	}
	got, err := llm.Collect(suite().StreamEvents(t, events...))
	if err != nil {
		t.Fatalf("Collect() error = %v", err)
	}
	want := &llm.Response{
		Model:        "m",
		Message:      llm.Message{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "toolu_a", Name: "get_time", Arguments: "{}"}}},
		FinishReason: llm.FinishToolCalls,
		Usage:        llm.Usage{PromptTokens: 5, CompletionTokens: 9},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Collect() mismatch (-want +got):\n%s", diff)
	}
}

func TestStreamErrorEvent(t *testing.T) {
	tests := []struct {
		giveType      string
		giveMessage   string
		wantKind      llm.ErrorKind
		wantRetryable bool
	}{
		{"overloaded_error", "Overloaded", llm.KindOverloaded, true},
		{"rate_limit_error", "Rate limited", llm.KindRateLimited, true},
		{"api_error", "Internal server error", llm.KindServer, true},
		{"timeout_error", "Request timed out", llm.KindTimeout, true},
		{"invalid_request_error", "messages.1.content: tool_use ids were found without tool_result blocks", llm.KindBadRequest, false},
		{"invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum", llm.KindContextLength, false},
		{"request_too_large", "Request exceeds the maximum size", llm.KindContextLength, false},
		{"authentication_error", "invalid x-api-key", llm.KindAuth, false},
		{"permission_error", "no access", llm.KindAuth, false},
		{"billing_error", "credit balance too low", llm.KindAuth, false},
		{"not_found_error", "model not found", llm.KindNotFound, false},
		{"some_new_error", "Something new", llm.KindServer, true},
	}
	for _, tt := range tests {
		t.Run(tt.giveType+" "+tt.giveMessage, func(t *testing.T) {
			events := append(append([]string(nil), textStream[:4]...),
				event("error", errorBodyJSON(tt.giveType, tt.giveMessage)))
			chunks, err := providertest.ReadStream(t, suite().StreamEvents(t, events...))
			if len(chunks) != 1 || chunks[0].Content != "Hi! My" {
				t.Errorf("chunks before the error = %+v, want the text delta", chunks)
			}
			ue := providertest.WantUpstream(t, err, tt.wantKind, tt.wantRetryable)
			if !strings.Contains(ue.Message, tt.giveMessage) || !strings.Contains(ue.Message, "type="+tt.giveType) || !strings.Contains(ue.Message, "request_id=req_011CSHoEeqs5C35K2UUqR7Fy") {
				t.Errorf("Message = %q, want the upstream's message, type and request id", ue.Message)
			}
			if strings.Contains(ue.Summary(), tt.giveMessage) {
				t.Errorf("Summary() = %q carries the upstream message", ue.Summary())
			}
		})
	}
}

func TestStreamErrorEventVariants(t *testing.T) {
	tests := []struct {
		name     string
		give     string
		wantKind llm.ErrorKind
		wantMsg  string
	}{
		{"no request id in the body", event("error", `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`), llm.KindOverloaded, "Overloaded (type=overloaded_error, request_id=req_test)"},
		{"not JSON", event("error", `upstream gone`), llm.KindServer, "upstream gone"},
		{"no error object", event("error", `{"type":"error"}`), llm.KindServer, `{"type":"error"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := providertest.ReadStream(t, suite().StreamEvents(t, textStream[0], tt.give))
			ue := providertest.WantUpstream(t, err, tt.wantKind, tt.wantKind.Retryable())
			if !strings.Contains(ue.Message, tt.wantMsg) {
				t.Errorf("Message = %q, want it to contain %q", ue.Message, tt.wantMsg)
			}
		})
	}
}

func TestStreamCut(t *testing.T) {
	tests := []struct {
		name string
		give []string
	}{
		{"empty body", nil},
		{"after content", textStream[:5]},
		{"after message_delta", textStream[:7]},
		{"mid-line", append(append([]string(nil), textStream[:4]...), `event: content_block_delta`+"\n"+`data: {"type":"content_block_delta","index":0,"delta":{"type":"text_d`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := providertest.ReadStream(t, suite().StreamEvents(t, tt.give...))
			ue := providertest.WantUpstream(t, err, llm.KindConnection, true)
			if !strings.Contains(ue.Message, "before message_stop") || !strings.Contains(ue.Message, "request_id=req_test") {
				t.Errorf("Message = %q, want it to say the stream ended early, with the request id", ue.Message)
			}
		})
	}
}

func TestStreamConnectionDropped(t *testing.T) {
	srv := providertest.NewServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		for _, e := range textStream[:4] {
			io.WriteString(w, e)
		}
		w.(http.Flusher).Flush()
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	})
	c := newTestClient(t, Config{BaseURL: srv.URL})
	s, err := c.ChatStream(providertest.Context(t), simpleRequest())
	if err != nil {
		t.Fatalf("ChatStream() error = %v", err)
	}
	chunks, err := providertest.ReadStream(t, s)
	providertest.WantUpstream(t, err, llm.KindConnection, true)
	if len(chunks) != 1 {
		t.Errorf("got %d chunks before the cut, want 1", len(chunks))
	}
}

func TestStreamMalformed(t *testing.T) {
	tests := []struct {
		name         string
		give         []string
		giveMaxEvent int
		wantMsg      string
	}{
		{"data not JSON", []string{textStream[0], event("content_block_delta", `{"type":"content_block_delta",`)}, 0, "decoding content_block_delta event"},
		{"wrong field type", []string{textStream[0], event("content_block_delta", `{"type":"content_block_delta","index":"zero"}`)}, 0, "decoding content_block_delta event"},
		{"event too large", textStream, 64, "longer than 64 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := providertest.ReadStream(t, suite().Stream(t, providertest.Settings{MaxEventBytes: tt.giveMaxEvent}, sseHandler(nil, tt.give...)))
			ue := providertest.WantUpstream(t, err, llm.KindMalformed, true)
			if !strings.Contains(ue.Error(), tt.wantMsg) {
				t.Errorf("error = %v, want it to contain %q", ue, tt.wantMsg)
			}
		})
	}
}

// TestStreamUsage checks that message_delta's cumulative usage replaces
// the fields it carries and keeps message_start's others.
func TestStreamUsage(t *testing.T) {
	start := event("message_start", `{"type":"message_start","message":{"id":"msg_u","type":"message","role":"assistant","content":[],"model":"m","usage":{"input_tokens":10,"cache_creation_input_tokens":5,"cache_read_input_tokens":0,"output_tokens":1}}}`)
	tests := []struct {
		name      string
		giveDelta string
		want      llm.Usage
	}{
		{
			name:      "output only",
			giveDelta: `{"output_tokens":40}`,
			want:      llm.Usage{PromptTokens: 15, CompletionTokens: 40, CacheWriteTokens: 5},
		},
		{
			name:      "input updated (server tools)",
			giveDelta: `{"input_tokens":12,"cache_read_input_tokens":100,"output_tokens":40}`,
			want:      llm.Usage{PromptTokens: 117, CompletionTokens: 40, CachedTokens: 100, CacheWriteTokens: 5},
		},
		{
			name:      "nulls keep the start's",
			giveDelta: `{"input_tokens":null,"cache_creation_input_tokens":null,"output_tokens":7}`,
			want:      llm.Usage{PromptTokens: 15, CompletionTokens: 7, CacheWriteTokens: 5},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := llm.Collect(suite().StreamEvents(t, []string{
				start,
				event("message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":`+tt.giveDelta+`}`),
				event("message_stop", `{"type":"message_stop"}`),
			}...))
			if err != nil {
				t.Fatalf("Collect() error = %v", err)
			}
			if got.Usage != tt.want {
				t.Errorf("Usage = %+v, want %+v", got.Usage, tt.want)
			}
		})
	}
}
