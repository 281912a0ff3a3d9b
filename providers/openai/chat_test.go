package openai

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/llmgateway/llmgateway/llm"
)

func TestChatText(t *testing.T) {
	srv := newServer(t, jsonHandler(nil, 200, unaryTextBody))
	c := newTestClient(t, Config{BaseURL: srv.URL, APIKey: "k"})
	got, err := c.Chat(testContext(t), simpleRequest())
	if err != nil {
		t.Fatalf("Chat() error = %v", err)
	}
	want := &llm.Response{
		ID:           "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
		Model:        "gpt-4.1-2025-04-14",
		Message:      llm.Message{Role: llm.RoleAssistant, Content: "Hello! How can I assist you today?"},
		FinishReason: llm.FinishStop,
		Usage:        llm.Usage{PromptTokens: 19, CompletionTokens: 10, CachedTokens: 3, ReasoningTokens: 2},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Chat() mismatch (-want +got):\n%s", diff)
	}
}

// unaryToolWant is what unaryToolBody maps to.
var unaryToolWant = &llm.Response{
	ID:    "chatcmpl-abc123",
	Model: "gpt-4o-mini-2024-07-18",
	Message: llm.Message{
		Role:      llm.RoleAssistant,
		ToolCalls: []llm.ToolCall{{ID: "call_abc123", Name: "get_current_weather", Arguments: weatherArgs}},
	},
	FinishReason: llm.FinishToolCalls,
	Usage:        llm.Usage{PromptTokens: 82, CompletionTokens: 17},
}

func TestChatToolCall(t *testing.T) {
	srv := newServer(t, jsonHandler(nil, 200, unaryToolBody))
	c := newTestClient(t, Config{BaseURL: srv.URL})
	got, err := c.Chat(testContext(t), simpleRequest())
	if err != nil {
		t.Fatalf("Chat() error = %v", err)
	}
	if diff := cmp.Diff(unaryToolWant, got); diff != "" {
		t.Errorf("Chat() mismatch (-want +got):\n%s", diff)
	}
}

