package cohere

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/llmgateway/llmgateway/llm"
	"github.com/llmgateway/llmgateway/providers/internal/sse"
	"github.com/llmgateway/llmgateway/providers/internal/upstream"
)

// DefaultBaseURL is the API root used when Config.BaseURL is empty.
const DefaultBaseURL = "https://api.cohere.com"

// chatPath is the chat endpoint under the API root.
const chatPath = "/v2/chat"

// Config holds the required settings of a Client.
type Config struct {
	// Name names the provider in errors and logs ("cohere"). Required.
	Name string
	// BaseURL is the API root; the client posts to BaseURL + "/v2/chat". A
	// trailing slash is tolerated. Default DefaultBaseURL
	// (https://api.cohere.com).
	BaseURL string
	// APIKey is the resolved credential, sent as "Authorization: Bearer
	// KEY". Default "": no credential header, for a proxy that adds its own.
	APIKey string
	// Headers are extra headers sent with every request, such as Cohere's
	// X-Client-Name. Default none.
	Headers map[string]string
	// Timeout bounds each attempt: for Chat the whole call, for ChatStream
	// the wait for the response headers and the first event (a stream may
	// then run as long as its context allows). Default 0: only the context
	// bounds the call.
	Timeout time.Duration
}

// Option configures a Client.
type Option func(*options)

type options struct {
	httpClient       *http.Client
	maxResponseBytes int64
	maxEventBytes    int
}

var defaultOptions = options{
	maxResponseBytes: 32 << 20,
	maxEventBytes:    sse.DefaultMaxEventSize,
}

// WithHTTPClient sets the HTTP client. Default: a client over
// upstream.NewTransport, tuned for many concurrent calls to one host. The
// client should have no Timeout, which would cut streams; use
// Config.Timeout.
func WithHTTPClient(hc *http.Client) Option {
	return func(o *options) { o.httpClient = hc }
}

// WithMaxResponseBytes bounds the size of a unary response body. Default
// 32 MiB. Values below 1 keep the default.
func WithMaxResponseBytes(n int64) Option {
	return func(o *options) {
		if n > 0 {
			o.maxResponseBytes = n
		}
	}
}

// WithMaxEventBytes bounds the size of one streamed event. Default
// sse.DefaultMaxEventSize (1 MiB). Values below 1 keep the default.
func WithMaxEventBytes(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.maxEventBytes = n
		}
	}
}

// Client calls the Cohere Chat API. It is safe for concurrent use.
type Client struct {
	name    string
	url     string // BaseURL + /v2/chat
	opts    options
	header  http.Header
	hc      *http.Client
	timeout time.Duration

	callTimeout  error // cause of a Chat attempt's timeout
	startTimeout error // cause of a ChatStream attempt's timeout
}

// New returns a Client for cfg. It fails with an error saying what to fix
// when cfg is incomplete or invalid.
func New(cfg Config, opts ...Option) (*Client, error) {
	o := defaultOptions
	for _, opt := range opts {
		opt(&o)
	}
	if cfg.Name == "" {
		return nil, errors.New(`cohere config: Name is empty; set it to the provider's name, such as "cohere"`)
	}
	fail := func(format string, args ...any) (*Client, error) {
		return nil, fmt.Errorf("cohere config %q: "+format, append([]any{cfg.Name}, args...)...)
	}
	u, err := chatURL(cfg.BaseURL)
	if err != nil {
		return fail("%w", err)
	}
	if cfg.Timeout < 0 {
		return fail("Timeout is %v; want 0 (no timeout) or more", cfg.Timeout)
	}
	c := &Client{name: cfg.Name, url: u, opts: o, hc: o.httpClient, timeout: cfg.Timeout, header: make(http.Header)}
	if cfg.APIKey != "" {
		if strings.TrimSpace(cfg.APIKey) != cfg.APIKey || !validHeaderValue(cfg.APIKey) {
			return fail("APIKey has surrounding whitespace or control characters; check how it was loaded (a trailing newline from a file?)")
		}
		c.header.Set("Authorization", "Bearer "+cfg.APIKey)
	}
	for k, v := range cfg.Headers {
		if !validHeaderName(k) {
			return fail("Headers: %q is not a valid HTTP header name", k)
		}
		if !validHeaderValue(v) {
			return fail("Headers: the value of %q contains control characters", k)
		}
		if cfg.APIKey != "" && http.CanonicalHeaderKey(k) == "Authorization" {
			return fail("Headers sets %s, which APIKey already sets; set only one of them", k)
		}
		c.header.Set(k, v)
	}
	if c.hc == nil {
		c.hc = upstream.NewHTTPClient()
	}
	if cfg.Timeout > 0 {
		c.callTimeout = fmt.Errorf("no response within %v: %w", cfg.Timeout, context.DeadlineExceeded)
		c.startTimeout = fmt.Errorf("no response headers and first event within %v: %w", cfg.Timeout, context.DeadlineExceeded)
	}
	return c, nil
}

// chatURL returns the chat URL under the API root base.
func chatURL(base string) (string, error) {
	if base == "" {
		base = DefaultBaseURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("BaseURL %q is not an absolute http(s) URL; set it to the API root, such as %s", base, DefaultBaseURL)
	}
	if u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("BaseURL %q has a fragment or user info; give the API root only, and the key as APIKey", base)
	}
	path := strings.TrimRight(u.Path, "/")
	if strings.HasSuffix(path, "/v2") || strings.HasSuffix(path, chatPath) {
		return "", fmt.Errorf("BaseURL %q includes the API version path; give the API root without /v2, such as %s", base, DefaultBaseURL)
	}
	u.Path = path + chatPath
	u.RawPath = ""
	return u.String(), nil
}

