package gemini

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

// DefaultBaseURL is the root of the Gemini API, used when Config.BaseURL is
// empty.
const DefaultBaseURL = "https://generativelanguage.googleapis.com"

// DefaultThoughtSignature is the thoughtSignature sent by default with
// replayed function calls: the value Google documents for function calls
// whose real signature is not available, which makes Gemini 3 models skip
// their signature check instead of answering 400.
const DefaultThoughtSignature = "skip_thought_signature_validator"

// apiKeyHeader carries Config.APIKey. The key never goes in the URL.
const apiKeyHeader = "X-Goog-Api-Key"

// Config holds the required settings of a Client.
type Config struct {
	// Name names the provider in errors and logs ("gemini",
	// "gemini-eu"). Required.
	Name string
	// BaseURL is the API root; the client posts to BaseURL +
	// "/v1beta/models/{model}:generateContent" (the version is set by
	// WithAPIVersion). A trailing slash is tolerated; a query is kept and
	// sent with every request. Default DefaultBaseURL.
	BaseURL string
	// APIKey is the resolved credential, sent in the x-goog-api-key
	// header (never in the URL). Required when BaseURL is the Gemini API;
	// a proxy given as BaseURL may do without.
	APIKey string
	// Headers are extra headers sent with every request. Default none.
	Headers map[string]string
	// Timeout bounds each attempt: for Chat the whole call, for ChatStream
	// the wait for the response headers (a stream may then run as long as
	// its context allows). Default 0: only the context bounds the call.
	Timeout time.Duration
	// DefaultMaxTokens is the maxOutputTokens sent when a request sets
	// none (llm.Request.MaxTokens 0). Default 0: none is sent, and the
	// model's own limit applies.
	DefaultMaxTokens int
}

// Option configures a Client.
type Option func(*options)

type options struct {
	httpClient       *http.Client
	apiVersion       string
	thoughtSignature string
	jsonSchemaParams bool
	maxResponseBytes int64
	maxEventBytes    int
}

