package cohere

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/llmgateway/llmgateway/llm"
	"github.com/llmgateway/llmgateway/providers/internal/providertest"
)

func TestChatStreamText(t *testing.T) {
	var rc providertest.Recorder
	srv := providertest.NewServer(t, sseHandler(&rc, textStream...))
	c := newTestClient(t, Config{BaseURL: srv.URL, APIKey: "k"})
	s, err := c.ChatStream(providertest.Context(t), simpleRequest())
	if err != nil {
		t.Fatalf("ChatStream() error = %v", err)
	}
	got, err := providertest.ReadStream(t, s)
	if err != nil {
		t.Fatalf("reading stream: %v", err)
	}
	want := []llm.Chunk{
		{Content: "Hello!"},
		{Content: " How can I help"},
		{Content: " you"},
		{Content: " today?"},
		{FinishReason: llm.FinishStop, Usage: &llm.Usage{PromptTokens: 71, CompletionTokens: 10, CachedTokens: 64}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("chunks mismatch (-want +got):\n%s", diff)
	}
	if _, err := s.Recv(); err != io.EOF {
		t.Errorf("Recv() after the end = %v, want io.EOF", err)
	}
}

func TestChatStreamToolCall(t *testing.T) {
	for _, n := range []int{1, 3, 1000} {
		t.Run(fmt.Sprintf("fragments of %d bytes", n), func(t *testing.T) {
			s := suite().StreamEvents(t, toolStream(n)...)
			chunks, err := providertest.ReadStream(t, s)
			if err != nil {
				t.Fatalf("reading stream: %v", err)
			}
			// The first fragment of each call brings its id and name; the
			// others bring only arguments.
			seen := map[int]bool{}
			for _, ch := range chunks {
				for _, d := range ch.ToolCalls {
					if first := !seen[d.Index]; first != (d.ID != "" && d.Name != "") {
						t.Errorf("fragment %+v: first of its call %v, but has id and name %v", d, first, d.ID != "" && d.Name != "")
					}
					seen[d.Index] = true
				}
			}
			var a llm.Assembler
			for i := range chunks {
				a.Add(&chunks[i])
			}
			want := *unaryToolWant
			want.ID = ""
			if diff := cmp.Diff(&want, a.Response()); diff != "" {
				t.Errorf("assembled response mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestStreamMatchesUnary checks that the same exchange, unary and
// streamed, gives the same text, tool calls, finish reason and usage.
func TestStreamMatchesUnary(t *testing.T) {
	tests := []struct {
		name      string
		giveUnary string
		giveSSE   []string
	}{
		{name: "text", giveUnary: unaryTextBody, giveSSE: textStream},
		{name: "tool calls", giveUnary: unaryToolBody, giveSSE: toolStream(4)},
		{
			name:      "reasoning then text",
			giveUnary: `{"id":"r","finish_reason":"COMPLETE","message":{"role":"assistant","content":[{"type":"thinking","thinking":"The user greets me."},{"type":"text","text":"Hi there!"}]},"usage":{"billed_units":{"input_tokens":2,"output_tokens":9},"tokens":{"input_tokens":60,"output_tokens":9}}}`,
			giveSSE: []string{
				event("message-start", messageStart),
				event("content-start", `{"type":"content-start","index":0,"delta":{"message":{"content":{"type":"thinking","thinking":""}}}}`),
				event("content-delta", `{"type":"content-delta","index":0,"delta":{"message":{"content":{"thinking":"The user"}}}}`),
				event("content-delta", `{"type":"content-delta","index":0,"delta":{"message":{"content":{"thinking":" greets me."}}}}`),
				event("content-end", `{"type":"content-end","index":0}`),
				event("content-start", `{"type":"content-start","index":1,"delta":{"message":{"content":{"type":"text","text":""}}}}`),
				contentDelta(1, "Hi"),
				contentDelta(1, " there!"),
				event("content-end", `{"type":"content-end","index":1}`),
				messageEnd("COMPLETE", `{"billed_units":{"input_tokens":2,"output_tokens":9},"tokens":{"input_tokens":60,"output_tokens":9}}`),
			},
		},
		{
			name:      "max tokens with stop sequence citations and unknown events",
			giveUnary: `{"id":"m","finish_reason":"MAX_TOKENS","message":{"role":"assistant","content":[{"type":"text","text":"Emperor penguins are"}]},"usage":{"tokens":{"input_tokens":12,"output_tokens":4}}}`,
			giveSSE: []string{
				event("message-start", messageStart),
				event("content-start", `{"type":"content-start","index":0,"delta":{"message":{"content":{"type":"text","text":""}}}}`),
				contentDelta(0, "Emperor penguins"),
				event("citation-start", `{"type":"citation-start","index":0,"delta":{"message":{"citations":{"start":0,"end":16,"text":"Emperor penguins","sources":[{"type":"document","id":"doc:0","document":{"id":"doc:0","text":"Emperor penguins are the tallest."}}]}}}}`),
				event("citation-end", `{"type":"citation-end","index":0}`),
				": keep-alive\n\n",
				event("debug", `{"type":"debug","prompt":"..."}`),
				event("some-future-event", `{"type":"some-future-event","delta":{"message":{"content":[1,2]}}}`),
				contentDelta(0, " are"),
				event("content-end", `{"type":"content-end","index":0}`),
				messageEnd("MAX_TOKENS", `{"tokens":{"input_tokens":12,"output_tokens":4}}`),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			suite().CheckStreamMatchesUnary(t, tt.giveUnary, tt.giveSSE)
		})
	}
}

func TestChatStreamVariants(t *testing.T) {
	tests := []struct {
		name string
		give []string
		want []llm.Chunk
	}{
		{
			name: "tool call with initial arguments and no finish reason",
			give: []string{
				event("message-start", messageStart),
				event("tool-call-start", `{"type":"tool-call-start","index":0,"delta":{"message":{"tool_calls":{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":"}}}}}`),
				event("tool-call-delta", `{"type":"tool-call-delta","delta":{"message":{"tool_calls":{"function":{"arguments":"1}"}}}}}`),
				event("tool-call-end", `{"type":"tool-call-end","index":0}`),
				event("message-end", `{"type":"message-end","delta":{}}`),
			},
			want: []llm.Chunk{
				{ToolCalls: []llm.ToolCallDelta{{Index: 0, ID: "c1", Name: "f", Arguments: `{"a":`}}},
				{ToolCalls: []llm.ToolCallDelta{{Index: 0, Arguments: "1}"}}},
				{FinishReason: llm.FinishToolCalls},
			},
		},
		{
			name: "tool calls numbered densely in order",
			give: []string{
				event("tool-call-start", `{"type":"tool-call-start","index":3,"delta":{"message":{"tool_calls":{"id":"c1","type":"function","function":{"name":"f","arguments":""}}}}}`),
				event("tool-call-start", `{"type":"tool-call-start","index":7,"delta":{"message":{"tool_calls":{"id":"c2","type":"function","function":{"name":"g","arguments":""}}}}}`),
				event("tool-call-delta", `{"type":"tool-call-delta","index":3,"delta":{"message":{"tool_calls":{"function":{"arguments":"{}"}}}}}`),
				event("tool-call-start", `{"type":"tool-call-start","index":3,"delta":{"message":{"tool_calls":{"id":"c3","type":"function","function":{"name":"h","arguments":"{}"}}}}}`),
				messageEnd("TOOL_CALL", `{"tokens":{"input_tokens":1,"output_tokens":2}}`),
			},
			want: []llm.Chunk{
				{ToolCalls: []llm.ToolCallDelta{{Index: 0, ID: "c1", Name: "f"}}},
				{ToolCalls: []llm.ToolCallDelta{{Index: 1, ID: "c2", Name: "g"}}},
				{ToolCalls: []llm.ToolCallDelta{{Index: 0, Arguments: "{}"}}},
				{ToolCalls: []llm.ToolCallDelta{{Index: 2, ID: "c3", Name: "h", Arguments: "{}"}}},
				{FinishReason: llm.FinishToolCalls, Usage: &llm.Usage{PromptTokens: 1, CompletionTokens: 2}},
			},
		},
		{
			name: "tool calls sent as a list",
			give: []string{
				event("tool-call-start", `{"type":"tool-call-start","index":0,"delta":{"message":{"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}},{"id":"c2","type":"function","function":{"name":"g","arguments":""}}]}}}`),
				event("tool-call-delta", `{"type":"tool-call-delta","index":1,"delta":{"message":{"tool_calls":[{"function":{"arguments":"{\"x\":1}"}}]}}}`),
				messageEnd("TOOL_CALL", `{"tokens":{"input_tokens":1,"output_tokens":2}}`),
			},
			want: []llm.Chunk{
				{ToolCalls: []llm.ToolCallDelta{{Index: 0, ID: "c1", Name: "f", Arguments: "{}"}, {Index: 1, ID: "c2", Name: "g"}}},
				{ToolCalls: []llm.ToolCallDelta{{Index: 1, Arguments: `{"x":1}`}}},
				{FinishReason: llm.FinishToolCalls, Usage: &llm.Usage{PromptTokens: 1, CompletionTokens: 2}},
			},
		},
		{
			name: "type taken from the event name when the data has none",
			give: []string{
				event("content-delta", `{"index":0,"delta":{"message":{"content":{"text":"x"}}}}`),
				event("message-end", `{"delta":{"finish_reason":"STOP_SEQUENCE"}}`),
			},
			want: []llm.Chunk{{Content: "x"}, {FinishReason: llm.FinishStop}},
		},
		{
			name: "data-only events with CRLF line breaks",
			give: []string{
				"data: {\"type\":\"content-delta\",\"index\":0,\"delta\":{\"message\":{\"content\":{\"text\":\"x\"}}}}\r\n\r\n",
				"data: {\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"COMPLETE\"}}\r\n\r\n",
				"data: [DONE]\r\n\r\n",
			},
			want: []llm.Chunk{{Content: "x"}, {FinishReason: llm.FinishStop}},
		},
		{
			name: "generation error reported as a finish reason",
			give: []string{
				contentDelta(0, "partial"),
				event("message-end", `{"type":"message-end","delta":{"error":"internal error during generation","finish_reason":"ERROR","usage":{"tokens":{"input_tokens":3,"output_tokens":1}}}}`),
			},
			want: []llm.Chunk{{Content: "partial"}, {FinishReason: llm.FinishError, Usage: &llm.Usage{PromptTokens: 3, CompletionTokens: 1}}},
		},
		{
			name: "events after message-end are not read",
			give: []string{
				messageEnd("COMPLETE", `{"tokens":{"input_tokens":1,"output_tokens":0}}`),
				"data: {not json\n\n",
			},
			want: []llm.Chunk{{FinishReason: llm.FinishStop, Usage: &llm.Usage{PromptTokens: 1}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := suite().StreamEvents(t, tt.give...)
			got, err := providertest.ReadStream(t, s)
			if err != nil {
				t.Fatalf("reading stream: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("chunks mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestChatStreamFailures(t *testing.T) {
	tests := []struct {
		name          string
		give          []string
		giveOpts      []Option
		wantKind      llm.ErrorKind
		wantRetryable bool
		wantMessage   string // a fragment of Message
		wantChunks    int    // chunks received before the error
	}{
		{
			name:     "cut before message-end",
			give:     textStream[:4],
			wantKind: llm.KindConnection, wantRetryable: true, wantMessage: "before message-end", wantChunks: 2,
		},
		{
			name:     "cut mid-line",
			give:     []string{textStream[0], textStream[1], textStream[2], `data: {"type":"content-delta","index":0,"delta":{"mess`},
			wantKind: llm.KindConnection, wantRetryable: true, wantMessage: "before message-end", wantChunks: 1,
		},
		{
			name:     "empty body",
			give:     nil,
			wantKind: llm.KindConnection, wantRetryable: true, wantMessage: "before message-end",
		},
		{
			name:     "error event",
			give:     []string{textStream[0], contentDelta(0, "Hi"), event("error", `{"id":"a1","message":"internal server error"}`)},
			wantKind: llm.KindServer, wantRetryable: true, wantMessage: "internal server error", wantChunks: 1,
		},
		{
			name:     "error event with context overflow",
			give:     []string{event("error", `{"type":"error","message":"too many tokens: size limit exceeded by 10 tokens."}`)},
			wantKind: llm.KindContextLength, wantMessage: "size limit exceeded",
		},
		{
			name:     "error event with plain text",
			give:     []string{"event: error\ndata: upstream rate limit exceeded\n\n"},
			wantKind: llm.KindRateLimited, wantRetryable: true, wantMessage: "upstream rate limit exceeded",
		},
		{
			name:     "untyped error object",
			give:     []string{contentDelta(0, "Hi"), `data: {"message":"service unavailable"}` + "\n\n"},
			wantKind: llm.KindOverloaded, wantRetryable: true, wantMessage: "service unavailable", wantChunks: 1,
		},
		{
			name:     "malformed event",
			give:     []string{textStream[0], "event: content-delta\ndata: {\"type\":\"content-delta\",\"index\":0,\"delta\":\n\n"},
			wantKind: llm.KindMalformed, wantRetryable: true, wantMessage: "decoding stream event",
		},
		{
			name:     "tool-call-delta before tool-call-start",
			give:     []string{event("tool-call-delta", `{"type":"tool-call-delta","delta":{"message":{"tool_calls":{"function":{"arguments":"{}"}}}}}`)},
			wantKind: llm.KindMalformed, wantRetryable: true, wantMessage: "before any tool-call-start",
		},
		{
			name:     "event over the size bound",
			give:     []string{contentDelta(0, strings.Repeat("x", 200))},
			giveOpts: []Option{WithMaxEventBytes(100)},
			wantKind: llm.KindMalformed, wantRetryable: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := providertest.NewServer(t, sseHandler(nil, tt.give...))
			c := newTestClient(t, Config{BaseURL: srv.URL}, tt.giveOpts...)
			s, err := c.ChatStream(providertest.Context(t), simpleRequest())
			if err != nil {
				t.Fatalf("ChatStream() error = %v", err)
			}
			chunks, err := providertest.ReadStream(t, s)
			ue := providertest.WantUpstream(t, err, tt.wantKind, tt.wantRetryable)
			if !strings.Contains(ue.Message, tt.wantMessage) {
				t.Errorf("Message = %q, want it to contain %q", ue.Message, tt.wantMessage)
			}
			if tt.wantMessage != "" && strings.Contains(ue.Summary(), tt.wantMessage) {
				t.Errorf("Summary() = %q carries the upstream message", ue.Summary())
			}
			if len(chunks) != tt.wantChunks {
				t.Errorf("got %d chunks before the error, want %d", len(chunks), tt.wantChunks)
			}
			if _, err2 := s.Recv(); err2 != err {
				t.Errorf("Recv() after the error = %v, want the same error %v", err2, err)
			}
		})
	}
}
