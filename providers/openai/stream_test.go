package openai

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/llmgateway/llmgateway/llm"
	"github.com/llmgateway/llmgateway/providers/internal/providertest"
)

func usagePtr(u llm.Usage) *llm.Usage { return &u }

func TestChatStreamText(t *testing.T) {
	s := suite().StreamEvents(t, textStream...)
	got, err := providertest.ReadStream(t, s)
	if err != nil {
		t.Fatalf("Recv() error = %v", err)
	}
	want := []llm.Chunk{
		{Content: "Hello", Model: "gpt-4o-mini"},
		{Content: " world", Model: "gpt-4o-mini"},
		{Content: "!", Model: "gpt-4o-mini"},
		{FinishReason: llm.FinishStop, Model: "gpt-4o-mini"},
		{Usage: usagePtr(llm.Usage{PromptTokens: 9, CompletionTokens: 12, CachedTokens: 4, ReasoningTokens: 5}), Model: "gpt-4o-mini"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("chunks mismatch (-want +got):\n%s", diff)
	}
	// Recv after the end keeps returning io.EOF.
	if _, err := s.Recv(); err != io.EOF {
		t.Errorf("Recv() after the end = %v, want io.EOF", err)
	}
}

// TestChatStreamToolCallMatchesUnary assembles a streamed tool call from
// fragments of several sizes and compares it with the unary answer.
func TestChatStreamToolCallMatchesUnary(t *testing.T) {
	unary, err := suite().Chat(t, unaryToolBody)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1, 3, 7, 1000} {
		t.Run(fmt.Sprintf("fragments of %d bytes", n), func(t *testing.T) {
			s := suite().StreamEvents(t, toolStream(n)...)
			got, err := llm.Collect(s)
			if err != nil {
				t.Fatalf("Collect() error = %v", err)
			}
			if diff := cmp.Diff(unary.Message, got.Message); diff != "" {
				t.Errorf("streamed message mismatch (-unary +stream):\n%s", diff)
			}
			if got.FinishReason != unary.FinishReason || got.Usage != unary.Usage {
				t.Errorf("streamed finish %q usage %+v, want %q %+v", got.FinishReason, got.Usage, unary.FinishReason, unary.Usage)
			}
		})
	}
}

func TestChatStreamParallelToolCalls(t *testing.T) {
	tests := []struct {
		name string
		give []string
	}{
		{
			name: "OpenAI indices",
			give: []string{
				chunk(`{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"get_weather","arguments":""}}]}`, "null"),
				chunk(`{"tool_calls":[{"index":0,"function":{"arguments":"{\"location\": \"Paris\"}"}}]}`, "null"),
				chunk(`{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"get_weather","arguments":""}}]}`, "null"),
				chunk(`{"tool_calls":[{"index":1,"function":{"arguments":"{\"location\": "}}]}`, "null"),
				chunk(`{"tool_calls":[{"index":1,"function":{"arguments":"\"Rome\"}"}}]}`, "null"),
				chunk(`{}`, `"tool_calls"`),
				doneEvent,
			},
		},
		{
			name: "Ollama reuses index 0",
			give: []string{
				chunk(`{"role":"assistant","content":"","tool_calls":[{"id":"call_a","index":0,"type":"function","function":{"name":"get_weather","arguments":"{\"location\": \"Paris\"}"}}]}`, "null"),
				chunk(`{"role":"assistant","content":"","tool_calls":[{"id":"call_b","index":0,"type":"function","function":{"name":"get_weather","arguments":"{\"location\": \"Rome\"}"}}]}`, "null"),
				chunk(`{"role":"assistant","content":""}`, `"tool_calls"`),
				doneEvent,
			},
		},
		{
			name: "old Ollama without index",
			give: []string{
				chunk(`{"role":"assistant","content":"","tool_calls":[{"id":"call_a","type":"function","function":{"name":"get_weather","arguments":"{\"location\": \"Paris\"}"}},{"id":"call_b","type":"function","function":{"name":"get_weather","arguments":"{\"location\": \"Rome\"}"}}]}`, "null"),
				chunk(`{"role":"assistant","content":""}`, `"tool_calls"`),
				doneEvent,
			},
		},
	}
	want := llm.Message{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{
		{ID: "call_a", Name: "get_weather", Arguments: `{"location": "Paris"}`},
		{ID: "call_b", Name: "get_weather", Arguments: `{"location": "Rome"}`},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := suite().StreamEvents(t, tt.give...)
			got, err := llm.Collect(s)
			if err != nil {
				t.Fatalf("Collect() error = %v", err)
			}
			if diff := cmp.Diff(want, got.Message); diff != "" {
				t.Errorf("message mismatch (-want +got):\n%s", diff)
			}
			if got.FinishReason != llm.FinishToolCalls {
				t.Errorf("FinishReason = %q, want %q", got.FinishReason, llm.FinishToolCalls)
			}
		})
	}
}

