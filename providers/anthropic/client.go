package anthropic

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

// Client calls one Anthropic Messages API. It is safe for concurrent use.
type Client struct {
	name      string
	url       string // BaseURL + /v1/messages
	opts      options
	header    http.Header
	hc        *http.Client
	timeout   time.Duration
	maxTokens int

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
	if strings.TrimSpace(version) != version || !validHeaderValue(version) {
		return fail("Version %q has surrounding whitespace or control characters; want a date such as %s", version, DefaultVersion)
	}
	c := &Client{name: cfg.Name, url: u, opts: o, hc: o.httpClient, timeout: cfg.Timeout, maxTokens: maxTokens}
	c.header = make(http.Header)
	c.header.Set("anthropic-version", version)
	if cfg.APIKey != "" {
		if strings.TrimSpace(cfg.APIKey) != cfg.APIKey || !validHeaderValue(cfg.APIKey) {
			return fail("APIKey has surrounding whitespace or control characters; check how it was loaded (a trailing newline from a file?)")
		}
		c.header.Set("x-api-key", cfg.APIKey)
	}
	for k, v := range cfg.Headers {
		if !validHeaderName(k) {
			return fail("Headers: %q is not a valid HTTP header name", k)
		}
		if !validHeaderValue(v) {
			return fail("Headers: the value of %q contains control characters", k)
		}
		switch http.CanonicalHeaderKey(k) {
		case "X-Api-Key":
			if cfg.APIKey != "" {
				return fail("Headers sets %s, which APIKey already sets; set only one of them", k)
			}
		case "Anthropic-Version":
			return fail("Headers sets %s; set Version instead", k)
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

// messagesURL returns the Messages endpoint under the API root base.
func messagesURL(base string) (string, error) {
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
	c.hc.CloseIdleConnections()
}

// Chat sends req and returns the complete response.
func (c *Client) Chat(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	body, err := c.buildRequest(req, false)
	if err != nil {
		return nil, c.requestError(err)
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
		return nil, c.errorFromResponse(resp)
	}
	var w messagesResponse
	if err := upstream.ReadJSON(ctx, c.name, resp, c.opts.maxResponseBytes, &w); err != nil {
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
	sctx, cancel := context.WithCancelCause(ctx)
	httpReq, err := c.newRequest(sctx, body, true)
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
	requestID := resp.Header.Get("request-id")
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "application/json" {
		// A proxy ignored stream:true, or reports an error with 200: read
		// the unary answer and replay it as a stream.
		var w messagesResponse
		err := upstream.ReadJSON(sctx, c.name, resp, c.opts.maxResponseBytes, &w)
		cancel(nil)
		if err != nil {
			return nil, err
		}
		r, err := c.toResponse(&w, resp.StatusCode, requestID)
		if err != nil {
			return nil, err
		}
		return newReplayStream(r), nil
	}
	return c.newStream(sctx, cancel, resp.Body, requestID), nil
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

// newRequest builds the HTTP request for a Messages body.
func (c *Client) newRequest(ctx context.Context, body *messagesRequest, stream bool) (*http.Request, error) {
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

// errorFromResponse maps a non-2xx response, reading Anthropic's error
// body and rate-limit headers.
func (c *Client) errorFromResponse(resp *http.Response) *llm.UpstreamError {
	var obj *wireError
	ue := upstream.ErrorFromResponse(c.name, resp, func(b []byte) string {
		obj = parseErrorBody(b)
		if obj == nil {
			return ""
		}
		return obj.describe()
	})
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