var defaultOptions = options{
	apiVersion:       "v1beta",
	thoughtSignature: DefaultThoughtSignature,
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

// WithAPIVersion sets the API version in the request path. Default
// "v1beta", which has every feature the adapter uses; "v1" is the stable
// surface.
func WithAPIVersion(v string) Option {
	return func(o *options) { o.apiVersion = v }
}

// WithThoughtSignature sets the thoughtSignature sent with the first
// function call of every assistant message replayed from the history.
// Gemini 3 models answer 400 when a replayed function call has none, and
// llm.ToolCall has no field to carry the signature the model gave, so the
// adapter sends this value instead. Default DefaultThoughtSignature; ""
// sends none.
func WithThoughtSignature(sig string) Option {
	return func(o *options) { o.thoughtSignature = sig }
}

// WithJSONSchemaParameters sends tool parameters unchanged as
// parametersJsonSchema, which recent Gemini models accept, instead of
// converting them to the OpenAPI subset of the parameters field. Default:
// converted.
func WithJSONSchemaParameters() Option {
	return func(o *options) { o.jsonSchemaParams = true }
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

// Client calls the Gemini API. It is safe for concurrent use.
type Client struct {
	name    string
	opts    options
	header  http.Header
	hc      *http.Client
	timeout time.Duration
	schemas schemaCache

	defaultMaxTokens int

	// prefix is the URL up to the model resource: BaseURL + "/v1beta/".
	prefix string
	// unaryQuery and streamQuery are the encoded queries of unary and
	// streamed requests, each with its leading "?" ("" when empty).
	unaryQuery, streamQuery string

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
		return nil, errors.New(`gemini config: Name is empty; set it to the provider's name, such as "gemini"`)
	}
	fail := func(format string, args ...any) (*Client, error) {
		return nil, fmt.Errorf("gemini config %q: "+format, append([]any{cfg.Name}, args...)...)
	}
	if !validAPIVersion(o.apiVersion) {
		return fail(`API version %q is not a version path segment; use "v1beta" or "v1"`, o.apiVersion)
	}
	if cfg.DefaultMaxTokens < 0 {
		return fail("DefaultMaxTokens is %d; want 0 (none sent) or more", cfg.DefaultMaxTokens)
	}
	c := &Client{name: cfg.Name, opts: o, hc: o.httpClient, timeout: cfg.Timeout, defaultMaxTokens: cfg.DefaultMaxTokens}
	base := cfg.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	if err := c.setURLs(base); err != nil {
		return fail("%w", err)
	}
	if cfg.APIKey == "" && strings.HasPrefix(c.prefix, DefaultBaseURL+"/") {
		return fail("APIKey is empty; the Gemini API needs a key (create one in Google AI Studio)")
	}
	if cfg.Timeout < 0 {
		return fail("Timeout is %v; want 0 (no timeout) or more", cfg.Timeout)
	}
	c.header = make(http.Header)
	if cfg.APIKey != "" {
		if strings.TrimSpace(cfg.APIKey) != cfg.APIKey || !validHeaderValue(cfg.APIKey) {
			return fail("APIKey has surrounding whitespace or control characters; check how it was loaded (a trailing newline from a file?)")
		}
		c.header.Set(apiKeyHeader, cfg.APIKey)
	}
	for k, v := range cfg.Headers {
		if !validHeaderName(k) {
			return fail("Headers: %q is not a valid HTTP header name", k)
		}
		if !validHeaderValue(v) {
			return fail("Headers: the value of %q contains control characters", k)
		}
		if cfg.APIKey != "" && http.CanonicalHeaderKey(k) == apiKeyHeader {
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

// setURLs checks the API root base and derives the URL parts of requests.
func (c *Client) setURLs(base string) error {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("BaseURL %q is not an absolute http(s) URL; set it to the API root, such as %s", base, DefaultBaseURL)
	}
	if u.Fragment != "" || u.User != nil {
		return fmt.Errorf("BaseURL %q has a fragment or user info; give the API root only, and the key as APIKey", base)
	}
	q := u.Query()
	if q.Has("key") {
		return fmt.Errorf("BaseURL %q carries a key query parameter; give the key as APIKey, which is sent in a header", base)
	}
	path := strings.TrimRight(u.EscapedPath(), "/")
	if endpointLike(path, c.opts.apiVersion) {
		return fmt.Errorf("BaseURL %q includes the API version or a model path; give the API root (such as %s), the client appends /%s/models/{model}:generateContent", base, DefaultBaseURL, c.opts.apiVersion)
	}
	c.prefix = u.Scheme + "://" + u.Host + path + "/" + c.opts.apiVersion + "/"
	if len(q) > 0 {
		c.unaryQuery = "?" + q.Encode()
	}
	q.Set("alt", "sse")
	c.streamQuery = "?" + q.Encode()
	return nil
}

// endpointLike reports whether the path of a BaseURL goes past the API
// root: it ends with the API version, or names models or a method.
func endpointLike(path, version string) bool {
	segs := strings.Split(path, "/")
	if segs[len(segs)-1] == version {
		return true
	}
	for _, s := range segs {
		if s == "models" || s == "tunedModels" || strings.Contains(strings.ToLower(s), "generatecontent") {
			return true
		}
	}
	return false
}

// endpoint returns the URL of a generateContent (or streamGenerateContent)
// call for model.
func (c *Client) endpoint(model string, stream bool) (string, error) {
	resource, err := modelResource(model)
	if err != nil {
		return "", err
	}
	if stream {
		return c.prefix + resource + ":streamGenerateContent" + c.streamQuery, nil
	}
	return c.prefix + resource + ":generateContent" + c.unaryQuery, nil
}

// modelResource returns the path of the model resource model names:
// "models/" + the escaped model id. A model given as "models/ID" or
// "tunedModels/ID" keeps its collection.
func modelResource(model string) (string, error) {
	collection, id := "models/", model
	if rest, ok := strings.CutPrefix(model, "models/"); ok {
		id = rest
	} else if rest, ok := strings.CutPrefix(model, "tunedModels/"); ok {
		collection, id = "tunedModels/", rest
	}
	if id == "" {
		return "", errors.New("request has no model")
	}
	if strings.ContainsAny(id, "/:?#%") || !validHeaderValue(id) || strings.ContainsAny(id, " \t") {
		return "", fmt.Errorf("request model %q is not a Gemini model name; give an id such as gemini-2.5-flash or models/gemini-2.5-flash", model)
	}
	return collection + url.PathEscape(id), nil
}

// CloseIdleConnections closes the idle connections of the client's HTTP
// transport, for shutdown or after a configuration change.
func (c *Client) CloseIdleConnections() {
	c.hc.CloseIdleConnections()
}

// Chat sends req and returns the complete response.
//
// A request that cannot be mapped to Gemini's format (tool call arguments
// that are not a JSON object, a tool message answering no known call, an
// unknown role, ...) fails before anything is sent, with an
// *llm.UpstreamError of KindBadRequest and StatusCode 0 whose Error says
// what to fix. ChatStream does the same.
//
// A prompt that Gemini blocks (promptFeedback.blockReason, no candidates)
// is not an error: it gives a response with FinishContentFilter, no
// content, and the usage Gemini reported, as a blocked completion does.
func (c *Client) Chat(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	target, body, err := c.prepare(req, false)
	if err != nil {
		return nil, err
	}
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, c.timeout, c.callTimeout)
		defer cancel()
	}
	httpReq, err := c.newRequest(ctx, target, body, false)
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
	var w generateResponse
	if err := upstream.ReadJSON(ctx, c.name, resp, c.opts.maxResponseBytes, &w); err != nil {
		return nil, err
	}
	return c.toResponse(&w, resp.StatusCode)
}

// ChatStream sends req as a streamed request. It returns once the upstream
// has answered with its status and headers; the stream's Recv reports
// failures after that.
func (c *Client) ChatStream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	target, body, err := c.prepare(req, true)
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancelCause(ctx)
	httpReq, err := c.newRequest(sctx, target, body, true)
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
		// An error object sent with 200, or a server (a proxy dropping
		// alt=sse) that answers with the whole JSON array of chunks.
		defer cancel(nil)
		return c.replayJSON(sctx, resp)
	}
	return c.newStream(sctx, cancel, resp.Body), nil
}

