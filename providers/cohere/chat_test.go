package cohere

import (
	"net/http"
	"testing"
	"time"

	"github.com/llmgateway/llmgateway/llm"
	"github.com/llmgateway/llmgateway/providers/internal/providertest"
)

func TestChat(t *testing.T) {
	tests := []struct {
		name string
		give string
		want *llm.Response
	}{
		{name: "text with cached tokens", give: unaryTextBody, want: unaryTextWant},
		{name: "parallel tool calls", give: unaryToolBody, want: unaryToolWant},
		{
			name: "reasoning content left out of the text",
			give: `{"id":"r","finish_reason":"COMPLETE","message":{"role":"assistant","content":[{"type":"thinking","thinking":"The user greets me."},{"type":"text","text":"Hi!"}]},"usage":{"billed_units":{"input_tokens":2,"output_tokens":9},"tokens":{"input_tokens":60,"output_tokens":9}}}`,
			want: &llm.Response{ID: "r", Message: llm.Message{Role: llm.RoleAssistant, Content: "Hi!"}, FinishReason: llm.FinishStop, Usage: llm.Usage{PromptTokens: 60, CompletionTokens: 9}},
		},
		{
			name: "billed units when tokens are absent",
			give: `{"id":"b","finish_reason":"COMPLETE","message":{"role":"assistant","content":[{"type":"text","text":"x"}]},"usage":{"billed_units":{"input_tokens":5.0,"output_tokens":3.0}}}`,
			want: &llm.Response{ID: "b", Message: llm.Message{Role: llm.RoleAssistant, Content: "x"}, FinishReason: llm.FinishStop, Usage: llm.Usage{PromptTokens: 5, CompletionTokens: 3}},
		},
		{
			name: "cached tokens capped at the prompt tokens",
			give: `{"id":"c","finish_reason":"COMPLETE","message":{"role":"assistant","content":[{"type":"text","text":"x"}]},"usage":{"billed_units":{"input_tokens":5,"output_tokens":3},"cached_tokens":64}}`,
			want: &llm.Response{ID: "c", Message: llm.Message{Role: llm.RoleAssistant, Content: "x"}, FinishReason: llm.FinishStop, Usage: llm.Usage{PromptTokens: 5, CompletionTokens: 3, CachedTokens: 5}},
		},
		{
			name: "no usage",
			give: `{"id":"n","finish_reason":"STOP_SEQUENCE","message":{"role":"assistant","content":[{"type":"text","text":"x"}]}}`,
			want: &llm.Response{ID: "n", Message: llm.Message{Role: llm.RoleAssistant, Content: "x"}, FinishReason: llm.FinishStop},
		},
		{
			name: "max tokens",
			give: `{"id":"m","finish_reason":"MAX_TOKENS","message":{"role":"assistant","content":[{"type":"text","text":"cut"}]}}`,
			want: &llm.Response{ID: "m", Message: llm.Message{Role: llm.RoleAssistant, Content: "cut"}, FinishReason: llm.FinishLength},
		},
		{
			name: "generation error",
			give: `{"id":"e","finish_reason":"ERROR","message":{"role":"assistant","content":[]}}`,
			want: &llm.Response{ID: "e", Message: llm.Message{Role: llm.RoleAssistant}, FinishReason: llm.FinishError},
		},
		{
			name: "content as a string",
			give: `{"id":"s","finish_reason":"COMPLETE","message":{"role":"assistant","content":"plain"}}`,
			want: &llm.Response{ID: "s", Message: llm.Message{Role: llm.RoleAssistant, Content: "plain"}, FinishReason: llm.FinishStop},
		},
		{
			name: "missing finish reason with tool calls",
			give: `{"id":"t","message":{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]}}`,
			want: &llm.Response{ID: "t", Message: llm.Message{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "c1", Name: "f", Arguments: "{}"}}}, FinishReason: llm.FinishToolCalls},
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
		{"truncated JSON", `{"id":"a","message":{`, llm.KindMalformed, "decoding response body"},
		{"no message", `{"id":"a","finish_reason":"COMPLETE"}`, llm.KindMalformed, "no message"},
		{"message of the wrong type", `{"id":"a","message":42}`, llm.KindMalformed, "no message"},
		{"content of the wrong type", `{"id":"a","message":{"content":42}}`, llm.KindMalformed, "decoding response message"},
		{"token count not a number", `{"id":"a","message":{"content":[]},"usage":{"tokens":{"input_tokens":"5"}}}`, llm.KindMalformed, "decoding response body"},
		{"negative token count", `{"id":"a","message":{"content":[]},"usage":{"tokens":{"input_tokens":-5}}}`, llm.KindMalformed, "out of range"},
		{"error body with 200", `{"id":"0a8b2d1c","message":"internal server error, this has been reported to our developers"}`, llm.KindServer, "internal server error, this has been reported to our developers (id=0a8b2d1c)"},
		{"context error body with 200", `{"message":"too many tokens: size limit exceeded by 11326 tokens."}`, llm.KindContextLength, "size limit exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			suite().CheckChatError(t, tt.give, tt.wantKind, tt.wantMsg)
		})
	}
}

