package upstream

import (
	"context"
	"fmt"
	"mime"
	"net/http"
	"sync"
	"time"

	"github.com/llmgateway/llmgateway/llm"
	"github.com/llmgateway/llmgateway/providers/internal/sse"
)

// DefaultMaxResponseBytes is the default bound on the size of a unary
// response body.
const DefaultMaxResponseBytes = 32 << 20

// Limits holds the settings every adapter offers as options of the same
// names: WithHTTPClient, WithMaxResponseBytes and WithMaxEventBytes. The
// zero value means the defaults: a client over NewTransport,
// DefaultMaxResponseBytes and sse.DefaultMaxEventSize.
type Limits struct {
	httpClient       *http.Client
	maxResponseBytes int64
	maxEventBytes    int
}

// SetHTTPClient sets the HTTP client; nil means the default.
func (l *Limits) SetHTTPClient(hc *http.Client) { l.httpClient = hc }

// SetMaxResponseBytes bounds the size of a unary response body. Values
// below 1 keep the bound as it was.
func (l *Limits) SetMaxResponseBytes(n int64) {
	if n > 0 {
		l.maxResponseBytes = n
	}
}

// SetMaxEventBytes bounds the size of one streamed event. Values below 1
// keep the bound as it was.
func (l *Limits) SetMaxEventBytes(n int) {
	if n > 0 {
		l.maxEventBytes = n
	}
}

// CallerConfig holds the settings of a Caller.
type CallerConfig struct {
	// Provider names the provider in errors.
	Provider string
	// Header holds the headers sent with every request (see NewHeader).
	// The Caller keeps it and never changes it.
	Header http.Header
	// Timeout bounds each attempt: a unary call as a whole, a streamed
	// call until its response headers arrive. 0 means that only the
	// caller's context bounds the call.
	Timeout time.Duration
	// TimeoutFirstEvent makes a streamed call's Timeout bound the wait for
	// the first event as well as for the headers.
	TimeoutFirstEvent bool
}

// Caller sends an adapter's requests over HTTP: it bounds each attempt by
// the configured timeout, maps transport failures and non-2xx answers to
// *llm.UpstreamError, and reads answers within the configured limits. It
// holds no per-request state and is safe for concurrent use.
type Caller struct {
	provider         string
	header           http.Header
	hc               *http.Client
	timeout          time.Duration
	firstEvent       bool
	maxResponseBytes int64
	maxEventBytes    int

	unaryCause  error // cause of a unary attempt's timeout
	streamCause error // cause of a streamed attempt's timeout

	bodies sync.Pool // of *[]byte, for unary response bodies
}

// NewCaller returns a Caller for cfg and l. cfg.Timeout must not be
// negative; adapters check it with the rest of their Config.
func NewCaller(cfg CallerConfig, l Limits) *Caller {
	c := &Caller{
		provider:         cfg.Provider,
		header:           cfg.Header,
		hc:               l.httpClient,
		timeout:          cfg.Timeout,
		firstEvent:       cfg.TimeoutFirstEvent,
		maxResponseBytes: l.maxResponseBytes,
		maxEventBytes:    l.maxEventBytes,
	}
	if c.header == nil {
		c.header = make(http.Header)
	}
	if c.hc == nil {
		c.hc = NewHTTPClient()
	}
	if c.maxResponseBytes == 0 {
		c.maxResponseBytes = DefaultMaxResponseBytes
	}
	if c.maxEventBytes == 0 {
		c.maxEventBytes = sse.DefaultMaxEventSize
	}
	if cfg.Timeout > 0 {
		c.unaryCause = fmt.Errorf("no response within %v: %w", cfg.Timeout, context.DeadlineExceeded)
		waitFor := "response headers"
		if cfg.TimeoutFirstEvent {
			waitFor = "response headers and first event"
		}
		c.streamCause = fmt.Errorf("no %s within %v: %w", waitFor, cfg.Timeout, context.DeadlineExceeded)
	}
	return c
}

// Header returns the headers sent with every request. The caller must not
// change them.
func (c *Caller) Header() http.Header { return c.header }

// CloseIdleConnections closes the idle connections of the HTTP client's
// transport.
func (c *Caller) CloseIdleConnections() { c.hc.CloseIdleConnections() }

// NewRequest returns a POST of body, encoded as JSON, to url, with the
// configured headers and an Accept header asking for JSON or, when stream
// is set, for an event stream.
func (c *Caller) NewRequest(ctx context.Context, url string, body any, stream bool) (*http.Request, error) {
	req, err := NewJSONRequest(ctx, url, body, c.header)
	if err != nil {
		return nil, err
	}
	if stream {
		req.Header.Set("Accept", "text/event-stream")
	} else {
		req.Header.Set("Accept", "application/json")
	}
	return req, nil
}

// RequestFunc builds the HTTP request of one attempt, bound to ctx, the
// attempt's context. Its error is returned to the caller as it is.
type RequestFunc func(ctx context.Context) (*http.Request, error)