func TestChatResponseVariants(t *testing.T) {
	tests := []struct {
		name string
		give string
		want *llm.Response
	}{
		{
			name: "content as an array of parts",
			give: `{"id":"a","model":"mistral-medium","choices":[{"index":0,"message":{"role":"assistant","content":[{"type":"thinking","thinking":[]},{"type":"text","text":"Hi"},{"type":"text","text":" there"}]},"finish_reason":"stop"}]}`,
			want: &llm.Response{ID: "a", Model: "mistral-medium", Message: llm.Message{Role: llm.RoleAssistant, Content: "Hi there"}, FinishReason: llm.FinishStop},
		},
		{
			name: "refusal",
			give: `{"id":"a","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":null,"refusal":"I can't help with that."},"finish_reason":"stop"}]}`,
			want: &llm.Response{ID: "a", Model: "m", Message: llm.Message{Role: llm.RoleAssistant, Content: "I can't help with that."}, FinishReason: llm.FinishStop},
		},
		{
			name: "legacy function_call",
			give: `{"id":"a","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":null,"function_call":{"name":"f","arguments":"{}"}},"finish_reason":"function_call"}]}`,
			want: &llm.Response{ID: "a", Model: "m", Message: llm.Message{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{Name: "f", Arguments: "{}"}}}, FinishReason: llm.FinishToolCalls},
		},
		{
			name: "length",
			give: `{"id":"a","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"cut"},"finish_reason":"length"}]}`,
			want: &llm.Response{ID: "a", Model: "m", Message: llm.Message{Role: llm.RoleAssistant, Content: "cut"}, FinishReason: llm.FinishLength},
		},
		{
			name: "content filter",
			give: `{"id":"a","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":null},"finish_reason":"content_filter"}]}`,
			want: &llm.Response{ID: "a", Model: "m", Message: llm.Message{Role: llm.RoleAssistant}, FinishReason: llm.FinishContentFilter},
		},
		{
			name: "unknown finish reason is stop",
			give: `{"id":"a","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"x"},"finish_reason":"eos_token"}]}`,
			want: &llm.Response{ID: "a", Model: "m", Message: llm.Message{Role: llm.RoleAssistant, Content: "x"}, FinishReason: llm.FinishStop},
		},
		{
			name: "missing finish reason with tool calls",
			give: `{"id":"a","model":"m","choices":[{"index":0,"message":{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},"finish_reason":null}]}`,
			want: &llm.Response{ID: "a", Model: "m", Message: llm.Message{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "c", Name: "f", Arguments: "{}"}}}, FinishReason: llm.FinishToolCalls},
		},
		{
			name: "DeepSeek cache hit tokens",
			give: `{"id":"a","model":"deepseek-chat","choices":[{"index":0,"message":{"role":"assistant","content":"x"},"finish_reason":"stop"}],"usage":{"prompt_tokens":100,"completion_tokens":5,"total_tokens":105,"prompt_cache_hit_tokens":64,"prompt_cache_miss_tokens":36}}`,
			want: &llm.Response{ID: "a", Model: "deepseek-chat", Message: llm.Message{Role: llm.RoleAssistant, Content: "x"}, FinishReason: llm.FinishStop, Usage: llm.Usage{PromptTokens: 100, CompletionTokens: 5, CachedTokens: 64}},
		},
		{
			name: "choice 0 picked",
			give: `{"id":"a","model":"m","choices":[{"index":1,"message":{"role":"assistant","content":"second"},"finish_reason":"stop"},{"index":0,"message":{"role":"assistant","content":"first"},"finish_reason":"stop"}]}`,
			want: &llm.Response{ID: "a", Model: "m", Message: llm.Message{Role: llm.RoleAssistant, Content: "first"}, FinishReason: llm.FinishStop},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, jsonHandler(nil, 200, tt.give))
			c := newTestClient(t, Config{BaseURL: srv.URL})
			got, err := c.Chat(testContext(t), simpleRequest())
			if err != nil {
				t.Fatalf("Chat() error = %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Chat() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestChatMalformed(t *testing.T) {
	tests := []struct {
		name     string
		give     string
		wantKind llm.ErrorKind
		wantMsg  string
	}{
		{"not JSON", `<html>gateway</html>`, llm.KindMalformed, "decoding response body"},
		{"truncated JSON", `{"id":"a","choices":[`, llm.KindMalformed, "decoding response body"},
		{"empty choices", `{"id":"a","model":"m","choices":[]}`, llm.KindMalformed, "no choices"},
		{"no choices field", `{"id":"a"}`, llm.KindMalformed, "no choices"},
		{"content of the wrong type", `{"choices":[{"index":0,"message":{"content":42}}]}`, llm.KindMalformed, "decoding response body"},
		{"error object with 200", `{"error":{"message":"upstream provider failed","code":502}}`, llm.KindServer, "upstream provider failed"},
		{"rate limit object with 200", `{"error":{"message":"slow down","type":"rate_limit_error"}}`, llm.KindRateLimited, "slow down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, jsonHandler(nil, 200, tt.give))
			c := newTestClient(t, Config{BaseURL: srv.URL})
			_, err := c.Chat(testContext(t), simpleRequest())
			ue := wantUpstream(t, err, tt.wantKind, tt.wantKind.Retryable())
			if !strings.Contains(ue.Error(), tt.wantMsg) {
				t.Errorf("Chat() error = %v, want it to mention %q", err, tt.wantMsg)
			}
		})
	}
}

func TestChatResponseTooLarge(t *testing.T) {
	srv := newServer(t, jsonHandler(nil, 200, unaryTextBody))
	c := newTestClient(t, Config{BaseURL: srv.URL}, WithMaxResponseBytes(100))
	_, err := c.Chat(testContext(t), simpleRequest())
	ue := wantUpstream(t, err, llm.KindMalformed, true)
	if !strings.Contains(ue.Message, "exceeds 100 bytes") {
		t.Errorf("Message = %q, want the bound named", ue.Message)
	}
}

// errorCase is an upstream error response and what it must map to.
type errorCase struct {
	name           string
	giveStatus     int
	giveHeader     map[string]string
	giveBody       string
	wantKind       llm.ErrorKind
	wantRetryable  bool
	wantRetry      time.Duration // exact unless wantRetryAbout
	wantRetryAbout bool          // wantRetry is approximate (HTTP date)
	wantMessage    string        // a fragment of Message
}

