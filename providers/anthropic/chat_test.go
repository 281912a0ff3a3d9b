package anthropic

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/llmgateway/llmgateway/llm"
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
			srv := newServer(t, jsonHandler(nil, 200, tt.give))
			c := newTestClient(t, Config{BaseURL: srv.URL, APIKey: "k"})
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
	wantRetryAbout bool          // wantRetry is approximate (a date)
	wantMessage    string        // a fragment of Message
}

func errorCases() []errorCase {
	now := time.Now()
	rfc3339 := func(d time.Duration) string { return now.Add(d).UTC().Format(time.RFC3339) }
	return []errorCase{
		{
			name: "400 invalid request", giveStatus: 400,
			giveBody: errorBodyJSON("invalid_request_error", `messages: roles must alternate between "user" and "assistant", but found multiple "user" roles in a row`),
			wantKind: llm.KindBadRequest, wantMessage: `roles must alternate between "user" and "assistant", but found multiple "user" roles in a row (type=invalid_request_error, request_id=req_011CSHoEeqs5C35K2UUqR7Fy)`,
		},
		{
			name: "400 prompt is too long", giveStatus: 400,
			giveBody: errorBodyJSON("invalid_request_error", "prompt is too long: 208310 tokens > 200000 maximum"),
			wantKind: llm.KindContextLength, wantMessage: "prompt is too long: 208310 tokens > 200000 maximum",
		},
		{
			name: "400 input and max_tokens exceed context limit", giveStatus: 400,
			giveBody: errorBodyJSON("invalid_request_error", "input length and `max_tokens` exceed context limit: 188240 + 21333 > 200000, decrease input length or `max_tokens` and try again"),
			wantKind: llm.KindContextLength, wantMessage: "exceed context limit",
		},
		{
			name: "401 bad key", giveStatus: 401,
			giveBody: errorBodyJSON("authentication_error", "invalid x-api-key"),
			wantKind: llm.KindAuth, wantMessage: "invalid x-api-key (type=authentication_error",
		},
		{
			name: "402 billing", giveStatus: 402,
			giveBody: errorBodyJSON("billing_error", "Your credit balance is too low to access the Anthropic API."),
			wantKind: llm.KindAuth, wantMessage: "credit balance is too low",
		},
		{
			name: "403 permission", giveStatus: 403,
			giveBody: errorBodyJSON("permission_error", "Your API key does not have permission to use the specified resource."),
			wantKind: llm.KindAuth, wantMessage: "does not have permission",
		},
		{
			name: "404 model", giveStatus: 404,
			giveBody: errorBodyJSON("not_found_error", "model: claude-9"),
			wantKind: llm.KindNotFound, wantMessage: "model: claude-9 (type=not_found_error",
		},
		{
			name: "408", giveStatus: 408, giveBody: `{"type":"error","error":{"type":"timeout_error","message":"Request timed out"}}`,
			wantKind: llm.KindTimeout, wantRetryable: true, wantMessage: "Request timed out",
		},
		{
			name: "413 request too large", giveStatus: 413,
			giveBody: errorBodyJSON("request_too_large", "Request exceeds the maximum allowed number of bytes."),
			wantKind: llm.KindContextLength, wantMessage: "maximum allowed number of bytes",
		},
		{
			name: "429 retry-after seconds", giveStatus: 429,
			giveHeader: map[string]string{"retry-after": "20", "anthropic-ratelimit-requests-remaining": "0", "anthropic-ratelimit-requests-reset": rfc3339(time.Hour)},
			giveBody:   errorBodyJSON("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"),
			wantKind:   llm.KindRateLimited, wantRetryable: true, wantRetry: 20 * time.Second, wantMessage: "per-minute rate limit",
		},
		{
			name: "429 retry-after HTTP date", giveStatus: 429,
			giveHeader: map[string]string{"Retry-After": now.Add(2 * time.Minute).UTC().Format(http.TimeFormat)},
			giveBody:   errorBodyJSON("rate_limit_error", "slow down"),
			wantKind:   llm.KindRateLimited, wantRetryable: true, wantRetry: 2 * time.Minute, wantRetryAbout: true, wantMessage: "slow down",
		},
		{
			name: "429 ratelimit reset of the exhausted limit", giveStatus: 429,
			giveHeader: map[string]string{
				"anthropic-ratelimit-requests-limit": "50", "anthropic-ratelimit-requests-remaining": "49", "anthropic-ratelimit-requests-reset": rfc3339(2 * time.Minute),
				"anthropic-ratelimit-input-tokens-limit": "30000", "anthropic-ratelimit-input-tokens-remaining": "0", "anthropic-ratelimit-input-tokens-reset": rfc3339(40 * time.Second),
				"anthropic-ratelimit-output-tokens-remaining": "8000", "anthropic-ratelimit-output-tokens-reset": rfc3339(5 * time.Second),
			},
			giveBody: errorBodyJSON("rate_limit_error", "input tokens per minute exceeded"),
			wantKind: llm.KindRateLimited, wantRetryable: true, wantRetry: 40 * time.Second, wantRetryAbout: true, wantMessage: "input tokens per minute",
		},
		{
			name: "429 ratelimit reset, no limit shown exhausted", giveStatus: 429,
			giveHeader: map[string]string{
				"anthropic-ratelimit-requests-reset": rfc3339(30 * time.Second),
				"anthropic-ratelimit-tokens-reset":   rfc3339(50 * time.Second),
			},
			giveBody: errorBodyJSON("rate_limit_error", "slow down"),
			wantKind: llm.KindRateLimited, wantRetryable: true, wantRetry: 50 * time.Second, wantRetryAbout: true, wantMessage: "slow down",
		},
		{
			name: "500", giveStatus: 500,
			giveBody: errorBodyJSON("api_error", "Internal server error"),
			wantKind: llm.KindServer, wantRetryable: true, wantMessage: "Internal server error (type=api_error",
		},
		{
			name: "502 HTML", giveStatus: 502,
			giveBody: "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n",
			wantKind: llm.KindServer, wantRetryable: true, wantMessage: "<title>502 Bad Gateway</title>",
		},
		{
			name: "503", giveStatus: 503, giveHeader: map[string]string{"Retry-After": "3"},
			giveBody: `upstream connect error or disconnect/reset before headers`,
			wantKind: llm.KindOverloaded, wantRetryable: true, wantRetry: 3 * time.Second, wantMessage: "upstream connect error",
		},
		{
			name: "504 timeout", giveStatus: 504,
			giveBody: errorBodyJSON("timeout_error", "Request timed out while processing"),
			wantKind: llm.KindTimeout, wantRetryable: true, wantMessage: "timed out while processing",
		},
		{
			name: "529 overloaded", giveStatus: 529,
			giveBody: errorBodyJSON("overloaded_error", "Overloaded"),
			wantKind: llm.KindOverloaded, wantRetryable: true, wantMessage: "Overloaded (type=overloaded_error",
		},
		{
			name: "500 carrying overloaded_error", giveStatus: 500,
			giveBody: errorBodyJSON("overloaded_error", "Overloaded"),
			wantKind: llm.KindOverloaded, wantRetryable: true, wantMessage: "Overloaded",
		},
		{
			name: "empty body keeps the request-id header", giveStatus: 500, giveBody: "",
			wantKind: llm.KindServer, wantRetryable: true, wantMessage: "request_id=req_test",
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

// errorServer answers every request with the error case's response.
func errorServer(t *testing.T, tt errorCase) *httptest.Server {
	return newServer(t, func(w http.ResponseWriter, r *http.Request) {
		for k, v := range tt.giveHeader {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("request-id", "req_test")
		w.WriteHeader(tt.giveStatus)
		io.WriteString(w, tt.giveBody)
	})
}

func TestChatErrors(t *testing.T) {
	for _, tt := range errorCases() {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestClient(t, Config{BaseURL: errorServer(t, tt).URL})
			_, err := c.Chat(testContext(t), simpleRequest())
			checkErrorCase(t, tt, err)
		})
	}
}

func TestChatStreamErrors(t *testing.T) {
	for _, tt := range errorCases() {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestClient(t, Config{BaseURL: errorServer(t, tt).URL})
			s, err := c.ChatStream(testContext(t), simpleRequest())
			if err == nil {
				s.Close()
				t.Fatalf("ChatStream() succeeded on HTTP %d, want an error", tt.giveStatus)
			}
			checkErrorCase(t, tt, err)
		})
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
		io.WriteString(w, `{"id":"msg_1","content":[`)
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
	release := make(chan struct{})
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		// Reading the body, as a real server does, lets the test server
		// notice the client going away.
		io.Copy(io.Discard, r.Body)
		close(arrived)
		select {
		case <-r.Context().Done():
			close(upstreamDone)
		case <-release:
		}
	})
	defer close(release)
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
