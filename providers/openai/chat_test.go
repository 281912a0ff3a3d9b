package openai

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/llmgateway/llmgateway/llm"
	"github.com/llmgateway/llmgateway/providers/internal/providertest"
)

func TestChatText(t *testing.T) {
	got, err := suite().Chat(t, unaryTextBody)
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
	suite().CheckChat(t, unaryToolBody, unaryToolWant)
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
			suite().CheckChat(t, tt.give, tt.want)
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
			suite().CheckChatError(t, tt.give, tt.wantKind, tt.wantMsg)
		})
	}
}

// errorCases are OpenAI's (and compatible servers') error responses and
// the errors they map to.
func errorCases() []providertest.ErrorCase {
	return []providertest.ErrorCase{
		{
			Name: "400 invalid request", GiveStatus: 400,
			GiveBody: `{"error":{"message":"Invalid value for 'temperature': must be <= 2.","type":"invalid_request_error","param":"temperature","code":"invalid_value"}}`,
			WantKind: llm.KindBadRequest, WantMessage: "Invalid value for 'temperature': must be <= 2. (type=invalid_request_error, code=invalid_value)",
		},
		{
			Name: "401 bad key", GiveStatus: 401,
			GiveBody: `{"error":{"message":"Incorrect API key provided: sk-abc***. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`,
			WantKind: llm.KindAuth, WantMessage: "Incorrect API key provided",
		},
		{
			Name: "403 region", GiveStatus: 403,
			GiveBody: `{"error":{"code":"unsupported_country_region_territory","message":"Country, region, or territory not supported","param":null,"type":"request_forbidden"}}`,
			WantKind: llm.KindAuth, WantMessage: "Country, region, or territory not supported",
		},
		{
			Name: "404 model", GiveStatus: 404,
			GiveBody: "{\"error\":{\"message\":\"The model `gpt-9` does not exist or you do not have access to it.\",\"type\":\"invalid_request_error\",\"param\":null,\"code\":\"model_not_found\"}}",
			WantKind: llm.KindNotFound, WantMessage: "does not exist",
		},
		{
			Name: "404 Ollama string error", GiveStatus: 404,
			GiveBody: `{"error":"model \"llama9\" not found, try pulling it first"}`,
			WantKind: llm.KindNotFound, WantMessage: `model "llama9" not found`,
		},
		{
			Name: "408", GiveStatus: 408, GiveBody: `{"error":{"message":"Request timed out.","type":"timeout"}}`,
			WantKind: llm.KindTimeout, WantRetryable: true, WantMessage: "Request timed out.",
		},
		{
			Name: "413", GiveStatus: 413, GiveBody: "<html><head><title>413 Request Entity Too Large</title></head></html>",
			WantKind: llm.KindContextLength, WantMessage: "413 Request Entity Too Large",
		},
		{
			Name: "400 context_length_exceeded", GiveStatus: 400,
			GiveBody: `{"error":{"message":"This model's maximum context length is 128000 tokens. However, your messages resulted in 130512 tokens. Please reduce the length of the messages.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}`,
			WantKind: llm.KindContextLength, WantMessage: "maximum context length is 128000 tokens",
		},
		{
			Name: "400 vLLM context length", GiveStatus: 400,
			GiveBody: `{"object":"error","message":"This model's maximum context length is 4096 tokens. However, you requested 5000 tokens (4000 in the messages, 1000 in the completion).","type":"BadRequestError","param":null,"code":400}`,
			WantKind: llm.KindContextLength, WantMessage: "(type=BadRequestError, code=400)",
		},
		{
			Name: "400 Azure content filter", GiveStatus: 400,
			GiveBody: `{"error":{"message":"The response was filtered due to the prompt triggering Azure OpenAI's content management policy.","type":null,"param":"prompt","code":"content_filter","status":400,"innererror":{"code":"ResponsibleAIPolicyViolation"}}}`,
			WantKind: llm.KindContentFilter, WantMessage: "content management policy",
		},
		{
			Name: "422 FastAPI detail", GiveStatus: 422,
			GiveBody: `{"detail":[{"loc":["body","messages"],"msg":"field required","type":"value_error.missing"}]}`,
			WantKind: llm.KindBadRequest, WantMessage: "field required",
		},
		{
			Name: "429 Retry-After seconds", GiveStatus: 429, GiveHeader: map[string]string{"Retry-After": "20"},
			GiveBody: `{"error":{"message":"Rate limit reached for gpt-4o in organization org-x on requests per min (RPM): Limit 500, Used 500, Requested 1.","type":"requests","param":null,"code":"rate_limit_exceeded"}}`,
			WantKind: llm.KindRateLimited, WantRetryable: true, WantRetry: 20 * time.Second, WantMessage: "Rate limit reached",
		},
		{
			Name: "429 Retry-After HTTP date", GiveStatus: 429,
			GiveHeader: map[string]string{"Retry-After": time.Now().Add(2 * time.Minute).UTC().Format(http.TimeFormat)},
			GiveBody:   `{"error":{"message":"slow down","type":"requests","code":"rate_limit_exceeded"}}`,
			WantKind:   llm.KindRateLimited, WantRetryable: true, WantRetry: 2 * time.Minute, WantRetryAbout: true, WantMessage: "slow down",
		},
		{
			Name: "429 retry-after-ms", GiveStatus: 429, GiveHeader: map[string]string{"retry-after-ms": "1500", "Retry-After": "2"},
			GiveBody: `{"error":{"message":"slow down"}}`,
			WantKind: llm.KindRateLimited, WantRetryable: true, WantRetry: 1500 * time.Millisecond, WantMessage: "slow down",
		},
		{
			Name: "429 x-ratelimit-reset tokens", GiveStatus: 429,
			GiveHeader: map[string]string{
				"x-ratelimit-limit-requests": "500", "x-ratelimit-remaining-requests": "499", "x-ratelimit-reset-requests": "120ms",
				"x-ratelimit-limit-tokens": "30000", "x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "6m0s",
			},
			GiveBody: `{"error":{"message":"Rate limit reached for gpt-4o on tokens per min (TPM)","type":"tokens","code":"rate_limit_exceeded"}}`,
			WantKind: llm.KindRateLimited, WantRetryable: true, WantRetry: 6 * time.Minute, WantMessage: "tokens per min",
		},
		{
			Name: "429 x-ratelimit-reset requests", GiveStatus: 429,
			GiveHeader: map[string]string{
				"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1s",
				"x-ratelimit-remaining-tokens": "29000", "x-ratelimit-reset-tokens": "2s",
			},
			GiveBody: `{"error":{"message":"Rate limit reached on requests per min (RPM)","type":"requests","code":"rate_limit_exceeded"}}`,
			WantKind: llm.KindRateLimited, WantRetryable: true, WantRetry: time.Second, WantMessage: "requests per min",
		},
		{
			Name: "429 insufficient quota", GiveStatus: 429,
			GiveBody: `{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}`,
			WantKind: llm.KindRateLimited, WantRetryable: true, WantMessage: "exceeded your current quota",
		},
		{
			Name: "500", GiveStatus: 500,
			GiveBody: `{"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}}`,
			WantKind: llm.KindServer, WantRetryable: true, WantMessage: "Sorry about that! (type=server_error)",
		},
		{
			Name: "502 HTML", GiveStatus: 502,
			GiveBody: "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n",
			WantKind: llm.KindServer, WantRetryable: true, WantMessage: "<title>502 Bad Gateway</title>",
		},
		{
			Name: "503 overloaded", GiveStatus: 503, GiveHeader: map[string]string{"Retry-After": "3"},
			GiveBody: `{"error":{"message":"The engine is currently overloaded, please try again later","type":"server_error","param":null,"code":null}}`,
			WantKind: llm.KindOverloaded, WantRetryable: true, WantRetry: 3 * time.Second, WantMessage: "currently overloaded",
		},
		{
			Name: "504 empty body", GiveStatus: 504, GiveBody: "",
			WantKind: llm.KindServer, WantRetryable: true,
		},
	}
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
