package routing

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/llmgateway/llmgateway/llm"
)

// exec is one request's way through its target: the candidates left in
// the current stage, the attempts made, and what they taught.
type exec struct {
	r      *Router
	ctx    context.Context
	t      *target
	req    *llm.Request
	stream bool
	route  Route
	in     Input

	buf     [8]Candidate
	queue   []Candidate
	stageIx int

	maxAttempts    int
	attempts       int
	rounds         int
	retries        int       // back-off waits so far
	triedInRound   int       // attempts started in this round
	roundRetryable bool      // some attempt of this round failed retryably
	cooling        time.Time // earliest end of a cool-down skipped this round
	skipped        []Key     // deployments already reported as skipped
	dead           []Key     // deployments retrying cannot fix (auth, not found)
	last           error
	hedgeCost      float64
	session        string
	allow          func(model string) bool // llm.ModelFilter of the request; nil allows all
}

func (r *Router) newExec(ctx context.Context, t *target, req *llm.Request, stream bool, route Route) *exec {
	x := &exec{r: r, ctx: ctx, t: t, req: req, stream: stream, route: route,
		maxAttempts: r.opts.retry.attempts(), rounds: 1, allow: llm.ModelFilter(ctx)}
	x.in = Input{Request: req, Stream: stream, window: r.opts.latencyWindow, outTokens: r.opts.outTokens, promptTokens: -1}
	if t.affinity {
		x.session = req.User
	}
	return x
}

// flight is one attempt under way.
type flight struct {
	c      Candidate
	att    int // index in route.Attempts
	start  time.Time
	cancel context.CancelFunc
	tk     ticket
	done   bool
	octx   context.Context // the context the observers gave the attempt
}

type outcome[T any] struct {
	f   *flight
	v   T
	err error
}

// run carries the request through x's target: it starts an attempt on the
// first candidate, fails over on failure, hedges when the target hedges,
// and returns the first success with its flight. call makes one attempt;
// release frees a success that came too late (a hedge race's loser).
//
// Without hedging the attempts run one at a time on the caller's
// goroutine; with it each runs on its own, the losers cancelled and left
// to a goroutine that waits for them to return.
func run[T any](x *exec, call func(context.Context, *flight) (T, error), release func(T)) (T, *flight, error) {
	var zero T
	hedge := x.t.hedge
	results := make(chan outcome[T], x.maxAttempts)
	var (
		flights []*flight
		active  int
		hedges  int
		timer   *time.Timer
		timerC  <-chan time.Time
		delay   time.Duration
	)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()

	launch := func(c Candidate, isHedge bool) bool {
		now := x.r.opts.now()
		tk, ok, tr := c.st.breaker.acquire(now, &x.r.opts.breaker)
		x.r.logTransition(c.st.key, tr)
		if !ok {
			x.skip(&c, "circuit half open: probe slots taken", "skipped: circuit half open", "", 0)
			return false
		}
		if c.explore {
			w := c.st.unary
			if x.stream {
				w = c.st.stream
			}
			w.explore(now, exploreStale)
		}
		a := Attempt{Provider: c.Deployment.Provider, Model: c.Model.Name, UpstreamModel: c.Deployment.UpstreamModel,
			Reason: c.Reason, Hedge: isHedge}
		if isHedge {
			a.Reason = "hedge after " + delay.Round(time.Millisecond).String() + " without a first token; " + c.Reason
		}
		x.route.Attempts = append(x.route.Attempts, a)
		octx := x.r.attemptStarted(x.ctx, AttemptStart{Key: c.st.key, Cause: x.cause(isHedge), Stream: x.stream})
		fctx, cancel := context.WithCancel(octx)
		f := &flight{c: c, att: len(x.route.Attempts) - 1, start: now, cancel: cancel, tk: tk, octx: octx}
		flights = append(flights, f)
		x.attempts++
		x.triedInRound++
		active++
		if hedge == nil {
			v, err := call(fctx, f)
			results <- outcome[T]{f: f, v: v, err: err}
			return true
		}
		go func() {
			v, err := call(fctx, f)
			results <- outcome[T]{f: f, v: v, err: err}
		}()
		return true
	}
	start := func(isHedge bool) bool {
		for x.attempts < x.maxAttempts && x.ctx.Err() == nil {
			c, ok := x.next(!isHedge)
			if !ok {
				return false
			}
			if launch(c, isHedge) {
				return true
			}
		}
		return false
	}
	armHedge := func(f *flight) {
		timerC = nil
		if hedge == nil || hedges >= hedge.max() || x.attempts >= x.maxAttempts {
			return
		}
		delay = x.hedgeDelay(f)
		if timer == nil {
			timer = time.NewTimer(delay)
		} else {
			timer.Reset(delay)
		}
		timerC = timer.C
	}
	// abandon cancels the attempts still under way, marking them with
	// outcome, and leaves their results to a goroutine.
	abandon := func(o Outcome, winner *flight) {
		for _, f := range flights {
			if !f.done {
				f.cancel()
				x.abandoned(f, o, winner)
			}
		}
		if active > 0 {
			go drain(x.r, results, active, release)
		}
		active = 0
	}
	fail := func() (T, *flight, error) {
		if x.ctx.Err() != nil {
			return zero, nil, x.canceled()
		}
		return zero, nil, x.noRoute()
	}

	if !start(false) {
		return fail()
	}
	armHedge(flights[len(flights)-1])
	for {
		select {
		case o := <-results:
			active--
			o.f.done = true
			if o.err == nil {
				x.succeed(o.f)
				abandon(OutcomeHedgeLost, o.f)
				return o.v, o.f, nil
			}
			o.f.cancel()
			err := x.fail(o.f, o.err)
			if x.ctx.Err() != nil || !failover(err) {
				abandon(OutcomeCanceled, nil)
				return fail()
			}
			if active == 0 {
				if !start(false) {
					return fail()
				}
				armHedge(flights[len(flights)-1])
			}
		case <-timerC:
			timerC = nil
			if active > 0 && start(true) {
				hedges++
				armHedge(flights[len(flights)-1])
			}
		case <-x.ctx.Done():
			abandon(OutcomeCanceled, nil)
			return zero, nil, x.canceled()
		}
	}
}

