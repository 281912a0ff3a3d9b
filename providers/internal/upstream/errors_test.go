package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/llmgateway/llmgateway/llm"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// trackingBody is a response body that records how much was read and
// whether it was closed.
type trackingBody struct {
	r      io.Reader
	read   int
	closed bool
}

func (b *trackingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.read += n
	return n, err
}

func (b *trackingBody) Close() error {
	b.closed = true
	return nil
}

func response(status int, header http.Header, body string) (*http.Response, *trackingBody) {
	tb := &trackingBody{r: strings.NewReader(body)}
	if header == nil {
		header = make(http.Header)
	}
	return &http.Response{StatusCode: status, Header: header, Body: tb}, tb
}

// openAIMessage extracts error.message, the way an adapter's extract does.
func openAIMessage(body []byte) string {
	const key = `"message":"`
	s := string(body)
	i := strings.Index(s, key)
	if i < 0 {
		return ""
	}
	s = s[i+len(key):]
	if j := strings.IndexByte(s, '"'); j >= 0 {
		return s[:j]
	}
	return ""
}

func TestErrorFromResponse(t *testing.T) {
	type want struct {
		Kind      llm.ErrorKind
		Retryable bool
		Message   string
	}
	tests := []struct {
		name       string
		giveStatus int
		giveBody   string
		want       want
	}{
		{"400", 400, `{"error":{"message":"bad param","type":"invalid_request_error"}}`, want{llm.KindBadRequest, false, "bad param"}},
		{"401", 401, `{"error":{"message":"Incorrect API key provided"}}`, want{llm.KindAuth, false, "Incorrect API key provided"}},
		{"403", 403, `{"error":{"message":"country not supported"}}`, want{llm.KindAuth, false, "country not supported"}},
		{"404", 404, `{"error":{"message":"The model does not exist"}}`, want{llm.KindNotFound, false, "The model does not exist"}},
		{"408", 408, `{"error":{"message":"request timed out upstream"}}`, want{llm.KindTimeout, true, "request timed out upstream"}},
		{"413", 413, `<html>413 Request Entity Too Large</html>`, want{llm.KindContextLength, false, "<html>413 Request Entity Too Large</html>"}},
		{"422", 422, `{"detail":"bad"}`, want{llm.KindBadRequest, false, `{"detail":"bad"}`}},
		{"429", 429, `{"error":{"message":"Rate limit reached for gpt-4o on tokens per min (TPM): Limit 30000, Used 29000, Requested 2000."}}`, want{llm.KindRateLimited, true, "Rate limit reached for gpt-4o on tokens per min (TPM): Limit 30000, Used 29000, Requested 2000."}},
		{"500", 500, `{"error":{"message":"The server had an error"}}`, want{llm.KindServer, true, "The server had an error"}},
		{"502", 502, "<html>\n  <body>Bad Gateway</body>\n</html>", want{llm.KindServer, true, "<html> <body>Bad Gateway</body> </html>"}},
		{"503", 503, `{"error":{"message":"engine is busy"}}`, want{llm.KindOverloaded, true, "engine is busy"}},
		{"504", 504, ``, want{llm.KindServer, true, ""}},
		{"529", 529, `{"error":{"message":"Overloaded"}}`, want{llm.KindOverloaded, true, "Overloaded"}},
		{
			"context_length_exceeded code only in body", 400,
			`{"error":{"message":"This request is too big.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}`,
			want{llm.KindContextLength, false, "This request is too big."},
		},
		{
			"OpenAI maximum context length message", 400,
			`{"error":{"message":"This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens. Please reduce the length of the messages."}}`,
			want{llm.KindContextLength, false, "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens. Please reduce the length of the messages."},
		},
		{
			"Anthropic prompt is too long", 400,
			`{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}}`,
			want{llm.KindContextLength, false, "prompt is too long: 210000 tokens > 200000 maximum"},
		},
		{
			"Cohere too many tokens", 400,
			`{"message":"too many tokens: total number of tokens in the prompt cannot exceed 4081"}`,
			want{llm.KindContextLength, false, "too many tokens: total number of tokens in the prompt cannot exceed 4081"},
		},
		{
			"context length message on a 429 stays rate limited", 429,
			`{"error":{"message":"too many tokens per minute"}}`,
			want{llm.KindRateLimited, true, "too many tokens per minute"},
		},
		{
			"context length message on a 500 stays server", 500,
			`{"error":{"message":"maximum context length exceeded while batching"}}`,
			want{llm.KindServer, true, "maximum context length exceeded while batching"},
		},
		{"invalid UTF-8 cleaned", 500, "bad \xff\xfe bytes", want{llm.KindServer, true, "bad ? bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := response(tt.giveStatus, nil, tt.giveBody)
			ue := ErrorFromResponse("test", resp, openAIMessage)
			got := want{ue.Kind, ue.Retryable, ue.Message}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ErrorFromResponse(%d) mismatch (-want +got):\n%s", tt.giveStatus, diff)
			}
			if ue.StatusCode != tt.giveStatus || ue.Provider != "test" {
				t.Errorf("ErrorFromResponse(%d) = status %d provider %q, want %d %q", tt.giveStatus, ue.StatusCode, ue.Provider, tt.giveStatus, "test")
			}
			if !body.closed {
				t.Errorf("ErrorFromResponse(%d) left the body open", tt.giveStatus)
			}
			if s := ue.Summary(); tt.want.Message != "" && strings.Contains(s, tt.want.Message) {
				t.Errorf("Summary() = %q contains the upstream message", s)
			}
		})
	}
}

