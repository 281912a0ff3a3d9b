package openai

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

// Config holds the required settings of a Client.
type Config struct {
	// Name names the provider in errors and logs ("openai", "deepseek",
	// "local-vllm"). Required.
	Name string
	// BaseURL is the API root, such as https://api.openai.com/v1; the
	// client posts to BaseURL + "/chat/completions". A trailing slash is
	// tolerated. Required unless WithEndpoint is given, which replaces it.
	BaseURL string
	// APIKey is the resolved credential, sent as "Authorization: Bearer
	// KEY" (see WithAuthHeader). Default "": no credential header, for
	// local servers such as Ollama.
	APIKey string
	// Headers are extra headers sent with every request, such as
	// OpenAI-Organization or OpenRouter's HTTP-Referer. Default none.
	Headers map[string]string
	// Timeout bounds each attempt: for Chat the whole call, for ChatStream
	// the wait for the response headers (a stream may then run as long as
	// its context allows). Default 0: only the context bounds the call.
	Timeout time.Duration
}

// Option configures a Client.
type Option func(*options)

type options struct {
	httpClient       *http.Client
	endpoint         func(model string) string
	authHeader       string
	authPrefix       string
	headerFunc       func(ctx context.Context, h http.Header) error
	omitModel        bool
	maxResponseBytes int64
	maxEventBytes    int
}

var defaultOptions = options{
	authHeader:       "Authorization",
	authPrefix:       "Bearer ",
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

// WithEndpoint sets the function that returns the full chat completions URL
// for a model, replacing BaseURL + "/chat/completions". Azure OpenAI, for
// example, addresses a deployment:
// {endpoint}/openai/deployments/{deployment}/chat/completions?api-version=V.
// Default nil: use BaseURL.
func WithEndpoint(f func(model string) string) Option {
	return func(o *options) { o.endpoint = f }
}

// WithAuthHeader sets the header that carries Config.APIKey and the prefix
// written before the key. Default "Authorization" and "Bearer "; Azure
// OpenAI uses "api-key" and "".
func WithAuthHeader(name, valuePrefix string) Option {
	return func(o *options) {
		o.authHeader = name
		o.authPrefix = valuePrefix
	}
}

// WithHeaderFunc sets a function called for every request, after the
// static headers are set, to add headers that change over time, such as an
// OAuth or Entra ID bearer token. If it returns an *llm.UpstreamError, the
// call fails with it; any other error fails the call as KindAuth. Default
// nil.
func WithHeaderFunc(f func(ctx context.Context, h http.Header) error) Option {
	return func(o *options) { o.headerFunc = f }
}

// WithOmitModel leaves the model field out of request bodies, for APIs
// that take the model from the URL (Azure OpenAI deployments). Default: the
// model is sent.
func WithOmitModel() Option {
	return func(o *options) { o.omitModel = true }
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

// Client calls one OpenAI-compatible API. It is safe for concurrent use.
type Client struct {
	name    string
	url     string // BaseURL + /chat/completions, when no endpoint func is set
	opts    options
	header  http.Header
	hc      *http.Client
	timeout time.Duration

	callTimeout   error // cause of a Chat attempt's timeout
	headerTimeout error // cause of a ChatStream attempt's timeout
}

// New returns a Client for cfg. It fails with an error saying what to fix
// when cfg is incomplete or invalid.
func New(cfg Config, opts ...Option) (*Client, error) {
	o := defaultOptions
	for _, opt := range opts {
		opt(&o)
	}
	if cfg.Name == "" {
		return nil, errors.New(`openai config: Name is empty; set it to the provider's name, such as "openai"`)
	}
	fail := func(format string, args ...any) (*Client, error) {
		return nil, fmt.Errorf("openai config %q: "+format, append([]any{cfg.Name}, args...)...)
	}
	c := &Client{name: cfg.Name, opts: o, hc: o.httpClient, timeout: cfg.Timeout}
	if o.endpoint == nil {
		u, err := chatURL(cfg.BaseURL)
		if err != nil {
			return fail("%w", err)
		}
		c.url = u
	}
	if cfg.Timeout < 0 {
		return fail("Timeout is %v; want 0 (no timeout) or more", cfg.Timeout)
	}
	c.header = make(http.Header)
	if cfg.APIKey != "" {
		if !validHeaderName(o.authHeader) {
			return fail("auth header name %q is not a valid HTTP header name", o.authHeader)
		}
		if !validHeaderValue(o.authPrefix) {
			return fail("auth header prefix %q contains control characters", o.authPrefix)
		}
		if strings.TrimSpace(cfg.APIKey) != cfg.APIKey || !validHeaderValue(cfg.APIKey) {
			return fail("APIKey has surrounding whitespace or control characters; check how it was loaded (a trailing newline from a file?)")
		}
		c.header.Set(o.authHeader, o.authPrefix+cfg.APIKey)
	}
	for k, v := range cfg.Headers {
		if !validHeaderName(k) {
			return fail("Headers: %q is not a valid HTTP header name", k)
		}
		if !validHeaderValue(v) {
			return fail("Headers: the value of %q contains control characters", k)
		}
		switch http.CanonicalHeaderKey(k) {
		case "Host", "Content-Length", "Transfer-Encoding", "Connection":
			return fail("Headers: %s is set by the HTTP client and cannot be configured", k)
		}
		if cfg.APIKey != "" && http.CanonicalHeaderKey(k) == http.CanonicalHeaderKey(o.authHeader) {
			return fail("Headers sets %s, which APIKey already sets; set only one of them", k)
		}
		c.header.Set(k, v)
	}
	if c.hc == nil {
		c.hc = upstream.NewHTTPClient()
	}
	if cfg.Timeout > 0 {
		c.callTimeout = fmt.Errorf("no response within %v: %w", cfg.Timeout, context.DeadlineExceeded)
		c.headerTimeout = fmt.Errorf("no response headers within %v: %w", cfg.Timeout, context.DeadlineExceeded)
	}
	return c, nil
}

// chatURL returns the chat completions URL under the API root base.
func chatURL(base string) (string, error) {
	if base == "" {
		return "", errors.New("BaseURL is empty; set it to the API root, such as https://api.openai.com/v1")
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("BaseURL %q is not an absolute http(s) URL; set it to the API root, such as https://api.openai.com/v1", base)
	}
	if u.User != nil {
		return "", errors.New("BaseURL has user info; give the API root only, and the credential as APIKey")
	}
	if u.Fragment != "" {
		return "", fmt.Errorf("BaseURL %q has a fragment; give the API root only", base)
	}
	path := strings.TrimRight(u.Path, "/")
	if strings.HasSuffix(path, "/chat/completions") {
		return "", fmt.Errorf("BaseURL %q is the chat completions endpoint; give the API root, without /chat/completions", base)
	}
	u.Path = path + "/chat/completions"
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
	body, err := c.buildRequest(req, false)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.name, err)
	}
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, c.timeout, c.callTimeout)
		defer cancel()
	}
	httpReq, err := c.newRequest(ctx, req.Model, body, false)
	if err != nil {
		return nil, err
	}
	resp, err := c.hc.Do(httpReq)
	if err != nil {
		return nil, upstream.FromTransportError(ctx, c.name, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, c.errorFromResponse(resp)
	}
	var w chatResponse
	if err := upstream.ReadJSON(ctx, c.name, resp, c.opts.maxResponseBytes, &w); err != nil {
		return nil, err
	}
	return c.toResponse(&w, resp.StatusCode)
}

