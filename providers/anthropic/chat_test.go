package anthropic

import (
	"net/http"
	"testing"
	"time"

	"github.com/llmgateway/llmgateway/llm"
	"github.com/llmgateway/llmgateway/providers/internal/providertest"
)

func TestChatResponses(t *testing.T) {
	tests := []struct {
		name string
		give string
		want *llm.Response
	}{
		{name: "text", give: unaryTextBody, want: unaryTextWant},
		{name: "tool call", give: unaryToolBody, want: unaryToolWant},
		{name: "cached tokens", give: cachedUnaryBody, want: cachedUnaryWant},
		{
			name: "thinking blocks skipped, text blocks joined",
			give: `{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[
				{"type":"thinking","thinking":"Let me analyze this step by step...","signature":"WaUjzkypQ2mUEVM36O2TxuC06KN8xyfbJwyem2dw3URve/op91XWHOEBLLqIOMfFG/UvLEczmEsUjavL...."},
				{"type":"redacted_thinking","data":"EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpPkNRj2YfWXGmKDxH4mPnZ5sQ7vB9URj2pLmN3kF8/dW5hR7xJ0aP1oLs9yTcMnKVf2wRpEGjH9XZaBt4UvDcPrQ..."},
				{"type":"text","text":"Based on my analysis, "},
				{"type":"text","text":"the answer is 42."}],
				"stop_reason":"end_turn","usage":{"input_tokens":10,"output_tokens":300}}`,
			want: &llm.Response{ID: "msg_1", Model: "claude-sonnet-4-5", Message: llm.Message{Role: llm.RoleAssistant, Content: "Based on my analysis, the answer is 42."}, FinishReason: llm.FinishStop, Usage: llm.Usage{PromptTokens: 10, CompletionTokens: 300}},
		},
		{
			name: "server tool blocks skipped",
			give: `{"id":"msg_2","type":"message","role":"assistant","model":"m","content":[
				{"type":"server_tool_use","id":"srvtoolu_01","name":"web_search","input":{"query":"weather"}},
				{"type":"web_search_tool_result","tool_use_id":"srvtoolu_01","content":[]},
				{"type":"text","text":"Sunny."}],
				"stop_reason":"end_turn","usage":{"input_tokens":5,"output_tokens":2}}`,
			want: &llm.Response{ID: "msg_2", Model: "m", Message: llm.Message{Role: llm.RoleAssistant, Content: "Sunny."}, FinishReason: llm.FinishStop, Usage: llm.Usage{PromptTokens: 5, CompletionTokens: 2}},
		},
		{
			name: "two tool calls, one without input",
			give: `{"id":"msg_3","type":"message","role":"assistant","model":"m","content":[
				{"type":"tool_use","id":"toolu_1","name":"get_time","input":{}},
				{"type":"tool_use","id":"toolu_2","name":"get_weather","input":{ "location" : "Paris" }},
				{"type":"tool_use","id":"toolu_3","name":"ping"}],
				"stop_reason":"tool_use","usage":{"input_tokens":5,"output_tokens":2}}`,
			want: &llm.Response{ID: "msg_3", Model: "m", Message: llm.Message{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{
				{ID: "toolu_1", Name: "get_time", Arguments: "{}"},
				{ID: "toolu_2", Name: "get_weather", Arguments: `{"location":"Paris"}`},
				{ID: "toolu_3", Name: "ping", Arguments: "{}"},
			}}, FinishReason: llm.FinishToolCalls, Usage: llm.Usage{PromptTokens: 5, CompletionTokens: 2}},
		},
		{
			name: "stop sequence",
			give: `{"id":"a","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"cut"}],"stop_reason":"stop_sequence","stop_sequence":"END","usage":{"input_tokens":1,"output_tokens":1}}`,
			want: &llm.Response{ID: "a", Model: "m", Message: llm.Message{Role: llm.RoleAssistant, Content: "cut"}, FinishReason: llm.FinishStop, Usage: llm.Usage{PromptTokens: 1, CompletionTokens: 1}},
		},
		{
			name: "refusal",
			give: `{"id":"a","type":"message","role":"assistant","model":"m","content":[],"stop_reason":"refusal","usage":{"input_tokens":1,"output_tokens":0}}`,
			want: &llm.Response{ID: "a", Model: "m", Message: llm.Message{Role: llm.RoleAssistant}, FinishReason: llm.FinishContentFilter, Usage: llm.Usage{PromptTokens: 1}},
		},
		{
			name: "missing stop reason with tool calls",
			give: `{"id":"a","type":"message","role":"assistant","model":"m","content":[{"type":"tool_use","id":"t","name":"f","input":{}}],"stop_reason":null}`,
			want: &llm.Response{ID: "a", Model: "m", Message: llm.Message{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "t", Name: "f", Arguments: "{}"}}}, FinishReason: llm.FinishToolCalls},
		},
		{
			name: "no type but an assistant role",
			give: `{"id":"a","role":"assistant","model":"m","content":[{"type":"text","text":"x"}],"stop_reason":"end_turn"}`,
			want: &llm.Response{ID: "a", Model: "m", Message: llm.Message{Role: llm.RoleAssistant, Content: "x"}, FinishReason: llm.FinishStop},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			suite().CheckChat(t, tt.give, tt.want)
		})
	}
}

