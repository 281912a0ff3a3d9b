package routing

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"
)

// ModelPolicy is how requests for one model are routed.
type ModelPolicy struct {
	// Strategy orders the model's deployments. Default: the router's
	// default strategy.
	Strategy Strategy
	// Fallbacks are models tried, in order, once every deployment of the
	// model failed or was skipped; each orders its deployments by its own
	// strategy. They are not followed further: a fallback's own fallbacks
	// do not apply.
	Fallbacks []string
	// Affinity keeps requests of one session (the request's User) on the
	// deployment that last answered it while that one stays healthy, so
	// that the provider's prompt cache keeps paying off. A 429 or 5xx on
	// that deployment ends the affinity at once.
	Affinity bool
	// Hedge, when set, races a second deployment against a slow first one.
	Hedge *HedgePolicy
	// FirstTokenTimeout abandons a stream whose deployment sends no first
	// token within it, for the next. Default: the provider policy's, else
	// the router's (WithFirstTokenTimeout).
	FirstTokenTimeout time.Duration
}

// HedgePolicy races deployments: when the first attempt has produced no
// first token (a unary call: no response) after the hedge delay, the same
// request starts on the next deployment the strategy offers; the first to
// produce a token wins and the others are cancelled, their estimated cost
// counted.
type HedgePolicy struct {
	// Delay is the hedge delay; with UseP95, its upper bound. Required.
	Delay time.Duration
	// UseP95 hedges after the attempted deployment's recent p95 latency
	// (time to first token, or total time for unary) when it is known and
	// shorter than Delay.
	UseP95 bool
	// MaxHedges bounds the extra attempts one request may start. Values
	// below 1 mean 1.
	MaxHedges int
}

func (h *HedgePolicy) validate() error {
	if h.Delay <= 0 {
		return fmt.Errorf("hedge delay is %v, want > 0", h.Delay)
	}
	return nil
}

func (h *HedgePolicy) max() int {
	if h.MaxHedges < 1 {
		return 1
	}
	return h.MaxHedges
}

// TierPolicy is the routing of one tier of a virtual model.
type TierPolicy struct {
	// Models are the models that serve the tier, in order of preference.
	// Required.
	Models []string
	// Strategy orders the deployments of all of Models together. Default:
	// the router's default strategy.
	Strategy Strategy
	// Fallbacks are models tried, in order, once every deployment of
	// Models failed or was skipped.
	Fallbacks []string
}

// VirtualModel is a model name that stands for no model of its own: each
// request is classified into a tier by Rules and routed to that tier's
// models. The name "auto" is the usual one.
type VirtualModel struct {
	Name string
	// Tiers routes each tier. Every tier needs an entry.
	Tiers map[Tier]TierPolicy
	// Rules classify requests, first match wins. Default: DefaultRules().
	Rules []Rule
	// DefaultTier is the tier of requests no rule matches. Default:
	// TierStandard.
	DefaultTier Tier
	// Affinity, Hedge and FirstTokenTimeout are as for ModelPolicy, for
	// every tier.
	Affinity          bool
	Hedge             *HedgePolicy
	FirstTokenTimeout time.Duration
}

// ProviderPolicy is what routing knows of one provider beyond its
// deployments.
type ProviderPolicy struct {
	// FirstTokenTimeout is the first-token timeout of the provider's
	// deployments whose model sets none. Default: the router's.
	FirstTokenTimeout time.Duration
	// HealthCheck, when set, probes the provider in the background
	// (Router.RunHealthChecks).
	HealthCheck *HealthCheck
}

// HealthCheck is an active health check of one provider: a cheap chat
// request (one short message, one output token) to one of its
// deployments, every Interval, off the request path. While the provider
// fails its checks every strategy skips its deployments.
type HealthCheck struct {
	// Interval is the time between probes. Required.
	Interval time.Duration
	// Timeout bounds one probe. Default: Interval, at most 10 s.
	Timeout time.Duration
	// Model is the gateway model probed, which needs a deployment on the
	// provider. Default: the first model, by name, with one.
	Model string
	// Failures is how many probes in a row must fail for the provider to
	// count as failing; one success clears it. Values below 1 mean 1.
	Failures int
}

// RetryPolicy bounds the attempts of one request. Failing over to a
// deployment not yet tried for the request is immediate; trying one again
// waits an exponential back-off with full jitter (a uniform draw between
// 0 and Backoff × 2^(n-1), at most MaxBackoff, for the n-th wait). No
// wait extends past the request's deadline: a retry that would is not
// made.
type RetryPolicy struct {
	// MaxAttempts bounds the upstream calls of one request, failovers and
	// hedges included. Values below 1 mean 1.
	MaxAttempts int
	// Backoff is the base of the exponential back-off.
	Backoff time.Duration
	// MaxBackoff caps one back-off wait.
	MaxBackoff time.Duration
	// MaxRetryAfter is the longest the router waits, when every candidate
	// is cooling down after a Retry-After, for the first cool-down to end
	// and try again. 0 never waits: the caller is told to retry later.
	MaxRetryAfter time.Duration
}

func (p *RetryPolicy) attempts() int {
	if p.MaxAttempts < 1 {
		return 1
	}
	return p.MaxAttempts
}

// SleepFunc waits for d or until ctx ends, whichever comes first, and
// returns ctx.Err() when ctx ended first.
type SleepFunc func(ctx context.Context, d time.Duration) error

