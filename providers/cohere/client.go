package cohere

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/llmgateway/llmgateway/llm"
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
	limits upstream.Limits
}

// WithHTTPClient sets the HTTP client. Default: a client over
// upstream.NewTransport, tuned for many concurrent calls to one host. The
// client should have no Timeout, which would cut streams; use
// Config.Timeout.
func WithHTTPClient(hc *http.Client) Option {
	return func(o *options) { o.limits.SetHTTPClient(hc) }
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

// Client calls the Cohere Chat API. It is safe for concurrent use.
type Client struct {
	name string
	url  string // BaseURL + /v2/chat
	call *upstream.Caller
}

// New returns a Client for cfg. It fails with an error saying what to fix
// when cfg is incomplete or invalid.
func New(cfg Config, opts ...Option) (*Client, error) {
	var o options
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
	header, err := upstream.NewHeader("Authorization", "Bearer ", cfg.APIKey, cfg.Headers, nil)
	if err != nil {
		return fail("%w", err)
	}
	c := &Client{name: cfg.Name, url: u}
	c.call = upstream.NewCaller(upstream.CallerConfig{Provider: cfg.Name, Header: header, Timeout: cfg.Timeout, TimeoutFirstEvent: true}, o.limits)
	return c, nil
}

// chatURL returns the chat URL under the API root base.
func chatURL(base string) (string, error) {
	if base == "" {
		base = DefaultBaseURL
	}
	u, err := upstream.ParseAPIRoot(base, DefaultBaseURL)
	if err != nil {
		return "", err
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
	c.call.CloseIdleConnections()
}

// Chat sends req and returns the complete response.
func (c *Client) Chat(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	body, err := buildRequest(req, false)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.name, err)
	}
	var w chatResponse
	resp, err := c.call.Unary(ctx, c.requestFunc(body, false), c.errorFromResponse, &w)
	if err != nil {
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
	o, err := c.call.Stream(ctx, c.requestFunc(body, true), c.errorFromResponse)
	if err != nil {
		return nil, err
	}
	if o.IsJSON() {
		// The server ignored stream:true: read the unary answer (still
		// under the attempt's timeout) and replay it as a stream.
		var w chatResponse
		if err := o.ReadJSON(&w); err != nil {
			return nil, err
		}
		r, err := toResponse(c.name, &w, o.Response.StatusCode)
		if err != nil {
			return nil, err
		}
		return replay(r), nil
	}
	return c.newStream(o), nil
}

// requestFunc returns the function that builds the HTTP request of a chat
// body for an attempt.
func (c *Client) requestFunc(body *chatRequest, stream bool) upstream.RequestFunc {
	return func(ctx context.Context) (*http.Request, error) {
		req, err := c.call.NewRequest(ctx, c.url, body, stream)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.name, err)
		}
		return req, nil
	}
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
