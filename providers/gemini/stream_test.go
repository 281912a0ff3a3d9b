package gemini

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/llmgateway/llmgateway/llm"
)

func TestChatStreamText(t *testing.T) {
	srv := newServer(t, sseHandler(nil, textStream...))
	c := newTestClient(t, Config{BaseURL: srv.URL})
	s, err := c.ChatStream(testContext(t), simpleRequest())
	if err != nil {
		t.Fatalf("ChatStream() error = %v", err)
	}
	got, err := readStream(t, s)
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
	srv := newServer(t, sseHandler(nil, toolStream...))
	c := newTestClient(t, Config{BaseURL: srv.URL})
	s, err := c.ChatStream(testContext(t), simpleRequest())
	if err != nil {
		t.Fatalf("ChatStream() error = %v", err)
	}
	got, err := readStream(t, s)
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
			unarySrv := newServer(t, jsonHandler(nil, 200, tt.unary))
			unary, err := newTestClient(t, Config{BaseURL: unarySrv.URL}).Chat(testContext(t), simpleRequest())
			if err != nil {
				t.Fatalf("Chat() error = %v", err)
			}
			streamSrv := newServer(t, sseHandler(nil, tt.live...))
			s, err := newTestClient(t, Config{BaseURL: streamSrv.URL}).ChatStream(testContext(t), simpleRequest())
			if err != nil {
				t.Fatalf("ChatStream() error = %v", err)
			}
			streamed, err := llm.Collect(s)
			if err != nil {
				t.Fatalf("Collect() error = %v", err)
			}
			unary.ID = ""
			if diff := cmp.Diff(unary, streamed); diff != "" {
				t.Errorf("streamed response differs from unary (-unary +streamed):\n%s", diff)
			}
		})
	}
}

// TestStreamUsageOnce checks that usage comes exactly once, after the
// finish reason, however the upstream spreads it over its chunks.
func TestStreamUsageOnce(t *testing.T) {
	streams := map[string][]string{"text": textStream, "tools": toolStream}
	for name, evs := range streams {
		t.Run(name, func(t *testing.T) {
			srv := newServer(t, sseHandler(nil, evs...))
			s, err := newTestClient(t, Config{BaseURL: srv.URL}).ChatStream(testContext(t), simpleRequest())
			if err != nil {
				t.Fatal(err)
			}
			chunks, err := readStream(t, s)
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
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				sseHandler(nil, tt.giveEvents...)(w, r)
				io.WriteString(w, tt.giveRaw)
			})
			s, err := newTestClient(t, Config{BaseURL: srv.URL}).ChatStream(testContext(t), simpleRequest())
			if err != nil {
				t.Fatalf("ChatStream() error = %v", err)
			}
			chunks, err := readStream(t, s)
			ue := wantUpstream(t, err, tt.wantKind, tt.wantKind.Retryable())
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
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		sseHandler(nil, textStream...)(w, r)
		io.WriteString(w, `data: {"candidates": [`)
	})
	s, err := newTestClient(t, Config{BaseURL: srv.URL}).ChatStream(testContext(t), simpleRequest())
	if err != nil {
		t.Fatal(err)
	}
	got, err := llm.Collect(s)
	if err != nil {
		t.Fatalf("Collect() error = %v", err)
	}
	want := *unaryTextWant
	want.ID = ""
	if diff := cmp.Diff(&want, got); diff != "" {
		t.Errorf("Collect() mismatch (-want +got):\n%s", diff)
	}
}

func TestChatStreamEventTooLarge(t *testing.T) {
	srv := newServer(t, sseHandler(nil, textStream...))
	s, err := newTestClient(t, Config{BaseURL: srv.URL}, WithMaxEventBytes(64)).ChatStream(testContext(t), simpleRequest())
	if err != nil {
		t.Fatal(err)
	}
	_, err = readStream(t, s)
	wantUpstream(t, err, llm.KindMalformed, true)
}

