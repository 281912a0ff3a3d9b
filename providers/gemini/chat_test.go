package gemini

import (
	"net/http"
	"testing"
	"time"

	"github.com/llmgateway/llmgateway/llm"
	"github.com/llmgateway/llmgateway/providers/internal/providertest"
)

func TestChatText(t *testing.T) {
	suite().CheckChat(t, unaryTextBody, unaryTextWant)
}

func TestChatToolCall(t *testing.T) {
	suite().CheckChat(t, unaryToolBody, unaryToolWant)
}

// blockedBody is Gemini's answer to a prompt it blocks: no candidates.
const blockedBody = `{
  "promptFeedback": {
    "blockReason": "PROHIBITED_CONTENT"
  },
  "usageMetadata": {
    "promptTokenCount": 12,
    "totalTokenCount": 12,
    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 12}]
  },
  "modelVersion": "gemini-2.5-pro",
  "responseId": "blk-1"
}`

var blockedWant = &llm.Response{
	ID:           "blk-1",
	Model:        "gemini-2.5-pro",
	Message:      llm.Message{Role: llm.RoleAssistant},
	FinishReason: llm.FinishContentFilter,
	Usage:        llm.Usage{PromptTokens: 12},
}

func TestChatResponseVariants(t *testing.T) {
	msg := func(content string, calls ...llm.ToolCall) llm.Message {
		return llm.Message{Role: llm.RoleAssistant, Content: content, ToolCalls: calls}
	}
	tests := []struct {
		name string
		give string
		want *llm.Response
	}{
		{
			name: "blocked prompt",
			give: blockedBody,
			want: blockedWant,
		},
		{
			name: "safety stop without content",
			give: `{"candidates":[{"finishReason":"SAFETY","index":0,"safetyRatings":[{"category":"HARM_CATEGORY_HARASSMENT","probability":"HIGH","blocked":true}]}],"usageMetadata":{"promptTokenCount":8,"totalTokenCount":8},"modelVersion":"gemini-2.0-flash"}`,
			want: &llm.Response{Model: "gemini-2.0-flash", Message: msg(""), FinishReason: llm.FinishContentFilter, Usage: llm.Usage{PromptTokens: 8}},
		},
		{
			name: "recitation",
			give: `{"candidates":[{"content":{"parts":[{"text":"It was the best"}],"role":"model"},"finishReason":"RECITATION"}]}`,
			want: &llm.Response{Message: msg("It was the best"), FinishReason: llm.FinishContentFilter},
		},
		{
			name: "max tokens",
			give: `{"candidates":[{"content":{"parts":[{"text":"cut"}],"role":"model"},"finishReason":"MAX_TOKENS"}],"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":1,"totalTokenCount":6}}`,
			want: &llm.Response{Message: msg("cut"), FinishReason: llm.FinishLength, Usage: llm.Usage{PromptTokens: 5, CompletionTokens: 1}},
		},
		{
			name: "malformed function call",
			give: `{"candidates":[{"content":{},"finishReason":"MALFORMED_FUNCTION_CALL","index":0}],"usageMetadata":{"promptTokenCount":2595,"totalTokenCount":2595}}`,
			want: &llm.Response{Message: msg(""), FinishReason: llm.FinishError, Usage: llm.Usage{PromptTokens: 2595}},
		},
		{
			name: "unknown finish reason is stop",
			give: `{"candidates":[{"content":{"parts":[{"text":"x"}],"role":"model"},"finishReason":"LANGUAGE"}]}`,
			want: &llm.Response{Message: msg("x"), FinishReason: llm.FinishStop},
		},
		{
			name: "missing finish reason",
			give: `{"candidates":[{"content":{"parts":[{"text":"x"}],"role":"model"}}]}`,
			want: &llm.Response{Message: msg("x"), FinishReason: llm.FinishStop},
		},
		{
			name: "function call with id and without args, no response id",
			give: `{"candidates":[{"content":{"parts":[{"functionCall":{"id":"fc-7","name":"now"}},{"functionCall":{"name":"later","args":null}}],"role":"model"},"finishReason":"STOP"}]}`,
			want: &llm.Response{Message: msg("", llm.ToolCall{ID: "fc-7", Name: "now", Arguments: "{}"}, llm.ToolCall{ID: "call_1", Name: "later", Arguments: "{}"}), FinishReason: llm.FinishToolCalls},
		},
		{
			name: "several text parts, thoughts and unknown parts",
			give: `{"candidates":[{"content":{"parts":[{"text":"plan","thought":true},{"text":"a"},{"executableCode":{"language":"PYTHON","code":"print(1)"}},{"text":"b","thoughtSignature":"c2ln"},{"thoughtSignature":"c2ln"}],"role":"model"},"finishReason":"STOP"}]}`,
			want: &llm.Response{Message: msg("ab"), FinishReason: llm.FinishStop},
		},
		{
			name: "tool use prompt tokens",
			give: `{"candidates":[{"content":{"parts":[{"text":"x"}],"role":"model"},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":100,"candidatesTokenCount":7,"toolUsePromptTokenCount":40,"thoughtsTokenCount":3,"cachedContentTokenCount":64,"totalTokenCount":150}}`,
			want: &llm.Response{Message: msg("x"), FinishReason: llm.FinishStop, Usage: llm.Usage{PromptTokens: 140, CompletionTokens: 10, CachedTokens: 64, ReasoningTokens: 3}},
		},
		{
			name: "candidate 0 picked",
			give: `{"candidates":[{"content":{"parts":[{"text":"second"}]},"finishReason":"STOP","index":1},{"content":{"parts":[{"text":"first"}]},"finishReason":"STOP"}]}`,
			want: &llm.Response{Message: msg("first"), FinishReason: llm.FinishStop},
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
		{"truncated JSON", `{"candidates":[`, llm.KindMalformed, "decoding response body"},
		{"no candidates", `{"usageMetadata":{"promptTokenCount":1},"modelVersion":"m"}`, llm.KindMalformed, "no candidates"},
		{"parts of the wrong type", `{"candidates":[{"content":{"parts":"x"}}]}`, llm.KindMalformed, "decoding response body"},
		{"error object with 200", `{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}`, llm.KindOverloaded, "The model is overloaded"},
		{"error object without status", `{"error":{"code":500,"message":"An internal error has occurred."}}`, llm.KindServer, "An internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			suite().CheckChatError(t, tt.give, tt.wantKind, tt.wantMsg)
		})
	}
}