func errorCases() []errorCase {
	return []errorCase{
		{
			name: "400 invalid request", giveStatus: 400,
			giveBody: `{"error":{"message":"Invalid value for 'temperature': must be <= 2.","type":"invalid_request_error","param":"temperature","code":"invalid_value"}}`,
			wantKind: llm.KindBadRequest, wantMessage: "Invalid value for 'temperature': must be <= 2. (type=invalid_request_error, code=invalid_value)",
		},
		{
			name: "401 bad key", giveStatus: 401,
			giveBody: `{"error":{"message":"Incorrect API key provided: sk-abc***. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`,
			wantKind: llm.KindAuth, wantMessage: "Incorrect API key provided",
		},
		{
			name: "403 region", giveStatus: 403,
			giveBody: `{"error":{"code":"unsupported_country_region_territory","message":"Country, region, or territory not supported","param":null,"type":"request_forbidden"}}`,
			wantKind: llm.KindAuth, wantMessage: "Country, region, or territory not supported",
		},
		{
			name: "404 model", giveStatus: 404,
			giveBody: "{\"error\":{\"message\":\"The model `gpt-9` does not exist or you do not have access to it.\",\"type\":\"invalid_request_error\",\"param\":null,\"code\":\"model_not_found\"}}",
			wantKind: llm.KindNotFound, wantMessage: "does not exist",
		},
		{
			name: "404 Ollama string error", giveStatus: 404,
			giveBody: `{"error":"model \"llama9\" not found, try pulling it first"}`,
			wantKind: llm.KindNotFound, wantMessage: `model "llama9" not found`,
		},
		{
			name: "408", giveStatus: 408, giveBody: `{"error":{"message":"Request timed out.","type":"timeout"}}`,
			wantKind: llm.KindTimeout, wantRetryable: true, wantMessage: "Request timed out.",
		},
		{
			name: "413", giveStatus: 413, giveBody: "<html><head><title>413 Request Entity Too Large</title></head></html>",
			wantKind: llm.KindContextLength, wantMessage: "413 Request Entity Too Large",
		},
		{
			name: "400 context_length_exceeded", giveStatus: 400,
			giveBody: `{"error":{"message":"This model's maximum context length is 128000 tokens. However, your messages resulted in 130512 tokens. Please reduce the length of the messages.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}`,
			wantKind: llm.KindContextLength, wantMessage: "maximum context length is 128000 tokens",
		},
		{
			name: "400 vLLM context length", giveStatus: 400,
			giveBody: `{"object":"error","message":"This model's maximum context length is 4096 tokens. However, you requested 5000 tokens (4000 in the messages, 1000 in the completion).","type":"BadRequestError","param":null,"code":400}`,
			wantKind: llm.KindContextLength, wantMessage: "(type=BadRequestError, code=400)",
		},
		{
			name: "400 Azure content filter", giveStatus: 400,
			giveBody: `{"error":{"message":"The response was filtered due to the prompt triggering Azure OpenAI's content management policy.","type":null,"param":"prompt","code":"content_filter","status":400,"innererror":{"code":"ResponsibleAIPolicyViolation"}}}`,
			wantKind: llm.KindContentFilter, wantMessage: "content management policy",
		},
		{
			name: "422 FastAPI detail", giveStatus: 422,
			giveBody: `{"detail":[{"loc":["body","messages"],"msg":"field required","type":"value_error.missing"}]}`,
			wantKind: llm.KindBadRequest, wantMessage: "field required",
		},
		{
			name: "429 Retry-After seconds", giveStatus: 429, giveHeader: map[string]string{"Retry-After": "20"},
			giveBody: `{"error":{"message":"Rate limit reached for gpt-4o in organization org-x on requests per min (RPM): Limit 500, Used 500, Requested 1.","type":"requests","param":null,"code":"rate_limit_exceeded"}}`,
			wantKind: llm.KindRateLimited, wantRetryable: true, wantRetry: 20 * time.Second, wantMessage: "Rate limit reached",
		},
		{
			name: "429 Retry-After HTTP date", giveStatus: 429,
			giveHeader: map[string]string{"Retry-After": time.Now().Add(2 * time.Minute).UTC().Format(http.TimeFormat)},
			giveBody:   `{"error":{"message":"slow down","type":"requests","code":"rate_limit_exceeded"}}`,
			wantKind:   llm.KindRateLimited, wantRetryable: true, wantRetry: 2 * time.Minute, wantRetryAbout: true, wantMessage: "slow down",
		},
		{
			name: "429 retry-after-ms", giveStatus: 429, giveHeader: map[string]string{"retry-after-ms": "1500", "Retry-After": "2"},
			giveBody: `{"error":{"message":"slow down"}}`,
			wantKind: llm.KindRateLimited, wantRetryable: true, wantRetry: 1500 * time.Millisecond, wantMessage: "slow down",
		},
		{
			name: "429 x-ratelimit-reset tokens", giveStatus: 429,
			giveHeader: map[string]string{
				"x-ratelimit-limit-requests": "500", "x-ratelimit-remaining-requests": "499", "x-ratelimit-reset-requests": "120ms",
				"x-ratelimit-limit-tokens": "30000", "x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "6m0s",
			},
			giveBody: `{"error":{"message":"Rate limit reached for gpt-4o on tokens per min (TPM)","type":"tokens","code":"rate_limit_exceeded"}}`,
			wantKind: llm.KindRateLimited, wantRetryable: true, wantRetry: 6 * time.Minute, wantMessage: "tokens per min",
		},
		{
			name: "429 x-ratelimit-reset requests", giveStatus: 429,
			giveHeader: map[string]string{
				"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1s",
				"x-ratelimit-remaining-tokens": "29000", "x-ratelimit-reset-tokens": "2s",
			},
			giveBody: `{"error":{"message":"Rate limit reached on requests per min (RPM)","type":"requests","code":"rate_limit_exceeded"}}`,
			wantKind: llm.KindRateLimited, wantRetryable: true, wantRetry: time.Second, wantMessage: "requests per min",
		},
		{
			name: "429 insufficient quota", giveStatus: 429,
			giveBody: `{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}`,
			wantKind: llm.KindRateLimited, wantRetryable: true, wantMessage: "exceeded your current quota",
		},
		{
			name: "500", giveStatus: 500,
			giveBody: `{"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}}`,
			wantKind: llm.KindServer, wantRetryable: true, wantMessage: "Sorry about that! (type=server_error)",
		},
		{
			name: "502 HTML", giveStatus: 502,
			giveBody: "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n",
			wantKind: llm.KindServer, wantRetryable: true, wantMessage: "<title>502 Bad Gateway</title>",
		},
		{
			name: "503 overloaded", giveStatus: 503, giveHeader: map[string]string{"Retry-After": "3"},
			giveBody: `{"error":{"message":"The engine is currently overloaded, please try again later","type":"server_error","param":null,"code":null}}`,
			wantKind: llm.KindOverloaded, wantRetryable: true, wantRetry: 3 * time.Second, wantMessage: "currently overloaded",
		},
		{
			name: "504 empty body", giveStatus: 504, giveBody: "",
			wantKind: llm.KindServer, wantRetryable: true,
		},
	}
}