// ChatStream sends req as a streamed request. It returns once the upstream
// has answered with its status and headers; the stream's Recv reports
// failures after that.
func (c *Client) ChatStream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	body, err := c.buildRequest(req, true)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.name, err)
	}
	sctx, cancel := context.WithCancelCause(ctx)
	httpReq, err := c.newRequest(sctx, req.Model, body, true)
	if err != nil {
		cancel(nil)
		return nil, err
	}
	var timer *time.Timer
	if c.timeout > 0 {
		timer = time.AfterFunc(c.timeout, func() { cancel(c.headerTimeout) })
	}
	resp, err := c.hc.Do(httpReq)
	if timer != nil && !timer.Stop() {
		// The timeout fired, whether or not Do saw it before returning.
		if err == nil {
			resp.Body.Close()
			err = context.Cause(sctx)
		}
	}
	if err != nil {
		ue := upstream.FromTransportError(sctx, c.name, err)
		cancel(nil)
		return nil, ue
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		ue := c.errorFromResponse(resp)
		cancel(nil)
		return nil, ue
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "application/json" {
		// The server ignored stream:true (or reports an error with 200):
		// read the unary answer and replay it as a stream.
		var w chatResponse
		err := upstream.ReadJSON(sctx, c.name, resp, c.opts.maxResponseBytes, &w)
		cancel(nil)
		if err != nil {
			return nil, err
		}
		r, err := c.toResponse(&w, resp.StatusCode)
		if err != nil {
			return nil, err
		}
		return newReplayStream(r), nil
	}
	return c.newStream(sctx, cancel, resp.Body), nil
}

// newRequest builds the HTTP request for a chat body.
func (c *Client) newRequest(ctx context.Context, model string, body *chatRequest, stream bool) (*http.Request, error) {
	u := c.url
	if c.opts.endpoint != nil {
		u = c.opts.endpoint(model)
	}
	req, err := upstream.NewJSONRequest(ctx, u, body, c.header)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.name, err)
	}
	if stream {
		req.Header.Set("Accept", "text/event-stream")
	} else {
		req.Header.Set("Accept", "application/json")
	}
	if c.opts.headerFunc != nil {
		if err := c.opts.headerFunc(ctx, req.Header); err != nil {
			if ue, ok := llm.AsUpstream(err); ok {
				return nil, ue
			}
			if ctx.Err() != nil {
				return nil, upstream.FromTransportError(ctx, c.name, err)
			}
			return nil, &llm.UpstreamError{Provider: c.name, Kind: llm.KindAuth, Err: fmt.Errorf("setting request headers: %w", err)}
		}
	}
	return req, nil
}

// errorFromResponse maps a non-2xx response, reading OpenAI's error body.
func (c *Client) errorFromResponse(resp *http.Response) *llm.UpstreamError {
	var obj *wireError
	ue := upstream.ErrorFromResponse(c.name, resp, func(b []byte) string {
		obj = parseErrorBody(b)
		if obj == nil {
			return ""
		}
		return obj.describe()
	})
	refineKind(ue, obj)
	return ue
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
