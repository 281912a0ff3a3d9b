package app

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"runtime/debug"
	"time"

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
// provider, the catalog and the router, the door (keys, limits, budgets,
// the usage ledger), the listeners' limits and TLS. A provider whose API
// key variable is unset is not fatal: it is disabled, loudly, and every
// attempt on it fails over to the next deployment; /readyz and the gRPC
// health status report ready while at least one provider is usable. The
// Gateway can Reload a new config while it serves.
func FromConfig(cfg *config.Config, logger *slog.Logger, lookup func(string) (string, bool)) (*Gateway, error) {
	logger = redactingLogger(logger, cfg, lookup)
	d, err := newDoor(cfg, logger)
	if err != nil {
		return nil, err
	}
	b := &builder{logger: logger, lookup: lookup, door: d}
	if cfg.Server.TLS.Enabled() {
		b.tls = &tlsState{}
	}
	opts := append([]Option{
		WithLogger(logger),
		WithMaxRequestBytes(cfg.Server.MaxRequestBytes),
		WithDrainTimeout(cfg.Server.DrainTimeout),
		WithLimits(cfg.Server),
		withTLS(b.tls),
	}, d.options()...)
	tel, release, err := telemetryFromConfig(cfg, logger, d)
	if err != nil {
		return nil, err
	}
	opts = append(opts, tel...)
	var g *Gateway
	if d.redis != nil {
		// Retry-After cool-downs are shared by every replica too.
		b.cooldowns = newSharedCooldowns(d.redis.Cooldowns(),
			catalogKeys(func() *routing.Router { return g.gen.Load().router }), time.Second, logger)
		opts = append(opts, WithLifecycle(b.cooldowns.start, b.cooldowns.stop))
	}
	g, err = newGateway(func(o *options) (*generation, error) {
		b.extra, b.telemetry = o.door, o.telemetry
		gen, err := b.build(cfg, nil)
		if err != nil {
			return nil, err
		}
		if b.tls != nil {
			b.tls.use(gen.certs)
		}
		return gen, nil
	}, opts...)
	if err != nil {
		release()
		return nil, err
	}
	g.reload = &reloader{build: b, boot: cfg}
	d.gate = func() *gate { return g.gen.Load().gate }
	return g, nil
}

// builder builds the generation of a config; FromConfig keeps it for
// reloads.
type builder struct {
	logger *slog.Logger
	lookup func(string) (string, bool)
	door   *door
	tls    *tlsState          // nil: TLS off
	extra  []DoorInterceptors // see WithDoorInterceptors
	// telemetry observes the router and traces the providers' calls;
	// nil: none. See telemetry.go.
	telemetry *telemetryOptions
	// cooldowns shares Retry-After cool-downs through Redis; nil with the
	// memory backend, where the router keeps its own.
	cooldowns *sharedCooldowns
}

// providerSpec is what a provider adapter was built from: a reload keeps
// the adapter (and its warm upstream connections) of a provider whose
// spec did not change.
type providerSpec struct {
	cfg config.Provider
	key string
	ca  string // the contents of cfg.CAFile, so that a changed file rebuilds the adapter
}

