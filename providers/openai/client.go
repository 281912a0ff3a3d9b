package openai

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/llmgateway/llmgateway/llm"
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
	limits     upstream.Limits
	endpoint   func(model string) string
	authHeader string
	authPrefix string
	headerFunc func(ctx context.Context, h http.Header) error
	omitModel  bool
}

var defaultOptions = options{
	authHeader: "Authorization",
	authPrefix: "Bearer ",
}

// WithHTTPClient sets the HTTP client. Default: a client over
// upstream.NewTransport, tuned for many concurrent calls to one host. The
// client should have no Timeout, which would cut streams; use
// Config.Timeout.
func WithHTTPClient(hc *http.Client) Option {
	return func(o *options) { o.limits.SetHTTPClient(hc) }
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
	return func(o *options) { o.limits.SetMaxResponseBytes(n) }
}

// WithMaxEventBytes bounds the size of one streamed event. Default
// sse.DefaultMaxEventSize (1 MiB). Values below 1 keep the default.
func WithMaxEventBytes(n int) Option {
	return func(o *options) { o.limits.SetMaxEventBytes(n) }
}

// Client calls one OpenAI-compatible API. It is safe for concurrent use.
type Client struct {
	name string
	url  string // BaseURL + /chat/completions, when no endpoint func is set
	opts options
	call *upstream.Caller
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
	c := &Client{name: cfg.Name, opts: o}
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
	header, err := upstream.NewHeader(o.authHeader, o.authPrefix, cfg.APIKey, cfg.Headers, func(k string) error {
		switch http.CanonicalHeaderKey(k) {
		case "Host", "Content-Length", "Transfer-Encoding", "Connection":
			return fmt.Errorf("Headers: %s is set by the HTTP client and cannot be configured", k)
		}
		return nil
	})
	if err != nil {
		return fail("%w", err)
	}
	c.call = upstream.NewCaller(upstream.CallerConfig{Provider: cfg.Name, Header: header, Timeout: cfg.Timeout}, o.limits)
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
	c.call.CloseIdleConnections()
}

// Chat sends req and returns the complete response.
func (c *Client) Chat(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	body, err := c.buildRequest(req, false)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.name, err)
	}
	var w chatResponse
	resp, err := c.call.Unary(ctx, c.requestFunc(req.Model, body, false), c.errorFromResponse, &w)
	if err != nil {
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
	o, err := c.call.Stream(ctx, c.requestFunc(req.Model, body, true), c.errorFromResponse)
	if err != nil {
		return nil, err
	}
	if o.IsJSON() {
		// The server ignored stream:true (or reports an error with 200):
		// read the unary answer and replay it as a stream.
		var w chatResponse
		if err := o.ReadJSON(&w); err != nil {
			return nil, err
		}
		r, err := c.toResponse(&w, o.Response.StatusCode)
		if err != nil {
			return nil, err
		}
		return replay(r), nil
	}
	return c.newStream(o), nil
}

// requestFunc returns the function that builds the HTTP request of a chat
// body for an attempt.
func (c *Client) requestFunc(model string, body *chatRequest, stream bool) upstream.RequestFunc {
	return func(ctx context.Context) (*http.Request, error) {
		return c.newRequest(ctx, model, body, stream)
	}
}

// newRequest builds the HTTP request for a chat body.
func (c *Client) newRequest(ctx context.Context, model string, body *chatRequest, stream bool) (*http.Request, error) {
	u := c.url
	if c.opts.endpoint != nil {
		u = c.opts.endpoint(model)
	}
	req, err := c.call.NewRequest(ctx, u, body, stream)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.name, err)
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
func (c *Client) errorFromResponse(_ context.Context, resp *http.Response) *llm.UpstreamError {
	ue, obj := upstream.ErrorObjectFromResponse(c.name, resp, parseErrorBody, (*wireError).describe)
	refineKind(ue, obj)
	return ue
}
