package app

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"

	"github.com/llmgateway/llmgateway/config"
	"github.com/llmgateway/llmgateway/interceptors/accesslog"
	"github.com/llmgateway/llmgateway/interceptors/accounting"
	"github.com/llmgateway/llmgateway/interceptors/allowlist"
	"github.com/llmgateway/llmgateway/interceptors/auth"
	"github.com/llmgateway/llmgateway/interceptors/budget"
	"github.com/llmgateway/llmgateway/interceptors/concurrency"
	"github.com/llmgateway/llmgateway/interceptors/ratelimit"
	"github.com/llmgateway/llmgateway/interceptors/requestid"
	"github.com/llmgateway/llmgateway/ledger"
	"github.com/llmgateway/llmgateway/llm"
	"github.com/llmgateway/llmgateway/server"
	"github.com/llmgateway/llmgateway/state"
	"github.com/llmgateway/llmgateway/state/memory"
	redisstate "github.com/llmgateway/llmgateway/state/redis"
)

// door is what stands between callers and the router and lives as long
// as the process: the shared state that limits and budgets keep (memory or
// Redis) and the usage ledger. What depends on the config's keys and
// models (the gate) is rebuilt at every reload; the door is not, and a
// change to the state backend or the ledger needs a restart.
type door struct {
	logger     *slog.Logger
	ledgerPath string
	store      state.Store
	redis      *redisstate.Store // nil for the memory backend
	ledger     *ledger.Ledger
	// gate returns the gate in effect, whose keys start seeds budgets
	// for; set by FromConfig.
	gate func() *gate
	// started is set once the ledger and the state are open.
	started atomic.Bool
}

func newDoor(cfg *config.Config, logger *slog.Logger) (*door, error) {
	d := &door{logger: logger, ledgerPath: cfg.Ledger.Path}
	switch sc := &cfg.State; sc.Backend {
	case config.BackendRedis:
		rs, err := newRedisStore(sc.Redis, logger)
		if err != nil {
			return nil, err
		}
		d.store, d.redis = rs, rs
	default:
		d.store = memory.New()
	}
	lopts := []ledger.Option{
		ledger.WithQueueSize(cfg.Ledger.QueueSize),
		ledger.WithBatchSize(cfg.Ledger.BatchSize),
		ledger.WithLogger(logger),
	}
	if fi := cfg.Ledger.FlushInterval; fi != nil {
		lopts = append(lopts, ledger.WithFlushInterval(*fi))
	}
	d.ledger = ledger.New(cfg.Ledger.Path, lopts...)
	return d, nil
}

