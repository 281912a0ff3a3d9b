package app

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
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

// doorOptions builds the interceptors that guard the door (keys, limits,
// budgets) and the usage ledger from the config.
func doorOptions(cfg *config.Config, logger *slog.Logger) ([]Option, error) {
	d, err := newDoor(cfg, logger)
	if err != nil {
		return nil, err
	}
	return d.options()
}

// door is everything between a caller and the router: request ids, the
// access log, keys, the usage ledger, limits and budgets, and the shared
// state they keep.
type door struct {
	cfg    *config.Config
	logger *slog.Logger
	keys   []auth.Key
	store  state.Store
	redis  *redisstate.Store // nil for the memory backend
	ledger *ledger.Ledger
	models *modelIndex
}

func newDoor(cfg *config.Config, logger *slog.Logger) (*door, error) {
	d := &door{cfg: cfg, logger: logger, models: newModelIndex(cfg)}
	for i := range cfg.Keys {
		kc := &cfg.Keys[i]
		h, err := auth.ParseSecretSHA256(kc.SecretSHA256)
		if err != nil {
			return nil, fmt.Errorf("keys[%d].secret_sha256: %w", i, err)
		}
		d.keys = append(d.keys, auth.Key{
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
	d.ledger = ledger.New(cfg.Ledger.Path,
		ledger.WithQueueSize(cfg.Ledger.QueueSize),
		ledger.WithBatchSize(cfg.Ledger.BatchSize),
		ledger.WithLogger(logger))
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

// open reports whether the gateway runs without keys.
func (d *door) open() bool { return len(d.keys) == 0 }

func (d *door) options() ([]Option, error) {
	maxTokens := d.cfg.State.DefaultMaxTokens
	unary := []grpc.UnaryServerInterceptor{
		requestid.UnaryServerInterceptor(),
		accesslog.UnaryServerInterceptor(d.logger),
	}
	stream := []grpc.StreamServerInterceptor{
		requestid.StreamServerInterceptor(),
		accesslog.StreamServerInterceptor(d.logger),
	}
	acct := accounting.New(d.ledger,
		accounting.WithResolver(d.models.resolve),
		accounting.WithPricing(d.models.price))
	if d.open() {
		unary = append(unary, acct.UnaryServerInterceptor())
		stream = append(stream, acct.StreamServerInterceptor())
	} else {
		authn, err := auth.New(d.keys)
		if err != nil {
			return nil, fmt.Errorf("keys: %w", err)
		}
		allow := allowlist.New(d.models.resolve)
		conc := concurrency.New(d.store)
		rl := ratelimit.New(d.store, ratelimit.WithDefaultMaxTokens(maxTokens), ratelimit.WithLogger(d.logger))
		bud := budget.New(d.store, d.models.price, budget.WithDefaultMaxTokens(maxTokens))
		unary = append(unary,
			authn.UnaryServerInterceptor(),
			acct.UnaryServerInterceptor(),
			allow.UnaryServerInterceptor(),
			conc.UnaryServerInterceptor(),
			rl.UnaryServerInterceptor(),
			bud.UnaryServerInterceptor())
		stream = append(stream,
			authn.StreamServerInterceptor(),
			acct.StreamServerInterceptor(),
			allow.StreamServerInterceptor(),
			conc.StreamServerInterceptor(),
			rl.StreamServerInterceptor(),
			bud.StreamServerInterceptor())
	}
	return []Option{
		WithInterceptors(unary, stream),
		WithServerOptions(server.WithUsage(d.ledger, d.whoami)),
		WithLifecycle(d.start, d.stop),
	}, nil
}

// whoami tells GetUsage who calls: an open gateway lets everyone read
// everything.
func (d *door) whoami(ctx context.Context) (string, bool) {
	if d.open() {
		return "", true
	}
	k, ok := auth.FromContext(ctx)
	if !ok {
		return "", false
	}
	return k.ID, k.Admin
}

// start opens the shared state and the ledger and rebuilds budgets from
// the ledger, before the gateway accepts calls.
func (d *door) start(ctx context.Context) error {
	if d.open() {
		d.logger.Warn("NO API KEYS CONFIGURED: the gateway is OPEN to anyone who can reach it, with no limits or budgets; add keys (llmgateway keys new --name NAME) before exposing it")
	} else {
		d.logger.Info("API keys loaded", "keys", len(d.keys))
	}
	if d.redis != nil {
		if err := d.redis.Start(ctx); err != nil {
			return fmt.Errorf("shared state: %w", err)
		}
	}
	if d.cfg.Ledger.Path == "" {
		d.logger.Warn("ledger.path is not set: usage records are kept in memory and lost at restart, and budgets restart from zero")
	}
	if err := d.ledger.Start(ctx); err != nil {
		if d.redis != nil {
			d.redis.Close()
		}
		return fmt.Errorf("usage ledger: %w", err)
	}
	if err := d.rebuildBudgets(ctx, time.Now()); err != nil {
		d.logger.Error("budgets not rebuilt from the usage ledger: they count from zero", "error", err)
	}
	return nil
}

// rebuildBudgets seeds each key's spend this day and month from the
// ledger, so that a restart does not reset budgets.
func (d *door) rebuildBudgets(ctx context.Context, now time.Time) error {
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
	for i := range d.keys {
		k := &d.keys[i]
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