// drain waits for n abandoned attempts to return, frees their results and
// gives back their breaker tickets.
func drain[T any](r *Router, results <-chan outcome[T], n int, release func(T)) {
	for range n {
		o := <-results
		if o.err == nil {
			release(o.v)
		}
		o.f.c.st.breaker.record(r.opts.now(), &r.opts.breaker, o.f.tk, verdictNeutral)
	}
}

// next returns the next candidate to try: the rest of the current stage,
// then the next stage's healthy deployments in its strategy's order, then,
// when newRound allows and more attempts are left, the target from the
// start after a back-off.
func (x *exec) next(newRound bool) (Candidate, bool) {
	for {
		if len(x.queue) > 0 {
			c := x.queue[0]
			x.queue = x.queue[1:]
			return c, true
		}
		if x.stageIx < len(x.t.stages) {
			x.plan(x.t.stages[x.stageIx], x.stageIx == 0)
			x.stageIx++
			continue
		}
		if !newRound || !x.newRound() {
			return Candidate{}, false
		}
	}
}

// plan queues the deployments of s that may be tried now, in its
// strategy's order, and records the others as skipped.
func (x *exec) plan(s *stage, first bool) {
	now := x.r.opts.now()
	x.in.Now = now
	x.in.wrr = s.wrr
	cs := x.buf[:0]
	if len(s.cands) > len(x.buf) {
		cs = make([]Candidate, 0, len(s.cands))
	}
	for i := range s.cands {
		c := &s.cands[i]
		if x.isDead(c.st.key) || !x.available(c, now) {
			continue
		}
		cs = append(cs, *c)
	}
	s.strategy.Order(cs, &x.in)
	if first && x.session != "" && len(cs) > 1 {
		if k, ok := x.r.state.affinity.get(x.t.name, x.session, now); ok {
			for i := range cs {
				if cs[i].st.key == k {
					c := cs[i]
					copy(cs[1:i+1], cs[:i])
					cs[0] = c
					cs[0].Reason = "session affinity"
					cs[0].explore = false
					break
				}
			}
		}
	}
	x.queue = cs
}

