package openaiapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	llmgatewayv1 "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
)

// decodeJSON decodes s as a generic JSON value, for comparisons that do not
// depend on key order or spacing.
func decodeJSON(t testing.TB, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("json.Unmarshal(%q) = %v", s, err)
	}
	return v
}

func testRoute() *llmgatewayv1.Route {
	return &llmgatewayv1.Route{
		RequestedModel: "smart",
		ResolvedModel:  "gpt-4o",
		Strategy:       "priority",
		Attempts: []*llmgatewayv1.RouteAttempt{
			{Provider: "azure", Model: "gpt-4o", Outcome: "error", Error: "overloaded (HTTP 503)", StatusCode: 503, Latency: durationpb.New(120 * time.Millisecond)},
			{Provider: "openai", Model: "gpt-4o", UpstreamModel: "gpt-4o-2024-08-06", Outcome: "ok", Latency: durationpb.New(1500 * time.Millisecond)},
		},
	}
}

const testRouteJSON = `{"requested_model":"smart","resolved_model":"gpt-4o","strategy":"priority","attempts":[` +
	`{"provider":"azure","model":"gpt-4o","outcome":"error","latency":"0.120s","error":"overloaded (HTTP 503)","status_code":503},` +
	`{"provider":"openai","model":"gpt-4o","upstream_model":"gpt-4o-2024-08-06","outcome":"ok","latency":"1.500s"}]}`

func TestChatUnary(t *testing.T) {
	tests := []struct {
		name string
		give *llmgatewayv1.ChatResponse
		want string
	}{
		{
			name: "text",
			give: &llmgatewayv1.ChatResponse{
				Id:           "r-1",
				Model:        "gpt-4o",
				Provider:     "openai",
				Message:      &llmgatewayv1.Message{Role: "assistant", Content: "Hello!"},
				FinishReason: "stop",
				Usage:        &llmgatewayv1.Usage{PromptTokens: 10, CompletionTokens: 3, TotalTokens: 13, CachedTokens: 4, ReasoningTokens: 1},
				CostUsd:      0.000125,
				Route:        testRoute(),
				Created:      timestamppb.New(time.Unix(1710000000, 0)),
			},
			want: `{"id":"chatcmpl-r-1","object":"chat.completion","created":1710000000,"model":"gpt-4o",` +
				`"choices":[{"index":0,"message":{"role":"assistant","content":"Hello!","refusal":null},"finish_reason":"stop","logprobs":null}],` +
				`"usage":{"prompt_tokens":10,"completion_tokens":3,"total_tokens":13,"prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":1}},` +
				`"llmgateway":{"provider":"openai","cost_usd":0.000125,"route":` + testRouteJSON + `}}`,
		},
		{
			name: "tool calls only: content is null",
			give: &llmgatewayv1.ChatResponse{
				Id:    "chatcmpl-already",
				Model: "claude",
				Message: &llmgatewayv1.Message{Role: "assistant", ToolCalls: []*llmgatewayv1.ToolCall{
					{Id: "call_a", Type: "function", Function: &llmgatewayv1.FunctionCall{Name: "get_weather", Arguments: `{"city":"Oslo"}`}},
					{Id: "call_b", Function: &llmgatewayv1.FunctionCall{Name: "get_time", Arguments: `{}`}},
				}},
				FinishReason: "tool_calls",
				Usage:        &llmgatewayv1.Usage{PromptTokens: 5, CompletionTokens: 7},
			},
			want: `{"id":"chatcmpl-already","object":"chat.completion","created":1700000000,"model":"claude",` +
				`"choices":[{"index":0,"message":{"role":"assistant","content":null,"refusal":null,"tool_calls":[` +
				`{"id":"call_a","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Oslo\"}"}},` +
				`{"id":"call_b","type":"function","function":{"name":"get_time","arguments":"{}"}}]},"finish_reason":"tool_calls","logprobs":null}],` +
				`"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}},` +
				`"llmgateway":{"provider":"","cost_usd":0}}`,
		},
		{
			name: "empty answer: no id, no finish reason, no usage",
			give: &llmgatewayv1.ChatResponse{Model: "m"},
			want: `{"id":"chatcmpl-generated","object":"chat.completion","created":1700000000,"model":"m",` +
				`"choices":[{"index":0,"message":{"role":"assistant","content":"","refusal":null},"finish_reason":"stop","logprobs":null}],` +
				`"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}},` +
				`"llmgateway":{"provider":"","cost_usd":0}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hn := newHarness(t, &fakeGateway{chat: func(context.Context, *llmgatewayv1.ChatRequest) (*llmgatewayv1.ChatResponse, error) {
				return tt.give, nil
			}})
			resp, body := hn.post(t, `{"model":"smart","messages":[{"role":"user","content":"hi"}]}`)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("POST status = %d, want 200; body %s", resp.StatusCode, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			if diff := cmp.Diff(decodeJSON(t, tt.want), decodeJSON(t, body)); diff != "" {
				t.Errorf("response body mismatch (-want +got):\n%s\ngot %s", diff, body)
			}
		})
	}
}

func TestChatUnaryHeaders(t *testing.T) {
	hn := newHarness(t, &fakeGateway{chat: func(ctx context.Context, _ *llmgatewayv1.ChatRequest) (*llmgatewayv1.ChatResponse, error) {
		if err := grpc.SetHeader(ctx, metadata.Pairs("x-request-id", "gw-7", "x-ratelimit-remaining-requests", "99", "other", "dropped")); err != nil {
			return nil, err
		}
		return &llmgatewayv1.ChatResponse{Id: "r", Model: "gpt-4o", Provider: "openai", CostUsd: 0.0042, Route: testRoute()}, nil
	}})
	resp, body := hn.do(t, http.MethodPost, "/v1/chat/completions", `{"model":"smart","messages":[{"role":"user","content":"hi"}]}`, http.Header{
		"Authorization": {"Bearer sk-test-123"},
		"X-Request-Id":  {"req-abc"},
		"Traceparent":   {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		"Tracestate":    {"congo=t61rcWkgMzE"},
		"Openai-Beta":   {"not-forwarded"},
	})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST status = %d, want 200; body %s", resp.StatusCode, body)
	}
	md := hn.fake.lastMetadata(t)
	for _, tt := range []struct{ give, want string }{
		{"authorization", "Bearer sk-test-123"},
		{"x-request-id", "req-abc"},
		{"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		{"tracestate", "congo=t61rcWkgMzE"},
		{"openai-beta", ""},
	} {
		if got := strings.Join(md.Get(tt.give), ","); got != tt.want {
			t.Errorf("gRPC metadata %q = %q, want %q", tt.give, got, tt.want)
		}
	}
	for _, tt := range []struct{ give, want string }{
		{"X-Llmgateway-Provider", "openai"},
		{"X-Llmgateway-Model", "gpt-4o"},
		{"X-Llmgateway-Cost-Usd", "0.0042"},
		{"X-Llmgateway-Attempts", "2"},
		{"X-Request-Id", "gw-7"},
		{"X-Ratelimit-Remaining-Requests", "99"},
		{"Other", ""},
	} {
		if got := resp.Header.Get(tt.give); got != tt.want {
			t.Errorf("response header %s = %q, want %q", tt.give, got, tt.want)
		}
	}
}

func TestChatUnaryForwardsRequest(t *testing.T) {
	hn := newHarness(t, &fakeGateway{chat: func(context.Context, *llmgatewayv1.ChatRequest) (*llmgatewayv1.ChatResponse, error) {
		return &llmgatewayv1.ChatResponse{Model: "m"}, nil
	}})
	resp, body := hn.post(t, `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}],"max_tokens":5,"seed":1}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST status = %d, want 200; body %s", resp.StatusCode, body)
	}
	want := &llmgatewayv1.ChatRequest{
		Model:     "m",
		Messages:  []*llmgatewayv1.Message{{Role: "user", Content: "ab"}},
		MaxTokens: proto.Int32(5),
	}
	if diff := cmp.Diff(want, hn.fake.lastRequest(t), protocmp.Transform()); diff != "" {
		t.Errorf("gateway request mismatch (-want +got):\n%s", diff)
	}
}

