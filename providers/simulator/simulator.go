package simulator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/llmgateway/llmgateway/llm"
)

// Provider is a simulated upstream deployment. It implements the router's
// Provider interface (Chat and ChatStream) and is safe for concurrent use.
type Provider struct {
	name     string
	interval time.Duration // between stream tokens, before SlowFactor
	latency  sampler
	sleep    SleepFunc
	faults   atomic.Pointer[Faults]
	ids      atomic.Uint64

	mu  sync.Mutex
	rng *rand.Rand // guarded by mu
}

// New returns a simulated deployment configured by cfg. It fails when a
// field of cfg is out of range, saying which.
func New(cfg Config, opts ...Option) (*Provider, error) {
	if cfg.Name == "" {
		cfg.Name = "simulator"
	}
	if math.IsNaN(cfg.TokensPerSecond) || math.IsInf(cfg.TokensPerSecond, 0) || cfg.TokensPerSecond < 0 {
		return nil, fmt.Errorf("simulator %q: tokens per second is %v, want 0 (no delay) or a positive rate", cfg.Name, cfg.TokensPerSecond)
	}
	if err := cfg.Latency.validate(); err != nil {
		return nil, fmt.Errorf("simulator %q: %w", cfg.Name, err)
	}
	if err := cfg.Faults.validate(); err != nil {
		return nil, fmt.Errorf("simulator %q: faults: %w", cfg.Name, err)
	}
	o := defaultOptions
	for _, opt := range opts {
		opt(&o)
	}
	p := &Provider{
		name:    cfg.Name,
		latency: newSampler(cfg.Latency),
		sleep:   o.sleep,
		rng:     rand.New(rand.NewPCG(uint64(cfg.Seed), 0x5eed_5eed_5eed_5eed)),
	}
	if cfg.TokensPerSecond > 0 {
		p.interval = time.Duration(float64(time.Second) / cfg.TokensPerSecond)
	}
	f := cfg.Faults
	p.faults.Store(&f)
	return p, nil
}

// Faults returns the fault rates in effect, as last set.
func (p *Provider) Faults() Faults {
	return *p.faults.Load()
}

// SetFaults replaces the fault rates for requests that start from now on;
// requests in flight keep the rates they started with. It is safe to call
// while requests are served, so that a drill can take the provider down for
// a window, inject a burst of 429s, or slow it down. It fails, changing
// nothing, when a field of f is out of range.
func (p *Provider) SetFaults(f Faults) error {
	if err := f.validate(); err != nil {
		return fmt.Errorf("simulator %q: faults: %w", p.name, err)
	}
	p.faults.Store(&f)
	return nil
}

// outcome is how the simulator answers one request.
type outcome int

const (
	outcomeOK outcome = iota
	outcomeError
	outcomeRateLimit
	outcomeOverloaded
	outcomeTimeout
	outcomeCut
	outcomeAuth
	outcomeBadRequest
)

// parseFault returns the outcome a MetadataFault value forces.
func parseFault(v string) (outcome, bool) {
	switch v {
	case FaultError:
		return outcomeError, true
	case FaultRateLimit:
		return outcomeRateLimit, true
	case FaultOverloaded:
		return outcomeOverloaded, true
	case FaultTimeout:
		return outcomeTimeout, true
	case FaultCut:
		return outcomeCut, true
	case FaultAuth:
		return outcomeAuth, true
	case FaultBadRequest:
		return outcomeBadRequest, true
	}
	return outcomeOK, false
}

// call is one request, prepared: its reply and how and when to answer it.
type call struct {
	reply    reply
	hash     uint64 // of the request
	outcome  outcome
	forced   bool          // outcome came from MetadataFault
	cutAt    int           // tokens sent before a cut; -1 when none
	latency  time.Duration // to the first token
	interval time.Duration // between tokens
	faults   *Faults
}

