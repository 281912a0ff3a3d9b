package routing

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/llmgateway/llmgateway/llm"
)

// Outcome is how one attempt ended.
type Outcome string

// The outcomes of an attempt.
const (
	OutcomeOK       Outcome = "ok"
	OutcomeError    Outcome = "error"
	OutcomeSkipped  Outcome = "skipped"
	OutcomeCanceled Outcome = "cancelled"
)

// Attempt records one try of one deployment.
type Attempt struct {
	Provider      string
	Model         string
	UpstreamModel string
	Outcome       Outcome
	Latency       time.Duration
	// Reason says why the deployment was chosen or skipped.
	Reason string
	// Error summarises a failure without the upstream's own message.
	Error      string
	Kind       llm.ErrorKind
	StatusCode int
	RetryAfter time.Duration
}

// Route records how one request was routed.
type Route struct {
	Requested string
	Resolved  string
	Strategy  string
	Tier      string
	Rule      string
	Attempts  []Attempt
}

// Result is a routed unary response.
type Result struct {
	Response   *llm.Response
	Model      *Model
	Deployment Deployment
	// Cost is the response's price in US dollars.
	Cost  float64
	Route Route
}

// Router carries chat requests to deployments. It is safe for concurrent
// use.
type Router struct {
	catalog   *Catalog
	providers map[string]Provider
	opts      options

	mu  sync.Mutex
	wrr map[*Model][]int // smooth weighted round-robin current weights
}

type options struct {
	logger *slog.Logger
	now    func() time.Time
}

var defaultOptions = options{
	logger: slog.New(slog.DiscardHandler),
	now:    time.Now,
}

// Option configures a Router.
type Option func(*options)

// WithLogger sets the logger for failed attempts, which logs the upstream's
// full error message. Default: discard.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithClock sets the clock used for latencies. Default: time.Now.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// New returns a Router over catalog. Every deployment's provider must be in
// providers.
func New(catalog *Catalog, providers map[string]Provider, opts ...Option) (*Router, error) {
	for _, m := range catalog.Models() {
		for _, d := range m.Deployments {
			if _, ok := providers[d.Provider]; !ok {
				return nil, fmt.Errorf("model %q: deployment on unknown provider %q", m.Name, d.Provider)
			}
		}
	}
	o := defaultOptions
	for _, opt := range opts {
		opt(&o)
	}
	return &Router{catalog: catalog, providers: providers, opts: o, wrr: make(map[*Model][]int)}, nil
}

// Catalog returns the router's catalog.
func (r *Router) Catalog() *Catalog { return r.catalog }

// Chat routes req to the model named model and returns the first
// successful response. req.Model is ignored: each attempt sends its
// deployment's upstream model name.
func (r *Router) Chat(ctx context.Context, model string, req *llm.Request) (*Result, error) {
	m, route, err := r.resolve(model)
	if err != nil {
		return nil, err
	}
	var last error
	for _, d := range r.order(m) {
		if err := ctx.Err(); err != nil {
			return nil, r.canceled(ctx, m, &route)
		}
		p := r.providers[d.Provider]
		att := Attempt{Provider: d.Provider, Model: m.Name, UpstreamModel: d.UpstreamModel, Reason: d.reason}
		actx, cancel := attemptContext(ctx, d.Timeout)
		start := r.opts.now()
		resp, err := p.Chat(actx, withModel(req, d.UpstreamModel))
		cancel()
		att.Latency = r.opts.now().Sub(start)
		if err == nil {
			att.Outcome = OutcomeOK
			route.Attempts = append(route.Attempts, att)
			return &Result{Response: resp, Model: m, Deployment: d.Deployment, Cost: m.Pricing.Cost(resp.Usage), Route: route}, nil
		}
		err = r.recordFailure(ctx, &att, err)
		route.Attempts = append(route.Attempts, att)
		last = err
		if att.Outcome == OutcomeCanceled {
			return nil, r.canceled(ctx, m, &route)
		}
		if !failover(err) {
			return nil, &NoRouteError{Model: m.Name, Attempts: route.Attempts, Last: err}
		}
	}
	return nil, &NoRouteError{Model: m.Name, Attempts: route.Attempts, Last: last}
}