// errorCases follow the documented error bodies ({"id","message"}) and the
// example messages of docs.cohere.com/reference/errors.
func errorCases() []providertest.ErrorCase {
	return []providertest.ErrorCase{
		{
			Name: "400 invalid request", GiveStatus: 400,
			GiveBody: `{"id":"9f3ee5c3-6e8f-4e1c-a2a5-2d1d3a4b7c11","message":"invalid request: cannot specify both frequency_penalty and presence_penalty."}`,
			WantKind: llm.KindBadRequest, WantMessage: "cannot specify both frequency_penalty and presence_penalty. (id=9f3ee5c3-6e8f-4e1c-a2a5-2d1d3a4b7c11)",
		},
		{
			Name: "400 too many tokens", GiveStatus: 400,
			GiveBody: `{"id":"a1","message":"too many tokens: total number of tokens in the prompt cannot exceed 128000 - received 131072. Try using a shorter prompt, or enabling prompt truncating."}`,
			WantKind: llm.KindContextLength, WantMessage: "cannot exceed 128000",
		},
		{
			Name: "400 context length", GiveStatus: 400,
			GiveBody: `{"message":"the request exceeds the model's context length of 256000 tokens"}`,
			WantKind: llm.KindContextLength, WantMessage: "context length of 256000",
		},
		{
			Name: "401 invalid api token", GiveStatus: 401,
			GiveBody: `{"id":"b2","message":"invalid api token"}`,
			WantKind: llm.KindAuth, WantMessage: "invalid api token",
		},
		{
			Name: "402 payment required", GiveStatus: 402,
			GiveBody: `{"message":"Please add or update your payment method at https://dashboard.cohere.com/billing?tab=payment to continue"}`,
			WantKind: llm.KindAuth, WantMessage: "payment method",
		},
		{
			Name: "403 forbidden", GiveStatus: 403,
			GiveBody: `{"message":"You do not have access to this model"}`,
			WantKind: llm.KindAuth, WantMessage: "do not have access",
		},
		{
			Name: "404 model", GiveStatus: 404,
			GiveBody: `{"id":"c3","message":"model 'command-z' not found, make sure the correct model ID was used and that you have access to the model."}`,
			WantKind: llm.KindNotFound, WantMessage: "model 'command-z' not found",
		},
		{
			Name: "422 unprocessable", GiveStatus: 422,
			GiveBody: `{"message":"invalid request: messages must not be empty"}`,
			WantKind: llm.KindBadRequest, WantMessage: "messages must not be empty",
		},
		{
			Name: "429 Retry-After seconds", GiveStatus: 429, GiveHeader: map[string]string{"Retry-After": "20"},
			GiveBody: `{"id":"d4","message":"You are using a Trial key, which is limited to 10 API calls / minute. You can continue to use the Trial key for free or upgrade to a Production key with higher rate limits at 'https://dashboard.cohere.com/api-keys'."}`,
			WantKind: llm.KindRateLimited, WantRetryable: true, WantRetry: 20 * time.Second, WantMessage: "limited to 10 API calls / minute",
		},
		{
			Name: "429 Retry-After HTTP date", GiveStatus: 429,
			GiveHeader: map[string]string{"Retry-After": time.Now().Add(2 * time.Minute).UTC().Format(http.TimeFormat)},
			GiveBody:   `{"message":"too many requests"}`,
			WantKind:   llm.KindRateLimited, WantRetryable: true, WantRetry: 2 * time.Minute, WantRetryAbout: true, WantMessage: "too many requests",
		},
		{
			Name: "498 deny-listed token", GiveStatus: 498,
			GiveBody: `{"id":"e5","message":"invalid token"}`,
			WantKind: llm.KindContentFilter, WantMessage: "invalid token",
		},
		{
			Name: "499 request cancelled upstream", GiveStatus: 499,
			GiveBody: `{"message":"request cancelled by user"}`,
			WantKind: llm.KindConnection, WantRetryable: true, WantMessage: "request cancelled by user",
		},
		{
			Name: "499 data body", GiveStatus: 499,
			GiveBody: `{"data":"request cancelled"}`,
			WantKind: llm.KindConnection, WantRetryable: true, WantMessage: "request cancelled",
		},
		{
			Name: "500", GiveStatus: 500,
			GiveBody: `{"id":"f6","message":"internal server error, this has been reported to our developers"}`,
			WantKind: llm.KindServer, WantRetryable: true, WantMessage: "this has been reported to our developers (id=f6)",
		},
		{
			Name: "501 not implemented", GiveStatus: 501,
			GiveBody: `{"message":"the requested feature is not implemented for this model"}`,
			WantKind: llm.KindBadRequest, WantMessage: "not implemented",
		},
		{
			Name: "502 HTML", GiveStatus: 502,
			GiveBody: "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body><center><h1>502 Bad Gateway</h1></center></body>\r\n</html>\r\n",
			WantKind: llm.KindServer, WantRetryable: true, WantMessage: "<title>502 Bad Gateway</title>",
		},
		{
			Name: "503 unavailable", GiveStatus: 503, GiveHeader: map[string]string{"Retry-After": "3"},
			GiveBody: `{"message":"service unavailable: too many users trying to access the service"}`,
			WantKind: llm.KindOverloaded, WantRetryable: true, WantRetry: 3 * time.Second, WantMessage: "service unavailable",
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
		{"COMPLETE", llm.FinishStop},
		{"STOP_SEQUENCE", llm.FinishStop},
		{"MAX_TOKENS", llm.FinishLength},
		{"TOOL_CALL", llm.FinishToolCalls},
		{"ERROR", llm.FinishError},
		{"TIMEOUT", llm.FinishError},
		{"SOMETHING_NEW", llm.FinishStop},
	}
	for _, tt := range tests {
		if got := finishReason(tt.give); got != tt.want {
			t.Errorf("finishReason(%q) = %q, want %q", tt.give, got, tt.want)
		}
	}
}

func TestErrorKindForMessage(t *testing.T) {
	tests := []struct {
		give string
		want llm.ErrorKind
	}{
		{"too many tokens: size limit exceeded by 11326 tokens.", llm.KindContextLength},
		{"prompt exceeds the model's context window", llm.KindContextLength},
		{"Too Many Requests", llm.KindRateLimited},
		{"rate limit exceeded", llm.KindRateLimited},
		{"the model is overloaded", llm.KindOverloaded},
		{"service unavailable", llm.KindOverloaded},
		{"generation timed out", llm.KindTimeout},
		{"internal server error", llm.KindServer},
		{"", llm.KindServer},
	}
	for _, tt := range tests {
		if got := errorKindForMessage(tt.give); got != tt.want {
			t.Errorf("errorKindForMessage(%q) = %q, want %q", tt.give, got, tt.want)
		}
	}
}
