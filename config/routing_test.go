package config

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fullRouting is the routing section of fullYAML.
func fullRouting() Routing {
	yes := true
	return Routing{
		Strategy:              StrategyLeastLatency,
		FirstTokenTimeout:     12 * time.Second,
		LatencyWindow:         2 * time.Minute,
		EstimatedOutputTokens: 512,
		MaxCooldown:           time.Minute,
		Models: []RoutingModel{{
			Name:              "gpt-4.1",
			Strategy:          StrategyPriority,
			Fallbacks:         []string{"claude-sonnet-4.5", "gpt-4.1-mini"},
			Affinity:          true,
			Hedge:             &Hedge{Delay: 800 * time.Millisecond, P95: true, MaxHedges: 2},
			FirstTokenTimeout: 8 * time.Second,
		}},
		VirtualModels: []VirtualModel{{
			Name: "auto",
			Tiers: Tiers{
				Simple:   &Tier{Models: []string{"gpt-4.1-mini"}, Strategy: StrategyCost, Fallbacks: []string{"claude-sonnet-4.5"}},
				Standard: &Tier{Models: []string{"gpt-4.1-mini", "gpt-4.1"}, Strategy: StrategyWeighted},
				Complex:  &Tier{Models: []string{"gpt-4.1", "claude-sonnet-4.5"}, Strategy: StrategyPriority, Fallbacks: []string{"gpt-4.1-mini"}},
			},
			Rules: []TierRule{
				{Name: "code", Tier: TierComplex, Keywords: []string{"代码", "code"}},
				{Name: "mid", Tier: TierStandard, MinTokens: 100, MaxTokens: 2000, Tools: &yes, MinDepth: 2, MaxDepth: 8},
			},
			DefaultTier:       TierSimple,
			Affinity:          true,
			Hedge:             &Hedge{Delay: time.Second, MaxHedges: 1},
			FirstTokenTimeout: 9 * time.Second,
		}},
		Providers: []RoutingProvider{{
			Name:              "sim-a",
			FirstTokenTimeout: 4 * time.Second,
			HealthCheck:       &HealthCheck{Interval: 15 * time.Second, Timeout: 3 * time.Second, Model: "gpt-4.1-mini", Failures: 3},
		}},
		Retry:    Retry{MaxAttempts: 6, Backoff: 100 * time.Millisecond, MaxBackoff: 3 * time.Second, MaxRetryAfter: 5 * time.Second},
		Breaker:  Breaker{FailureRate: 0.4, Window: 20 * time.Second, MinRequests: 8, ConsecutiveFailures: 3, OpenFor: 2 * time.Second, MaxOpenFor: time.Minute, HalfOpenProbes: 3},
		Sessions: Sessions{TTL: 30 * time.Minute, Max: 5000},
	}
}

// defaultRouting is the routing section of a config that gives none.
func defaultRouting() Routing {
	return Routing{
		Strategy:              StrategyWeighted,
		FirstTokenTimeout:     30 * time.Second,
		LatencyWindow:         time.Minute,
		EstimatedOutputTokens: 256,
		MaxCooldown:           5 * time.Minute,
		Retry:                 Retry{MaxAttempts: 4, Backoff: 50 * time.Millisecond, MaxBackoff: 2 * time.Second, MaxRetryAfter: 2 * time.Second},
		Breaker: Breaker{FailureRate: 0.5, Window: 30 * time.Second, MinRequests: 10, ConsecutiveFailures: 5,
			OpenFor: 5 * time.Second, MaxOpenFor: 2 * time.Minute, HalfOpenProbes: 2},
		Sessions: Sessions{TTL: time.Hour, Max: 100_000},
	}
}

// routingBase is a config with models to route; tests append a routing
// section.
const routingBase = `
providers:
  - {name: a, type: simulator}
  - {name: b, type: simulator}
models:
  - name: gpt-4.1
    aliases: [gpt-4]
    deployments: [{provider: a}, {provider: b, priority: 1}]
  - name: mini
    deployments: [{provider: a}]
  - name: flash
    deployments: [{provider: b}]
`

