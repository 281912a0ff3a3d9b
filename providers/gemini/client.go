package gemini

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
	limits           upstream.Limits
	apiVersion       string
	thoughtSignature string
	jsonSchemaParams bool
}

var defaultOptions = options{
	apiVersion:       "v1beta",
	thoughtSignature: DefaultThoughtSignature,
}

// WithHTTPClient sets the HTTP client. Default: a client over
// upstream.NewTransport, tuned for many concurrent calls to one host. The
// client should have no Timeout, which would cut streams; use
// Config.Timeout.
func WithHTTPClient(hc *http.Client) Option {
	return func(o *options) { o.limits.SetHTTPClient(hc) }
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
	return func(o *options) { o.limits.SetMaxResponseBytes(n) }
}

// WithMaxEventBytes bounds the size of one streamed event. Default
// sse.DefaultMaxEventSize (1 MiB). Values below 1 keep the default.
func WithMaxEventBytes(n int) Option {
	return func(o *options) { o.limits.SetMaxEventBytes(n) }
}

// Client calls the Gemini API. It is safe for concurrent use.
type Client struct {
	name    string
	opts    options
	call    *upstream.Caller
	schemas schemaCache

	defaultMaxTokens int

	// prefix is the URL up to the model resource: BaseURL + "/v1beta/".
	prefix string
	// unaryQuery and streamQuery are the encoded queries of unary and
	// streamed requests, each with its leading "?" ("" when empty).
	unaryQuery, streamQuery string
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
	c := &Client{name: cfg.Name, opts: o, defaultMaxTokens: cfg.DefaultMaxTokens}
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
	header, err := upstream.NewHeader(apiKeyHeader, "", cfg.APIKey, cfg.Headers, nil)
	if err != nil {
		return fail("%w", err)
	}
	c.call = upstream.NewCaller(upstream.CallerConfig{Provider: cfg.Name, Header: header, Timeout: cfg.Timeout}, o.limits)
	return c, nil
}

// setURLs checks the API root base and derives the URL parts of requests.
func (c *Client) setURLs(base string) error {
	u, err := upstream.ParseAPIRoot(base, DefaultBaseURL)
	if err != nil {
		return err
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
	if strings.ContainsAny(id, "/:?#%") || !upstream.ValidHeaderValue(id) || strings.ContainsAny(id, " \t") {
		return "", fmt.Errorf("request model %q is not a Gemini model name; give an id such as gemini-2.5-flash or models/gemini-2.5-flash", model)
	}
	return collection + url.PathEscape(id), nil
}

// CloseIdleConnections closes the idle connections of the client's HTTP
// transport, for shutdown or after a configuration change.
func (c *Client) CloseIdleConnections() {
	c.call.CloseIdleConnections()
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
	var w generateResponse
	resp, err := c.call.Unary(ctx, c.requestFunc(target, body, false), c.errorFromResponse, &w)
	if err != nil {
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
	o, err := c.call.Stream(ctx, c.requestFunc(target, body, true), c.errorFromResponse)
	if err != nil {
		return nil, err
	}
	if o.IsJSON() {
		// An error object sent with 200, or a server (a proxy dropping
		// alt=sse) that answers with the whole JSON array of chunks.
		return c.replayJSON(o)
	}
	return c.newStream(o), nil
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

// requestFunc returns the function that builds the HTTP request of a body
// for an attempt.
func (c *Client) requestFunc(target string, body *generateRequest, stream bool) upstream.RequestFunc {
	return func(ctx context.Context) (*http.Request, error) {
		req, err := c.call.NewRequest(ctx, target, body, stream)
		if err != nil {
			return nil, c.badRequest(err)
		}
		return req, nil
	}
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
