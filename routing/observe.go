package routing

import (
	"context"

	"github.com/llmgateway/llmgateway/llm"
)

// Cause says why an attempt was started.
type Cause string

// The causes of an attempt.
const (
	// CauseFirst is the request's first attempt.
	CauseFirst Cause = "first"
	// CauseFailover is an attempt on the next candidate after a failure,
	// made at once: another deployment of the model, or a fallback
	// model's.
	CauseFailover Cause = "failover"
	// CauseRetry is the first attempt of a new round over the target's
	// deployments, after a back-off or a Retry-After wait.
	CauseRetry Cause = "retry"
	// CauseHedge is an attempt raced against a slow one (HedgePolicy).
	CauseHedge Cause = "hedge"
)

// AttemptStart describes an attempt as it begins.
type AttemptStart struct {
	// Key is the deployment tried.
	Key Key
	// Cause says why the attempt was made.
	Cause Cause
	// Stream reports a ChatStream attempt.
	Stream bool
}

// Observer watches the router's work, for metrics and traces. Its methods
// run on the request path, on the goroutine routing the request (or
// reading its stream): they must be quick, must not block, and must not
// keep the pointers they are given. An Observer is safe for concurrent
// use by many requests.
type Observer interface {
	// AttemptStarted is called as an attempt begins. The context it
	// returns, ctx or a child of it (one carrying a trace span, say), is
	// the one the provider is called with.
	AttemptStarted(ctx context.Context, s AttemptStart) context.Context
	// AttemptFinished is called exactly once for every attempt started,
	// with the attempt's context (what the observers' AttemptStarted
	// returned, each wrapping the one before), when the attempt's
	// outcome is known: a unary attempt when it answered or failed, a
	// stream attempt when it failed before its first content, or, for the
	// stream that answers, when that stream ends or is closed. a is the
	// attempt as the route records it; u is the usage the upstream
	// reported, or nil when it reported none.
	AttemptFinished(ctx context.Context, a *Attempt, u *llm.Usage)
	// BreakerChanged is called when a deployment's circuit breaker
	// changes state.
	BreakerChanged(k Key, from, to BreakerState)
}

// WithObserver adds an observer of attempts and breaker changes; given
// more than once, every observer is called, in the order given. Default:
// none.
func WithObserver(o Observer) Option {
	return func(opts *options) {
		opts.observers = append(opts.observers[:len(opts.observers):len(opts.observers)], o)
	}
}

// attemptStarted tells the observers that an attempt begins and returns
// the context to make it in.
func (r *Router) attemptStarted(ctx context.Context, s AttemptStart) context.Context {
	for _, o := range r.opts.observers {
		ctx = o.AttemptStarted(ctx, s)
	}
	return ctx
}

// attemptFinished tells the observers how an attempt ended.
func (r *Router) attemptFinished(ctx context.Context, a *Attempt, u *llm.Usage) {
	for _, o := range r.opts.observers {
		o.AttemptFinished(ctx, a, u)
	}
}

// cause returns why the attempt about to be launched is made.
func (x *exec) cause(isHedge bool) Cause {
	switch {
	case isHedge:
		return CauseHedge
	case x.attempts == 0:
		return CauseFirst
	case x.triedInRound == 0:
		return CauseRetry
	}
	return CauseFailover
}
