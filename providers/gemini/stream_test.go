package gemini

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/llmgateway/llmgateway/llm"
	"github.com/llmgateway/llmgateway/providers/internal/providertest"
)

func TestChatStreamText(t *testing.T) {
	s := suite().StreamEvents(t, textStream...)
	got, err := providertest.ReadStream(t, s)
	if err != nil {
		t.Fatalf("Recv() error = %v", err)
	}
	const model = "gemini-2.5-flash"
	want := []llm.Chunk{
		{Content: "Hello! How", Model: model},
		{Content: " can I help", Model: model},
		{Content: " you today?", FinishReason: llm.FinishStop, Model: model},
		{Usage: &llm.Usage{PromptTokens: 2105, CompletionTokens: 43, CachedTokens: 2048, ReasoningTokens: 34}, Model: model},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("chunks mismatch (-want +got):\n%s", diff)
	}
}

func TestChatStreamToolCalls(t *testing.T) {
	s := suite().StreamEvents(t, toolStream...)
	got, err := providertest.ReadStream(t, s)
	if err != nil {
		t.Fatalf("Recv() error = %v", err)
	}
	const model = "gemini-2.0-flash"
	want := []llm.Chunk{
		{Content: "Let me check both cities.", Model: model},
		{ToolCalls: []llm.ToolCallDelta{{Index: 0, ID: "call_aF2_tool-resp1_0", Name: "get_weather", Arguments: `{"location":"Boston, MA","unit":"celsius"}`}}, Model: model},
		{ToolCalls: []llm.ToolCallDelta{{Index: 1, ID: "call_aF2_tool-resp1_1", Name: "get_weather", Arguments: `{"location":"Paris"}`}}, FinishReason: llm.FinishToolCalls, Model: model},
		{Usage: &llm.Usage{PromptTokens: 82, CompletionTokens: 17}, Model: model},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("chunks mismatch (-want +got):\n%s", diff)
	}
}

// TestStreamMatchesUnary checks that the streamed and unary answers of the
// same exchange give the same response (but for the id, which chunks do
// not carry).
func TestStreamMatchesUnary(t *testing.T) {
	tests := []struct {
		name  string
		unary string
		live  []string
	}{
		{name: "text with cached and thinking tokens", unary: unaryTextBody, live: textStream},
		{name: "parallel tool calls", unary: unaryToolBody, live: toolStream},
		{name: "blocked prompt", unary: blockedBody, live: []string{event(strings.ReplaceAll(blockedBody, "\n", ""))}},
		{
			name: "tool calls in one chunk, usage only on the last",
			unary: `{"candidates":[{"content":{"parts":[{"functionCall":{"name":"a","args":{"x":[1, 2]}}},{"functionCall":{"name":"b"}}],"role":"model"},"finishReason":"STOP"}],
				"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":4,"thoughtsTokenCount":6,"toolUsePromptTokenCount":2},"modelVersion":"gemini-3-pro-preview","responseId":"r-3"}`,
			live: []string{
				event(`{"candidates":[{"content":{"parts":[{"functionCall":{"name":"a","args":{"x":[1,2]}},"thoughtSignature":"c2ln"},{"functionCall":{"name":"b"}}],"role":"model"},"index":0}],"modelVersion":"gemini-3-pro-preview","responseId":"r-3"}`),
				event(`{"candidates":[{"content":{"parts":[{"text":""}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":4,"thoughtsTokenCount":6,"toolUsePromptTokenCount":2},"modelVersion":"gemini-3-pro-preview","responseId":"r-3"}`),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			suite().CheckStreamMatchesUnary(t, tt.unary, tt.live)
		})
	}
}