// ChatStream routes req like Chat and returns a stream once a deployment
// has produced its first content (or finished without any). Until then a
// failing deployment is abandoned for the next; after that, a failure ends
// the stream: content is never spliced from two upstreams.
func (r *Router) ChatStream(ctx context.Context, model string, req *llm.Request) (*Stream, error) {
	m, route, err := r.resolve(model)
	if err != nil {
		return nil, err
	}
	var last error
	for _, d := range r.order(m) {
		if err := ctx.Err(); err != nil {
			return nil, r.canceled(ctx, m, &route)
		}
		att := Attempt{Provider: d.Provider, Model: m.Name, UpstreamModel: d.UpstreamModel, Reason: d.reason}
		s, err := r.openStream(ctx, m, d.Deployment, req, &att)
		if err == nil {
			s.route = route
			s.route.Attempts = append(s.route.Attempts, att)
			return s, nil
		}
		err = r.recordFailure(ctx, &att, err)
		route.Attempts = append(route.Attempts, att)
		last = err
		if att.Outcome == OutcomeCanceled {
			return nil, r.canceled(ctx, m, &route)
		}
		if !failover(err) {
			return nil, &NoRouteError{Model: m.Name, Attempts: route.Attempts, Last: err}
		}
	}
	return nil, &NoRouteError{Model: m.Name, Attempts: route.Attempts, Last: last}
}

// openStream opens one deployment's stream and reads up to its first
// content. The attempt timeout covers only that part.
func (r *Router) openStream(ctx context.Context, m *Model, d Deployment, req *llm.Request, att *Attempt) (*Stream, error) {
	sctx, cancel := context.WithCancel(ctx)
	var stop func() bool = func() bool { return true }
	if d.Timeout > 0 {
		t := time.AfterFunc(d.Timeout, cancel)
		stop = t.Stop
	}
	start := r.opts.now()
	up, err := r.providers[d.Provider].ChatStream(sctx, withModel(req, d.UpstreamModel))
	if err != nil {
		stop()
		cancel()
		return nil, timeoutAware(err, ctx, d)
	}
	s := &Stream{up: up, cancel: cancel, model: m, dep: d, req: req, start: start, now: r.opts.now, logger: r.opts.logger}
	for {
		c, err := up.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			stop()
			up.Close()
			cancel()
			return nil, timeoutAware(err, ctx, d)
		}
		s.pending = append(s.pending, c)
		if c.HasContent() || c.FinishReason != "" {
			break
		}
	}
	if !stop() && d.Timeout > 0 {
		// The timer fired while we were reading: the stream is cancelled.
		up.Close()
		cancel()
		return nil, timeoutAware(context.DeadlineExceeded, ctx, d)
	}
	s.firstToken = r.opts.now().Sub(start)
	att.Outcome = OutcomeOK
	att.Latency = s.firstToken
	return s, nil
}