// ErrorFunc maps a non-2xx response to an error, reading and closing its
// body (see ErrorFromResponse). ctx is the attempt's context.
type ErrorFunc func(ctx context.Context, resp *http.Response) *llm.UpstreamError

// Unary makes one unary attempt: it sends the request build makes, bounded
// by the timeout, and decodes a 2xx JSON answer of at most the response
// bound into v. It returns the response, whose body it has read and
// closed, for its status and headers. A transport failure is returned as
// FromTransportError makes it, a non-2xx answer as errorFrom maps it.
func (c *Caller) Unary(ctx context.Context, build RequestFunc, errorFrom ErrorFunc, v any) (*http.Response, error) {
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, c.timeout, c.unaryCause)
		defer cancel()
	}
	req, err := build(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, FromTransportError(ctx, c.provider, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, errorFrom(ctx, resp)
	}
	if err := readJSON(ctx, c.provider, resp, c.maxResponseBytes, v, &c.bodies); err != nil {
		return nil, err
	}
	return resp, nil
}

// Stream makes one streamed attempt: it sends the request build makes and
// returns once the upstream has answered with its status and headers. The
// timeout bounds the wait for the headers (and, with TimeoutFirstEvent,
// for the first event); the attempt may then run as long as ctx allows. A
// transport failure is returned as FromTransportError makes it, a non-2xx
// answer as errorFrom maps it; a 2xx answer is returned as an Opened that
// holds the attempt until its body is read or handed to an EventStream.
func (c *Caller) Stream(ctx context.Context, build RequestFunc, errorFrom ErrorFunc) (Opened, error) {
	sctx, cancel := context.WithCancelCause(ctx)
	req, err := build(sctx)
	if err != nil {
		cancel(nil)
		return Opened{}, err
	}
	var timer *time.Timer
	if c.timeout > 0 {
		timer = time.AfterFunc(c.timeout, func() { cancel(c.streamCause) })
	}
	resp, err := c.hc.Do(req)
	if timer != nil && !c.firstEvent {
		if !timer.Stop() && err == nil {
			// The timeout fired, whether or not Do saw it before returning.
			resp.Body.Close()
			err = context.Cause(sctx)
		}
		timer = nil
	}
	o := Opened{Response: resp, c: c, ctx: sctx, cancel: cancel, timer: timer}
	if err != nil {
		o.stopTimer()
		ue := FromTransportError(sctx, c.provider, err)
		cancel(nil)
		return Opened{}, ue
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		o.stopTimer()
		ue := errorFrom(sctx, resp)
		cancel(nil)
		return Opened{}, ue
	}
	return o, nil
}

// Open returns the Opened of a 2xx response obtained otherwise, such as a
// recorded body a benchmark replays: its attempt is a cancellable child of
// ctx, without a timer.
func (c *Caller) Open(ctx context.Context, resp *http.Response) Opened {
	sctx, cancel := context.WithCancelCause(ctx)
	return Opened{Response: resp, c: c, ctx: sctx, cancel: cancel}
}

// Opened is the 2xx answer to a streamed request. It holds the attempt
// (its context and, with TimeoutFirstEvent, its timer) until the body is
// read whole with ReadJSON or handed to an EventStream with Start; exactly
// one of the two must be called.
type Opened struct {
	// Response is the upstream's answer. Its body belongs to ReadJSON or
	// to the EventStream that Start sets up.
	Response *http.Response

	c      *Caller
	ctx    context.Context
	cancel context.CancelCauseFunc
	timer  *time.Timer // bounds the wait for the first event; nil without
}

// IsJSON reports whether the answer is a JSON body rather than an event
// stream: an upstream that ignored the request's stream flag, or that
// reports an error with a 2xx status.
func (o Opened) IsJSON() bool {
	mt, _, _ := mime.ParseMediaType(o.Response.Header.Get("Content-Type"))
	return mt == "application/json"
}

// ReadJSON reads the body, at most the response bound of it, decodes it
// into v as upstream.ReadJSON does, and ends the attempt.
func (o Opened) ReadJSON(v any) error {
	err := readJSON(o.ctx, o.c.provider, o.Response, o.c.maxResponseBytes, v, &o.c.bodies)
	o.stopTimer()
	o.cancel(nil)
	return err
}

// Start sets s up to read the body's events, each at most the event bound,
// and hands it the attempt: from then on s releases it.
func (o Opened) Start(s *EventStream) {
	s.provider = o.c.provider
	s.ctx = o.ctx
	s.cancel = o.cancel
	s.timer = o.timer
	s.body = o.Response.Body
	s.events = sse.NewReader(o.Response.Body, sse.WithMaxEventSize(o.c.maxEventBytes))
}

func (o Opened) stopTimer() {
	if o.timer != nil {
		o.timer.Stop()
	}
}