// TestStreamUsageOnce checks that usage comes exactly once, after the
// finish reason, however the upstream spreads it over its chunks.
func TestStreamUsageOnce(t *testing.T) {
	streams := map[string][]string{"text": textStream, "tools": toolStream}
	for name, evs := range streams {
		t.Run(name, func(t *testing.T) {
			s := suite().StreamEvents(t, evs...)
			chunks, err := providertest.ReadStream(t, s)
			if err != nil {
				t.Fatal(err)
			}
			finish, usage := -1, -1
			for i, c := range chunks {
				if c.FinishReason != "" {
					finish = i
				}
				if c.Usage != nil {
					if usage >= 0 {
						t.Errorf("usage reported on chunks %d and %d, want once", usage, i)
					}
					usage = i
				}
			}
			if usage < 0 || usage < finish {
				t.Errorf("usage on chunk %d, finish on chunk %d; want usage once, at or after the finish", usage, finish)
			}
		})
	}
}

func TestChatStreamFailures(t *testing.T) {
	tests := []struct {
		name       string
		giveEvents []string
		giveRaw    string // written after the events
		wantChunks int    // chunks before the error
		wantKind   llm.ErrorKind
		wantMsg    string
	}{
		{
			name:       "cut before the finish reason",
			giveEvents: textStream[:2],
			wantChunks: 1, wantKind: llm.KindConnection, wantMsg: "stream ended before a finish reason",
		},
		{
			name:       "cut in the middle of an event",
			giveEvents: textStream[:2],
			giveRaw:    `data: {"candidates": [{"content": {"parts": [{"text": " can`,
			wantChunks: 1, wantKind: llm.KindConnection, wantMsg: "stream ended before a finish reason",
		},
		{
			name:       "empty body",
			wantChunks: 0, wantKind: llm.KindConnection, wantMsg: "stream ended before a finish reason",
		},
		{
			name:       "mid-stream error event",
			giveEvents: append(textStream[:2:2], event(`{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}`)),
			wantChunks: 1, wantKind: llm.KindOverloaded, wantMsg: "The model is overloaded",
		},
		{
			name:       "mid-stream rate limit",
			giveEvents: append(textStream[:2:2], event(`{"error":{"code":429,"message":"Resource has been exhausted","status":"RESOURCE_EXHAUSTED"}}`)),
			wantChunks: 1, wantKind: llm.KindRateLimited, wantMsg: "Resource has been exhausted",
		},
		{
			name:       "mid-stream internal error without status",
			giveEvents: append(textStream[:2:2], event(`{"error":{"code":500,"message":"An internal error has occurred."}}`)),
			wantChunks: 1, wantKind: llm.KindServer, wantMsg: "An internal error",
		},
		{
			name:       "malformed chunk",
			giveEvents: append(textStream[:2:2], event(`{"candidates": [{"content": {"parts": [{"text": 42}]}}]}`)),
			wantChunks: 1, wantKind: llm.KindMalformed, wantMsg: "decoding stream chunk",
		},
		{
			name:       "chunk that is not JSON",
			giveEvents: []string{event(`<html>`)},
			wantChunks: 0, wantKind: llm.KindMalformed, wantMsg: "decoding stream chunk",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := providertest.NewServer(t, func(w http.ResponseWriter, r *http.Request) {
				sseHandler(nil, tt.giveEvents...)(w, r)
				io.WriteString(w, tt.giveRaw)
			})
			s, err := newTestClient(t, Config{BaseURL: srv.URL}).ChatStream(providertest.Context(t), simpleRequest())
			if err != nil {
				t.Fatalf("ChatStream() error = %v", err)
			}
			chunks, err := providertest.ReadStream(t, s)
			ue := providertest.WantUpstream(t, err, tt.wantKind, tt.wantKind.Retryable())
			if len(chunks) != tt.wantChunks {
				t.Errorf("got %d chunks before the error, want %d", len(chunks), tt.wantChunks)
			}
			if !strings.Contains(ue.Error(), tt.wantMsg) {
				t.Errorf("error = %v, want it to mention %q", err, tt.wantMsg)
			}
			if strings.Contains(ue.Summary(), tt.wantMsg) {
				t.Errorf("Summary() = %q carries the upstream message", ue.Summary())
			}
			// Errors are sticky.
			if _, err2 := s.Recv(); err2 != err {
				t.Errorf("Recv() after the error = %v, want %v", err2, err)
			}
		})
	}
}

