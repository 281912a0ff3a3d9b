package cohere

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/llmgateway/llmgateway/llm"
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

// errorCases follow the documented error bodies ({"id","message"}) and the
// example messages of docs.cohere.com/reference/errors.
func errorCases() []errorCase {
	return []errorCase{
		{
			name: "400 invalid request", giveStatus: 400,
			giveBody: `{"id":"9f3ee5c3-6e8f-4e1c-a2a5-2d1d3a4b7c11","message":"invalid request: cannot specify both frequency_penalty and presence_penalty."}`,
			wantKind: llm.KindBadRequest, wantMessage: "cannot specify both frequency_penalty and presence_penalty. (id=9f3ee5c3-6e8f-4e1c-a2a5-2d1d3a4b7c11)",
		},
		{
			name: "400 too many tokens", giveStatus: 400,
			giveBody: `{"id":"a1","message":"too many tokens: total number of tokens in the prompt cannot exceed 128000 - received 131072. Try using a shorter prompt, or enabling prompt truncating."}`,
			wantKind: llm.KindContextLength, wantMessage: "cannot exceed 128000",
		},
		{
			name: "400 context length", giveStatus: 400,
			giveBody: `{"message":"the request exceeds the model's context length of 256000 tokens"}`,
			wantKind: llm.KindContextLength, wantMessage: "context length of 256000",
		},
		{
			name: "401 invalid api token", giveStatus: 401,
			giveBody: `{"id":"b2","message":"invalid api token"}`,
			wantKind: llm.KindAuth, wantMessage: "invalid api token",
		},
		{
			name: "402 payment required", giveStatus: 402,
			giveBody: `{"message":"Please add or update your payment method at https://dashboard.cohere.com/billing?tab=payment to continue"}`,
			wantKind: llm.KindAuth, wantMessage: "payment method",
		},
		{
			name: "403 forbidden", giveStatus: 403,
			giveBody: `{"message":"You do not have access to this model"}`,
			wantKind: llm.KindAuth, wantMessage: "do not have access",
		},
		{
			name: "404 model", giveStatus: 404,
			giveBody: `{"id":"c3","message":"model 'command-z' not found, make sure the correct model ID was used and that you have access to the model."}`,
			wantKind: llm.KindNotFound, wantMessage: "model 'command-z' not found",
		},
		{
			name: "422 unprocessable", giveStatus: 422,
			giveBody: `{"message":"invalid request: messages must not be empty"}`,
			wantKind: llm.KindBadRequest, wantMessage: "messages must not be empty",
		},
		{
			name: "429 Retry-After seconds", giveStatus: 429, giveHeader: map[string]string{"Retry-After": "20"},
			giveBody: `{"id":"d4","message":"You are using a Trial key, which is limited to 10 API calls / minute. You can continue to use the Trial key for free or upgrade to a Production key with higher rate limits at 'https://dashboard.cohere.com/api-keys'."}`,
			wantKind: llm.KindRateLimited, wantRetryable: true, wantRetry: 20 * time.Second, wantMessage: "limited to 10 API calls / minute",
		},
		{
			name: "429 Retry-After HTTP date", giveStatus: 429,
			giveHeader: map[string]string{"Retry-After": time.Now().Add(2 * time.Minute).UTC().Format(http.TimeFormat)},
			giveBody:   `{"message":"too many requests"}`,
			wantKind:   llm.KindRateLimited, wantRetryable: true, wantRetry: 2 * time.Minute, wantRetryAbout: true, wantMessage: "too many requests",
		},
		{
			name: "498 deny-listed token", giveStatus: 498,
			giveBody: `{"id":"e5","message":"invalid token"}`,
			wantKind: llm.KindContentFilter, wantMessage: "invalid token",
		},
		{
			name: "499 request cancelled upstream", giveStatus: 499,
			giveBody: `{"message":"request cancelled by user"}`,
			wantKind: llm.KindConnection, wantRetryable: true, wantMessage: "request cancelled by user",
		},
		{
			name: "499 data body", giveStatus: 499,
			giveBody: `{"data":"request cancelled"}`,
			wantKind: llm.KindConnection, wantRetryable: true, wantMessage: "request cancelled",
		},
		{
			name: "500", giveStatus: 500,
			giveBody: `{"id":"f6","message":"internal server error, this has been reported to our developers"}`,
			wantKind: llm.KindServer, wantRetryable: true, wantMessage: "this has been reported to our developers (id=f6)",
		},
		{
			name: "501 not implemented", giveStatus: 501,
			giveBody: `{"message":"the requested feature is not implemented for this model"}`,
			wantKind: llm.KindBadRequest, wantMessage: "not implemented",
		},
		{
			name: "502 HTML", giveStatus: 502,
			giveBody: "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body><center><h1>502 Bad Gateway</h1></center></body>\r\n</html>\r\n",
			wantKind: llm.KindServer, wantRetryable: true, wantMessage: "<title>502 Bad Gateway</title>",
		},
		{
			name: "503 unavailable", giveStatus: 503, giveHeader: map[string]string{"Retry-After": "3"},
			giveBody: `{"message":"service unavailable: too many users trying to access the service"}`,
			wantKind: llm.KindOverloaded, wantRetryable: true, wantRetry: 3 * time.Second, wantMessage: "service unavailable",
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
		w.Header().Set("Content-Type", "application/json")
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
			c := newTestClient(t, Config{BaseURL: srv.URL, Timeout: 10 * time.Second})
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
		drainBody(r) // lets the server see the client go away
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
		drainBody(r) // lets the server see the client go away
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"a","message":{`)
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
		drainBody(r) // lets the server see the client go away
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
		drainBody(r) // lets the server see the client go away
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

// roundTripCounter counts the requests sent through it.
type roundTripCounter struct {
	mu sync.Mutex
	n  int
	rt http.RoundTripper
}

func (c *roundTripCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	return c.rt.RoundTrip(r)
}

func TestWithHTTPClient(t *testing.T) {
	srv := newServer(t, jsonHandler(nil, 200, unaryTextBody))
	counter := &roundTripCounter{rt: srv.Client().Transport}
	c := newTestClient(t, Config{BaseURL: srv.URL}, WithHTTPClient(&http.Client{Transport: counter}))
	if _, err := c.Chat(testContext(t), simpleRequest()); err != nil {
		t.Fatalf("Chat() error = %v", err)
	}
	counter.mu.Lock()
	defer counter.mu.Unlock()
	if counter.n != 1 {
		t.Errorf("the custom client sent %d requests, want 1", counter.n)
	}
}