// prepare validates req, builds its reply and draws its outcome and timing.
func (p *Provider) prepare(req *llm.Request) (*call, error) {
	if err := validateRequest(req); err != nil {
		return nil, p.stamp(err)
	}
	c := &call{faults: p.faults.Load(), cutAt: -1}
	if v, ok := req.Metadata[MetadataFault]; ok {
		o, known := parseFault(v)
		if !known {
			return nil, p.stamp(badRequest("metadata %s is %q, want one of %s, %s, %s, %s, %s, %s or %s",
				MetadataFault, v, FaultError, FaultRateLimit, FaultOverloaded, FaultTimeout, FaultCut, FaultAuth, FaultBadRequest))
		}
		c.outcome, c.forced = o, true
	}
	fixedLatency := false
	if v, ok := req.Metadata[MetadataLatency]; ok {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return nil, p.stamp(badRequest("metadata %s is %q, want a non-negative Go duration such as \"150ms\"", MetadataLatency, v))
		}
		c.latency, fixedLatency = d, true
	}
	c.hash = hashRequest(req)
	r, err := answer(req, c.hash)
	if err != nil {
		return nil, p.stamp(err)
	}
	c.reply = r

	slow := c.faults.slow()
	var u, z float64
	var cut uint64
	if (!c.forced && c.faults.random()) || (!fixedLatency && p.latency.sigma > 0) {
		p.mu.Lock()
		u, z, cut = p.rng.Float64(), p.rng.NormFloat64(), p.rng.Uint64()
		p.mu.Unlock()
	}
	if !c.forced {
		c.outcome = c.faults.draw(u)
	}
	if !fixedLatency {
		c.latency = scale(p.latency.at(z), slow)
	}
	c.interval = scale(p.interval, slow)
	if c.outcome == outcomeCut {
		n := c.reply.tokens
		switch {
		case c.forced || n < 2:
			c.cutAt = n / 2
		default:
			c.cutAt = 1 + int(cut%uint64(n-1))
		}
	}
	return c, nil
}

// draw returns the outcome for a uniform draw u in [0, 1).
func (f *Faults) draw(u float64) outcome {
	for _, o := range []struct {
		rate float64
		o    outcome
	}{
		{f.ErrorRate, outcomeError},
		{f.RateLimitRate, outcomeRateLimit},
		{f.OverloadRate, outcomeOverloaded},
		{f.TimeoutRate, outcomeTimeout},
		{f.CutRate, outcomeCut},
	} {
		if u < o.rate {
			return o.o
		}
		u -= o.rate
	}
	return outcomeOK
}

// scale returns d × f, saturating.
func scale(d time.Duration, f float64) time.Duration {
	if f == 1 || d == 0 {
		return d
	}
	v := float64(d) * f
	if v >= math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(v)
}

// statusFault returns the upstream error for a status outcome, or nil for
// outcomes that are not one.
func (p *Provider) statusFault(c *call) *llm.UpstreamError {
	var status int
	var msg string
	switch c.outcome {
	case outcomeError:
		status, msg = http.StatusInternalServerError, "internal server error"
	case outcomeRateLimit:
		status, msg = http.StatusTooManyRequests, "rate limit exceeded"
	case outcomeOverloaded:
		status, msg = http.StatusServiceUnavailable, "service overloaded"
	case outcomeAuth:
		status, msg = http.StatusUnauthorized, "invalid API key"
	case outcomeBadRequest:
		status, msg = http.StatusBadRequest, "invalid request"
	default:
		return nil
	}
	kind, retryable := llm.KindForStatus(status)
	e := &llm.UpstreamError{
		Provider:   p.name,
		Kind:       kind,
		StatusCode: status,
		Retryable:  retryable,
		Message:    "simulated " + msg + c.source(),
	}
	if c.outcome == outcomeRateLimit {
		e.RetryAfter = c.faults.retryAfter()
	}
	return e
}

// source says where a fault came from, for logs.
func (c *call) source() string {
	if c.forced {
		return " (forced by metadata " + MetadataFault + ")"
	}
	return " (drawn from fault rates)"
}

// cutError is the error of a connection cut after sent of total tokens.
func (p *Provider) cutError(c *call) *llm.UpstreamError {
	return &llm.UpstreamError{
		Provider:  p.name,
		Kind:      llm.KindConnection,
		Retryable: llm.KindConnection.Retryable(),
		Message: "simulated connection reset after " + strconv.Itoa(c.cutAt) + " of " +
			strconv.Itoa(c.reply.tokens) + " tokens" + c.source(),
		Err: syscall.ECONNRESET,
	}
}

// waitError is the error of a wait that ended with err (ctx.Err()):
// llm.KindTimeout when the deadline passed, llm.KindCanceled otherwise.
func (p *Provider) waitError(err error, msg string) *llm.UpstreamError {
	kind := llm.KindCanceled
	if errors.Is(err, context.DeadlineExceeded) {
		kind = llm.KindTimeout
	}
	return &llm.UpstreamError{
		Provider:  p.name,
		Kind:      kind,
		Retryable: kind.Retryable(),
		Message:   msg,
		Err:       err,
	}
}

// hang blocks until ctx ends: an upstream that never answers.
func (p *Provider) hang(ctx context.Context, c *call) error {
	<-ctx.Done()
	return p.waitError(ctx.Err(), "simulated timeout: no answer before the context ended"+c.source())
}

// stamp sets the provider name on an error built without it.
func (p *Provider) stamp(e *llm.UpstreamError) *llm.UpstreamError {
	e.Provider = p.name
	return e
}