func TestFinishReason(t *testing.T) {
	tests := []struct {
		give string
		want llm.FinishReason
	}{
		{"", ""},
		{"end_turn", llm.FinishStop},
		{"stop_sequence", llm.FinishStop},
		{"pause_turn", llm.FinishStop},
		{"max_tokens", llm.FinishLength},
		{"model_context_window_exceeded", llm.FinishLength},
		{"tool_use", llm.FinishToolCalls},
		{"refusal", llm.FinishContentFilter},
		{"something_new", llm.FinishStop},
	}
	for _, tt := range tests {
		if got := finishReason(tt.give); got != tt.want {
			t.Errorf("finishReason(%q) = %q, want %q", tt.give, got, tt.want)
		}
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
		{"truncated JSON", `{"id":"msg_1","content":[`, llm.KindMalformed, "decoding response body"},
		{"not a message", `{"id":"a","type":"completion"}`, llm.KindMalformed, `response is not a message (type "completion"`},
		{"empty object", `{}`, llm.KindMalformed, "response is not a message"},
		{"content of the wrong type", `{"type":"message","role":"assistant","content":"hi"}`, llm.KindMalformed, "decoding response body"},
		{"error object with 200", errorBodyJSON("overloaded_error", "Overloaded"), llm.KindOverloaded, "Overloaded (type=overloaded_error, request_id=req_011CSHoEeqs5C35K2UUqR7Fy)"},
		{"error object without request id", `{"type":"error","error":{"type":"api_error","message":"Internal server error"}}`, llm.KindServer, "Internal server error (type=api_error, request_id=req_test)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			suite().CheckChatError(t, tt.give, tt.wantKind, tt.wantMsg)
		})
	}
}