func checkErrorCase(t *testing.T, tt errorCase, err error) {
	t.Helper()
	ue := wantUpstream(t, err, tt.wantKind, tt.wantRetryable)
	if ue.StatusCode != tt.giveStatus {
		t.Errorf("StatusCode = %d, want %d", ue.StatusCode, tt.giveStatus)
	}
	if tt.wantRetryAbout {
		if ue.RetryAfter < tt.wantRetry-5*time.Second || ue.RetryAfter > tt.wantRetry {
			t.Errorf("RetryAfter = %v, want about %v", ue.RetryAfter, tt.wantRetry)
		}
	} else if ue.RetryAfter != tt.wantRetry {
		t.Errorf("RetryAfter = %v, want %v", ue.RetryAfter, tt.wantRetry)
	}
	if !strings.Contains(ue.Message, tt.wantMessage) {
		t.Errorf("Message = %q, want it to contain %q", ue.Message, tt.wantMessage)
	}
	if tt.wantMessage != "" && strings.Contains(ue.Summary(), tt.wantMessage) {
		t.Errorf("Summary() = %q carries the upstream message", ue.Summary())
	}
}

func TestChatErrors(t *testing.T) {
	for _, tt := range errorCases() {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.giveHeader {
					w.Header().Set(k, v)
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.giveStatus)
				io.WriteString(w, tt.giveBody)
			})
			c := newTestClient(t, Config{BaseURL: srv.URL})
			_, err := c.Chat(testContext(t), simpleRequest())
			checkErrorCase(t, tt, err)
		})
	}
}