func TestErrorFromResponseBoundsBody(t *testing.T) {
	resp, body := response(500, nil, strings.Repeat("x", 10*MaxErrorBodySize))
	ue := ErrorFromResponse("test", resp, nil)
	if body.read > MaxErrorBodySize {
		t.Errorf("read %d bytes of the error body, want at most %d", body.read, MaxErrorBodySize)
	}
	if len(ue.Message) > maxMessageLen+3 {
		t.Errorf("len(Message) = %d, want at most %d", len(ue.Message), maxMessageLen+3)
	}
}

func TestErrorFromResponseRetryAfter(t *testing.T) {
	h := http.Header{"Retry-After": {time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)}}
	resp, _ := response(429, h, "")
	ue := ErrorFromResponse("test", resp, nil)
	// HTTP dates have one-second resolution; allow a wide margin for a slow machine.
	if ue.RetryAfter < 58*time.Minute || ue.RetryAfter > time.Hour {
		t.Errorf("RetryAfter = %v, want about 1h", ue.RetryAfter)
	}
	resp, _ = response(429, http.Header{"Retry-After": {"20"}}, "")
	if got := ErrorFromResponse("test", resp, nil).RetryAfter; got != 20*time.Second {
		t.Errorf("RetryAfter = %v, want 20s", got)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	tests := []struct {
		name       string
		giveStatus int
		giveHeader map[string]string
		want       time.Duration
	}{
		{"none", 429, nil, 0},
		{"seconds", 429, map[string]string{"Retry-After": "7"}, 7 * time.Second},
		{"fractional seconds", 503, map[string]string{"Retry-After": "1.5"}, 1500 * time.Millisecond},
		{"HTTP date", 429, map[string]string{"Retry-After": now.Add(90 * time.Second).Format(http.TimeFormat)}, 90 * time.Second},
		{"HTTP date in the past", 429, map[string]string{"Retry-After": now.Add(-time.Minute).Format(http.TimeFormat)}, 0},
		{"garbage", 429, map[string]string{"Retry-After": "soon"}, 0},
		{"retry-after-ms wins", 429, map[string]string{"retry-after-ms": "250", "Retry-After": "1"}, 250 * time.Millisecond},
		{"bad retry-after-ms falls back", 429, map[string]string{"retry-after-ms": "x", "Retry-After": "3"}, 3 * time.Second},
		{"Retry-After wins over reset headers", 429, map[string]string{"Retry-After": "2", "x-ratelimit-reset-requests": "1m0s"}, 2 * time.Second},
		{"reset requests", 429, map[string]string{"x-ratelimit-reset-requests": "1s"}, time.Second},
		{"reset tokens", 429, map[string]string{"x-ratelimit-reset-tokens": "6m0s"}, 6 * time.Minute},
		{"reset milliseconds", 429, map[string]string{"x-ratelimit-reset-tokens": "20ms"}, 20 * time.Millisecond},
		{"reset plain seconds", 429, map[string]string{"x-ratelimit-reset-tokens": "2.5"}, 2500 * time.Millisecond},
		{"later of both when unknown", 429, map[string]string{"x-ratelimit-reset-requests": "1s", "x-ratelimit-reset-tokens": "6m0s"}, 6 * time.Minute},
		{
			"requests exhausted", 429,
			map[string]string{
				"x-ratelimit-remaining-requests": "0", "x-ratelimit-remaining-tokens": "149000",
				"x-ratelimit-reset-requests": "1s", "x-ratelimit-reset-tokens": "6m0s",
			},
			time.Second,
		},
		{
			"tokens exhausted", 429,
			map[string]string{
				"x-ratelimit-remaining-requests": "59", "x-ratelimit-remaining-tokens": "0",
				"x-ratelimit-reset-requests": "1s", "x-ratelimit-reset-tokens": "20ms",
			},
			20 * time.Millisecond,
		},
		{"reset headers ignored unless 429", 503, map[string]string{"x-ratelimit-reset-requests": "1s"}, 0},
		{"bad reset", 429, map[string]string{"x-ratelimit-reset-requests": "later"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := make(http.Header)
			for k, v := range tt.giveHeader {
				h.Set(k, v)
			}
			if got := RetryAfter(h, tt.giveStatus, now); got != tt.want {
				t.Errorf("RetryAfter(%v, %d) = %v, want %v", tt.giveHeader, tt.giveStatus, got, tt.want)
			}
		})
	}
}