func TestChatStreamUsageOnce(t *testing.T) {
	running := func(prompt, completion int) string {
		return fmt.Sprintf(`,"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}`, prompt, completion, prompt+completion)
	}
	withUsage := func(ev string, prompt, completion int) string {
		return strings.TrimSuffix(strings.TrimSuffix(ev, "\n\n"), `,"usage":null}`) + running(prompt, completion) + "\n\n"
	}
	tests := []struct {
		name string
		give []string
		want *llm.Usage
	}{
		{
			name: "usage-only final chunk",
			give: textStream,
			want: usagePtr(llm.Usage{PromptTokens: 9, CompletionTokens: 12, CachedTokens: 4, ReasoningTokens: 5}),
		},
		{
			name: "running totals on every chunk (vLLM continuous usage)",
			give: []string{
				withUsage(chunk(`{"role":"assistant","content":""}`, "null"), 9, 0),
				withUsage(chunk(`{"content":"Hi"}`, "null"), 9, 1),
				withUsage(chunk(`{"content":"!"}`, "null"), 9, 2),
				withUsage(chunk(`{}`, `"stop"`), 9, 3),
				`data: {"id":"x","object":"chat.completion.chunk","model":"gpt-4o-mini","choices":[]` + running(9, 3) + "\n\n",
				doneEvent,
			},
			want: usagePtr(llm.Usage{PromptTokens: 9, CompletionTokens: 3}),
		},
		{
			name: "usage on the finish chunk",
			give: []string{
				chunk(`{"content":"Hi"}`, "null"),
				withUsage(chunk(`{}`, `"stop"`), 5, 1),
				doneEvent,
			},
			want: usagePtr(llm.Usage{PromptTokens: 5, CompletionTokens: 1}),
		},
		{
			name: "no usage at all",
			give: []string{chunk(`{"content":"Hi"}`, "null"), chunk(`{}`, `"stop"`), doneEvent},
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := suite().StreamEvents(t, tt.give...)
			chunks, err := providertest.ReadStream(t, s)
			if err != nil {
				t.Fatalf("Recv() error = %v", err)
			}
			var usages []*llm.Usage
			sawFinish := false
			for _, c := range chunks {
				if c.Usage != nil {
					usages = append(usages, c.Usage)
					if !sawFinish {
						t.Errorf("usage reported before the finish reason")
					}
				}
				if c.FinishReason != "" {
					sawFinish = true
				}
			}
			if tt.want == nil {
				if len(usages) != 0 {
					t.Errorf("usage reported %d times, want never", len(usages))
				}
				return
			}
			if len(usages) != 1 {
				t.Fatalf("usage reported %d times, want once", len(usages))
			}
			if *usages[0] != *tt.want {
				t.Errorf("usage = %+v, want %+v", *usages[0], *tt.want)
			}
		})
	}
}