type options struct {
	logger        *slog.Logger
	now           func() time.Time
	rand          func() float64
	sleep         SleepFunc
	state         *State
	cooldowns     CooldownStore
	strategy      Strategy
	models        map[string]ModelPolicy
	virtual       []VirtualModel
	providers     map[string]ProviderPolicy
	retry         RetryPolicy
	breaker       BreakerPolicy
	firstToken    time.Duration
	latencyWindow time.Duration
	sessionTTL    time.Duration
	maxSessions   int
	maxCooldown   time.Duration
	outTokens     int64
	observers     []Observer
}

var defaultOptions = options{
	logger:        slog.New(slog.DiscardHandler),
	now:           time.Now,
	rand:          rand.Float64,
	sleep:         sleep,
	strategy:      WeightedStrategy{},
	retry:         RetryPolicy{MaxAttempts: 5, Backoff: 50 * time.Millisecond, MaxBackoff: 2 * time.Second, MaxRetryAfter: 2 * time.Second},
	breaker:       defaultBreakerPolicy,
	firstToken:    0,
	latencyWindow: time.Minute,
	sessionTTL:    time.Hour,
	maxSessions:   100_000,
	maxCooldown:   5 * time.Minute,
	outTokens:     256,
}

// Option configures a Router.
type Option func(*options)

// WithLogger sets the logger for failed attempts (with the upstream's full
// error message), breaker state changes and health checks. Default:
// discard.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithClock sets the clock used for latencies, breakers, cool-downs and
// affinity. Default: time.Now.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithRand sets the source of uniform draws in [0, 1) for back-off jitter
// and health-check spreading. It must be safe for concurrent use.
// Default: math/rand/v2's Float64.
func WithRand(f func() float64) Option { return func(o *options) { o.rand = f } }

// WithSleep sets how the router waits between retries. Default: a timer
// stopped when the context ends.
func WithSleep(f SleepFunc) Option { return func(o *options) { o.sleep = f } }

// WithState makes the router continue from s, typically its predecessor's
// State after a config reload. Default: a new State.
func WithState(s *State) Option { return func(o *options) { o.state = s } }

// WithCooldownStore keeps Retry-After cool-downs in s, for instance one
// shared between gateway processes. Default: the State's in-process
// store.
func WithCooldownStore(s CooldownStore) Option { return func(o *options) { o.cooldowns = s } }

// WithDefaultStrategy sets the strategy of models and tiers that set none.
// Default: WeightedStrategy.
func WithDefaultStrategy(s Strategy) Option { return func(o *options) { o.strategy = s } }

// WithModelPolicy sets how requests for the model called name (not an
// alias) are routed. Default: the router's default strategy, no
// fallbacks, affinity or hedging.
func WithModelPolicy(name string, p ModelPolicy) Option {
	return func(o *options) {
		if o.models == nil {
			o.models = make(map[string]ModelPolicy)
		}
		o.models[name] = p
	}
}

// WithVirtualModel adds a virtual model. Default: none; "auto" is only
// routed when configured.
func WithVirtualModel(v VirtualModel) Option {
	return func(o *options) { o.virtual = append(o.virtual[:len(o.virtual):len(o.virtual)], v) }
}

// WithProviderPolicy sets the routing policy of the provider called name.
// Default: none.
func WithProviderPolicy(name string, p ProviderPolicy) Option {
	return func(o *options) {
		if o.providers == nil {
			o.providers = make(map[string]ProviderPolicy)
		}
		o.providers[name] = p
	}
}

// WithRetry sets the retry policy. Default: 5 attempts, back-off 50 ms
// doubling up to 2 s, waiting up to 2 s for a Retry-After cool-down.
func WithRetry(p RetryPolicy) Option { return func(o *options) { o.retry = p } }

// WithBreaker sets every deployment's circuit-breaker policy; the zero
// BreakerPolicy turns breakers off. Default: open at 50% failures over
// 30 s (at least 10 requests) or 5 failures in a row, for 5 s doubling on
// repeated trips up to 2 min, closing after 2 successful probes.
func WithBreaker(p BreakerPolicy) Option { return func(o *options) { o.breaker = p } }

// WithFirstTokenTimeout sets the first-token timeout of streams whose
// model and provider set none. 0 sets none: only the deployment's Timeout
// and the caller's deadline apply. Default: 0.
func WithFirstTokenTimeout(d time.Duration) Option { return func(o *options) { o.firstToken = d } }

// WithLatencyWindow sets how long a latency sample counts for
// LatencyStrategy and p95 hedging. Default: 1 min.
func WithLatencyWindow(d time.Duration) Option { return func(o *options) { o.latencyWindow = d } }

// WithSessions bounds session affinity: a session is forgotten ttl after
// its last request, and at most maxSessions are kept. Default: 1 h,
// 100,000.
func WithSessions(ttl time.Duration, maxSessions int) Option {
	return func(o *options) { o.sessionTTL, o.maxSessions = ttl, maxSessions }
}

// WithMaxCooldown caps the cool-down a Retry-After can impose. Default:
// 5 min.
func WithMaxCooldown(d time.Duration) Option { return func(o *options) { o.maxCooldown = d } }

// WithOutputEstimate sets the output tokens CostStrategy assumes for a
// request that sets no max tokens. Default: 256.
func WithOutputEstimate(tokens int64) Option { return func(o *options) { o.outTokens = tokens } }

// sleep is the default SleepFunc.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