func TestChatStreamErrors(t *testing.T) {
	for _, tt := range errorCases() {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.giveHeader {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.giveStatus)
				io.WriteString(w, tt.giveBody)
			})
			c := newTestClient(t, Config{BaseURL: srv.URL})
			s, err := c.ChatStream(testContext(t), simpleRequest())
			if err == nil {
				s.Close()
				t.Fatalf("ChatStream() succeeded on HTTP %d, want an error", tt.giveStatus)
			}
			checkErrorCase(t, tt, err)
		})
	}
}

func TestChatTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	c := newTestClient(t, Config{BaseURL: srv.URL, Timeout: 50 * time.Millisecond})
	_, err := c.Chat(testContext(t), simpleRequest())
	ue := wantUpstream(t, err, llm.KindTimeout, true)
	if !strings.Contains(ue.Error(), "no response within 50ms") {
		t.Errorf("Chat() error = %v, want it to name the timeout", err)
	}
}

// TestChatTimeoutDuringBody checks that the unary timeout also bounds
// reading the body.
func TestChatTimeoutDuringBody(t *testing.T) {
	release := make(chan struct{})
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"a","choices":[`)
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	c := newTestClient(t, Config{BaseURL: srv.URL, Timeout: 100 * time.Millisecond})
	_, err := c.Chat(testContext(t), simpleRequest())
	wantUpstream(t, err, llm.KindTimeout, true)
}

func TestChatCallerCancels(t *testing.T) {
	arrived := make(chan struct{})
	upstreamDone := make(chan struct{})
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		if waitClientGone(r) {
			close(upstreamDone)
		}
	})
	c := newTestClient(t, Config{BaseURL: srv.URL})
	ctx, cancel := context.WithCancel(testContext(t))
	go func() {
		<-arrived
		cancel()
	}()
	_, err := c.Chat(ctx, simpleRequest())
	wantUpstream(t, err, llm.KindCanceled, false)
	select {
	case <-upstreamDone:
	case <-testContext(t).Done():
		t.Fatal("the upstream request was not cancelled")
	}
}

func TestChatConnectionRefused(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	c := newTestClient(t, Config{BaseURL: "http://" + addr + "/v1"})
	_, err = c.Chat(testContext(t), simpleRequest())
	wantUpstream(t, err, llm.KindConnection, true)
	s, err := c.ChatStream(testContext(t), simpleRequest())
	if err == nil {
		s.Close()
	}
	wantUpstream(t, err, llm.KindConnection, true)
}

func TestChatServerHangsUp(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	})
	c := newTestClient(t, Config{BaseURL: srv.URL})
	_, err := c.Chat(testContext(t), simpleRequest())
	wantUpstream(t, err, llm.KindConnection, true)
}

func TestFinishReason(t *testing.T) {
	tests := []struct {
		give string
		want llm.FinishReason
	}{
		{"", ""},
		{"stop", llm.FinishStop},
		{"length", llm.FinishLength},
		{"max_tokens", llm.FinishLength},
		{"tool_calls", llm.FinishToolCalls},
		{"function_call", llm.FinishToolCalls},
		{"content_filter", llm.FinishContentFilter},
		{"error", llm.FinishError},
		{"end_turn", llm.FinishStop},
		{"something_new", llm.FinishStop},
	}
	for _, tt := range tests {
		if got := finishReason(tt.give); got != tt.want {
			t.Errorf("finishReason(%q) = %q, want %q", tt.give, got, tt.want)
		}
	}
}
