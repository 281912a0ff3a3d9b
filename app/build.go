package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/llmgateway/llmgateway/config"
	"github.com/llmgateway/llmgateway/llm"
	"github.com/llmgateway/llmgateway/pricing"
	"github.com/llmgateway/llmgateway/providers/anthropic"
	"github.com/llmgateway/llmgateway/providers/azure"
	"github.com/llmgateway/llmgateway/providers/cohere"
	"github.com/llmgateway/llmgateway/providers/gemini"
	"github.com/llmgateway/llmgateway/providers/openai"
	"github.com/llmgateway/llmgateway/providers/simulator"
	"github.com/llmgateway/llmgateway/routing"
)

// Version returns the module version the binary was built from, or
// "devel".
func Version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// FromConfig builds a Gateway from a validated config: one adapter per
// provider, the catalog and the router. A provider whose API key variable
// is unset is not fatal: it is disabled, loudly, and every attempt on it
// fails over to the next deployment; /readyz reports ready while at least
// one provider is usable.
func FromConfig(cfg *config.Config, logger *slog.Logger, lookup func(string) (string, bool)) (*Gateway, error) {
	providers := make(map[string]routing.Provider, len(cfg.Providers))
	usable := 0
	for i := range cfg.Providers {
		pc := &cfg.Providers[i]
		p, err := buildProvider(pc, lookup)
		if errors.Is(err, config.ErrMissingAPIKey) {
			logger.Error("provider disabled: its API key is missing", "provider", pc.Name, "api_key_env", pc.APIKeyEnv)
			providers[pc.Name] = disabled{name: pc.Name, why: "API key variable " + pc.APIKeyEnv + " is not set"}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("provider %s: %w", pc.Name, err)
		}
		providers[pc.Name] = p
		usable++
	}
	models := make([]routing.Model, 0, len(cfg.Models))
	for _, mc := range cfg.Models {
		m := routing.Model{Name: mc.Name, Aliases: mc.Aliases, Pricing: modelPricing(&mc)}
		if m.Pricing.IsZero() {
			logger.Warn("model has no price, in the config or built in: its cost is counted as 0", "model", mc.Name)
		}
		for _, dc := range mc.Deployments {
			up := dc.Model
			if up == "" {
				pc, _ := cfg.ProviderByName(dc.Provider)
				if mapped, ok := pc.Models[mc.Name]; ok {
					up = mapped
				} else {
					up = mc.Name
				}
			}
			m.Deployments = append(m.Deployments, routing.Deployment{
				Provider: dc.Provider, UpstreamModel: up, Weight: dc.Weight, Priority: dc.Priority, Timeout: dc.Timeout,
			})
		}
		models = append(models, m)
	}
	cat, err := routing.NewCatalog(models)
	if err != nil {
		return nil, err
	}
	ropts, err := routerOptions(cfg, logger)
	if err != nil {
		return nil, err
	}
	r, err := routing.New(cat, providers, append([]routing.Option{routing.WithLogger(logger)}, ropts...)...)
	if err != nil {
		return nil, err
	}
	dopts, err := doorOptions(cfg, logger)
	if err != nil {
		return nil, err
	}
	if usable == 0 {
		logger.Error("no provider is usable: every request will fail until one is configured")
	}
	return New(r, append([]Option{
		WithLogger(logger),
		WithMaxRequestBytes(cfg.Server.MaxRequestBytes),
		WithDrainTimeout(cfg.Server.DrainTimeout),
		WithReadiness(func() bool { return usable > 0 }),
	}, dopts...)...), nil
}

// modelPricing returns the config's price for mc, or else the built-in
// price of its name or one of its aliases.
func modelPricing(mc *config.Model) llm.Pricing {
	if p := mc.Pricing.LLM(); !p.IsZero() {
		return p
	}
	for _, n := range mc.Names() {
		if p, ok := pricing.Lookup(n); ok {
			return p
		}
	}
	return llm.Pricing{}
}

func buildProvider(pc *config.Provider, lookup func(string) (string, bool)) (routing.Provider, error) {
	switch pc.Type {
	case config.TypeSimulator:
		s := pc.Simulator
		return simulator.New(simulator.Config{
			Name:            pc.Name,
			TokensPerSecond: s.TokensPerSecond,
			Latency:         simulator.LatencyDist{P50: s.Latency.P50, P99: s.Latency.P99},
			Faults: simulator.Faults{
				ErrorRate:     s.ErrorRate,
				RateLimitRate: s.RateLimitRate,
				RetryAfter:    s.RetryAfter,
				OverloadRate:  s.OverloadRate,
				TimeoutRate:   s.TimeoutRate,
				CutRate:       s.CutRate,
				SlowFactor:    s.SlowFactor,
			},
			Seed: s.Seed,
		})
	case config.TypeOpenAI:
		key, err := pc.APIKey(lookup)
		if err != nil {
			return nil, err
		}
		return openai.New(openai.Config{
			Name: pc.Name, BaseURL: pc.BaseURL, APIKey: key, Headers: pc.Headers, Timeout: pc.Timeout,
		})
	case config.TypeAnthropic:
		key, err := pc.APIKey(lookup)
		if err != nil {
			return nil, err
		}
		return anthropic.New(anthropic.Config{
			Name: pc.Name, BaseURL: pc.BaseURL, APIKey: key, Headers: pc.Headers, Timeout: pc.Timeout,
			DefaultMaxTokens: pc.DefaultMaxTokens,
		})
	case config.TypeCohere:
		key, err := pc.APIKey(lookup)
		if err != nil {
			return nil, err
		}
		return cohere.New(cohere.Config{Name: pc.Name, BaseURL: pc.BaseURL, APIKey: key, Headers: pc.Headers, Timeout: pc.Timeout})
	case config.TypeGemini:
		key, err := pc.APIKey(lookup)
		if err != nil {
			return nil, err
		}
		return gemini.New(gemini.Config{
			Name: pc.Name, BaseURL: pc.BaseURL, APIKey: key, Headers: pc.Headers, Timeout: pc.Timeout,
			DefaultMaxTokens: pc.DefaultMaxTokens,
		})
	case config.TypeAzure:
		key, err := pc.APIKey(lookup)
		if err != nil {
			return nil, err
		}
		return azure.New(azure.Config{
			Name: pc.Name, Endpoint: pc.BaseURL, APIVersion: pc.APIVersion, APIKey: key, Headers: pc.Headers, Timeout: pc.Timeout,
		})
	}
	return nil, fmt.Errorf("unknown provider type %q", pc.Type)
}

// disabled stands in for a provider that could not be set up: every call
// fails at once with a non-retryable error that routing fails over from.
type disabled struct{ name, why string }

func (d disabled) err() error {
	return &llm.UpstreamError{Provider: d.name, Kind: llm.KindAuth, Message: "provider disabled: " + d.why}
}

func (d disabled) Chat(context.Context, *llm.Request) (*llm.Response, error) { return nil, d.err() }

func (d disabled) ChatStream(context.Context, *llm.Request) (llm.Stream, error) {
	return nil, d.err()
}