// errorCases are the Messages API's error responses and the errors they
// map to.
func errorCases() []providertest.ErrorCase {
	now := time.Now()
	rfc3339 := func(d time.Duration) string { return now.Add(d).UTC().Format(time.RFC3339) }
	return []providertest.ErrorCase{
		{
			Name: "400 invalid request", GiveStatus: 400,
			GiveBody: errorBodyJSON("invalid_request_error", `messages: roles must alternate between "user" and "assistant", but found multiple "user" roles in a row`),
			WantKind: llm.KindBadRequest, WantMessage: `roles must alternate between "user" and "assistant", but found multiple "user" roles in a row (type=invalid_request_error, request_id=req_011CSHoEeqs5C35K2UUqR7Fy)`,
		},
		{
			Name: "400 prompt is too long", GiveStatus: 400,
			GiveBody: errorBodyJSON("invalid_request_error", "prompt is too long: 208310 tokens > 200000 maximum"),
			WantKind: llm.KindContextLength, WantMessage: "prompt is too long: 208310 tokens > 200000 maximum",
		},
		{
			Name: "400 input and max_tokens exceed context limit", GiveStatus: 400,
			GiveBody: errorBodyJSON("invalid_request_error", "input length and `max_tokens` exceed context limit: 188240 + 21333 > 200000, decrease input length or `max_tokens` and try again"),
			WantKind: llm.KindContextLength, WantMessage: "exceed context limit",
		},
		{
			Name: "401 bad key", GiveStatus: 401,
			GiveBody: errorBodyJSON("authentication_error", "invalid x-api-key"),
			WantKind: llm.KindAuth, WantMessage: "invalid x-api-key (type=authentication_error",
		},
		{
			Name: "402 billing", GiveStatus: 402,
			GiveBody: errorBodyJSON("billing_error", "Your credit balance is too low to access the Anthropic API."),
			WantKind: llm.KindAuth, WantMessage: "credit balance is too low",
		},
		{
			Name: "403 permission", GiveStatus: 403,
			GiveBody: errorBodyJSON("permission_error", "Your API key does not have permission to use the specified resource."),
			WantKind: llm.KindAuth, WantMessage: "does not have permission",
		},
		{
			Name: "404 model", GiveStatus: 404,
			GiveBody: errorBodyJSON("not_found_error", "model: claude-9"),
			WantKind: llm.KindNotFound, WantMessage: "model: claude-9 (type=not_found_error",
		},
		{
			Name: "408", GiveStatus: 408, GiveBody: `{"type":"error","error":{"type":"timeout_error","message":"Request timed out"}}`,
			WantKind: llm.KindTimeout, WantRetryable: true, WantMessage: "Request timed out",
		},
		{
			Name: "413 request too large", GiveStatus: 413,
			GiveBody: errorBodyJSON("request_too_large", "Request exceeds the maximum allowed number of bytes."),
			WantKind: llm.KindContextLength, WantMessage: "maximum allowed number of bytes",
		},
		{
			Name: "429 retry-after seconds", GiveStatus: 429,
			GiveHeader: map[string]string{"retry-after": "20", "anthropic-ratelimit-requests-remaining": "0", "anthropic-ratelimit-requests-reset": rfc3339(time.Hour)},
			GiveBody:   errorBodyJSON("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"),
			WantKind:   llm.KindRateLimited, WantRetryable: true, WantRetry: 20 * time.Second, WantMessage: "per-minute rate limit",
		},
		{
			Name: "429 retry-after HTTP date", GiveStatus: 429,
			GiveHeader: map[string]string{"Retry-After": now.Add(2 * time.Minute).UTC().Format(http.TimeFormat)},
			GiveBody:   errorBodyJSON("rate_limit_error", "slow down"),
			WantKind:   llm.KindRateLimited, WantRetryable: true, WantRetry: 2 * time.Minute, WantRetryAbout: true, WantMessage: "slow down",
		},
		{
			Name: "429 ratelimit reset of the exhausted limit", GiveStatus: 429,
			GiveHeader: map[string]string{
				"anthropic-ratelimit-requests-limit": "50", "anthropic-ratelimit-requests-remaining": "49", "anthropic-ratelimit-requests-reset": rfc3339(2 * time.Minute),
				"anthropic-ratelimit-input-tokens-limit": "30000", "anthropic-ratelimit-input-tokens-remaining": "0", "anthropic-ratelimit-input-tokens-reset": rfc3339(40 * time.Second),
				"anthropic-ratelimit-output-tokens-remaining": "8000", "anthropic-ratelimit-output-tokens-reset": rfc3339(5 * time.Second),
			},
			GiveBody: errorBodyJSON("rate_limit_error", "input tokens per minute exceeded"),
			WantKind: llm.KindRateLimited, WantRetryable: true, WantRetry: 40 * time.Second, WantRetryAbout: true, WantMessage: "input tokens per minute",
		},
		{
			Name: "429 ratelimit reset, no limit shown exhausted", GiveStatus: 429,
			GiveHeader: map[string]string{
				"anthropic-ratelimit-requests-reset": rfc3339(30 * time.Second),
				"anthropic-ratelimit-tokens-reset":   rfc3339(50 * time.Second),
			},
			GiveBody: errorBodyJSON("rate_limit_error", "slow down"),
			WantKind: llm.KindRateLimited, WantRetryable: true, WantRetry: 50 * time.Second, WantRetryAbout: true, WantMessage: "slow down",
		},
		{
			Name: "500", GiveStatus: 500,
			GiveBody: errorBodyJSON("api_error", "Internal server error"),
			WantKind: llm.KindServer, WantRetryable: true, WantMessage: "Internal server error (type=api_error",
		},
		{
			Name: "502 HTML", GiveStatus: 502,
			GiveBody: "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n",
			WantKind: llm.KindServer, WantRetryable: true, WantMessage: "<title>502 Bad Gateway</title>",
		},
		{
			Name: "503", GiveStatus: 503, GiveHeader: map[string]string{"Retry-After": "3"},
			GiveBody: `upstream connect error or disconnect/reset before headers`,
			WantKind: llm.KindOverloaded, WantRetryable: true, WantRetry: 3 * time.Second, WantMessage: "upstream connect error",
		},
		{
			Name: "504 timeout", GiveStatus: 504,
			GiveBody: errorBodyJSON("timeout_error", "Request timed out while processing"),
			WantKind: llm.KindTimeout, WantRetryable: true, WantMessage: "timed out while processing",
		},
		{
			Name: "529 overloaded", GiveStatus: 529,
			GiveBody: errorBodyJSON("overloaded_error", "Overloaded"),
			WantKind: llm.KindOverloaded, WantRetryable: true, WantMessage: "Overloaded (type=overloaded_error",
		},
		{
			Name: "500 carrying overloaded_error", GiveStatus: 500,
			GiveBody: errorBodyJSON("overloaded_error", "Overloaded"),
			WantKind: llm.KindOverloaded, WantRetryable: true, WantMessage: "Overloaded",
		},
		{
			Name: "empty body keeps the request-id header", GiveStatus: 500, GiveBody: "",
			WantKind: llm.KindServer, WantRetryable: true, WantMessage: "request_id=req_test",
		},
	}
}