func TestChatStreamWireVariants(t *testing.T) {
	tests := []struct {
		name string
		give []string
		want string // the assembled content
	}{
		{
			name: "keep-alive comments",
			give: []string{
				": keep-alive\n\n",
				chunk(`{"content":"a"}`, "null"),
				": OPENROUTER PROCESSING\n\n",
				":\n\n",
				chunk(`{"content":"b"}`, "null"),
				chunk(`{}`, `"stop"`),
				": ping\n\n",
				doneEvent,
			},
			want: "ab",
		},
		{
			name: "CRLF line breaks",
			give: []string{
				strings.ReplaceAll(chunk(`{"content":"a"}`, "null"), "\n", "\r\n"),
				strings.ReplaceAll(chunk(`{}`, `"stop"`), "\n", "\r\n"),
				"data: [DONE]\r\n\r\n",
			},
			want: "a",
		},
		{
			name: "no space after data colon, empty data events",
			give: []string{
				strings.Replace(chunk(`{"content":"a"}`, "null"), "data: ", "data:", 1),
				"data:\n\n",
				chunk(`{}`, `"stop"`),
				"data:[DONE]\n\n",
			},
			want: "a",
		},
		{
			name: "events split across writes",
			give: func() []string {
				all := strings.Join(append([]string{chunk(`{"content":"split"}`, "null"), chunk(`{}`, `"stop"`)}, doneEvent), "")
				var parts []string
				for i := 0; i < len(all); i += 7 {
					parts = append(parts, all[i:min(i+7, len(all))])
				}
				return parts
			}(),
			want: "split",
		},
		{
			name: "content as arrays of parts (Mistral)",
			give: []string{
				chunk(`{"role":"assistant","content":[{"type":"thinking","thinking":[{"type":"text","text":"hmm"}]}]}`, "null"),
				chunk(`{"content":[{"type":"text","text":"par"}]}`, "null"),
				chunk(`{"content":"ts"}`, "null"),
				chunk(`{"content":[]}`, `"stop"`),
				doneEvent,
			},
			want: "parts",
		},
		{
			name: "Azure prompt filter results first",
			give: []string{
				`data: {"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[{"prompt_index":0,"content_filter_results":{"hate":{"filtered":false,"severity":"safe"}}}]}` + "\n\n",
				chunk(`{"content":"a"}`, "null"),
				chunk(`{}`, `"stop"`),
				doneEvent,
			},
			want: "a",
		},
		{
			name: "ends after finish without DONE",
			give: []string{chunk(`{"content":"a"}`, "null"), chunk(`{}`, `"stop"`)},
			want: "a",
		},
		{
			name: "ends after finish with DONE cut mid-line",
			give: []string{chunk(`{"content":"a"}`, "null"), chunk(`{}`, `"stop"`), "data: [DO"},
			want: "a",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := suite().StreamEvents(t, tt.give...)
			got, err := llm.Collect(s)
			if err != nil {
				t.Fatalf("Collect() error = %v", err)
			}
			if got.Message.Content != tt.want || got.FinishReason != llm.FinishStop {
				t.Errorf("Collect() = %q finish %q, want %q finish stop", got.Message.Content, got.FinishReason, tt.want)
			}
		})
	}
}

