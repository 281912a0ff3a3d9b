package openaiapi

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	llmgatewayv1 "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
	"github.com/llmgateway/llmgateway/surface/httperr"
)

func deltaEvent(content string, calls ...*llmgatewayv1.ToolCallDelta) *llmgatewayv1.ChatStreamResponse {
	return &llmgatewayv1.ChatStreamResponse{Id: "s-1", Model: "gpt-4o", Event: &llmgatewayv1.ChatStreamResponse_Delta{
		Delta: &llmgatewayv1.ChatDelta{Content: content, ToolCalls: calls},
	}}
}

func finalEvent(f *llmgatewayv1.ChatStreamFinal) *llmgatewayv1.ChatStreamResponse {
	return &llmgatewayv1.ChatStreamResponse{Id: "s-1", Model: "gpt-4o", Event: &llmgatewayv1.ChatStreamResponse_Final{Final: f}}
}

func testFinal(reason string) *llmgatewayv1.ChatStreamFinal {
	return &llmgatewayv1.ChatStreamFinal{
		FinishReason: reason,
		Usage:        &llmgatewayv1.Usage{PromptTokens: 9, CompletionTokens: 2, TotalTokens: 11, CachedTokens: 3},
		CostUsd:      0.5,
		Provider:     "openai",
		Route:        &llmgatewayv1.Route{RequestedModel: "gpt-4o", ResolvedModel: "gpt-4o", Attempts: []*llmgatewayv1.RouteAttempt{{Provider: "openai", Outcome: "ok"}}},
	}
}

// splitEvents splits an event-stream body into its events, without the
// blank lines that end them.
func splitEvents(t testing.TB, body string) []string {
	t.Helper()
	if !strings.HasSuffix(body, "\n\n") {
		t.Errorf("event stream %q does not end with a blank line", body)
	}
	return strings.Split(strings.TrimSuffix(body, "\n\n"), "\n\n")
}

const (
	chunkHead = `data: {"id":"chatcmpl-s-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o","choices":[`
	roleDelta = `{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]`
	gwInfo    = `"llmgateway":{"provider":"openai","cost_usd":0.5,"route":{"requested_model":"gpt-4o","resolved_model":"gpt-4o","attempts":[{"provider":"openai","outcome":"ok"}]}}`
	usageJSON = `{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11,"prompt_tokens_details":{"cached_tokens":3},"completion_tokens_details":{"reasoning_tokens":0}}`
)

func contentDelta(s string) string {
	return `{"index":0,"delta":{"content":"` + s + `"},"logprobs":null,"finish_reason":null}]`
}

