package anthropic

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

// DefaultBaseURL is the root of Anthropic's API.
const DefaultBaseURL = "https://api.anthropic.com"

// DefaultVersion is the anthropic-version header sent when Config.Version
// is empty.
const DefaultVersion = "2023-06-01"

// DefaultMaxTokens is the max_tokens sent for requests that set none when
// Config.DefaultMaxTokens is 0. The Messages API requires max_tokens.
const DefaultMaxTokens = 4096

// messagesPath is the path of the Messages endpoint under the API root.
const messagesPath = "/v1/messages"

// Config holds the settings of a Client.
type Config struct {
	// Name names the provider in errors and logs ("anthropic",
	// "anthropic-eu"). Required.
	Name string
	// BaseURL is the API root; the client posts to BaseURL +
	// "/v1/messages". A trailing slash is tolerated. Default
	// DefaultBaseURL (https://api.anthropic.com).
	BaseURL string
	// APIKey is the resolved credential, sent as the x-api-key header.
	// Default "": no x-api-key header, for proxies that authenticate
	// otherwise (see Headers).
	APIKey string
	// Headers are extra headers sent with every request, such as
	// anthropic-beta. Default none. They may not set x-api-key when APIKey
	// is set, nor anthropic-version (use Version).
	Headers map[string]string
	// Timeout bounds each attempt: for Chat the whole call, for ChatStream
	// the wait for the response headers (a stream may then run as long as
	// its context allows). Default 0: only the context bounds the call.
	Timeout time.Duration
	// Version is the anthropic-version header. Default DefaultVersion
	// ("2023-06-01").
	Version string
	// DefaultMaxTokens is the max_tokens sent when a request sets none
	// (llm.Request.MaxTokens 0), since the Messages API requires it.
	// Default DefaultMaxTokens (4096).
	DefaultMaxTokens int
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

// Client calls one Anthropic Messages API. It is safe for concurrent use.
type Client struct {
	name      string
	url       string // BaseURL + /v1/messages
	call      *upstream.Caller
	maxTokens int
}

// New returns a Client for cfg. It fails with an error saying what to fix
// when cfg is incomplete or invalid.
func New(cfg Config, opts ...Option) (*Client, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if cfg.Name == "" {
		return nil, errors.New(`anthropic config: Name is empty; set it to the provider's name, such as "anthropic"`)
	}
	fail := func(format string, args ...any) (*Client, error) {
		return nil, fmt.Errorf("anthropic config %q: "+format, append([]any{cfg.Name}, args...)...)
	}
	u, err := messagesURL(cfg.BaseURL)
	if err != nil {
		return fail("%w", err)
	}
	if cfg.Timeout < 0 {
		return fail("Timeout is %v; want 0 (no timeout) or more", cfg.Timeout)
	}
	maxTokens := cfg.DefaultMaxTokens
	switch {
	case maxTokens < 0:
		return fail("DefaultMaxTokens is %d; want 0 (for %d) or more", maxTokens, DefaultMaxTokens)
	case maxTokens == 0:
		maxTokens = DefaultMaxTokens
	}
	version := cfg.Version
	if version == "" {
		version = DefaultVersion
	}
	if strings.TrimSpace(version) != version || !upstream.ValidHeaderValue(version) {
		return fail("Version %q has surrounding whitespace or control characters; want a date such as %s", version, DefaultVersion)
	}
	header, err := upstream.NewHeader("x-api-key", "", cfg.APIKey, cfg.Headers, func(k string) error {
		if http.CanonicalHeaderKey(k) == "Anthropic-Version" {
			return fmt.Errorf("Headers sets %s; set Version instead", k)
		}
		return nil
	})
	if err != nil {
		return fail("%w", err)
	}
	header.Set("anthropic-version", version)
	c := &Client{name: cfg.Name, url: u, maxTokens: maxTokens}
	c.call = upstream.NewCaller(upstream.CallerConfig{Provider: cfg.Name, Header: header, Timeout: cfg.Timeout}, o.limits)
	return c, nil
}

// messagesURL returns the Messages endpoint under the API root base.
func messagesURL(base string) (string, error) {
	if base == "" {
		base = DefaultBaseURL
	}
	u, err := upstream.ParseAPIRoot(base, DefaultBaseURL)
	if err != nil {
		return "", err
	}
	path := strings.TrimRight(u.Path, "/")
	switch {
	case strings.HasSuffix(path, messagesPath):
		return "", fmt.Errorf("BaseURL %q is the messages endpoint; give the API root, without %s", base, messagesPath)
	case strings.HasSuffix(path, "/v1"):
		return "", fmt.Errorf("BaseURL %q ends in /v1; give the API root without it (the client appends %s)", base, messagesPath)
	}
	u.Path = path + messagesPath
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
		return nil, c.requestError(err)
	}
	var w messagesResponse
	resp, err := c.call.Unary(ctx, c.requestFunc(body, false), c.errorFromResponse, &w)
	if err != nil {
		return nil, err
	}
	return c.toResponse(&w, resp.StatusCode, resp.Header.Get("request-id"))
}