func TestRoutingDefaults(t *testing.T) {
	const give = routingBase + `
routing:
  models:
    - name: gpt-4.1
      hedge: {delay: 1s}
  virtual_models:
    - name: auto
      tiers:
        simple: {models: [flash]}
        standard: {models: [mini]}
        complex: {models: [gpt-4]}
  providers:
    - name: a
      health_check: {interval: 5s}
    - name: b
      health_check: {interval: 1m}
  retry: {backoff: 3s}
  breaker: {open_for: 3m, failure_rate: 0, consecutive_failures: 0}
`
	cfg, err := Parse([]byte(give))
	if err != nil {
		t.Fatalf("Parse() error: %v", err)
	}
	want := defaultRouting()
	want.Models = []RoutingModel{{Name: "gpt-4.1", Strategy: StrategyWeighted, Hedge: &Hedge{Delay: time.Second, MaxHedges: 1}}}
	want.VirtualModels = []VirtualModel{{Name: "auto", DefaultTier: TierStandard, Tiers: Tiers{
		Simple:   &Tier{Models: []string{"flash"}, Strategy: StrategyWeighted},
		Standard: &Tier{Models: []string{"mini"}, Strategy: StrategyWeighted},
		Complex:  &Tier{Models: []string{"gpt-4"}, Strategy: StrategyWeighted},
	}}}
	want.Providers = []RoutingProvider{
		{Name: "a", HealthCheck: &HealthCheck{Interval: 5 * time.Second, Timeout: 5 * time.Second, Failures: 2}},
		{Name: "b", HealthCheck: &HealthCheck{Interval: time.Minute, Timeout: 10 * time.Second, Failures: 2}},
	}
	// An explicit 0 turns a breaker trigger off; max_backoff and
	// max_open_for grow to at least backoff and open_for.
	want.Retry.Backoff, want.Retry.MaxBackoff = 3*time.Second, 3*time.Second
	want.Breaker.FailureRate, want.Breaker.ConsecutiveFailures = 0, 0
	want.Breaker.OpenFor, want.Breaker.MaxOpenFor = 3*time.Minute, 3*time.Minute
	if diff := cmp.Diff(want, cfg.Routing); diff != "" {
		t.Errorf("routing defaults (-want +got):\n%s", diff)
	}

	cfg, err = Parse([]byte(routingBase + "routing:\n  retry: {max_retry_after: 0s}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Routing.Retry.MaxRetryAfter != 0 {
		t.Errorf("max_retry_after: 0s became %v, want 0 (never wait)", cfg.Routing.Retry.MaxRetryAfter)
	}
}

func TestRoutingValidation(t *testing.T) {
	tests := []struct {
		name string
		give string
		want []string
	}{
		{name: "unknown strategy", give: "strategy: fastest",
			want: []string{`routing.strategy: unknown strategy "fastest" (want one of: priority, weighted, least-latency, cost)`}},
		{name: "zero durations", give: "first_token_timeout: 0s\nlatency_window: -1s\nmax_cooldown: 0s\nestimated_output_tokens: 0",
			want: []string{"routing.first_token_timeout: must be > 0", "routing.latency_window: must be > 0", "routing.max_cooldown: must be > 0",
				"routing.estimated_output_tokens: must be > 0"}},
		{name: "model by alias", give: "models: [{name: gpt-4}]",
			want: []string{`routing.models[0].name: "gpt-4" is an alias of gpt-4.1; use the model's name`}},
		{name: "model in the wrong case", give: "models: [{name: GPT-4.1}]",
			want: []string{`routing.models[0].name: no model named "GPT-4.1" in models; did you mean "gpt-4.1"?`}},
		{name: "unknown model", give: "models: [{name: gpt-5}]",
			want: []string{`routing.models[0].name: no model named "gpt-5" in models`}},
		{name: "model twice", give: "models: [{name: mini}, {name: mini}]",
			want: []string{`routing.models[1].name: model "mini" is already configured in routing.models[0]`}},
		{name: "bad fallbacks", give: "models: [{name: gpt-4.1, fallbacks: [mini, gpt-4, nope, mini]}]",
			want: []string{`routing.models[0].fallbacks[1]: "gpt-4" is gpt-4.1, which is already in the chain`,
				`routing.models[0].fallbacks[2]: no model named "nope"`, `routing.models[0].fallbacks[3]: "mini" is mini, which is already in the chain`}},
		{name: "hedge without delay", give: "models: [{name: mini, hedge: {p95: true, max_hedges: 0}}]",
			want: []string{"routing.models[0].hedge.delay: required, > 0", "routing.models[0].hedge.max_hedges: must be > 0"}},
		{name: "virtual model problems", give: `virtual_models:
    - name: gpt-4
      tiers: {simple: {models: []}, standard: {models: [mini, mini], strategy: random}}
      default_tier: hard
      rules:
        - {tier: easy}
        - {name: r, tier: simple, keywords: [" "], min_tokens: 10, max_tokens: 5, min_depth: -1}
        - {name: r, tier: simple, tools: false}`,
			want: []string{
				`routing.virtual_models[0].name: "gpt-4" is already a name or alias of model gpt-4.1`,
				"routing.virtual_models[0].tiers.simple.models: at least one model is required",
				`routing.virtual_models[0].tiers.standard.models[1]: "mini" is mini, which is already listed`,
				`routing.virtual_models[0].tiers.standard.strategy: unknown strategy "random"`,
				"routing.virtual_models[0].tiers.complex: required",
				`routing.virtual_models[0].default_tier: unknown tier "hard"`,
				"routing.virtual_models[0].rules[0].name: required",
				`routing.virtual_models[0].rules[0].tier: unknown tier "easy"`,
				"routing.virtual_models[0].rules[0]: the rule has no condition",
				"routing.virtual_models[0].rules[1].keywords[0]: must not be empty",
				"routing.virtual_models[0].rules[1].max_tokens: must be >= min_tokens (10), got 5",
				"routing.virtual_models[0].rules[1].min_depth: must be >= 0",
				`routing.virtual_models[0].rules[2].name: "r" is already the name of rules[1]`,
			}},
		{name: "virtual models clash", give: `virtual_models:
    - {name: auto, tiers: {simple: {models: [mini]}, standard: {models: [mini]}, complex: {models: [mini]}}}
    - {name: AUTO, tiers: {simple: {models: [mini]}, standard: {models: [mini]}, complex: {models: [mini]}}, rules: []}`,
			want: []string{`routing.virtual_models[1].name: "AUTO" is already the name of virtual_models[0]`,
				"routing.virtual_models[1].rules: an empty list sends every request to default_tier"}},
		{name: "provider problems", give: `providers:
    - {name: c}
    - {name: a, first_token_timeout: 0s, health_check: {timeout: 1s, failures: -1}}
    - {name: a, health_check: {interval: 1s, model: flash}}`,
			want: []string{
				`routing.providers[0].name: no provider named "c" in providers`,
				"routing.providers[1].first_token_timeout: must be > 0",
				"routing.providers[1].health_check.interval: required, > 0",
				"routing.providers[1].health_check.failures: must be > 0",
				`routing.providers[2].name: provider "a" is already configured in routing.providers[1]`,
				"routing.providers[2].health_check.model: model flash has no deployment on provider a",
			}},
		{name: "retry problems", give: "retry: {max_attempts: 0, backoff: 1s, max_backoff: 500ms, max_retry_after: -1s}",
			want: []string{"routing.retry.max_attempts: must be > 0", "routing.retry.max_backoff: must be >= backoff (1s), got 500ms",
				"routing.retry.max_retry_after: must be >= 0"}},
		{name: "breaker problems", give: "breaker: {failure_rate: 1.5, window: 0s, min_requests: 0, consecutive_failures: -1, open_for: 1m, max_open_for: 30s, half_open_probes: 0}",
			want: []string{"routing.breaker.failure_rate: must be between 0 and 1", "routing.breaker.window: must be > 0",
				"routing.breaker.min_requests: must be > 0", "routing.breaker.consecutive_failures: must be >= 0",
				"routing.breaker.max_open_for: must be >= open_for (1m0s), got 30s", "routing.breaker.half_open_probes: must be > 0"}},
		{name: "session problems", give: "sessions: {ttl: 0s, max: 0}",
			want: []string{"routing.sessions.ttl: must be > 0", "routing.sessions.max: must be > 0"}},
		{name: "unknown key", give: "breakers: {}", want: []string{"routing.breakers"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			give := routingBase + "routing:\n  " + strings.ReplaceAll(tt.give, "\n", "\n  ") + "\n"
			_, err := Parse([]byte(give))
			if err == nil {
				t.Fatalf("Parse() error = nil, want %q", tt.want)
			}
			msg := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("Parse() error =\n%s\nwant it to contain %q", msg, w)
				}
			}
		})
	}
}

func TestRoutingValidConfigs(t *testing.T) {
	tests := []struct {
		name string
		give string
	}{
		{name: "empty section", give: "{}"},
		{name: "fallbacks by alias", give: "models: [{name: mini, fallbacks: [gpt-4, flash]}]"},
		{name: "health check picks a model", give: "providers: [{name: b, health_check: {interval: 10s}}]"},
		{name: "breaker off", give: "breaker: {failure_rate: 0, consecutive_failures: 0}"},
		{name: "one attempt", give: "retry: {max_attempts: 1}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			give := routingBase + "routing:\n  " + strings.ReplaceAll(tt.give, "\n", "\n  ") + "\n"
			if _, err := Parse([]byte(give)); err != nil {
				t.Errorf("Parse() error: %v", err)
			}
		})
	}
}