// TestChatStreamJSONBody covers a streamed request answered with JSON: an
// error object with 200, or the whole answer as an array.
func TestChatStreamJSONBody(t *testing.T) {
	t.Run("error object", func(t *testing.T) {
		srv := newServer(t, jsonHandler(nil, 200, `{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"7s"}]}}`))
		s, err := newTestClient(t, Config{BaseURL: srv.URL}).ChatStream(testContext(t), simpleRequest())
		if err == nil {
			s.Close()
		}
		ue := wantUpstream(t, err, llm.KindRateLimited, true)
		if ue.RetryAfter != 7*time.Second {
			t.Errorf("RetryAfter = %v, want 7s", ue.RetryAfter)
		}
	})
	t.Run("array of chunks", func(t *testing.T) {
		var objs []string
		for _, e := range toolStream {
			objs = append(objs, strings.TrimSuffix(strings.TrimPrefix(e, "data: "), "\r\n\r\n"))
		}
		srv := newServer(t, jsonHandler(nil, 200, "[\n"+strings.Join(objs, ",\n")+"\n]"))
		s, err := newTestClient(t, Config{BaseURL: srv.URL}).ChatStream(testContext(t), simpleRequest())
		if err != nil {
			t.Fatalf("ChatStream() error = %v", err)
		}
		got, err := llm.Collect(s)
		if err != nil {
			t.Fatalf("Collect() error = %v", err)
		}
		want := *unaryToolWant
		want.ID = ""
		if diff := cmp.Diff(&want, got); diff != "" {
			t.Errorf("Collect() mismatch (-want +got):\n%s", diff)
		}
	})
	t.Run("single object without finish reason", func(t *testing.T) {
		srv := newServer(t, jsonHandler(nil, 200, `{"candidates":[{"content":{"parts":[{"text":"hi"}]}}]}`))
		s, err := newTestClient(t, Config{BaseURL: srv.URL}).ChatStream(testContext(t), simpleRequest())
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
		srv := newServer(t, jsonHandler(nil, 200, `[]`))
		s, err := newTestClient(t, Config{BaseURL: srv.URL}).ChatStream(testContext(t), simpleRequest())
		if err == nil {
			s.Close()
		}
		wantUpstream(t, err, llm.KindMalformed, true)
	})
}

func TestChatStreamSlowFirstByte(t *testing.T) {
	release := make(chan struct{})
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		drain(r)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	c := newTestClient(t, Config{BaseURL: srv.URL, Timeout: 50 * time.Millisecond})
	start := time.Now()
	s, err := c.ChatStream(testContext(t), simpleRequest())
	if err == nil {
		s.Close()
	}
	ue := wantUpstream(t, err, llm.KindTimeout, true)
	if !strings.Contains(ue.Error(), "no response headers within 50ms") {
		t.Errorf("ChatStream() error = %v, want it to name the timeout", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("ChatStream() took %v, want it to give up at the timeout", d)
	}
}

// TestChatStreamTimeoutOnlyToHeaders checks that the timeout does not cut
// a stream that answered in time but runs longer: the body is held back
// until well after the timeout.
func TestChatStreamTimeoutOnlyToHeaders(t *testing.T) {
	const timeout = time.Second
	release := make(chan struct{})
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		drain(r)
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		for _, e := range textStream {
			io.WriteString(w, e)
			w.(http.Flusher).Flush()
		}
	})
	c := newTestClient(t, Config{BaseURL: srv.URL, Timeout: timeout})
	s, err := c.ChatStream(testContext(t), simpleRequest())
	if err != nil {
		t.Fatalf("ChatStream() error = %v", err)
	}
	time.Sleep(timeout + timeout/5)
	close(release)
	got, err := llm.Collect(s)
	if err != nil {
		t.Fatalf("Collect() error = %v", err)
	}
	if got.Message.Content != unaryTextWant.Message.Content {
		t.Errorf("Content = %q, want %q", got.Message.Content, unaryTextWant.Message.Content)
	}
}

// blockingStream is a handler that sends one chunk and then waits for the
// client to go away, reporting that on upstreamDone.
func blockingStream(upstreamDone chan<- struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		defer close(upstreamDone)
		drain(r)
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, textStream[1])
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}
}

func TestChatStreamCallerCancels(t *testing.T) {
	upstreamDone := make(chan struct{})
	srv := newServer(t, blockingStream(upstreamDone))
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	s, err := newTestClient(t, Config{BaseURL: srv.URL}).ChatStream(ctx, simpleRequest())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if c, err := s.Recv(); err != nil || c.Content != "Hello! How" {
		t.Fatalf("Recv() = %+v, %v; want the first chunk", c, err)
	}
	cancel()
	_, err = s.Recv()
	wantUpstream(t, err, llm.KindCanceled, false)
	select {
	case <-upstreamDone:
	case <-testContext(t).Done():
		t.Fatal("the upstream request was not cancelled")
	}
}

func TestChatStreamCloseDuringRecv(t *testing.T) {
	upstreamDone := make(chan struct{})
	srv := newServer(t, blockingStream(upstreamDone))
	s, err := newTestClient(t, Config{BaseURL: srv.URL}).ChatStream(testContext(t), simpleRequest())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); err != nil {
		t.Fatal(err)
	}
	recvErr := make(chan error, 1)
	go func() {
		_, err := s.Recv() // blocks: the upstream sends nothing more
		recvErr <- err
	}()
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Close(); err != nil {
				t.Errorf("Close() = %v, want nil", err)
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-recvErr:
		ue := wantUpstream(t, err, llm.KindCanceled, false)
		if !errors.Is(ue, errStreamClosed) {
			t.Errorf("Recv() error = %v, want it to say the stream was closed", err)
		}
	case <-testContext(t).Done():
		t.Fatal("Recv() did not return after Close()")
	}
	select {
	case <-upstreamDone:
	case <-testContext(t).Done():
		t.Fatal("the upstream request was not cancelled")
	}
	if _, err := s.Recv(); err == nil {
		t.Error("Recv() after Close() succeeded, want an error")
	}
}