// build builds the generation of cfg. prev, the generation in effect
// (nil at start), lends its routing state (breakers, latency windows,
// cool-downs, sessions) and the adapters of unchanged providers.
func (b *builder) build(cfg *config.Config, prev *generation) (*generation, error) {
	gen := &generation{
		cfg:       cfg,
		providers: make(map[string]routing.Provider, len(cfg.Providers)),
		specs:     make(map[string]providerSpec, len(cfg.Providers)),
	}
	usable := 0
	for i := range cfg.Providers {
		pc := &cfg.Providers[i]
		key, keyErr := pc.APIKey(b.lookup)
		spec := providerSpec{cfg: *pc, key: key}
		if errors.Is(keyErr, config.ErrMissingAPIKey) {
			b.logger.Error("provider disabled: its API key is missing", "provider", pc.Name, "api_key_env", pc.APIKeyEnv)
			gen.providers[pc.Name] = disabled{name: pc.Name, why: "API key variable " + pc.APIKeyEnv + " is not set"}
			continue
		}
		var roots *x509.CertPool
		if pc.CAFile != "" {
			var err error
			if spec.ca, roots, err = loadCAs(pc.CAFile); err != nil {
				return nil, fmt.Errorf("provider %s: ca_file: %w", pc.Name, err)
			}
		}
		gen.specs[pc.Name] = spec
		usable++
		if prev != nil {
			if old, ok := prev.specs[pc.Name]; ok && reflect.DeepEqual(old, spec) {
				gen.providers[pc.Name] = prev.providers[pc.Name]
				continue
			}
		}
		p, err := buildProvider(pc, b.lookup, b.telemetry.upstreamClient(roots))
		if err != nil {
			return nil, fmt.Errorf("provider %s: %w", pc.Name, err)
		}
		gen.providers[pc.Name] = p
	}
	models := make([]routing.Model, 0, len(cfg.Models))
	for _, mc := range cfg.Models {
		m := routing.Model{Name: mc.Name, Aliases: mc.Aliases, Pricing: modelPricing(&mc)}
		if m.Pricing.IsZero() {
			b.logger.Warn("model has no price, in the config or built in: its cost is counted as 0", "model", mc.Name)
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
	ropts, err := routerOptions(cfg, b.logger)
	if err != nil {
		return nil, err
	}
	ropts = append(append([]routing.Option{routing.WithLogger(b.logger)}, ropts...), b.telemetry.routerOptions()...)
	if prev != nil {
		ropts = append(ropts, routing.WithState(prev.router.State()))
	}
	if b.cooldowns != nil {
		ropts = append(ropts, routing.WithCooldownStore(b.cooldowns))
	}
	if gen.router, err = routing.New(cat, gen.providers, ropts...); err != nil {
		return nil, err
	}
	if gen.gate, err = b.door.newGate(cfg, b.extra); err != nil {
		return nil, err
	}
	gen.unary, gen.stream = chainUnary(gen.gate.unary), chainStream(gen.gate.stream)
	if b.tls != nil {
		if !cfg.Server.TLS.Enabled() {
			// Turning TLS off needs a restart: keep serving the
			// certificates in effect.
			gen.certs = prev.certs
		} else if gen.certs, err = b.tls.load(cfg.Server.TLS, time.Now()); err != nil {
			return nil, err
		}
	}
	gen.usable = usable > 0
	if !gen.usable {
		b.logger.Error("no provider is usable: every request will fail until one is configured")
	}
	return gen, nil
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

// buildProvider builds the adapter of pc; hc, when set, is its HTTP
// client.
func buildProvider(pc *config.Provider, lookup func(string) (string, bool), hc *http.Client) (routing.Provider, error) {
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
		}, withClient(hc, openai.WithHTTPClient)...)
	case config.TypeAnthropic:
		key, err := pc.APIKey(lookup)
		if err != nil {
			return nil, err
		}
		return anthropic.New(anthropic.Config{
			Name: pc.Name, BaseURL: pc.BaseURL, APIKey: key, Headers: pc.Headers, Timeout: pc.Timeout,
			DefaultMaxTokens: pc.DefaultMaxTokens,
		}, withClient(hc, anthropic.WithHTTPClient)...)
	case config.TypeCohere:
		key, err := pc.APIKey(lookup)
		if err != nil {
			return nil, err
		}
		return cohere.New(cohere.Config{Name: pc.Name, BaseURL: pc.BaseURL, APIKey: key, Headers: pc.Headers, Timeout: pc.Timeout},
			withClient(hc, cohere.WithHTTPClient)...)
	case config.TypeGemini:
		key, err := pc.APIKey(lookup)
		if err != nil {
			return nil, err
		}
		return gemini.New(gemini.Config{
			Name: pc.Name, BaseURL: pc.BaseURL, APIKey: key, Headers: pc.Headers, Timeout: pc.Timeout,
			DefaultMaxTokens: pc.DefaultMaxTokens,
		}, withClient(hc, gemini.WithHTTPClient)...)
	case config.TypeAzure:
		key, err := pc.APIKey(lookup)
		if err != nil {
			return nil, err
		}
		return azure.New(azure.Config{
			Name: pc.Name, Endpoint: pc.BaseURL, APIVersion: pc.APIVersion, APIKey: key, Headers: pc.Headers, Timeout: pc.Timeout,
		}, withClient(hc, azure.WithHTTPClient)...)
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
