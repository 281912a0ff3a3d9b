package config

import (
	"math"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Routing configures how requests are spread over deployments and how
// failures are handled (YAML key routing). Every field is optional.
type Routing struct {
	// Strategy is the strategy of models and tiers that set none (YAML
	// key strategy): priority (lowest priority first), weighted (smooth
	// weighted round robin within the lowest priority), least-latency
	// (lowest recent p95) or cost (cheapest estimate). Default: weighted.
	Strategy string `yaml:"strategy"`
	// FirstTokenTimeout abandons a stream whose deployment sends no first
	// token within it, for the next deployment (YAML key
	// first_token_timeout). A model's or provider's own setting takes
	// precedence. Must be > 0. Default: 30s.
	FirstTokenTimeout time.Duration `yaml:"first_token_timeout"`
	// LatencyWindow is how long a latency sample counts for least-latency
	// and p95 hedging (YAML key latency_window); older samples are
	// forgotten, so a deployment that recovers gets traffic again. Must be
	// > 0. Default: 1m.
	LatencyWindow time.Duration `yaml:"latency_window"`
	// EstimatedOutputTokens is the output the cost strategy assumes for a
	// request that sets no max_tokens (YAML key estimated_output_tokens).
	// Must be > 0. Default: 256.
	EstimatedOutputTokens int64 `yaml:"estimated_output_tokens"`
	// MaxCooldown caps how long a Retry-After can keep a deployment out
	// of rotation (YAML key max_cooldown). Must be > 0. Default: 5m.
	MaxCooldown time.Duration `yaml:"max_cooldown"`
	// Models sets the routing of individual models (YAML key models):
	// strategy, fallback chain, session affinity, hedging. Default: none;
	// every model uses the defaults.
	Models []RoutingModel `yaml:"models"`
	// VirtualModels are model names that classify each request and route
	// it to a tier's models, such as "auto" (YAML key virtual_models).
	// Default: none.
	VirtualModels []VirtualModel `yaml:"virtual_models"`
	// Providers sets routing per provider: first-token timeout and active
	// health checks (YAML key providers). Default: none.
	Providers []RoutingProvider `yaml:"providers"`
	// Retry bounds the attempts of one request (YAML key retry).
	Retry Retry `yaml:"retry"`
	// Breaker configures the circuit breaker of every deployment (YAML key
	// breaker).
	Breaker Breaker `yaml:"breaker"`
	// Sessions bounds session affinity (YAML key sessions).
	Sessions Sessions `yaml:"sessions"`
}

// The strategy names.
const (
	StrategyPriority     = "priority"
	StrategyWeighted     = "weighted"
	StrategyLeastLatency = "least-latency"
	StrategyCost         = "cost"
)

// Strategies returns the strategy names.
func Strategies() []string {
	return []string{StrategyPriority, StrategyWeighted, StrategyLeastLatency, StrategyCost}
}

// The tiers of a virtual model.
const (
	TierSimple   = "simple"
	TierStandard = "standard"
	TierComplex  = "complex"
)

// RoutingModel is the routing of one model.
type RoutingModel struct {
	// Name is the model's name, as in models (not an alias) (YAML key
	// name). Required; each model at most once.
	Name string `yaml:"name"`
	// Strategy orders the model's deployments (YAML key strategy).
	// Default: routing.strategy.
	Strategy string `yaml:"strategy"`
	// Fallbacks are models tried, in order, once every deployment of this
	// one failed or was skipped (YAML key fallbacks), such as
	// [claude-sonnet-4.5, gemini-2.5-flash] for gpt-4.1. Their own
	// fallbacks do not apply. Default: none.
	Fallbacks []string `yaml:"fallbacks"`
	// Affinity keeps the requests of one session (the request's user) on
	// the deployment that last answered it while that one stays healthy,
	// so that provider-side prompt caching keeps paying off (YAML key
	// affinity). A 429 or 5xx ends it at once. Default: false.
	Affinity bool `yaml:"affinity"`
	// Hedge races a second deployment against a slow first one (YAML key
	// hedge). Default: none, no hedging.
	Hedge *Hedge `yaml:"hedge"`
	// FirstTokenTimeout overrides the first-token timeout for this model
	// (YAML key first_token_timeout). Must be > 0. Default: the provider's,
	// else routing.first_token_timeout.
	FirstTokenTimeout time.Duration `yaml:"first_token_timeout"`
}

// Hedge configures hedging: when the first attempt has produced no first
// token (a unary call: no answer) after the delay, the same request starts
// on the next deployment; the first to answer wins, the other is cancelled
// and its cost counted.
type Hedge struct {
	// Delay is the hedge delay (YAML key delay); with p95, its upper
	// bound. Required, > 0.
	Delay time.Duration `yaml:"delay"`
	// P95 hedges after the attempted deployment's recent p95 latency
	// instead, when it is known and shorter than delay (YAML key p95).
	// Default: false.
	P95 bool `yaml:"p95"`
	// MaxHedges bounds the extra attempts per request (YAML key
	// max_hedges). Must be >= 1. Default: 1.
	MaxHedges int `yaml:"max_hedges"`
}

// VirtualModel is a model name that classifies each request as simple,
// standard or complex and routes it to that tier's models.
type VirtualModel struct {
	// Name is what callers send as the model (YAML key name), usually
	// "auto". Required, without spaces, and unique among the names and
	// aliases of all models and virtual models, ignoring case.
	Name string `yaml:"name"`
	// Tiers routes each tier (YAML key tiers). Required, all three.
	Tiers Tiers `yaml:"tiers"`
	// Rules classify requests, the first match deciding (YAML key rules).
	// Default: the built-in rules: complex for analysis, reasoning, code
	// or architecture keywords (分析, 推理, 代码, 架构, "analyze", "step by
	// step", "debug", ...) or 1,000 tokens or more; simple for
	// look-up, translation, summary or extraction keywords (查询, 翻译,
	// 总结, 提取, "order status", "translate", "summar", "extract", ...);
	// standard with tools or 10 messages or more; simple under 160
	// tokens in 3 messages or fewer.
	Rules []TierRule `yaml:"rules"`
	// DefaultTier is the tier of requests no rule matches (YAML key
	// default_tier): simple, standard or complex. Default: standard.
	DefaultTier string `yaml:"default_tier"`
	// Affinity is as for a model, for every tier (YAML key affinity).
	// Default: false.
	Affinity bool `yaml:"affinity"`
	// Hedge is as for a model, for every tier (YAML key hedge). Default:
	// none.
	Hedge *Hedge `yaml:"hedge"`
	// FirstTokenTimeout is as for a model, for every tier (YAML key
	// first_token_timeout). Must be > 0. Default: each model's own.
	FirstTokenTimeout time.Duration `yaml:"first_token_timeout"`
}

// Tiers routes the three tiers of a virtual model.
type Tiers struct {
	// Simple serves look-ups, translations, summaries (YAML key simple).
	// Required.
	Simple *Tier `yaml:"simple"`
	// Standard serves everyday requests (YAML key standard). Required.
	Standard *Tier `yaml:"standard"`
	// Complex serves analysis, reasoning and code (YAML key complex).
	// Required.
	Complex *Tier `yaml:"complex"`
}

// Tier is the routing of one tier.
type Tier struct {
	// Models serve the tier, in order of preference (YAML key models);
	// the strategy orders all their deployments together. Required.
	Models []string `yaml:"models"`
	// Strategy orders the tier's deployments (YAML key strategy); cost
	// picks the cheapest model for each request. Default:
	// routing.strategy.
	Strategy string `yaml:"strategy"`
	// Fallbacks are models tried, in order, once every deployment of the
	// tier's models failed or was skipped (YAML key fallbacks). Default:
	// none.
	Fallbacks []string `yaml:"fallbacks"`
}

// TierRule classifies the requests that meet all of its conditions into
// its tier. The text it looks at is the request's last user message.
type TierRule struct {
	// Name identifies the rule in route traces (YAML key name). Required,
	// unique within the virtual model.
	Name string `yaml:"name"`
	// Tier is where matching requests go (YAML key tier): simple,
	// standard or complex. Required.
	Tier string `yaml:"tier"`
	// Keywords match when any occurs anywhere in the text, ignoring case
	// (YAML key keywords): 翻译 matches 请帮我翻译. Default: none.
	Keywords []string `yaml:"keywords"`
	// MinTokens is the text's least length in estimated tokens, about
	// four characters of English or one of Chinese each (YAML key
	// min_tokens). Default: 0, no bound.
	MinTokens int `yaml:"min_tokens"`
	// MaxTokens is the text's greatest length in estimated tokens (YAML
	// key max_tokens). Default: 0, no bound.
	MaxTokens int `yaml:"max_tokens"`
	// Tools requires the request to offer tools (true) or none (false)
	// (YAML key tools). Default: either.
	Tools *bool `yaml:"tools"`
	// MinDepth is the least number of messages, not counting system ones
	// (YAML key min_depth). Default: 0, no bound.
	MinDepth int `yaml:"min_depth"`
	// MaxDepth is the greatest number of messages, not counting system
	// ones (YAML key max_depth). Default: 0, no bound.
	MaxDepth int `yaml:"max_depth"`
}

// RoutingProvider is the routing of one provider.
type RoutingProvider struct {
	// Name is the provider's name, as in providers (YAML key name).
	// Required; each provider at most once.
	Name string `yaml:"name"`
	// FirstTokenTimeout is the first-token timeout of the provider's
	// deployments whose model sets none (YAML key first_token_timeout).
	// Must be > 0. Default: routing.first_token_timeout.
	FirstTokenTimeout time.Duration `yaml:"first_token_timeout"`
	// HealthCheck probes the provider in the background (YAML key
	// health_check); while it fails, its deployments are skipped. Default:
	// none; health is learnt from requests only.
	HealthCheck *HealthCheck `yaml:"health_check"`
}

// HealthCheck is an active health check: a one-token chat request to one
// of the provider's deployments, off the request path.
type HealthCheck struct {
	// Interval is the time between probes (YAML key interval). Required,
	// > 0.
	Interval time.Duration `yaml:"interval"`
	// Timeout bounds one probe (YAML key timeout). Must be > 0. Default:
	// the interval, at most 10s.
	Timeout time.Duration `yaml:"timeout"`
	// Model is the gateway model probed, which needs a deployment on the
	// provider (YAML key model). Default: the first model, by name,
	// deployed on it.
	Model string `yaml:"model"`
	// Failures is how many probes in a row must fail for the provider to
	// count as failing (YAML key failures); one success clears it. Must be
	// >= 1. Default: 2.
	Failures int `yaml:"failures"`
}

// Retry bounds the attempts of one request. Failing over to a deployment
// not yet tried is immediate; trying one again waits an exponential
// back-off with full jitter. No wait extends past the request's deadline.
type Retry struct {
	// MaxAttempts bounds the upstream calls of one request, failovers and
	// hedges included (YAML key max_attempts). 1 turns retries and
	// failover off. Must be >= 1. Default: 4.
	MaxAttempts int `yaml:"max_attempts"`
	// Backoff is the first back-off's upper bound; each retry doubles it
	// (YAML key backoff). Must be > 0. Default: 50ms.
	Backoff time.Duration `yaml:"backoff"`
	// MaxBackoff caps one back-off (YAML key max_backoff). Must be >=
	// backoff. Default: 2s.
	MaxBackoff time.Duration `yaml:"max_backoff"`
	// MaxRetryAfter is the longest the gateway waits, when every
	// deployment is cooling down after a Retry-After, for the first to
	// become usable (YAML key max_retry_after); a longer Retry-After is
	// passed on to the caller as ResourceExhausted with its retry delay. 0
	// never waits. Must be >= 0. Default: 2s.
	MaxRetryAfter time.Duration `yaml:"max_retry_after"`
}

// Breaker configures each deployment's circuit breaker. Failures caused
// by the caller (bad request, auth, cancellation) do not count, nor do
// 429s and 503s with a Retry-After, which cool the deployment down
// instead.
type Breaker struct {
	// FailureRate opens the breaker when this share of the requests in
	// the window failed (YAML key failure_rate). 0 turns this trigger off.
	// Must be in [0, 1]. Default: 0.5.
	FailureRate float64 `yaml:"failure_rate"`
	// Window is the sliding window of the failure rate (YAML key window).
	// Must be > 0. Default: 30s.
	Window time.Duration `yaml:"window"`
	// MinRequests is the fewest requests in the window for the failure
	// rate to apply (YAML key min_requests). Must be >= 1. Default: 10.
	MinRequests int `yaml:"min_requests"`
	// ConsecutiveFailures opens the breaker after that many failures in a
	// row (YAML key consecutive_failures). 0 turns this trigger off; with
	// failure_rate 0 too, breakers never open. Must be >= 0. Default: 5.
	ConsecutiveFailures int `yaml:"consecutive_failures"`
	// OpenFor is how long an open breaker refuses requests after its
	// first trip; each trip soon after the last doubles it (YAML key
	// open_for). Must be > 0. Default: 5s.
	OpenFor time.Duration `yaml:"open_for"`
	// MaxOpenFor caps the doubled open time (YAML key max_open_for). Must
	// be >= open_for. Default: 2m.
	MaxOpenFor time.Duration `yaml:"max_open_for"`
	// HalfOpenProbes is how many probe requests a breaker lets through
	// once its open time is over, and how many must succeed to close it;
	// one failure opens it again (YAML key half_open_probes). Must be >=
	// 1. Default: 2.
	HalfOpenProbes int `yaml:"half_open_probes"`
}

// Sessions bounds the session affinity table.
type Sessions struct {
	// TTL is how long a session is remembered after its last request
	// (YAML key ttl). Must be > 0. Default: 1h.
	TTL time.Duration `yaml:"ttl"`
	// Max is the most sessions remembered (YAML key max). Must be >= 1.
	// Default: 100000.
	Max int `yaml:"max"`
}

// The defaults of the routing section.
const (
	defaultStrategy              = StrategyWeighted
	defaultFirstTokenTimeout     = 30 * time.Second
	defaultLatencyWindow         = time.Minute
	defaultEstimatedOutputTokens = 256
	defaultMaxCooldown           = 5 * time.Minute
	defaultMaxHedges             = 1
	defaultTier                  = TierStandard
	defaultHealthFailures        = 2
	defaultMaxProbeTimeout       = 10 * time.Second
	defaultMaxAttempts           = 4
	defaultBackoff               = 50 * time.Millisecond
	defaultMaxBackoff            = 2 * time.Second
	defaultMaxRetryAfter         = 2 * time.Second
	defaultFailureRate           = 0.5
	defaultBreakerWindow         = 30 * time.Second
	defaultMinRequests           = 10
	defaultConsecutiveFailures   = 5
	defaultOpenFor               = 5 * time.Second
	defaultMaxOpenFor            = 2 * time.Minute
	defaultHalfOpenProbes        = 2
	defaultSessionTTL            = time.Hour
	defaultMaxSessions           = 100_000
)

func (v *validator) routing(p path, c *Config) {
	r := &c.Routing
	v.strategy(p.field("strategy"), r.Strategy)
	v.positiveDuration(p.field("first_token_timeout"), r.FirstTokenTimeout)
	v.positiveDuration(p.field("latency_window"), r.LatencyWindow)
	v.positiveDuration(p.field("max_cooldown"), r.MaxCooldown)
	v.positiveInt(p.field("estimated_output_tokens"), r.EstimatedOutputTokens)

	seen := make(map[string]int, len(r.Models))
	for i := range r.Models {
		mp := p.field("models").index(i)
		m := &r.Models[i]
		if v.modelName(mp.field("name"), m.Name, c) {
			if j, dup := seen[m.Name]; dup {
				v.addf(mp.field("name"), "model %q is already configured in routing.models[%d]", m.Name, j)
			}
			seen[m.Name] = i
		}
		v.strategy(mp.field("strategy"), m.Strategy)
		v.fallbacks(mp.field("fallbacks"), m.Fallbacks, []string{m.Name}, c)
		v.hedge(mp.field("hedge"), m.Hedge)
		v.positiveDuration(mp.field("first_token_timeout"), m.FirstTokenTimeout)
	}

	vseen := make(map[string]int, len(r.VirtualModels))
	for i := range r.VirtualModels {
		vp := p.field("virtual_models").index(i)
		vm := &r.VirtualModels[i]
		switch {
		case vm.Name == "":
			v.addf(vp.field("name"), "required, like \"auto\"")
		case !validModelName(vm.Name):
			v.addf(vp.field("name"), "must not contain spaces or control characters, got %q", vm.Name)
		default:
			if m, ok := c.ModelByName(vm.Name); ok {
				v.addf(vp.field("name"), "%q is already a name or alias of model %s", vm.Name, m.Name)
			} else if j, dup := vseen[strings.ToLower(vm.Name)]; dup {
				v.addf(vp.field("name"), "%q is already the name of virtual_models[%d] (names ignore case)", vm.Name, j)
			}
			vseen[strings.ToLower(vm.Name)] = i
		}
		tp := vp.field("tiers")
		for _, t := range []struct {
			name string
			tier *Tier
		}{{TierSimple, vm.Tiers.Simple}, {TierStandard, vm.Tiers.Standard}, {TierComplex, vm.Tiers.Complex}} {
			if t.tier == nil {
				v.addf(tp.field(t.name), "required: the models that serve %s requests", t.name)
				continue
			}
			v.tier(tp.field(t.name), t.tier, c)
		}
		rseen := make(map[string]int, len(vm.Rules))
		for j := range vm.Rules {
			rp := vp.field("rules").index(j)
			rule := &vm.Rules[j]
			if rule.Name != "" {
				if k, dup := rseen[rule.Name]; dup {
					v.addf(rp.field("name"), "%q is already the name of rules[%d]", rule.Name, k)
				}
				rseen[rule.Name] = j
			}
			v.rule(rp, rule)
		}
		if vm.Rules != nil && len(vm.Rules) == 0 && v.has(vp.field("rules")) {
			v.addf(vp.field("rules"), "an empty list sends every request to default_tier; leave rules out for the built-in rules")
		}
		v.tierName(vp.field("default_tier"), vm.DefaultTier, false)
		v.hedge(vp.field("hedge"), vm.Hedge)
		v.positiveDuration(vp.field("first_token_timeout"), vm.FirstTokenTimeout)
	}

	pseen := make(map[string]int, len(r.Providers))
	for i := range r.Providers {
		pp := p.field("providers").index(i)
		rp := &r.Providers[i]
		_, known := c.ProviderByName(rp.Name)
		switch ok := known; {
		case rp.Name == "":
			v.addf(pp.field("name"), "required")
		case !ok:
			v.addf(pp.field("name"), "no provider named %q in providers", rp.Name)
		default:
			if j, dup := pseen[rp.Name]; dup {
				v.addf(pp.field("name"), "provider %q is already configured in routing.providers[%d]", rp.Name, j)
			}
			pseen[rp.Name] = i
		}
		v.positiveDuration(pp.field("first_token_timeout"), rp.FirstTokenTimeout)
		if hc := rp.HealthCheck; hc != nil {
			hp := pp.field("health_check")
			if hc.Interval <= 0 {
				v.addf(hp.field("interval"), "required, > 0, like 30s")
			}
			v.positiveDuration(hp.field("timeout"), hc.Timeout)
			v.positiveInt(hp.field("failures"), int64(hc.Failures))
			if hc.Model != "" && known {
				switch m, ok := c.ModelByName(hc.Model); {
				case !ok:
					v.addf(hp.field("model"), "no model named %q in models", hc.Model)
				case !slices.ContainsFunc(m.Deployments, func(d Deployment) bool { return d.Provider == rp.Name }):
					v.addf(hp.field("model"), "model %s has no deployment on provider %s, so the probe could not reach it", m.Name, rp.Name)
				}
			} else if hc.Model == "" && known && !slices.ContainsFunc(c.Models, func(m Model) bool {
				return slices.ContainsFunc(m.Deployments, func(d Deployment) bool { return d.Provider == rp.Name })
			}) {
				v.addf(hp, "no model is deployed on provider %s, so there is nothing to probe", rp.Name)
			}
		}
	}

	rt := p.field("retry")
	v.positiveInt(rt.field("max_attempts"), int64(r.Retry.MaxAttempts))
	v.positiveDuration(rt.field("backoff"), r.Retry.Backoff)
	v.positiveDuration(rt.field("max_backoff"), r.Retry.MaxBackoff)
	if r.Retry.MaxBackoff > 0 && r.Retry.MaxBackoff < cmpOr(r.Retry.Backoff, defaultBackoff) {
		v.addf(rt.field("max_backoff"), "must be >= backoff (%s), got %s", cmpOr(r.Retry.Backoff, defaultBackoff), r.Retry.MaxBackoff)
	}
	v.nonNegativeDuration(rt.field("max_retry_after"), r.Retry.MaxRetryAfter)

	bp := p.field("breaker")
	b := &r.Breaker
	if math.IsNaN(b.FailureRate) || b.FailureRate < 0 || b.FailureRate > 1 {
		v.addf(bp.field("failure_rate"), "must be between 0 and 1 (0 turns the trigger off), got %g", b.FailureRate)
	}
	v.positiveDuration(bp.field("window"), b.Window)
	v.positiveInt(bp.field("min_requests"), int64(b.MinRequests))
	if b.ConsecutiveFailures < 0 {
		v.addf(bp.field("consecutive_failures"), "must be >= 0 (0 turns the trigger off), got %d", b.ConsecutiveFailures)
	}
	v.positiveDuration(bp.field("open_for"), b.OpenFor)
	v.positiveDuration(bp.field("max_open_for"), b.MaxOpenFor)
	if b.MaxOpenFor > 0 && b.MaxOpenFor < cmpOr(b.OpenFor, defaultOpenFor) {
		v.addf(bp.field("max_open_for"), "must be >= open_for (%s), got %s", cmpOr(b.OpenFor, defaultOpenFor), b.MaxOpenFor)
	}
	v.positiveInt(bp.field("half_open_probes"), int64(b.HalfOpenProbes))

	sp := p.field("sessions")
	v.positiveDuration(sp.field("ttl"), r.Sessions.TTL)
	v.positiveInt(sp.field("max"), int64(r.Sessions.Max))
}

func cmpOr(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// positiveInt checks a number that must be > 0 when given.
func (v *validator) positiveInt(p path, n int64) {
	if n < 0 || n == 0 && v.has(p) {
		v.addf(p, "must be > 0, got %d (leave it out for the default)", n)
	}
}

func (v *validator) strategy(p path, s string) {
	if s != "" && !slices.Contains(Strategies(), s) {
		v.addf(p, "unknown strategy %q (want one of: %s)", s, strings.Join(Strategies(), ", "))
	}
}

// modelName checks a reference to a model by its name, which aliases do
// not stand for. It reports whether name is valid.
func (v *validator) modelName(p path, name string, c *Config) bool {
	if name == "" {
		v.addf(p, "required: the name of a model in models")
		return false
	}
	m, ok := c.ModelByName(name)
	switch {
	case !ok:
		v.addf(p, "no model named %q in models", name)
	case m.Name != name && strings.EqualFold(m.Name, name):
		v.addf(p, "no model named %q in models; did you mean %q?", name, m.Name)
	case m.Name != name:
		v.addf(p, "%q is an alias of %s; use the model's name", name, m.Name)
	default:
		return true
	}
	return false
}

// fallbacks checks a fallback chain: models (names or aliases), each once,
// none of them one of have.
func (v *validator) fallbacks(p path, names []string, have []string, c *Config) {
	for i, n := range names {
		fp := p.index(i)
		m, ok := c.ModelByName(n)
		if !ok {
			v.addf(fp, "no model named %q in models", n)
			continue
		}
		if slices.Contains(have, m.Name) {
			v.addf(fp, "%q is %s, which is already in the chain", n, m.Name)
			continue
		}
		have = append(have, m.Name)
	}
}

func (v *validator) hedge(p path, h *Hedge) {
	if h == nil {
		return
	}
	if h.Delay <= 0 {
		v.addf(p.field("delay"), "required, > 0, like 500ms: how long to wait for a first token before racing another deployment")
	}
	v.positiveInt(p.field("max_hedges"), int64(h.MaxHedges))
}

func (v *validator) tier(p path, t *Tier, c *Config) {
	if len(t.Models) == 0 {
		v.addf(p.field("models"), "at least one model is required")
	}
	var have []string
	for i, n := range t.Models {
		m, ok := c.ModelByName(n)
		if !ok {
			v.addf(p.field("models").index(i), "no model named %q in models", n)
			continue
		}
		if slices.Contains(have, m.Name) {
			v.addf(p.field("models").index(i), "%q is %s, which is already listed", n, m.Name)
			continue
		}
		have = append(have, m.Name)
	}
	v.strategy(p.field("strategy"), t.Strategy)
	v.fallbacks(p.field("fallbacks"), t.Fallbacks, have, c)
}

func (v *validator) tierName(p path, t string, required bool) {
	switch t {
	case TierSimple, TierStandard, TierComplex:
	case "":
		if required {
			v.addf(p, "required: simple, standard or complex")
		}
	default:
		v.addf(p, "unknown tier %q (want simple, standard or complex)", t)
	}
}

func (v *validator) rule(p path, r *TierRule) {
	if r.Name == "" {
		v.addf(p.field("name"), "required: it names the rule in route traces")
	}
	v.tierName(p.field("tier"), r.Tier, true)
	for i, k := range r.Keywords {
		if strings.TrimSpace(k) == "" {
			v.addf(p.field("keywords").index(i), "must not be empty")
		}
	}
	for _, f := range []struct {
		key string
		n   int
	}{{"min_tokens", r.MinTokens}, {"max_tokens", r.MaxTokens}, {"min_depth", r.MinDepth}, {"max_depth", r.MaxDepth}} {
		if f.n < 0 {
			v.addf(p.field(f.key), "must be >= 0, got %d", f.n)
		}
	}
	if r.MaxTokens > 0 && r.MaxTokens < r.MinTokens {
		v.addf(p.field("max_tokens"), "must be >= min_tokens (%d), got %d", r.MinTokens, r.MaxTokens)
	}
	if r.MaxDepth > 0 && r.MaxDepth < r.MinDepth {
		v.addf(p.field("max_depth"), "must be >= min_depth (%d), got %d", r.MinDepth, r.MaxDepth)
	}
	if len(r.Keywords) == 0 && r.MinTokens == 0 && r.MaxTokens == 0 && r.Tools == nil && r.MinDepth == 0 && r.MaxDepth == 0 {
		v.addf(p, "the rule has no condition, so it would match every request; give keywords, min_tokens, max_tokens, tools, min_depth or max_depth (default_tier covers the rest)")
	}
}

func applyRoutingDefaults(c *Config, root *yaml.Node) {
	r := &c.Routing
	p := path{"routing"}
	if r.Strategy == "" {
		r.Strategy = defaultStrategy
	}
	if r.FirstTokenTimeout == 0 {
		r.FirstTokenTimeout = defaultFirstTokenTimeout
	}
	if r.LatencyWindow == 0 {
		r.LatencyWindow = defaultLatencyWindow
	}
	if r.EstimatedOutputTokens == 0 {
		r.EstimatedOutputTokens = defaultEstimatedOutputTokens
	}
	if r.MaxCooldown == 0 {
		r.MaxCooldown = defaultMaxCooldown
	}
	for i := range r.Models {
		m := &r.Models[i]
		if m.Strategy == "" {
			m.Strategy = r.Strategy
		}
		hedgeDefaults(m.Hedge)
	}
	for i := range r.VirtualModels {
		vm := &r.VirtualModels[i]
		for _, t := range []*Tier{vm.Tiers.Simple, vm.Tiers.Standard, vm.Tiers.Complex} {
			if t.Strategy == "" {
				t.Strategy = r.Strategy
			}
		}
		if vm.DefaultTier == "" {
			vm.DefaultTier = defaultTier
		}
		hedgeDefaults(vm.Hedge)
	}
	for i := range r.Providers {
		if hc := r.Providers[i].HealthCheck; hc != nil {
			if hc.Timeout == 0 {
				hc.Timeout = min(hc.Interval, defaultMaxProbeTimeout)
			}
			if hc.Failures == 0 {
				hc.Failures = defaultHealthFailures
			}
		}
	}
	rt := &r.Retry
	if rt.MaxAttempts == 0 {
		rt.MaxAttempts = defaultMaxAttempts
	}
	if rt.Backoff == 0 {
		rt.Backoff = defaultBackoff
	}
	if rt.MaxBackoff == 0 {
		rt.MaxBackoff = max(defaultMaxBackoff, rt.Backoff)
	}
	if rt.MaxRetryAfter == 0 && !present(root, p.field("retry").field("max_retry_after")) {
		rt.MaxRetryAfter = defaultMaxRetryAfter
	}
	b := &r.Breaker
	bp := p.field("breaker")
	if b.FailureRate == 0 && !present(root, bp.field("failure_rate")) {
		b.FailureRate = defaultFailureRate
	}
	if b.Window == 0 {
		b.Window = defaultBreakerWindow
	}
	if b.MinRequests == 0 {
		b.MinRequests = defaultMinRequests
	}
	if b.ConsecutiveFailures == 0 && !present(root, bp.field("consecutive_failures")) {
		b.ConsecutiveFailures = defaultConsecutiveFailures
	}
	if b.OpenFor == 0 {
		b.OpenFor = defaultOpenFor
	}
	if b.MaxOpenFor == 0 {
		b.MaxOpenFor = max(defaultMaxOpenFor, b.OpenFor)
	}
	if b.HalfOpenProbes == 0 {
		b.HalfOpenProbes = defaultHalfOpenProbes
	}
	if r.Sessions.TTL == 0 {
		r.Sessions.TTL = defaultSessionTTL
	}
	if r.Sessions.Max == 0 {
		r.Sessions.Max = defaultMaxSessions
	}
}

func hedgeDefaults(h *Hedge) {
	if h != nil && h.MaxHedges == 0 {
		h.MaxHedges = defaultMaxHedges
	}
}