// start begins a call: it checks ctx and req and draws the call's fate. A
// timeout blocks until ctx ends, and a status fault is returned after the
// simulated latency, both as the error; any other call is returned for the
// caller to answer.
func (p *Provider) start(ctx context.Context, req *llm.Request) (*call, error) {
	if err := ctx.Err(); err != nil {
		return nil, p.waitError(err, "context ended before the request was sent")
	}
	c, err := p.prepare(req)
	if err != nil {
		return nil, err
	}
	if c.outcome == outcomeTimeout {
		return nil, p.hang(ctx, c)
	}
	if fault := p.statusFault(c); fault != nil {
		if err := p.sleep(ctx, c.latency); err != nil {
			return nil, p.waitError(err, "context ended while waiting for the answer")
		}
		return nil, fault
	}
	return c, nil
}

// Chat answers req after the simulated latency and generation time, or
// fails as the fault rates or the request's metadata say.
func (p *Provider) Chat(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	c, err := p.start(ctx, req)
	if err != nil {
		return nil, err
	}
	wait := c.latency
	if c.outcome == outcomeCut {
		wait += time.Duration(c.cutAt) * c.interval
		if err := p.sleep(ctx, wait); err != nil {
			return nil, p.waitError(err, "context ended while waiting for the answer")
		}
		return nil, p.cutError(c)
	}
	if c.reply.tokens > 1 {
		wait += time.Duration(c.reply.tokens-1) * c.interval
	}
	if err := p.sleep(ctx, wait); err != nil {
		return nil, p.waitError(err, "context ended while waiting for the answer")
	}
	return &llm.Response{
		ID:           p.nextID(c.hash),
		Model:        req.Model,
		Message:      c.reply.message(),
		FinishReason: c.reply.finish,
		Usage:        c.reply.usage,
	}, nil
}

// nextID returns a response id: the request's hash and a per-provider
// counter.
func (p *Provider) nextID(h uint64) string {
	return "sim-" + hex16(h) + "-" + strconv.FormatUint(p.ids.Add(1), 10)
}

// ChatStream starts a streamed answer to req. It returns at once, as an
// upstream does when it accepts the request; the first chunk comes after
// the simulated latency. A status fault (500, 429, 503, 401, 400) is
// returned by ChatStream after that latency; a timeout blocks ChatStream
// until ctx ends; a cut comes from Recv.
func (p *Provider) ChatStream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	c, err := p.start(ctx, req)
	if err != nil {
		return nil, err
	}
	return newStream(ctx, p, req.Model, c), nil
}

// validateRequest rejects what a real upstream would answer with HTTP 400.
func validateRequest(req *llm.Request) *llm.UpstreamError {
	if req == nil {
		return badRequest("request is nil")
	}
	if req.Model == "" {
		return badRequest("model is required")
	}
	if len(req.Messages) == 0 {
		return badRequest("messages: at least one message is required")
	}
	for i := range req.Messages {
		switch r := req.Messages[i].Role; r {
		case llm.RoleSystem, llm.RoleDeveloper, llm.RoleUser, llm.RoleAssistant, llm.RoleTool:
		default:
			return badRequest("messages[%d].role is %q, want system, developer, user, assistant or tool", i, r)
		}
	}
	if req.MaxTokens < 0 {
		return badRequest("max_tokens is %d, want 0 (the default) or more", req.MaxTokens)
	}
	for i := range req.Tools {
		t := &req.Tools[i]
		if t.Name == "" {
			return badRequest("tools[%d].name is required", i)
		}
		if len(t.Parameters) > 0 && !json.Valid(t.Parameters) {
			return badRequest("tools[%d].parameters (%s) is not valid JSON", i, t.Name)
		}
	}
	if tc := req.ToolChoice; tc != nil {
		switch tc.Mode {
		case "", llm.ToolChoiceAuto, llm.ToolChoiceNone, llm.ToolChoiceRequired:
		case llm.ToolChoiceFunction:
			found := false
			for i := range req.Tools {
				found = found || req.Tools[i].Name == tc.Name
			}
			if !found {
				return badRequest("tool_choice names function %q, which is not among the request's tools", tc.Name)
			}
		default:
			return badRequest("tool_choice mode is %q, want auto, none, required or function", tc.Mode)
		}
		if tc.Mode == llm.ToolChoiceRequired && len(req.Tools) == 0 {
			return badRequest("tool_choice is required but the request has no tools")
		}
	}
	return nil
}

// badRequest returns an HTTP 400 upstream error; the caller stamps the
// provider name.
func badRequest(format string, args ...any) *llm.UpstreamError {
	return &llm.UpstreamError{
		Kind:       llm.KindBadRequest,
		StatusCode: http.StatusBadRequest,
		Retryable:  false,
		Message:    fmt.Sprintf(format, args...),
	}
}