// available reports whether c may be tried at now, recording it as
// skipped when not.
func (x *exec) available(c *Candidate, now time.Time) bool {
	if x.allow != nil && !x.allow(c.Model.Name) {
		x.skip(c, "model not allowed for this key", "skipped: model not allowed for this key", "", 0)
		return false
	}
	if c.ph != nil && c.ph.failing.Load() {
		x.skip(c, "provider failing its health checks", "skipped: provider failing health checks", "", 0)
		return false
	}
	if u := x.r.cooldowns.Until(c.st.key); u.After(now) {
		left := u.Sub(now)
		if x.cooling.IsZero() || u.Before(x.cooling) {
			x.cooling = u
		}
		x.skip(c, "cooling down after Retry-After: "+left.Round(time.Millisecond).String()+" left",
			"skipped: rate limited (Retry-After)", llm.KindRateLimited, left)
		return false
	}
	if ok, until := c.st.breaker.ready(now, &x.r.opts.breaker); !ok {
		if until.IsZero() {
			x.skip(c, "circuit half open: probe slots taken", "skipped: circuit half open", "", 0)
		} else {
			x.skip(c, "circuit open: "+until.Sub(now).Round(time.Millisecond).String()+" left",
				"skipped: circuit open", "", 0)
		}
		return false
	}
	return true
}

// skip records c as skipped, once per request.
func (x *exec) skip(c *Candidate, reason, summary string, kind llm.ErrorKind, retryAfter time.Duration) {
	for _, k := range x.skipped {
		if k == c.st.key {
			return
		}
	}
	x.skipped = append(x.skipped, c.st.key)
	x.route.Attempts = append(x.route.Attempts, Attempt{
		Provider: c.Deployment.Provider, Model: c.Model.Name, UpstreamModel: c.Deployment.UpstreamModel,
		Outcome: OutcomeSkipped, Reason: reason, Error: summary, Kind: kind, RetryAfter: retryAfter,
	})
}

func (x *exec) isDead(k Key) bool {
	for _, d := range x.dead {
		if d == k {
			return true
		}
	}
	return false
}

// newRound starts the target over once every stage is exhausted: after a
// back-off when an attempt of this round failed retryably, or, when
// nothing could be tried because of cool-downs, after the first of them
// ends if that is within the retry policy's MaxRetryAfter. It reports
// false when no round is left: out of attempts, out of time, or nothing
// worth retrying.
func (x *exec) newRound() bool {
	p := &x.r.opts.retry
	if x.attempts >= x.maxAttempts || x.rounds >= x.maxAttempts {
		return false
	}
	now := x.r.opts.now()
	var until time.Time // the end of the cool-down to wait for, if any
	switch {
	case x.triedInRound > 0 && x.roundRetryable:
		u, stuck := x.unusable(now)
		if stuck && u.IsZero() {
			return false // breakers open, providers failing: nothing comes back soon
		}
		until = u
	case x.triedInRound == 0 && !x.cooling.IsZero():
		until = x.cooling
	default:
		return false
	}
	var wait time.Duration
	if until.IsZero() {
		x.retries++
		wait = backoff(p, x.retries, x.r.opts.rand)
	} else {
		// Every candidate is cooling down: a back-off would only find
		// them so again. Wait for the first to come back, if soon.
		wait = until.Sub(now)
		if wait > p.MaxRetryAfter {
			return false
		}
	}
	if dl, ok := x.ctx.Deadline(); ok && time.Until(dl) <= wait {
		return false
	}
	if err := x.r.opts.sleep(x.ctx, wait); err != nil {
		return false
	}
	x.rounds++
	x.stageIx, x.triedInRound, x.roundRetryable, x.cooling = 0, 0, false, time.Time{}
	return true
}