// prepare validates req and returns the URL and body of its call. Its
// errors are *llm.UpstreamError of KindBadRequest: the request cannot be
// sent as it is.
func (c *Client) prepare(req *llm.Request, stream bool) (string, *generateRequest, error) {
	if req == nil {
		return "", nil, c.badRequest(errors.New("request is nil"))
	}
	target, err := c.endpoint(req.Model, stream)
	if err != nil {
		return "", nil, c.badRequest(err)
	}
	body, err := c.buildRequest(req)
	if err != nil {
		return "", nil, c.badRequest(err)
	}
	return target, body, nil
}

// badRequest wraps an error of the request's own making.
func (c *Client) badRequest(err error) *llm.UpstreamError {
	return &llm.UpstreamError{Provider: c.name, Kind: llm.KindBadRequest, Err: err}
}

// newRequest builds the HTTP request for a body.
func (c *Client) newRequest(ctx context.Context, target string, body *generateRequest, stream bool) (*http.Request, error) {
	req, err := upstream.NewJSONRequest(ctx, target, body, c.header)
	if err != nil {
		return nil, c.badRequest(err)
	}
	if stream {
		req.Header.Set("Accept", "text/event-stream")
	} else {
		req.Header.Set("Accept", "application/json")
	}
	return req, nil
}

// validAPIVersion reports whether v is a plain path segment of lowercase
// letters and digits, such as v1beta.
func validAPIVersion(v string) bool {
	if v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
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