// TestChatStreamCutAfterFinish checks that a body cut after the finish
// reason ends the stream normally with the last usage seen.
func TestChatStreamCutAfterFinish(t *testing.T) {
	srv := providertest.NewServer(t, func(w http.ResponseWriter, r *http.Request) {
		sseHandler(nil, textStream...)(w, r)
		io.WriteString(w, `data: {"candidates": [`)
	})
	s, err := newTestClient(t, Config{BaseURL: srv.URL}).ChatStream(providertest.Context(t), simpleRequest())
	if err != nil {
		t.Fatal(err)
	}
	providertest.CheckCollected(t, s, unaryTextWant)
}

func TestChatStreamEventTooLarge(t *testing.T) {
	srv := providertest.NewServer(t, sseHandler(nil, textStream...))
	s, err := newTestClient(t, Config{BaseURL: srv.URL}, WithMaxEventBytes(64)).ChatStream(providertest.Context(t), simpleRequest())
	if err != nil {
		t.Fatal(err)
	}
	_, err = providertest.ReadStream(t, s)
	providertest.WantUpstream(t, err, llm.KindMalformed, true)
}

// TestChatStreamJSONBody covers a streamed request answered with JSON: an
// error object with 200, or the whole answer as an array.
func TestChatStreamJSONBody(t *testing.T) {
	t.Run("error object", func(t *testing.T) {
		srv := providertest.NewServer(t, jsonHandler(nil, 200, `{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"7s"}]}}`))
		err := providertest.ChatStreamError(t, newTestClient(t, Config{BaseURL: srv.URL}), simpleRequest())
		ue := providertest.WantUpstream(t, err, llm.KindRateLimited, true)
		if ue.RetryAfter != 7*time.Second {
			t.Errorf("RetryAfter = %v, want 7s", ue.RetryAfter)
		}
	})
	t.Run("array of chunks", func(t *testing.T) {
		var objs []string
		for _, e := range toolStream {
			objs = append(objs, strings.TrimSuffix(strings.TrimPrefix(e, "data: "), "\r\n\r\n"))
		}
		srv := providertest.NewServer(t, jsonHandler(nil, 200, "[\n"+strings.Join(objs, ",\n")+"\n]"))
		s, err := newTestClient(t, Config{BaseURL: srv.URL}).ChatStream(providertest.Context(t), simpleRequest())
		if err != nil {
			t.Fatalf("ChatStream() error = %v", err)
		}
		providertest.CheckCollected(t, s, unaryToolWant)
	})
	t.Run("single object without finish reason", func(t *testing.T) {
		srv := providertest.NewServer(t, jsonHandler(nil, 200, `{"candidates":[{"content":{"parts":[{"text":"hi"}]}}]}`))
		s, err := newTestClient(t, Config{BaseURL: srv.URL}).ChatStream(providertest.Context(t), simpleRequest())
		if err != nil {
			t.Fatalf("ChatStream() error = %v", err)
		}
		got, err := llm.Collect(s)
		if err != nil {
			t.Fatalf("Collect() error = %v", err)
		}
		want := &llm.Response{Message: llm.Message{Role: llm.RoleAssistant, Content: "hi"}, FinishReason: llm.FinishStop}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Collect() mismatch (-want +got):\n%s", diff)
		}
	})
	t.Run("nothing in it", func(t *testing.T) {
		srv := providertest.NewServer(t, jsonHandler(nil, 200, `[]`))
		err := providertest.ChatStreamError(t, newTestClient(t, Config{BaseURL: srv.URL}), simpleRequest())
		providertest.WantUpstream(t, err, llm.KindMalformed, true)
	})
}