// unusable reports whether no candidate of the target may be tried at now,
// and, if so, the earliest end of a cool-down among them (zero when none
// is cooling down: their breakers are open, their providers failing).
func (x *exec) unusable(now time.Time) (time.Time, bool) {
	var until time.Time
	for _, s := range x.t.stages {
		for i := range s.cands {
			c := &s.cands[i]
			if x.isDead(c.st.key) || c.ph != nil && c.ph.failing.Load() {
				continue
			}
			if u := x.r.cooldowns.Until(c.st.key); u.After(now) {
				if until.IsZero() || u.Before(until) {
					until = u
				}
				continue
			}
			if ok, _ := c.st.breaker.ready(now, &x.r.opts.breaker); ok {
				return time.Time{}, false
			}
		}
	}
	return until, true
}

// backoff returns the n-th back-off wait (n >= 1): a uniform draw in
// [0, min(MaxBackoff, Backoff × 2^(n-1))).
func backoff(p *RetryPolicy, n int, rnd func() float64) time.Duration {
	ceil := p.Backoff
	for i := 1; i < n && (p.MaxBackoff <= 0 || ceil < p.MaxBackoff); i++ {
		ceil *= 2
	}
	if p.MaxBackoff > 0 && ceil > p.MaxBackoff {
		ceil = p.MaxBackoff
	}
	if ceil <= 0 {
		return 0
	}
	return time.Duration(rnd() * float64(ceil))
}

// hedgeDelay returns how long to wait for f's first token before hedging.
func (x *exec) hedgeDelay(f *flight) time.Duration {
	h := x.t.hedge
	d := h.Delay
	if h.UseP95 {
		x.in.Now = x.r.opts.now()
		if p, ok := x.in.Latency(&f.c); ok && p < d {
			d = max(p, time.Millisecond)
		}
	}
	return d
}

// succeed records f's success.
func (x *exec) succeed(f *flight) {
	now := x.r.opts.now()
	a := &x.route.Attempts[f.att]
	a.Outcome = OutcomeOK
	a.Latency = now.Sub(f.start)
	st := f.c.st
	if !x.stream {
		// A stream's breaker verdict waits for its end (Stream.end).
		x.r.logTransition(st.key, st.breaker.record(now, &x.r.opts.breaker, f.tk, verdictSuccess))
	}
	x.window(st).add(now, a.Latency)
	if x.session != "" {
		x.r.state.affinity.set(x.t.name, x.session, st.key, now, x.r.opts.sessionTTL, x.r.opts.maxSessions)
	}
	x.route.Resolved = f.c.Model.Name
}

func (x *exec) window(st *depState) *latencyWindow {
	if x.stream {
		return st.stream
	}
	return st.unary
}

// fail records f's failure with err and what it means for the
// deployment's health. It returns err, normalised.
func (x *exec) fail(f *flight, err error) error {
	now := x.r.opts.now()
	a := &x.route.Attempts[f.att]
	a.Latency = now.Sub(f.start)
	err = x.r.recordFailure(x.ctx, a, err)
	x.r.attemptFinished(f.octx, a, nil)
	x.last = err
	st := f.c.st
	callerDone := x.ctx.Err() != nil
	x.r.logTransition(st.key, st.breaker.record(now, &x.r.opts.breaker, f.tk, verdictOf(err, callerDone)))
	ue, ok := llm.AsUpstream(err)
	if !ok || callerDone {
		return err
	}
	if ue.Retryable {
		x.roundRetryable = true
	}
	switch ue.Kind {
	case llm.KindRateLimited, llm.KindOverloaded:
		if ue.RetryAfter > 0 {
			x.r.coolDown(st.key, now, ue.RetryAfter)
		}
	case llm.KindTimeout:
		// A timed-out attempt is at least this slow: teach the latency
		// window so, or a deployment that never answers looks unknown.
		x.window(st).add(now, a.Latency)
	case llm.KindAuth, llm.KindNotFound:
		x.dead = append(x.dead, st.key)
	}
	if x.session != "" {
		switch ue.Kind {
		case llm.KindRateLimited, llm.KindOverloaded, llm.KindServer, llm.KindTimeout, llm.KindConnection:
			x.r.state.affinity.drop(x.t.name, x.session, st.key)
		}
	}
	return err
}