func TestRateLimitReset(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339) }
	tests := []struct {
		name string
		give map[string]string
		want time.Duration
	}{
		{"none", nil, 0},
		{"one reset", map[string]string{"anthropic-ratelimit-requests-reset": at(10 * time.Second)}, 10 * time.Second},
		{"latest of all when none exhausted", map[string]string{
			"anthropic-ratelimit-requests-reset": at(10 * time.Second),
			"anthropic-ratelimit-tokens-reset":   at(20 * time.Second),
		}, 20 * time.Second},
		{"exhausted limit wins", map[string]string{
			"anthropic-ratelimit-requests-reset":          at(10 * time.Second),
			"anthropic-ratelimit-output-tokens-reset":     at(time.Minute),
			"anthropic-ratelimit-requests-remaining":      "0",
			"anthropic-ratelimit-output-tokens-remaining": "100",
		}, 10 * time.Second},
		{"latest of the exhausted", map[string]string{
			"anthropic-ratelimit-requests-reset":         at(10 * time.Second),
			"anthropic-ratelimit-requests-remaining":     "0",
			"anthropic-ratelimit-input-tokens-reset":     at(30 * time.Second),
			"anthropic-ratelimit-input-tokens-remaining": "0",
			"anthropic-ratelimit-tokens-reset":           at(time.Hour),
		}, 30 * time.Second},
		{"past reset ignored", map[string]string{"anthropic-ratelimit-requests-reset": at(-time.Second)}, 0},
		{"fractional seconds and offset", map[string]string{"anthropic-ratelimit-tokens-reset": now.Add(1500 * time.Millisecond).In(time.FixedZone("", 2*3600)).Format(time.RFC3339Nano)}, 1500 * time.Millisecond},
		{"malformed ignored", map[string]string{"anthropic-ratelimit-tokens-reset": "in 5 seconds"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := make(http.Header)
			for k, v := range tt.give {
				h.Set(k, v)
			}
			if got := rateLimitReset(h, now); got != tt.want {
				t.Errorf("rateLimitReset(%v) = %v, want %v", tt.give, got, tt.want)
			}
		})
	}
}
