package app

import (
	"fmt"
	"log/slog"

	"github.com/llmgateway/llmgateway/config"
	"github.com/llmgateway/llmgateway/routing"
)

// routerOptions turns the config's routing section into router options.
func routerOptions(cfg *config.Config, logger *slog.Logger) ([]routing.Option, error) {
	return RouterOptions(&cfg.Routing)
}

// RouterOptions turns a validated, completed routing section (as
// config.Parse returns it) into router options: the default strategy,
// per-model and per-provider policies, virtual models, retries, breakers,
// cool-downs, session affinity and hedging. Programs that build their own
// providers and catalog, such as the fault drill, use it to route exactly
// as the gateway does.
func RouterOptions(rc *config.Routing) ([]routing.Option, error) {
	def, err := strategy(rc.Strategy, nil)
	if err != nil {
		return nil, fmt.Errorf("routing.strategy: %w", err)
	}
	opts := []routing.Option{
		routing.WithDefaultStrategy(def),
		routing.WithFirstTokenTimeout(rc.FirstTokenTimeout),
		routing.WithLatencyWindow(rc.LatencyWindow),
		routing.WithOutputEstimate(rc.EstimatedOutputTokens),
		routing.WithMaxCooldown(rc.MaxCooldown),
		routing.WithRetry(routing.RetryPolicy{
			MaxAttempts:   rc.Retry.MaxAttempts,
			Backoff:       rc.Retry.Backoff,
			MaxBackoff:    rc.Retry.MaxBackoff,
			MaxRetryAfter: rc.Retry.MaxRetryAfter,
		}),
		routing.WithBreaker(routing.BreakerPolicy{
			FailureRate:         rc.Breaker.FailureRate,
			Window:              rc.Breaker.Window,
			MinRequests:         rc.Breaker.MinRequests,
			ConsecutiveFailures: rc.Breaker.ConsecutiveFailures,
			OpenFor:             rc.Breaker.OpenFor,
			MaxOpenFor:          rc.Breaker.MaxOpenFor,
			HalfOpenProbes:      rc.Breaker.HalfOpenProbes,
		}),
		routing.WithSessions(rc.Sessions.TTL, rc.Sessions.Max),
	}
	for i := range rc.Models {
		m := &rc.Models[i]
		s, err := strategy(m.Strategy, def)
		if err != nil {
			return nil, fmt.Errorf("routing.models[%d]: %w", i, err)
		}
		opts = append(opts, routing.WithModelPolicy(m.Name, routing.ModelPolicy{
			Strategy:          s,
			Fallbacks:         m.Fallbacks,
			Affinity:          m.Affinity,
			Hedge:             hedge(m.Hedge),
			FirstTokenTimeout: m.FirstTokenTimeout,
		}))
	}
	for i := range rc.VirtualModels {
		vm := &rc.VirtualModels[i]
		v := routing.VirtualModel{
			Name:              vm.Name,
			Tiers:             make(map[routing.Tier]routing.TierPolicy, 3),
			DefaultTier:       routing.Tier(vm.DefaultTier),
			Affinity:          vm.Affinity,
			Hedge:             hedge(vm.Hedge),
			FirstTokenTimeout: vm.FirstTokenTimeout,
		}
		for _, t := range []struct {
			tier routing.Tier
			conf *config.Tier
		}{{routing.TierSimple, vm.Tiers.Simple}, {routing.TierStandard, vm.Tiers.Standard}, {routing.TierComplex, vm.Tiers.Complex}} {
			if t.conf == nil {
				return nil, fmt.Errorf("routing.virtual_models[%d].tiers.%s: missing", i, t.tier)
			}
			s, err := strategy(t.conf.Strategy, def)
			if err != nil {
				return nil, fmt.Errorf("routing.virtual_models[%d].tiers.%s: %w", i, t.tier, err)
			}
			v.Tiers[t.tier] = routing.TierPolicy{Models: t.conf.Models, Strategy: s, Fallbacks: t.conf.Fallbacks}
		}
		if vm.Rules != nil {
			v.Rules = make([]routing.Rule, len(vm.Rules))
			for j, r := range vm.Rules {
				v.Rules[j] = routing.Rule{
					Name: r.Name, Tier: routing.Tier(r.Tier), Keywords: r.Keywords,
					MinTokens: r.MinTokens, MaxTokens: r.MaxTokens, Tools: r.Tools,
					MinDepth: r.MinDepth, MaxDepth: r.MaxDepth,
				}
			}
		}
		opts = append(opts, routing.WithVirtualModel(v))
	}
	for i := range rc.Providers {
		p := &rc.Providers[i]
		pp := routing.ProviderPolicy{FirstTokenTimeout: p.FirstTokenTimeout}
		if hc := p.HealthCheck; hc != nil {
			pp.HealthCheck = &routing.HealthCheck{Interval: hc.Interval, Timeout: hc.Timeout, Model: hc.Model, Failures: hc.Failures}
		}
		opts = append(opts, routing.WithProviderPolicy(p.Name, pp))
	}
	return opts, nil
}

// strategy returns the strategy called name, or def when name is empty.
func strategy(name string, def routing.Strategy) (routing.Strategy, error) {
	if name == "" && def != nil {
		return def, nil
	}
	return routing.StrategyByName(name)
}

func hedge(h *config.Hedge) *routing.HedgePolicy {
	if h == nil {
		return nil
	}
	return &routing.HedgePolicy{Delay: h.Delay, UseP95: h.P95, MaxHedges: h.MaxHedges}
}
