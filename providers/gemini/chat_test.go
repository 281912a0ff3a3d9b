package gemini

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
	if diff := cmp.Diff(unaryTextWant, got); diff != "" {
		t.Errorf("Chat() mismatch (-want +got):\n%s", diff)
	}
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
		{"truncated JSON", `{"candidates":[`, llm.KindMalformed, "decoding response body"},
		{"no candidates", `{"usageMetadata":{"promptTokenCount":1},"modelVersion":"m"}`, llm.KindMalformed, "no candidates"},
		{"parts of the wrong type", `{"candidates":[{"content":{"parts":"x"}}]}`, llm.KindMalformed, "decoding response body"},
		{"error object with 200", `{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}`, llm.KindOverloaded, "The model is overloaded"},
		{"error object without status", `{"error":{"code":500,"message":"An internal error has occurred."}}`, llm.KindServer, "An internal error"},
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

func errorCases() []errorCase {
	return []errorCase{
		{
			name: "400 invalid argument", giveStatus: 400,
			giveBody: `{"error":{"code":400,"message":"* GenerateContentRequest.contents: contents is not specified\n","status":"INVALID_ARGUMENT"}}`,
			wantKind: llm.KindBadRequest, wantMessage: "contents is not specified (status=INVALID_ARGUMENT)",
		},
		{
			name: "400 invalid API key", giveStatus: 400,
			giveBody: `{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com","metadata":{"service":"generativelanguage.googleapis.com"}},{"@type":"type.googleapis.com/google.rpc.LocalizedMessage","locale":"en-US","message":"API key not valid. Please pass a valid API key."}]}}`,
			wantKind: llm.KindAuth, wantMessage: "API key not valid. Please pass a valid API key. (status=INVALID_ARGUMENT, reason=API_KEY_INVALID)",
		},
		{
			name: "400 context length", giveStatus: 400,
			giveBody: `{"error":{"code":400,"message":"The input token count (1196265) exceeds the maximum number of tokens allowed (1048575).","status":"INVALID_ARGUMENT"}}`,
			wantKind: llm.KindContextLength, wantMessage: "The input token count (1196265)",
		},
		{
			name: "400 context length, other wording", giveStatus: 400,
			giveBody: `{"error":{"code":400,"message":"Request token count 2000000 exceeds the limit for this model.","status":"INVALID_ARGUMENT"}}`,
			wantKind: llm.KindContextLength, wantMessage: "Request token count",
		},
		{
			name: "400 failed precondition", giveStatus: 400,
			giveBody: `{"error":{"code":400,"message":"User location is not supported for the API use.","status":"FAILED_PRECONDITION"}}`,
			wantKind: llm.KindAuth, wantMessage: "User location is not supported",
		},
		{
			name: "403 permission denied", giveStatus: 403,
			giveBody: `{"error":{"code":403,"message":"Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.","status":"PERMISSION_DENIED"}}`,
			wantKind: llm.KindAuth, wantMessage: "unregistered callers",
		},
		{
			name: "401 unauthenticated", giveStatus: 401,
			giveBody: `{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}`,
			wantKind: llm.KindAuth, wantMessage: "invalid authentication credentials",
		},
		{
			name: "404 model", giveStatus: 404,
			giveBody: `{"error":{"code":404,"message":"models/gemini-9 is not found for API version v1beta, or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods.","status":"NOT_FOUND"}}`,
			wantKind: llm.KindNotFound, wantMessage: "models/gemini-9 is not found",
		},
		{
			name: "404 HTML from a proxy", giveStatus: 404, giveBody: "<html><title>404 Not Found</title></html>",
			wantKind: llm.KindNotFound, wantMessage: "404 Not Found",
		},
		{
			name: "413", giveStatus: 413, giveBody: "<html><head><title>413 Request Entity Too Large</title></head></html>",
			wantKind: llm.KindContextLength, wantMessage: "413 Request Entity Too Large",
		},
		{
			name: "429 RetryInfo", giveStatus: 429, giveBody: quotaBody,
			wantKind: llm.KindRateLimited, wantRetryable: true, wantRetry: 33 * time.Second, wantMessage: "You exceeded your current quota",
		},
		{
			name: "429 fractional RetryInfo", giveStatus: 429,
			giveBody: `{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"1.500s"}]}}`,
			wantKind: llm.KindRateLimited, wantRetryable: true, wantRetry: 1500 * time.Millisecond, wantMessage: "Resource has been exhausted",
		},
		{
			name: "429 Retry-After seconds wins over RetryInfo", giveStatus: 429, giveHeader: map[string]string{"Retry-After": "20"},
			giveBody: quotaBody,
			wantKind: llm.KindRateLimited, wantRetryable: true, wantRetry: 20 * time.Second, wantMessage: "You exceeded your current quota",
		},
		{
			name: "429 Retry-After HTTP date", giveStatus: 429,
			giveHeader: map[string]string{"Retry-After": time.Now().Add(2 * time.Minute).UTC().Format(http.TimeFormat)},
			giveBody:   `{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED"}}`,
			wantKind:   llm.KindRateLimited, wantRetryable: true, wantRetry: 2 * time.Minute, wantRetryAbout: true, wantMessage: "Resource has been exhausted",
		},
		{
			name: "error body as an array", giveStatus: 429,
			giveBody: `[{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"5s"}]}}]`,
			wantKind: llm.KindRateLimited, wantRetryable: true, wantRetry: 5 * time.Second, wantMessage: "Quota exceeded (status=RESOURCE_EXHAUSTED)",
		},
		{
			name: "500 internal", giveStatus: 500,
			giveBody: `{"error":{"code":500,"message":"An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting","status":"INTERNAL"}}`,
			wantKind: llm.KindServer, wantRetryable: true, wantMessage: "An internal error has occurred",
		},
		{
			name: "502 HTML", giveStatus: 502,
			giveBody: "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n",
			wantKind: llm.KindServer, wantRetryable: true, wantMessage: "<title>502 Bad Gateway</title>",
		},
		{
			name: "503 unavailable", giveStatus: 503, giveHeader: map[string]string{"Retry-After": "3"},
			giveBody: `{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}`,
			wantKind: llm.KindOverloaded, wantRetryable: true, wantRetry: 3 * time.Second, wantMessage: "The model is overloaded",
		},
		{
			name: "504 deadline exceeded", giveStatus: 504,
			giveBody: `{"error":{"code":504,"message":"Deadline expired before operation could complete.","status":"DEADLINE_EXCEEDED"}}`,
			wantKind: llm.KindTimeout, wantRetryable: true, wantMessage: "Deadline expired",
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

func errorHandler(tt errorCase) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for k, v := range tt.giveHeader {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		w.WriteHeader(tt.giveStatus)
		io.WriteString(w, tt.giveBody)
	}
}

func TestChatErrors(t *testing.T) {
	for _, tt := range errorCases() {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, errorHandler(tt))
			c := newTestClient(t, Config{BaseURL: srv.URL})
			_, err := c.Chat(testContext(t), simpleRequest())
			checkErrorCase(t, tt, err)
		})
	}
}

func TestChatStreamErrors(t *testing.T) {
	for _, tt := range errorCases() {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, errorHandler(tt))
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
		drain(r)
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
		drain(r)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"candidates":[`)
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
		drain(r)
		close(arrived)
		<-r.Context().Done()
		close(upstreamDone)
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
	c := newTestClient(t, Config{BaseURL: "http://" + addr})
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