// CloseIdleConnections closes the idle connections of the client's HTTP
// transport, for shutdown or after a configuration change.
func (c *Client) CloseIdleConnections() {
	c.hc.CloseIdleConnections()
}

// Chat sends req and returns the complete response.
func (c *Client) Chat(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	body, err := buildRequest(req, false)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.name, err)
	}
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, c.timeout, c.callTimeout)
		defer cancel()
	}
	httpReq, err := c.newRequest(ctx, body, false)
	if err != nil {
		return nil, err
	}
	resp, err := c.hc.Do(httpReq)
	if err != nil {
		return nil, upstream.FromTransportError(ctx, c.name, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, c.errorFromResponse(ctx, resp)
	}
	var w chatResponse
	if err := upstream.ReadJSON(ctx, c.name, resp, c.opts.maxResponseBytes, &w); err != nil {
		return nil, err
	}
	return toResponse(c.name, &w, resp.StatusCode)
}

// ChatStream sends req as a streamed request. It returns once the upstream
// has answered with its status and headers; the stream's Recv reports
// failures after that. Config.Timeout bounds the wait for the headers and
// for the first event.
func (c *Client) ChatStream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	body, err := buildRequest(req, true)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.name, err)
	}
	sctx, cancel := context.WithCancelCause(ctx)
	httpReq, err := c.newRequest(sctx, body, true)
	if err != nil {
		cancel(nil)
		return nil, err
	}
	var timer *time.Timer
	if c.timeout > 0 {
		timer = time.AfterFunc(c.timeout, func() { cancel(c.startTimeout) })
	}
	resp, err := c.hc.Do(httpReq)
	if err != nil {
		if timer != nil {
			timer.Stop()
		}
		ue := upstream.FromTransportError(sctx, c.name, err)
		cancel(nil)
		return nil, ue
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		if timer != nil {
			timer.Stop()
		}
		ue := c.errorFromResponse(sctx, resp)
		cancel(nil)
		return nil, ue
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "application/json" {
		// The server ignored stream:true: read the unary answer (still
		// under the attempt's timeout) and replay it as a stream.
		var w chatResponse
		err := upstream.ReadJSON(sctx, c.name, resp, c.opts.maxResponseBytes, &w)
		if timer != nil {
			timer.Stop()
		}
		cancel(nil)
		if err != nil {
			return nil, err
		}
		r, err := toResponse(c.name, &w, resp.StatusCode)
		if err != nil {
			return nil, err
		}
		return newReplayStream(r), nil
	}
	return c.newStream(sctx, cancel, timer, resp.Body), nil
}

// newRequest builds the HTTP request for a chat body.
func (c *Client) newRequest(ctx context.Context, body *chatRequest, stream bool) (*http.Request, error) {
	req, err := upstream.NewJSONRequest(ctx, c.url, body, c.header)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.name, err)
	}
	if stream {
		req.Header.Set("Accept", "text/event-stream")
	} else {
		req.Header.Set("Accept", "application/json")
	}
	return req, nil
}

// errorFromResponse maps a non-2xx response, reading Cohere's error body and
// applying the statuses Cohere gives its own meaning:
//
//   - 498 (Cohere's InvalidToken error; its reference describes a
//     deny-listed token in the request or response, a refusal of content,
//     not of our credentials): KindContentFilter, not retryable;
//   - 499 (the request was cancelled): KindCanceled when our own context
//     is done, otherwise KindConnection, retryable, since we did not
//     cancel it and something between us and Cohere did;
//   - 501 (the feature is not implemented for this request): KindBadRequest,
//     not retryable, since no attempt with the same request can succeed;
//   - 400 whose message speaks of the context length or window:
//     KindContextLength (upstream.ErrorFromResponse already recognises
//     Cohere's "too many tokens").
func (c *Client) errorFromResponse(ctx context.Context, resp *http.Response) *llm.UpstreamError {
	ue := upstream.ErrorFromResponse(c.name, resp, errorMessage)
	switch ue.StatusCode {
	case 498:
		ue.Kind, ue.Retryable = llm.KindContentFilter, false
	case 499:
		if ctx.Err() != nil {
			ue.Kind, ue.Retryable = llm.KindCanceled, false
		} else {
			ue.Kind, ue.Retryable = llm.KindConnection, true
		}
	case http.StatusNotImplemented:
		ue.Kind, ue.Retryable = llm.KindBadRequest, false
	case http.StatusBadRequest:
		if ue.Kind == llm.KindBadRequest && mentionsContextWindow(ue.Message) {
			ue.Kind, ue.Retryable = llm.KindContextLength, false
		}
	}
	return ue
}

// mentionsContextWindow reports whether msg speaks of the model's context
// length or window, as Cohere's context overflow messages do when they do
// not say "too many tokens".
func mentionsContextWindow(msg string) bool {
	msg = strings.ToLower(msg)
	return strings.Contains(msg, "context length") || strings.Contains(msg, "context window") ||
		strings.Contains(msg, "context size") || strings.Contains(msg, "context limit")
}

// validHeaderName reports whether s is an HTTP token (RFC 9110 5.1).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validHeaderValue reports whether s holds no control characters other
// than horizontal tab.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}