func newRedisStore(rc *config.Redis, logger *slog.Logger) (*redisstate.Store, error) {
	password, err := rc.Password(os.LookupEnv)
	if err != nil {
		return nil, err
	}
	c := redisstate.Config{
		Addr:     rc.Addr,
		Password: password,
		DB:       rc.DB,
		Prefix:   rc.Prefix,
		Timeout:  rc.Timeout,
		FailOpen: rc.FailureMode != config.FailClosed,
	}
	if rc.TLS {
		host, _, _ := net.SplitHostPort(rc.Addr)
		c.TLS = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	s, err := redisstate.New(c, redisstate.WithLogger(logger))
	if err != nil {
		return nil, fmt.Errorf("state.redis: %w", err)
	}
	return s, nil
}

// gate is the door's part that one config decides: the keys, the models
// they may use, and the interceptors that enforce them on the door's
// shared state. It never changes; a reload builds a new one.
type gate struct {
	keys   []auth.Key
	models *modelIndex
	unary  []grpc.UnaryServerInterceptor
	stream []grpc.StreamServerInterceptor
}

// newGate builds the gate of cfg on d's state and ledger, with the
// interceptors extra builds right after authentication.
func (d *door) newGate(cfg *config.Config, extra []DoorInterceptors) (*gate, error) {
	g := &gate{models: newModelIndex(cfg)}
	var extraUnary []grpc.UnaryServerInterceptor
	var extraStream []grpc.StreamServerInterceptor
	for _, build := range extra {
		u, s, err := build(DoorSpec{Config: cfg, Resolve: g.models.resolve})
		if err != nil {
			return nil, err
		}
		extraUnary, extraStream = append(extraUnary, u...), append(extraStream, s...)
	}
	for i := range cfg.Keys {
		kc := &cfg.Keys[i]
		h, err := auth.ParseSecretSHA256(kc.SecretSHA256)
		if err != nil {
			return nil, fmt.Errorf("keys[%d].secret_sha256: %w", i, err)
		}
		g.keys = append(g.keys, auth.Key{
			ID:            kc.ID,
			Name:          kc.Name,
			SecretSHA256:  h,
			Models:        kc.Models,
			RPM:           kc.RPM,
			TPM:           kc.TPM,
			MaxConcurrent: kc.MaxConcurrent,
			DailyUSD:      kc.Budget.DailyUSD,
			MonthlyUSD:    kc.Budget.MonthlyUSD,
			Labels:        kc.Labels,
			Admin:         kc.Admin,
		})
	}
	maxTokens := cfg.State.DefaultMaxTokens
	acct := accounting.New(d.ledger,
		accounting.WithResolver(g.models.resolve),
		accounting.WithPricing(g.models.price))
	if g.open() {
		g.unary = append(extraUnary, acct.UnaryServerInterceptor())
		g.stream = append(extraStream, acct.StreamServerInterceptor())
		return g, nil
	}
	authn, err := auth.New(g.keys)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	allow := allowlist.New(g.models.resolve)
	conc := concurrency.New(d.store)
	rl := ratelimit.New(d.store, ratelimit.WithDefaultMaxTokens(maxTokens), ratelimit.WithLogger(d.logger))
	bud := budget.New(d.store, g.models.price, budget.WithDefaultMaxTokens(maxTokens))
	g.unary = append(append([]grpc.UnaryServerInterceptor{authn.UnaryServerInterceptor()}, extraUnary...),
		acct.UnaryServerInterceptor(),
		allow.UnaryServerInterceptor(),
		conc.UnaryServerInterceptor(),
		rl.UnaryServerInterceptor(),
		bud.UnaryServerInterceptor())
	g.stream = append(append([]grpc.StreamServerInterceptor{authn.StreamServerInterceptor()}, extraStream...),
		acct.StreamServerInterceptor(),
		allow.StreamServerInterceptor(),
		conc.StreamServerInterceptor(),
		rl.StreamServerInterceptor(),
		bud.StreamServerInterceptor())
	return g, nil
}

// open reports whether the gateway runs without keys.
func (g *gate) open() bool { return len(g.keys) == 0 }

// whoami tells GetUsage who calls: an open gateway lets everyone read
// everything.
func (g *gate) whoami(ctx context.Context) (string, bool) {
	if g.open() {
		return "", true
	}
	k, ok := auth.FromContext(ctx)
	if !ok {
		return "", false
	}
	return k.ID, k.Admin
}

// options returns the gateway options of the door: the request id and the
// access log ahead of every call (including calls the load shedder
// refuses), GetUsage on the ledger, and the start and stop of the shared
// state and the ledger.
func (d *door) options() []Option {
	unary := []grpc.UnaryServerInterceptor{
		requestid.UnaryServerInterceptor(),
		accesslog.UnaryServerInterceptor(d.logger),
	}
	stream := []grpc.StreamServerInterceptor{
		requestid.StreamServerInterceptor(),
		accesslog.StreamServerInterceptor(d.logger),
	}
	whoami := func(ctx context.Context) (string, bool) {
		if gen := generationOf(ctx); gen != nil && gen.gate != nil {
			return gen.gate.whoami(ctx)
		}
		return "", false
	}
	return []Option{
		WithInterceptors(unary, stream),
		WithServerOptions(server.WithUsage(d.ledger, whoami)),
		WithLifecycle(d.start, d.stop),
	}
}

// start opens the shared state and the ledger and rebuilds budgets from
// the ledger, before the gateway accepts calls.
func (d *door) start(ctx context.Context) error {
	g := d.gate()
	if g.open() {
		d.logger.Warn("NO API KEYS CONFIGURED: the gateway is OPEN to anyone who can reach it, with no limits or budgets; add keys (llmgateway keys new --name NAME) before exposing it")
	} else {
		d.logger.Info("API keys loaded", "keys", len(g.keys))
	}
	if d.redis != nil {
		if err := d.redis.Start(ctx); err != nil {
			return fmt.Errorf("shared state: %w", err)
		}
	}
	if d.ledgerPath == "" {
		d.logger.Warn("ledger.path is not set: usage records are kept in memory and lost at restart, and budgets restart from zero")
	}
	if err := d.ledger.Start(ctx); err != nil {
		if d.redis != nil {
			d.redis.Close()
		}
		return fmt.Errorf("usage ledger: %w", err)
	}
	if err := d.rebuildBudgets(ctx, g.keys, time.Now()); err != nil {
		d.logger.Error("budgets not rebuilt from the usage ledger: they count from zero", "error", err)
	}
	d.started.Store(true)
	return nil
}

// rebuildBudgets seeds each key's spend this day and month from the
// ledger, so that a restart (or a reload that adds a key or a budget) does
// not reset budgets. Seeding only ever raises a counter, so seeding a key
// whose counter already runs is harmless.
func (d *door) rebuildBudgets(ctx context.Context, keys []auth.Key, now time.Time) error {
	budgeted := false
	for i := range keys {
		budgeted = budgeted || len(budget.Windows(&keys[i], now)) > 0
	}
	if !budgeted {
		return nil
	}
	day, month := state.Day(now, 0), state.Month(now, 0)
	spentDay, err := d.ledger.Spend(ctx, day.Start())
	if err != nil {
		return err
	}
	spentMonth, err := d.ledger.Spend(ctx, month.Start())
	if err != nil {
		return err
	}
	seeded := 0
	for i := range keys {
		k := &keys[i]
		for _, w := range budget.Windows(k, now) {
			spent := spentMonth[k.ID]
			if w.ID == day.ID {
				spent = spentDay[k.ID]
			}
			if err := d.store.Seed(ctx, k.ID, w, state.NanoUSD(spent)); err != nil {
				return fmt.Errorf("seeding key %s: %w", k.ID, err)
			}
			seeded++
		}
	}
	if seeded > 0 {
		d.logger.Info("budgets rebuilt from the usage ledger", "windows", seeded)
	}
	return nil
}

// stop flushes the ledger and closes the shared state, after the calls
// have drained.
func (d *door) stop(ctx context.Context) error {
	err := d.ledger.Close(ctx)
	if st := d.ledger.Stats(); st.Dropped > 0 || st.Failed > 0 {
		d.logger.Warn("usage ledger lost records", "dropped", st.Dropped, "failed", st.Failed)
	}
	if d.redis != nil {
		if cerr := d.redis.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	return err
}

// modelIndex answers the door's questions about models from the config:
// the canonical name of a name or alias, and the price of a model.
type modelIndex struct {
	canonical map[string]string      // lower-case name or alias -> name
	prices    map[string]llm.Pricing // lower-case name, alias or virtual model -> price
}

func newModelIndex(cfg *config.Config) *modelIndex {
	mi := &modelIndex{canonical: make(map[string]string), prices: make(map[string]llm.Pricing)}
	for i := range cfg.Models {
		mc := &cfg.Models[i]
		p := modelPricing(mc)
		for _, n := range mc.Names() {
			mi.canonical[strings.ToLower(n)] = mc.Name
			mi.prices[strings.ToLower(n)] = p
		}
	}
	// A virtual model may resolve to any of its tiers' models: reserve at
	// the highest of their prices.
	for _, vm := range cfg.Routing.VirtualModels {
		var p llm.Pricing
		for _, t := range []*config.Tier{vm.Tiers.Simple, vm.Tiers.Standard, vm.Tiers.Complex} {
			if t == nil {
				continue
			}
			for _, m := range append(append([]string(nil), t.Models...), t.Fallbacks...) {
				p = maxPricing(p, mi.prices[strings.ToLower(m)])
			}
		}
		mi.prices[strings.ToLower(vm.Name)] = p
	}
	return mi
}

func (mi *modelIndex) resolve(model string) (string, bool) {
	c, ok := mi.canonical[strings.ToLower(model)]
	return c, ok
}

func (mi *modelIndex) price(model string) (llm.Pricing, bool) {
	p, ok := mi.prices[strings.ToLower(model)]
	return p, ok
}

func maxPricing(a, b llm.Pricing) llm.Pricing {
	return llm.Pricing{
		InputPerMTok:       max(a.InputPerMTok, b.InputPerMTok),
		OutputPerMTok:      max(a.OutputPerMTok, b.OutputPerMTok),
		CachedInputPerMTok: max(a.CachedInputPerMTok, b.CachedInputPerMTok),
		CacheWritePerMTok:  max(a.CacheWritePerMTok, b.CacheWritePerMTok),
		ReasoningPerMTok:   max(a.ReasoningPerMTok, b.ReasoningPerMTok),
	}
}