// abandoned records f, cancelled while under way, with outcome o. A hedge
// race's loser costs its prompt, and, when it had been waiting longer than
// the winner took, teaches its latency window that it is at least that
// slow.
func (x *exec) abandoned(f *flight, o Outcome, winner *flight) {
	now := x.r.opts.now()
	a := &x.route.Attempts[f.att]
	a.Outcome = o
	a.Latency = now.Sub(f.start)
	a.Error = "cancelled"
	if o != OutcomeHedgeLost {
		x.r.attemptFinished(f.octx, a, nil)
		return
	}
	a.Error = "lost the hedge race"
	if x.in.promptTokens < 0 {
		x.in.promptTokens = llm.EstimatePromptTokens(x.req)
	}
	a.Cost = f.c.Model.Pricing.Cost(llm.Usage{PromptTokens: x.in.promptTokens})
	x.hedgeCost += a.Cost
	if winner != nil && a.Latency > x.route.Attempts[winner.att].Latency {
		x.window(f.c.st).add(now, a.Latency)
	}
	x.r.attemptFinished(f.octx, a, nil)
}

func (x *exec) noRoute() error {
	return &NoRouteError{Model: x.t.resolved, Attempts: x.route.Attempts, Last: x.last}
}

func (x *exec) canceled() error {
	return &NoRouteError{Model: x.t.resolved, Attempts: x.route.Attempts, Last: x.ctx.Err()}
}

// verdictOf says what err means for the breaker of the deployment that
// returned it. Upstream failures count; a 429 or 503 with Retry-After
// does not (its cool-down handles it), nor do failures the request or the
// caller caused: bad request, auth, unknown model, context length, refused
// content, cancellation.
func verdictOf(err error, callerDone bool) verdict {
	ue, ok := llm.AsUpstream(err)
	if callerDone || !ok {
		return verdictNeutral
	}
	switch ue.Kind {
	case llm.KindServer, llm.KindTimeout, llm.KindConnection, llm.KindMalformed:
		return verdictFailure
	case llm.KindRateLimited, llm.KindOverloaded:
		if ue.RetryAfter > 0 {
			return verdictNeutral
		}
		return verdictFailure
	}
	return verdictNeutral
}

// coolDown keeps k out of every strategy's choice for retryAfter from now,
// at most the router's max cool-down.
func (r *Router) coolDown(k Key, now time.Time, retryAfter time.Duration) {
	if retryAfter > r.opts.maxCooldown {
		retryAfter = r.opts.maxCooldown
	}
	r.cooldowns.CoolDown(k, now.Add(retryAfter))
}

// logTransition logs a breaker state change.
func (r *Router) logTransition(k Key, tr transition) {
	if !tr.changed() {
		return
	}
	for _, o := range r.opts.observers {
		o.BreakerChanged(k, tr.from, tr.to)
	}
	switch tr.to {
	case BreakerOpen:
		r.opts.logger.Warn("circuit breaker opened", "deployment", k.String(), "from", tr.from.String(),
			"reason", tr.reason, "until", tr.until)
	default:
		r.opts.logger.Info("circuit breaker "+tr.to.String(), "deployment", k.String(), "from", tr.from.String(),
			"reason", tr.reason)
	}
}

// recordFailure fills att from err and logs it with the upstream's full
// message. It returns err.
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
	} else if ctx.Err() != nil {
		att.Error = "cancelled"
	} else {
		att.Error = "internal error"
	}
	r.opts.logger.Warn("upstream attempt failed",
		"provider", att.Provider, "model", att.Model, "upstream_model", att.UpstreamModel,
		"outcome", att.Outcome, "latency", att.Latency, "error", err)
	return err
}

// Causes of an attempt's own cancellation, told apart from the caller's.
var (
	errAttemptTimeout = errors.New("attempt timeout")
	errFirstToken     = errors.New("first-token timeout")
)