func TestIsContextLengthMessage(t *testing.T) {
	tests := []struct {
		give string
		want bool
	}{
		{"This model's Maximum Context Length is 4096 tokens", true},
		{"context_length_exceeded", true},
		{"The input token count (1050000) exceeds the maximum number of tokens allowed (1048576).", true},
		{"the request exceeds the available context size, try increasing it", true},
		{"Invalid value for 'temperature'", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := IsContextLengthMessage(tt.give); got != tt.want {
			t.Errorf("IsContextLengthMessage(%q) = %v, want %v", tt.give, got, tt.want)
		}
	}
}

// timeoutError is a net.Error that timed out.
type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

func TestFromTransportError(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	timedOut, cancel3 := context.WithCancelCause(context.Background())
	cancel3(fmt.Errorf("no response headers within 1s: %w", context.DeadlineExceeded))
	live := context.Background()

	type want struct {
		Kind      llm.ErrorKind
		Retryable bool
	}
	tests := []struct {
		name    string
		giveCtx context.Context
		giveErr error
		want    want
	}{
		{"ctx canceled", canceled, &url.Error{Op: "Post", URL: "http://x", Err: context.Canceled}, want{llm.KindCanceled, false}},
		{"ctx canceled wins over a connection error", canceled, syscall.ECONNRESET, want{llm.KindCanceled, false}},
		{"ctx deadline", expired, &url.Error{Op: "Post", URL: "http://x", Err: context.DeadlineExceeded}, want{llm.KindTimeout, true}},
		{"ctx canceled with deadline cause", timedOut, context.Canceled, want{llm.KindTimeout, true}},
		{"net timeout", live, &net.OpError{Op: "read", Net: "tcp", Err: timeoutError{}}, want{llm.KindTimeout, true}},
		{"os deadline", live, os.ErrDeadlineExceeded, want{llm.KindTimeout, true}},
		{"deadline without ctx", nil, context.DeadlineExceeded, want{llm.KindTimeout, true}},
		{"canceled error on live ctx", live, context.Canceled, want{llm.KindCanceled, false}},
		{"connection refused", live, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, want{llm.KindConnection, true}},
		{"connection reset", live, &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, want{llm.KindConnection, true}},
		{"EOF", live, &url.Error{Op: "Post", URL: "http://x", Err: io.EOF}, want{llm.KindConnection, true}},
		{"unexpected EOF", live, io.ErrUnexpectedEOF, want{llm.KindConnection, true}},
		{"DNS", live, &net.DNSError{Err: "no such host", Name: "api.example"}, want{llm.KindConnection, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ue := FromTransportError(tt.giveCtx, "test", tt.giveErr)
			got := want{ue.Kind, ue.Retryable}
			if got != tt.want {
				t.Errorf("FromTransportError(%v) = %+v, want %+v", tt.giveErr, got, tt.want)
			}
			if ue.Provider != "test" || ue.StatusCode != 0 {
				t.Errorf("FromTransportError(%v) = provider %q status %d, want %q 0", tt.giveErr, ue.Provider, ue.StatusCode, "test")
			}
			if ue.Err == nil {
				t.Errorf("FromTransportError(%v) dropped the cause", tt.giveErr)
			}
		})
	}
}

func TestFromTransportErrorKeepsUpstreamError(t *testing.T) {
	orig := &llm.UpstreamError{Provider: "p", Kind: llm.KindMalformed}
	if got := FromTransportError(context.Background(), "test", fmt.Errorf("wrapped: %w", orig)); got != orig {
		t.Errorf("FromTransportError(wrapped upstream error) = %v, want %v", got, orig)
	}
}

func TestFromTransportErrorDropsURL(t *testing.T) {
	err := &url.Error{Op: "Post", URL: "https://api.example/v1?key=SECRET", Err: io.EOF}
	ue := FromTransportError(context.Background(), "test", err)
	if strings.Contains(ue.Error(), "SECRET") {
		t.Errorf("Error() = %q, want no URL", ue.Error())
	}
	if !errors.Is(ue, io.EOF) {
		t.Errorf("errors.Is(%v, io.EOF) = false, want true", ue)
	}
}

// TestFromTransportErrorReal classifies errors from real connections.
func TestFromTransportErrorReal(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// A port nobody listens on.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedURL := "http://" + lis.Addr().String()
	lis.Close()

	// A server that closes the connection without answering.
	hangup := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	defer hangup.Close()

	// A server that answers only after the test is over.
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)

	client := NewHTTPClient()
	defer client.CloseIdleConnections()

	tests := []struct {
		name    string
		giveURL string
		ctx     func() (context.Context, context.CancelFunc)
		want    llm.ErrorKind
	}{
		{"connection refused", refusedURL, func() (context.Context, context.CancelFunc) { return context.WithCancel(ctx) }, llm.KindConnection},
		{"server hangs up", hangup.URL, func() (context.Context, context.CancelFunc) { return context.WithCancel(ctx) }, llm.KindConnection},
		{"attempt deadline", slow.URL, func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, 50*time.Millisecond) }, llm.KindTimeout},
		{"caller cancels", slow.URL, func() (context.Context, context.CancelFunc) {
			c, cancel := context.WithCancel(ctx)
			time.AfterFunc(50*time.Millisecond, cancel)
			return c, cancel
		}, llm.KindCanceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reqCtx, cancel := tt.ctx()
			defer cancel()
			req, err := NewJSONRequest(reqCtx, tt.giveURL, map[string]string{"a": "b"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.Do(req)
			if err == nil {
				resp.Body.Close()
				t.Fatalf("Do(%s) succeeded, want an error", tt.giveURL)
			}
			if got := FromTransportError(reqCtx, "test", err); got.Kind != tt.want || got.Retryable != tt.want.Retryable() {
				t.Errorf("FromTransportError(%v) = %v (retryable %v), want %v", err, got.Kind, got.Retryable, tt.want)
			}
		})
	}
}