// quotaBody is Gemini's 429 with its RetryInfo.
const quotaBody = `{
  "error": {
    "code": 429,
    "message": "You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.",
    "status": "RESOURCE_EXHAUSTED",
    "details": [
      {
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        "violations": [
          {
            "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
            "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
            "quotaDimensions": {"location": "global", "model": "gemini-2.0-flash"},
            "quotaValue": "15"
          }
        ]
      },
      {
        "@type": "type.googleapis.com/google.rpc.Help",
        "links": [{"description": "Learn more about Gemini API quotas", "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]
      },
      {
        "@type": "type.googleapis.com/google.rpc.RetryInfo",
        "retryDelay": "33s"
      }
    ]
  }
}`

// errorCases are the Gemini API's error responses (and a proxy's) and the
// errors they map to.
func errorCases() []providertest.ErrorCase {
	return []providertest.ErrorCase{
		{
			Name: "400 invalid argument", GiveStatus: 400,
			GiveBody: `{"error":{"code":400,"message":"* GenerateContentRequest.contents: contents is not specified\n","status":"INVALID_ARGUMENT"}}`,
			WantKind: llm.KindBadRequest, WantMessage: "contents is not specified (status=INVALID_ARGUMENT)",
		},
		{
			Name: "400 invalid API key", GiveStatus: 400,
			GiveBody: `{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com","metadata":{"service":"generativelanguage.googleapis.com"}},{"@type":"type.googleapis.com/google.rpc.LocalizedMessage","locale":"en-US","message":"API key not valid. Please pass a valid API key."}]}}`,
			WantKind: llm.KindAuth, WantMessage: "API key not valid. Please pass a valid API key. (status=INVALID_ARGUMENT, reason=API_KEY_INVALID)",
		},
		{
			Name: "400 context length", GiveStatus: 400,
			GiveBody: `{"error":{"code":400,"message":"The input token count (1196265) exceeds the maximum number of tokens allowed (1048575).","status":"INVALID_ARGUMENT"}}`,
			WantKind: llm.KindContextLength, WantMessage: "The input token count (1196265)",
		},
		{
			Name: "400 context length, other wording", GiveStatus: 400,
			GiveBody: `{"error":{"code":400,"message":"Request token count 2000000 exceeds the limit for this model.","status":"INVALID_ARGUMENT"}}`,
			WantKind: llm.KindContextLength, WantMessage: "Request token count",
		},
		{
			Name: "400 failed precondition", GiveStatus: 400,
			GiveBody: `{"error":{"code":400,"message":"User location is not supported for the API use.","status":"FAILED_PRECONDITION"}}`,
			WantKind: llm.KindAuth, WantMessage: "User location is not supported",
		},
		{
			Name: "403 permission denied", GiveStatus: 403,
			GiveBody: `{"error":{"code":403,"message":"Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.","status":"PERMISSION_DENIED"}}`,
			WantKind: llm.KindAuth, WantMessage: "unregistered callers",
		},
		{
			Name: "401 unauthenticated", GiveStatus: 401,
			GiveBody: `{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}`,
			WantKind: llm.KindAuth, WantMessage: "invalid authentication credentials",
		},
		{
			Name: "404 model", GiveStatus: 404,
			GiveBody: `{"error":{"code":404,"message":"models/gemini-9 is not found for API version v1beta, or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods.","status":"NOT_FOUND"}}`,
			WantKind: llm.KindNotFound, WantMessage: "models/gemini-9 is not found",
		},
		{
			Name: "404 HTML from a proxy", GiveStatus: 404, GiveBody: "<html><title>404 Not Found</title></html>",
			WantKind: llm.KindNotFound, WantMessage: "404 Not Found",
		},
		{
			Name: "413", GiveStatus: 413, GiveBody: "<html><head><title>413 Request Entity Too Large</title></head></html>",
			WantKind: llm.KindContextLength, WantMessage: "413 Request Entity Too Large",
		},
		{
			Name: "429 RetryInfo", GiveStatus: 429, GiveBody: quotaBody,
			WantKind: llm.KindRateLimited, WantRetryable: true, WantRetry: 33 * time.Second, WantMessage: "You exceeded your current quota",
		},
		{
			Name: "429 fractional RetryInfo", GiveStatus: 429,
			GiveBody: `{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"1.500s"}]}}`,
			WantKind: llm.KindRateLimited, WantRetryable: true, WantRetry: 1500 * time.Millisecond, WantMessage: "Resource has been exhausted",
		},
		{
			Name: "429 Retry-After seconds wins over RetryInfo", GiveStatus: 429, GiveHeader: map[string]string{"Retry-After": "20"},
			GiveBody: quotaBody,
			WantKind: llm.KindRateLimited, WantRetryable: true, WantRetry: 20 * time.Second, WantMessage: "You exceeded your current quota",
		},
		{
			Name: "429 Retry-After HTTP date", GiveStatus: 429,
			GiveHeader: map[string]string{"Retry-After": time.Now().Add(2 * time.Minute).UTC().Format(http.TimeFormat)},
			GiveBody:   `{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED"}}`,
			WantKind:   llm.KindRateLimited, WantRetryable: true, WantRetry: 2 * time.Minute, WantRetryAbout: true, WantMessage: "Resource has been exhausted",
		},
		{
			Name: "error body as an array", GiveStatus: 429,
			GiveBody: `[{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"5s"}]}}]`,
			WantKind: llm.KindRateLimited, WantRetryable: true, WantRetry: 5 * time.Second, WantMessage: "Quota exceeded (status=RESOURCE_EXHAUSTED)",
		},
		{
			Name: "500 internal", GiveStatus: 500,
			GiveBody: `{"error":{"code":500,"message":"An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting","status":"INTERNAL"}}`,
			WantKind: llm.KindServer, WantRetryable: true, WantMessage: "An internal error has occurred",
		},
		{
			Name: "502 HTML", GiveStatus: 502,
			GiveBody: "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n",
			WantKind: llm.KindServer, WantRetryable: true, WantMessage: "<title>502 Bad Gateway</title>",
		},
		{
			Name: "503 unavailable", GiveStatus: 503, GiveHeader: map[string]string{"Retry-After": "3"},
			GiveBody: `{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}`,
			WantKind: llm.KindOverloaded, WantRetryable: true, WantRetry: 3 * time.Second, WantMessage: "The model is overloaded",
		},
		{
			Name: "504 deadline exceeded", GiveStatus: 504,
			GiveBody: `{"error":{"code":504,"message":"Deadline expired before operation could complete.","status":"DEADLINE_EXCEEDED"}}`,
			WantKind: llm.KindTimeout, WantRetryable: true, WantMessage: "Deadline expired",
		},
		{
			Name: "504 empty body", GiveStatus: 504, GiveBody: "",
			WantKind: llm.KindServer, WantRetryable: true,
		},
	}
}