func TestChatStreamEvents(t *testing.T) {
	tests := []struct {
		name   string
		give   []*llmgatewayv1.ChatStreamResponse
		body   string
		want   []string
		wantTr map[string]string // trailers
	}{
		{
			name: "text without usage",
			give: []*llmgatewayv1.ChatStreamResponse{deltaEvent("Hel"), deltaEvent(""), deltaEvent("lo \"\n\u2028"), finalEvent(testFinal("stop"))},
			body: `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}`,
			want: []string{
				chunkHead + roleDelta + `}`,
				chunkHead + contentDelta("Hel") + `}`,
				chunkHead + contentDelta(`lo \"\n\u2028`) + `}`,
				chunkHead + `{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],` + gwInfo + `}`,
				`data: [DONE]`,
			},
			wantTr: map[string]string{"X-Llmgateway-Provider": "openai", "X-Llmgateway-Cost-Usd": "0.5", "X-Llmgateway-Attempts": "1"},
		},
		{
			name: "text with include_usage",
			give: []*llmgatewayv1.ChatStreamResponse{deltaEvent("Hi"), finalEvent(testFinal("length"))},
			body: `{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`,
			want: []string{
				chunkHead + roleDelta + `,"usage":null}`,
				chunkHead + contentDelta("Hi") + `,"usage":null}`,
				chunkHead + `{"index":0,"delta":{},"logprobs":null,"finish_reason":"length"}],"usage":null,` + gwInfo + `}`,
				chunkHead + `],"usage":` + usageJSON + `}`,
				`data: [DONE]`,
			},
			wantTr: map[string]string{"X-Llmgateway-Provider": "openai", "X-Llmgateway-Cost-Usd": "0.5", "X-Llmgateway-Attempts": "1"},
		},
		{
			name: "tool calls",
			give: []*llmgatewayv1.ChatStreamResponse{
				deltaEvent("", &llmgatewayv1.ToolCallDelta{Index: 0, Id: "call_a", Name: "get_weather"}),
				deltaEvent("", &llmgatewayv1.ToolCallDelta{Index: 0, Arguments: `{"city":`}),
				deltaEvent("", &llmgatewayv1.ToolCallDelta{Index: 0, Arguments: `"Oslo"}`}, &llmgatewayv1.ToolCallDelta{Index: 1, Id: "call_b", Name: "get_time", Arguments: `{}`}),
				// A repeated id or name on a later fragment is not sent again.
				deltaEvent("", &llmgatewayv1.ToolCallDelta{Index: 1, Id: "call_b", Name: "get_time"}),
				finalEvent(testFinal("tool_calls")),
			},
			body: `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"get_weather"}}]}`,
			want: []string{
				chunkHead + roleDelta + `}`,
				chunkHead + `{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"get_weather","arguments":""}}]},"logprobs":null,"finish_reason":null}]}`,
				chunkHead + `{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]},"logprobs":null,"finish_reason":null}]}`,
				chunkHead + `{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Oslo\"}"}},` +
					`{"index":1,"id":"call_b","type":"function","function":{"name":"get_time","arguments":"{}"}}]},"logprobs":null,"finish_reason":null}]}`,
				chunkHead + `{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":""}}]},"logprobs":null,"finish_reason":null}]}`,
				chunkHead + `{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}],` + gwInfo + `}`,
				`data: [DONE]`,
			},
			wantTr: map[string]string{"X-Llmgateway-Provider": "openai", "X-Llmgateway-Cost-Usd": "0.5", "X-Llmgateway-Attempts": "1"},
		},
		{
			name: "content and a tool call in one delta",
			give: []*llmgatewayv1.ChatStreamResponse{
				deltaEvent("Let me check.", &llmgatewayv1.ToolCallDelta{Index: 0, Id: "c", Name: "f", Arguments: "{}"}),
				finalEvent(&llmgatewayv1.ChatStreamFinal{FinishReason: "tool_calls"}),
			},
			body: `{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`,
			want: []string{
				chunkHead + roleDelta + `,"usage":null}`,
				chunkHead + `{"index":0,"delta":{"content":"Let me check.","tool_calls":[{"index":0,"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},"logprobs":null,"finish_reason":null}],"usage":null}`,
				chunkHead + `{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}],"usage":null,"llmgateway":{"provider":"","cost_usd":0}}`,
				chunkHead + `],"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}`,
				`data: [DONE]`,
			},
			wantTr: map[string]string{"X-Llmgateway-Provider": "", "X-Llmgateway-Cost-Usd": "0", "X-Llmgateway-Attempts": "0"},
		},
		{
			name: "final first",
			give: []*llmgatewayv1.ChatStreamResponse{finalEvent(testFinal(""))},
			body: `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}`,
			want: []string{
				chunkHead + roleDelta + `}`,
				chunkHead + `{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],` + gwInfo + `}`,
				`data: [DONE]`,
			},
			wantTr: map[string]string{"X-Llmgateway-Provider": "openai", "X-Llmgateway-Cost-Usd": "0.5", "X-Llmgateway-Attempts": "1"},
		},
		{
			name: "upstream failed after content",
			give: []*llmgatewayv1.ChatStreamResponse{
				deltaEvent("Hel"),
				finalEvent(&llmgatewayv1.ChatStreamFinal{FinishReason: "error", Error: "server (HTTP 500)", Provider: "openai"}),
			},
			body: `{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`,
			want: []string{
				chunkHead + roleDelta + `,"usage":null}`,
				chunkHead + contentDelta("Hel") + `,"usage":null}`,
				`data: {"error":{"message":"server (HTTP 500)","type":"api_error","param":null,"code":"upstream_error"}}`,
			},
			wantTr: map[string]string{"X-Llmgateway-Provider": ""},
		},
		{
			name: "gRPC error after content",
			give: []*llmgatewayv1.ChatStreamResponse{deltaEvent("Hel")},
			body: `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}`,
			want: []string{
				chunkHead + roleDelta + `}`,
				chunkHead + contentDelta("Hel") + `}`,
				`data: {"error":{"message":"upstream went away","type":"api_error","param":null,"code":"upstream_error"}}`,
			},
		},
		{
			name: "stream ended without a final message",
			give: []*llmgatewayv1.ChatStreamResponse{deltaEvent("Hel")},
			body: `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}],"metadata":{"eof":"1"}}`,
			want: []string{
				chunkHead + roleDelta + `}`,
				chunkHead + contentDelta("Hel") + `}`,
				`data: {"error":{"message":"the gateway ended the stream without a final message","type":"api_error","param":null,"code":null}}`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			send := sendAll(tt.give...)
			hn := newHarness(t, &fakeGateway{stream: func(req *llmgatewayv1.ChatRequest, srv grpc.ServerStreamingServer[llmgatewayv1.ChatStreamResponse]) error {
				if err := send(req, srv); err != nil {
					return err
				}
				if f := tt.give[len(tt.give)-1].GetFinal(); f == nil && req.GetMetadata()["eof"] == "" {
					return httperr.New(codes.Unavailable, httperr.ReasonUpstreamError, "upstream went away", nil)
				}
				return nil
			}})
			resp, body := hn.post(t, tt.body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("POST status = %d, want 200; body %s", resp.StatusCode, body)
			}
			for _, h := range []struct{ give, want string }{
				{"Content-Type", "text/event-stream"},
				{"Cache-Control", "no-cache"},
				{"X-Llmgateway-Model", "gpt-4o"},
			} {
				if got := resp.Header.Get(h.give); got != h.want {
					t.Errorf("header %s = %q, want %q", h.give, got, h.want)
				}
			}
			if diff := cmp.Diff(tt.want, splitEvents(t, body)); diff != "" {
				t.Errorf("events mismatch (-want +got):\n%s", diff)
			}
			for k, want := range tt.wantTr {
				if got := resp.Trailer.Get(k); got != want {
					t.Errorf("trailer %s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

func TestChatStreamErrorBeforeFirstEvent(t *testing.T) {
	tests := []struct {
		name           string
		give           error
		wantStatus     int
		want           string
		wantRetryAfter string
	}{
		{
			name: "rate limited",
			give: func() error {
				st, err := status.New(codes.ResourceExhausted, "slow down").WithDetails(
					errorInfo(t, httperr.ReasonRateLimited), retryInfo(2500*time.Millisecond))
				if err != nil {
					t.Fatal(err)
				}
				return st.Err()
			}(),
			wantStatus:     http.StatusTooManyRequests,
			want:           `{"error":{"message":"slow down","type":"rate_limit_error","param":null,"code":"rate_limit_exceeded"}}`,
			wantRetryAfter: "3",
		},
		{
			name:       "unauthenticated",
			give:       status.Error(codes.Unauthenticated, "missing API key"),
			wantStatus: http.StatusUnauthorized,
			want:       `{"error":{"message":"missing API key","type":"authentication_error","param":null,"code":null}}`,
		},
		{
			name:       "no event at all",
			wantStatus: http.StatusBadGateway,
			want:       `{"error":{"message":"the gateway ended the stream without a response","type":"api_error","param":null,"code":null}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hn := newHarness(t, &fakeGateway{stream: func(*llmgatewayv1.ChatRequest, grpc.ServerStreamingServer[llmgatewayv1.ChatStreamResponse]) error {
				return tt.give
			}})
			resp, body := hn.post(t, `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("POST status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			if got := resp.Header.Get("Retry-After"); got != tt.wantRetryAfter {
				t.Errorf("Retry-After = %q, want %q", got, tt.wantRetryAfter)
			}
			if diff := cmp.Diff(decodeJSON(t, tt.want), decodeJSON(t, body)); diff != "" {
				t.Errorf("error body mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestChatStreamClientDisconnectCancelsCall(t *testing.T) {
	canceled := make(chan error, 1)
	hn := newHarness(t, &fakeGateway{stream: func(_ *llmgatewayv1.ChatRequest, srv grpc.ServerStreamingServer[llmgatewayv1.ChatStreamResponse]) error {
		if err := srv.Send(deltaEvent("first")); err != nil {
			return err
		}
		<-srv.Context().Done() // bounded: the test cancels, or times out and closes the server
		canceled <- srv.Context().Err()
		return srv.Context().Err()
	}})

	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hn.baseURL+"/chat/completions",
		strings.NewReader(`{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hn.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	defer resp.Body.Close()
	// Read the role chunk and the first delta: the stream is live.
	sc := bufio.NewScanner(resp.Body)
	var got []string
	for len(got) < 2 && sc.Scan() {
		if line := sc.Text(); line != "" {
			got = append(got, line)
		}
	}
	if want := []string{chunkHead + roleDelta + `}`, chunkHead + contentDelta("first") + `}`}; !cmp.Equal(got, want) {
		t.Fatalf("first events = %q, want %q", got, want)
	}

	cancel()
	select {
	case err := <-canceled:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("gateway stream context error = %v, want context.Canceled", err)
		}
	case <-testContext(t).Done():
		t.Fatal("the gateway's stream was not cancelled after the client disconnected")
	}
}

func TestChatStreamForwardsAuthorization(t *testing.T) {
	hn := newHarness(t, &fakeGateway{stream: sendAll(finalEvent(testFinal("stop")))})
	resp, body := hn.do(t, http.MethodPost, "/v1/chat/completions",
		`{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}`,
		http.Header{"Authorization": {"Bearer sk-stream"}, "X-Request-Id": {"r-9"}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST status = %d, want 200; body %s", resp.StatusCode, body)
	}
	md := hn.fake.lastMetadata(t)
	if got := md.Get("authorization"); !cmp.Equal(got, []string{"Bearer sk-stream"}) {
		t.Errorf("authorization metadata = %q, want [Bearer sk-stream]", got)
	}
	if got := md.Get("x-request-id"); !cmp.Equal(got, []string{"r-9"}) {
		t.Errorf("x-request-id metadata = %q, want [r-9]", got)
	}
}