func TestSnippet(t *testing.T) {
	tests := []struct {
		give string
		want string
	}{
		{give: "  upstream\n failed \r\n", want: "upstream failed"},
		{give: "bad \xff byte", want: "bad ? byte"},
		{give: strings.Repeat("a", maxMessageLen-1) + "é and more", want: strings.Repeat("a", maxMessageLen-1) + "..."},
		{give: strings.Repeat("b", maxMessageLen), want: strings.Repeat("b", maxMessageLen)},
	}
	for _, tt := range tests {
		if got := Snippet([]byte(tt.give)); got != tt.want {
			t.Errorf("Snippet(%q) = %q, want %q", tt.give, got, tt.want)
		}
	}
}

func TestDescribe(t *testing.T) {
	tests := []struct {
		giveMsg   string
		giveAttrs []string
		want      string
	}{
		{"Overloaded", []string{"type", "overloaded_error", "request_id", "req_1"}, "Overloaded (type=overloaded_error, request_id=req_1)"},
		{"Overloaded", []string{"type", "", "request_id", "req_1"}, "Overloaded (request_id=req_1)"},
		{"Overloaded", []string{"type", ""}, "Overloaded"},
		{" spaced ", nil, "spaced"},
		{"", []string{"code", "500"}, "(code=500)"},
		{"", nil, ""},
	}
	for _, tt := range tests {
		if got := Describe(tt.giveMsg, tt.giveAttrs...); got != tt.want {
			t.Errorf("Describe(%q, %q) = %q, want %q", tt.giveMsg, tt.giveAttrs, got, tt.want)
		}
	}
}

func TestKindError(t *testing.T) {
	got := KindError("p", llm.KindRateLimited, 200, "slow down")
	want := llm.UpstreamError{Provider: "p", Kind: llm.KindRateLimited, StatusCode: 200, Retryable: true, Message: "slow down"}
	if *got != want {
		t.Errorf("KindError() = %#v, want %#v", got, want)
	}
	if got := KindError("p", llm.KindBadRequest, 0, ""); got.Retryable {
		t.Errorf("KindError(KindBadRequest).Retryable = true, want false")
	}
}