func TestChatStreamFailures(t *testing.T) {
	tests := []struct {
		name          string
		give          []string
		giveHandler   http.HandlerFunc // overrides give
		wantKind      llm.ErrorKind
		wantRetryable bool
		wantContent   string // what arrived before the failure
		wantMessage   string
	}{
		{
			name:          "cut before DONE without finish",
			give:          []string{chunk(`{"content":"Hel"}`, "null")},
			wantKind:      llm.KindConnection,
			wantRetryable: true,
			wantContent:   "Hel",
			wantMessage:   "stream ended before [DONE]",
		},
		{
			name: "connection dropped mid-event",
			giveHandler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				w.Header().Set("Content-Length", "100000") // promise more than is sent
				io.WriteString(w, chunk(`{"content":"Hel"}`, "null")+`data: {"id":"chatcmpl-123","choi`)
			},
			wantKind:      llm.KindConnection,
			wantRetryable: true,
			wantContent:   "Hel",
		},
		{
			name:          "empty body",
			give:          nil,
			wantKind:      llm.KindConnection,
			wantRetryable: true,
		},
		{
			name:          "malformed chunk",
			give:          []string{chunk(`{"content":"a"}`, "null"), "data: {\"choices\":[{\"delta\":{\"content\":\"b\"\n\n", doneEvent},
			wantKind:      llm.KindMalformed,
			wantRetryable: true,
			wantContent:   "a",
			wantMessage:   "decoding stream chunk",
		},
		{
			name:          "two JSON values in one event",
			give:          []string{chunk(`{"content":"a"}`, "null"), "data: {\"choices\":[]} {\"choices\":[]}\n\n", doneEvent},
			wantKind:      llm.KindMalformed,
			wantRetryable: true,
			wantContent:   "a",
			wantMessage:   "more than one JSON value",
		},
		{
			name:          "wrong type in a chunk",
			give:          []string{chunk(`{"content":"a"}`, "null"), chunk(`{"content":"b"}`, `7`), doneEvent},
			wantKind:      llm.KindMalformed,
			wantRetryable: true,
			wantContent:   "a",
			wantMessage:   "decoding stream chunk",
		},
		{
			name: "error object mid-stream",
			give: []string{
				chunk(`{"content":"a"}`, "null"),
				`data: {"error":{"message":"The server had an error while processing your request.","type":"server_error","param":null,"code":null}}` + "\n\n",
				doneEvent,
			},
			wantKind:      llm.KindServer,
			wantRetryable: true,
			wantContent:   "a",
			wantMessage:   "The server had an error while processing your request. (type=server_error)",
		},
		{
			name: "OpenRouter error with finish_reason error",
			give: []string{
				chunk(`{"content":"a"}`, "null"),
				`data: {"id":"cmpl-abc123","object":"chat.completion.chunk","created":1234567890,"model":"gpt-3.5-turbo","provider":"openai","error":{"code":"server_error","message":"Provider disconnected unexpectedly"},"choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}]}` + "\n\n",
			},
			wantKind:      llm.KindServer,
			wantRetryable: true,
			wantContent:   "a",
			wantMessage:   "Provider disconnected unexpectedly",
		},
		{
			name: "vLLM error with numeric code",
			give: []string{
				`data: {"error":{"object":"error","message":"This model's maximum context length is 4096 tokens.","type":"BadRequestError","param":null,"code":400}}` + "\n\n",
			},
			wantKind:    llm.KindContextLength,
			wantMessage: "maximum context length",
		},
		{
			name: "rate limit error mid-stream",
			give: []string{
				`data: {"error":{"message":"Rate limit exceeded","type":"rate_limit_error","code":"rate_limit_exceeded"}}` + "\n\n",
			},
			wantKind:      llm.KindRateLimited,
			wantRetryable: true,
			wantMessage:   "Rate limit exceeded",
		},
		{
			name: "error event",
			give: []string{
				chunk(`{"content":"a"}`, "null"),
				"event: error\ndata: {\"error\":{\"message\":\"overloaded\",\"type\":\"overloaded_error\"}}\n\n",
			},
			wantKind:      llm.KindOverloaded,
			wantRetryable: true,
			wantContent:   "a",
			wantMessage:   "overloaded",
		},
		{
			name:          "oversized event",
			give:          []string{"data: " + strings.Repeat("x", 2048) + "\n\n"},
			wantKind:      llm.KindMalformed,
			wantRetryable: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.giveHandler
			if h == nil {
				h = sseHandler(nil, tt.give...)
			}
			s := suite().Stream(t, providertest.Settings{MaxEventBytes: 1024}, h)
			got, err := llm.Collect(s)
			ue := providertest.WantUpstream(t, err, tt.wantKind, tt.wantRetryable)
			if got.Message.Content != tt.wantContent {
				t.Errorf("content before the failure = %q, want %q", got.Message.Content, tt.wantContent)
			}
			if !strings.Contains(ue.Error(), tt.wantMessage) {
				t.Errorf("error = %v, want it to mention %q", err, tt.wantMessage)
			}
			if ue.Message != "" && strings.Contains(ue.Summary(), ue.Message) {
				t.Errorf("Summary() = %q carries the upstream message", ue.Summary())
			}
			// The failure is sticky.
			if _, err2 := s.Recv(); err2 != err {
				t.Errorf("Recv() after the failure = %v, want %v", err2, err)
			}
		})
	}
}