// timeoutAware turns a cancellation caused by the attempt timeout (not by
// the caller) into a retryable timeout error.
func timeoutAware(err error, parent context.Context, d Deployment) error {
	if parent.Err() != nil {
		return err
	}
	if ue, ok := llm.AsUpstream(err); ok && ue.Kind != llm.KindCanceled {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || isCanceledKind(err) {
		return &llm.UpstreamError{Provider: d.Provider, Kind: llm.KindTimeout, Retryable: true,
			Message: fmt.Sprintf("no first token within %s", d.Timeout), Err: err}
	}
	return err
}

func isCanceledKind(err error) bool {
	ue, ok := llm.AsUpstream(err)
	return ok && ue.Kind == llm.KindCanceled
}

func (r *Router) resolve(model string) (*Model, Route, error) {
	m, ok := r.catalog.Resolve(model)
	if !ok {
		return nil, Route{}, &UnknownModelError{Name: model}
	}
	return m, Route{Requested: model, Resolved: m.Name, Strategy: "priority"}, nil
}

func (r *Router) canceled(ctx context.Context, m *Model, route *Route) error {
	return &NoRouteError{Model: m.Name, Attempts: route.Attempts, Last: ctx.Err()}
}

// recordFailure fills att from err and logs it with the upstream's full
// message. It returns err, normalised to an *llm.UpstreamError where it was
// a bare context error.
func (r *Router) recordFailure(ctx context.Context, att *Attempt, err error) error {
	att.Outcome = OutcomeError
	if ctx.Err() != nil {
		att.Outcome = OutcomeCanceled
	}
	if ue, ok := llm.AsUpstream(err); ok {
		att.Error = ue.Summary()
		att.Kind = ue.Kind
		att.StatusCode = ue.StatusCode
		att.RetryAfter = ue.RetryAfter
		if ue.Kind == llm.KindCanceled && ctx.Err() != nil {
			att.Outcome = OutcomeCanceled
		}
	} else {
		att.Error = "internal error"
	}
	r.opts.logger.Warn("upstream attempt failed",
		"provider", att.Provider, "model", att.Model, "upstream_model", att.UpstreamModel,
		"outcome", att.Outcome, "latency", att.Latency, "error", err)
	return err
}

type candidate struct {
	Deployment
	reason string
}

// order returns the deployments of m in the order to try them: by
// priority, and within one priority the smooth weighted round-robin pick
// first, then the rest by weight.
func (r *Router) order(m *Model) []candidate {
	ds := m.Deployments
	out := make([]candidate, 0, len(ds))
	idx := make([]int, len(ds))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return ds[idx[a]].Priority < ds[idx[b]].Priority })
	r.mu.Lock()
	cur := r.wrr[m]
	if cur == nil {
		cur = make([]int, len(ds))
		r.wrr[m] = cur
	}
	for start := 0; start < len(idx); {
		end := start
		for end < len(idx) && ds[idx[end]].Priority == ds[idx[start]].Priority {
			end++
		}
		group := idx[start:end]
		// Smooth weighted round robin (nginx): add each weight, pick the
		// largest, subtract the total from it.
		total, best := 0, -1
		for _, i := range group {
			cur[i] += ds[i].Weight
			total += ds[i].Weight
			if ds[i].Weight > 0 && (best < 0 || cur[i] > cur[best]) {
				best = i
			}
		}
		if best >= 0 {
			cur[best] -= total
		}
		rest := make([]int, 0, len(group))
		for _, i := range group {
			if i != best {
				rest = append(rest, i)
			}
		}
		sort.SliceStable(rest, func(a, b int) bool { return ds[rest[a]].Weight > ds[rest[b]].Weight })
		first := start == 0
		if best >= 0 {
			out = append(out, candidate{ds[best], pickReason(first, ds[best].Priority, len(group) > 1)})
		}
		for _, i := range rest {
			out = append(out, candidate{ds[i], "failover"})
		}
		start = end
	}
	r.mu.Unlock()
	if len(out) > 0 && out[0].reason == "failover" {
		out[0].reason = "first by priority"
	}
	return out
}

func pickReason(first bool, prio int, weighted bool) string {
	switch {
	case !first:
		return "failover"
	case weighted:
		return fmt.Sprintf("priority %d, weighted pick", prio)
	}
	return fmt.Sprintf("priority %d", prio)
}

func attemptContext(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d > 0 {
		return context.WithTimeout(ctx, d)
	}
	return context.WithCancel(ctx)
}

func withModel(req *llm.Request, model string) *llm.Request {
	c := *req
	c.Model = model
	return &c
}