func TestFinishReason(t *testing.T) {
	tests := []struct {
		give      string
		giveCalls bool
		want      llm.FinishReason
	}{
		{"", false, ""},
		{"", true, ""},
		{"STOP", false, llm.FinishStop},
		{"STOP", true, llm.FinishToolCalls},
		{"MAX_TOKENS", false, llm.FinishLength},
		{"MAX_TOKENS", true, llm.FinishLength},
		{"SAFETY", false, llm.FinishContentFilter},
		{"RECITATION", false, llm.FinishContentFilter},
		{"BLOCKLIST", false, llm.FinishContentFilter},
		{"PROHIBITED_CONTENT", false, llm.FinishContentFilter},
		{"SPII", false, llm.FinishContentFilter},
		{"IMAGE_SAFETY", false, llm.FinishContentFilter},
		{"IMAGE_PROHIBITED_CONTENT", false, llm.FinishContentFilter},
		{"MALFORMED_FUNCTION_CALL", false, llm.FinishError},
		{"UNEXPECTED_TOOL_CALL", true, llm.FinishError},
		{"TOO_MANY_TOOL_CALLS", true, llm.FinishError},
		{"LANGUAGE", false, llm.FinishStop},
		{"OTHER", false, llm.FinishStop},
		{"FINISH_REASON_UNSPECIFIED", true, llm.FinishToolCalls},
		{"SOMETHING_NEW", false, llm.FinishStop},
	}
	for _, tt := range tests {
		if got := finishReason(tt.give, tt.giveCalls); got != tt.want {
			t.Errorf("finishReason(%q, %v) = %q, want %q", tt.give, tt.giveCalls, got, tt.want)
		}
	}
}