// attemptError turns a cancellation the attempt caused itself (its
// timeout, its first-token timeout) into a retryable timeout; a failure
// while the caller is still there but not caused by the attempt's own
// context is returned as is.
func attemptError(err error, caller, attempt context.Context, d *Deployment, ftt time.Duration) error {
	if caller.Err() != nil {
		return err
	}
	cause := context.Cause(attempt)
	if cause != errAttemptTimeout && cause != errFirstToken {
		return err
	}
	if ue, ok := llm.AsUpstream(err); ok && ue.Kind != llm.KindCanceled && ue.Kind != llm.KindTimeout {
		return err
	}
	msg := fmt.Sprintf("no answer within the attempt timeout %s", d.Timeout)
	if cause == errFirstToken {
		msg = fmt.Sprintf("no first token within %s", ftt)
	}
	return &llm.UpstreamError{Provider: d.Provider, Kind: llm.KindTimeout, Retryable: true, Message: msg, Err: err}
}

// callUnary makes one unary attempt.
func (x *exec) callUnary(ctx context.Context, f *flight) (*llm.Response, error) {
	d := f.c.Deployment
	actx, cancel := ctx, context.CancelFunc(func() {})
	if d.Timeout > 0 {
		actx, cancel = context.WithTimeoutCause(ctx, d.Timeout, errAttemptTimeout)
	}
	defer cancel()
	resp, err := x.r.providers[d.Provider].Chat(actx, withModel(x.req, d.UpstreamModel))
	if err != nil {
		return nil, attemptError(err, x.ctx, actx, d, 0)
	}
	if resp == nil {
		return nil, &llm.UpstreamError{Provider: d.Provider, Kind: llm.KindMalformed, Retryable: true, Message: "the adapter returned no response"}
	}
	return resp, nil
}

// callStream opens one deployment's stream and reads up to its first
// content. The first-token timeout covers that part; the deployment's
// Timeout covers the whole stream.
func (x *exec) callStream(ctx context.Context, f *flight) (*Stream, error) {
	d := f.c.Deployment
	ftt := x.r.firstTokenTimeout(&f.c, x.t)
	sctx, cancel := context.WithCancelCause(ctx)
	stopAttempt := func() bool { return true }
	if d.Timeout > 0 {
		t := time.AfterFunc(d.Timeout, func() { cancel(errAttemptTimeout) })
		stopAttempt = t.Stop
	}
	stopFTT := func() bool { return true }
	if ftt > 0 {
		t := time.AfterFunc(ftt, func() { cancel(errFirstToken) })
		stopFTT = t.Stop
	}
	abort := func(up llm.Stream, err error) (*Stream, error) {
		stopFTT()
		stopAttempt()
		if up != nil {
			up.Close()
		}
		cancel(context.Canceled)
		return nil, attemptError(err, x.ctx, sctx, d, ftt)
	}
	up, err := x.r.providers[d.Provider].ChatStream(sctx, withModel(x.req, d.UpstreamModel))
	if err != nil {
		return abort(nil, err)
	}
	if up == nil {
		return abort(nil, &llm.UpstreamError{Provider: d.Provider, Kind: llm.KindMalformed, Retryable: true, Message: "the adapter returned no stream"})
	}
	s := &Stream{up: up, cancel: func() { cancel(context.Canceled) }, stopTimer: stopAttempt,
		model: f.c.Model, dep: *f.c.Deployment, st: f.c.st, r: x.r, ctx: x.ctx, req: x.req, start: f.start}
	for {
		c, err := up.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return abort(up, err)
		}
		s.pending = append(s.pending, c)
		if c.HasContent() || c.FinishReason != "" {
			break
		}
	}
	if !stopFTT() && ftt > 0 && context.Cause(sctx) == errFirstToken {
		// The timer fired while the first token arrived: the stream is
		// cancelled already.
		return abort(up, context.Canceled)
	}
	s.firstToken = x.r.opts.now().Sub(f.start)
	return s, nil
}