// ChatStream sends req as a streamed request. It returns once the upstream
// has answered with its status and headers; the stream's Recv reports
// failures after that.
func (c *Client) ChatStream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	body, err := c.buildRequest(req, true)
	if err != nil {
		return nil, c.requestError(err)
	}
	o, err := c.call.Stream(ctx, c.requestFunc(body, true), c.errorFromResponse)
	if err != nil {
		return nil, err
	}
	requestID := o.Response.Header.Get("request-id")
	if o.IsJSON() {
		// A proxy ignored stream:true, or reports an error with 200: read
		// the unary answer and replay it as a stream.
		var w messagesResponse
		if err := o.ReadJSON(&w); err != nil {
			return nil, err
		}
		r, err := c.toResponse(&w, o.Response.StatusCode, requestID)
		if err != nil {
			return nil, err
		}
		return replay(r), nil
	}
	return c.newStream(o, requestID), nil
}

// requestError reports a request that could not be mapped: an
// *llm.UpstreamError as it is, anything else prefixed with the provider.
func (c *Client) requestError(err error) error {
	if ue, ok := llm.AsUpstream(err); ok {
		ue.Provider = c.name
		return ue
	}
	return fmt.Errorf("%s: %w", c.name, err)
}

// requestFunc returns the function that builds the HTTP request of a
// Messages body for an attempt.
func (c *Client) requestFunc(body *messagesRequest, stream bool) upstream.RequestFunc {
	return func(ctx context.Context) (*http.Request, error) {
		req, err := c.call.NewRequest(ctx, c.url, body, stream)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.name, err)
		}
		return req, nil
	}
}

// errorFromResponse maps a non-2xx response, reading Anthropic's error
// body and rate-limit headers.
func (c *Client) errorFromResponse(_ context.Context, resp *http.Response) *llm.UpstreamError {
	ue, obj := upstream.ErrorObjectFromResponse(c.name, resp, parseErrorBody, (*wireError).describe)
	if id := resp.Header.Get("request-id"); id != "" && (obj == nil || obj.RequestID == "") {
		ue.Message = withRequestID(ue.Message, id)
	}
	refineKind(ue, obj)
	if ue.RetryAfter == 0 && resp.StatusCode == http.StatusTooManyRequests {
		ue.RetryAfter = rateLimitReset(resp.Header, time.Now())
	}
	return ue
}

// rateLimitReset reads how long to wait from Anthropic's rate-limit
// headers, for a 429 without Retry-After: the anthropic-ratelimit-*-reset
// headers are RFC 3339 times at which a limit is replenished. It returns
// the latest reset among the limits whose -remaining header is 0, or,
// when none shows which limit was hit, the latest reset of all (the
// convention upstream.RetryAfter follows for OpenAI's headers). Resets in
// the past are ignored; 0 means none was usable.
func rateLimitReset(h http.Header, now time.Time) time.Duration {
	var exhausted, latest time.Duration
	// The limits Anthropic reports in anthropic-ratelimit-{limit}-remaining
	// and -reset headers.
	for _, f := range [...]string{"requests", "tokens", "input-tokens", "output-tokens"} {
		v := strings.TrimSpace(h.Get("anthropic-ratelimit-" + f + "-reset"))
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			continue
		}
		d := t.Sub(now)
		if d <= 0 {
			continue
		}
		latest = max(latest, d)
		if strings.TrimSpace(h.Get("anthropic-ratelimit-"+f+"-remaining")) == "0" {
			exhausted = max(exhausted, d)
		}
	}
	if exhausted > 0 {
		return exhausted
	}
	return latest
}