func TestChatUnaryFinishError(t *testing.T) {
	hn := newHarness(t, &fakeGateway{chat: func(context.Context, *llmgatewayv1.ChatRequest) (*llmgatewayv1.ChatResponse, error) {
		return &llmgatewayv1.ChatResponse{Model: "m", FinishReason: "error", Message: &llmgatewayv1.Message{Content: "partial"}}, nil
	}})
	resp, body := hn.post(t, `{"model":"m","messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("POST status = %d, want 502", resp.StatusCode)
	}
	want := `{"error":{"message":"the upstream failed while generating the response","type":"api_error","param":null,"code":"upstream_error"}}`
	if diff := cmp.Diff(decodeJSON(t, want), decodeJSON(t, body)); diff != "" {
		t.Errorf("error body mismatch (-want +got):\n%s", diff)
	}
}

func TestBadRequests(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		path       string
		give       string
		header     http.Header
		wantStatus int
		want       string
		wantAllow  string
	}{
		{
			name: "body over the limit", method: http.MethodPost, path: "/v1/chat/completions",
			give:       `{"model":"m","messages":[{"role":"user","content":"` + strings.Repeat("x", 2048) + `"}]}`,
			wantStatus: http.StatusRequestEntityTooLarge,
			want:       `{"error":{"message":"request body exceeds the limit of 1024 bytes","type":"invalid_request_error","param":null,"code":"request_too_large"}}`,
		},
		{
			name: "malformed JSON", method: http.MethodPost, path: "/v1/chat/completions",
			give:       `{"model":"m",,}`,
			wantStatus: http.StatusBadRequest,
			want: `{"error":{"message":"the request body is not valid JSON: invalid character ',' looking for beginning of object key string (line 1, column 14, byte offset 13)",` +
				`"type":"invalid_request_error","param":null,"code":null}}`,
		},
		{
			name: "image content part", method: http.MethodPost, path: "/v1/chat/completions",
			give:       `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:x"}}]}]}`,
			wantStatus: http.StatusBadRequest,
			want: `{"error":{"message":"messages[0].content[0].type: \"image_url\" is not supported; only \"text\" parts are",` +
				`"type":"invalid_request_error","param":"messages[0].content[0].type","code":null}}`,
		},
		{
			name: "n greater than 1", method: http.MethodPost, path: "/v1/chat/completions",
			give:       `{"model":"m","n":3,"messages":[{"role":"user","content":"hi"}]}`,
			wantStatus: http.StatusBadRequest,
			want:       `{"error":{"message":"n: only n=1 is supported, got 3","type":"invalid_request_error","param":"n","code":null}}`,
		},
		{
			name: "authorization not ASCII", method: http.MethodPost, path: "/v1/chat/completions",
			give:       `{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
			header:     http.Header{"Authorization": {"Bearer k\xe9y"}},
			wantStatus: http.StatusBadRequest,
			want:       `{"error":{"message":"the Authorization header holds characters other than printable ASCII","type":"invalid_request_error","param":null,"code":null}}`,
		},
		{
			name: "GET on chat completions", method: http.MethodGet, path: "/v1/chat/completions",
			wantStatus: http.StatusMethodNotAllowed, wantAllow: "POST",
			want: `{"error":{"message":"Method GET is not allowed for /v1/chat/completions; use POST","type":"invalid_request_error","param":null,"code":null}}`,
		},
		{
			name: "POST on models", method: http.MethodPost, path: "/v1/models",
			wantStatus: http.StatusMethodNotAllowed, wantAllow: "GET, HEAD",
			want: `{"error":{"message":"Method POST is not allowed for /v1/models; use GET, HEAD","type":"invalid_request_error","param":null,"code":null}}`,
		},
		{
			name: "DELETE on a model", method: http.MethodDelete, path: "/v1/models/gpt-4o",
			wantStatus: http.StatusMethodNotAllowed, wantAllow: "GET, HEAD",
			want: `{"error":{"message":"Method DELETE is not allowed for /v1/models/gpt-4o; use GET, HEAD","type":"invalid_request_error","param":null,"code":null}}`,
		},
		{
			name: "unknown path", method: http.MethodPost, path: "/v1/embeddings",
			wantStatus: http.StatusNotFound,
			want:       `{"error":{"message":"Invalid URL (POST /v1/embeddings)","type":"invalid_request_error","param":null,"code":null}}`,
		},
		{
			name: "models with trailing slash", method: http.MethodGet, path: "/v1/models/",
			wantStatus: http.StatusNotFound,
			want:       `{"error":{"message":"Invalid URL (GET /v1/models/)","type":"invalid_request_error","param":null,"code":null}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hn := newHarness(t, &fakeGateway{}, WithMaxRequestBytes(1024))
			resp, body := hn.do(t, tt.method, tt.path, tt.give, tt.header)
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("%s %s status = %d, want %d", tt.method, tt.path, resp.StatusCode, tt.wantStatus)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			if got := resp.Header.Get("Allow"); got != tt.wantAllow {
				t.Errorf("Allow = %q, want %q", got, tt.wantAllow)
			}
			if diff := cmp.Diff(decodeJSON(t, tt.want), decodeJSON(t, body)); diff != "" {
				t.Errorf("error body mismatch (-want +got):\n%s\ngot %s", diff, body)
			}
			hn.fake.mu.Lock()
			calls := len(hn.fake.mds)
			hn.fake.mu.Unlock()
			if calls != 0 {
				t.Errorf("the gateway received %d calls, want 0", calls)
			}
		})
	}
}

func TestChatUnaryGatewayError(t *testing.T) {
	st, err := status.New(codes.NotFound, `unknown model "nope"`).WithDetails(errorInfo(t, "MODEL_NOT_FOUND"))
	if err != nil {
		t.Fatal(err)
	}
	hn := newHarness(t, &fakeGateway{chat: func(ctx context.Context, _ *llmgatewayv1.ChatRequest) (*llmgatewayv1.ChatResponse, error) {
		_ = grpc.SetHeader(ctx, metadata.Pairs("x-request-id", "gw-err"))
		return nil, st.Err()
	}})
	resp, body := hn.post(t, `{"model":"nope","messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("POST status = %d, want 404", resp.StatusCode)
	}
	if got := resp.Header.Get("X-Request-Id"); got != "gw-err" {
		t.Errorf("X-Request-Id = %q, want gw-err", got)
	}
	want := `{"error":{"message":"unknown model \"nope\"","type":"invalid_request_error","param":"model","code":"model_not_found"}}`
	if diff := cmp.Diff(decodeJSON(t, want), decodeJSON(t, body)); diff != "" {
		t.Errorf("error body mismatch (-want +got):\n%s", diff)
	}
}
