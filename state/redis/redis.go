package redis

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/llmgateway/llmgateway/state"
	"github.com/llmgateway/llmgateway/state/memory"
)

// Config says how to reach Redis and what to do when it cannot be reached.
type Config struct {
	// Addr is the host:port of the Redis server. Required.
	Addr string
	// Password authenticates to Redis; empty for none.
	Password string
	// DB is the database number.
	DB int
	// TLS, when non-nil, connects with TLS.
	TLS *tls.Config
	// Prefix starts every key the store writes, so that several gateways
	// (or other applications) can share one Redis. Default: "llmgateway:".
	Prefix string
	// Timeout bounds one operation, round trip included. Default: 500ms.
	Timeout time.Duration
	// FailOpen makes operations fall back to a local in-memory store when
	// Redis cannot be reached, instead of failing with
	// state.ErrUnavailable.
	FailOpen bool
}

// Defaults of Config.
const (
	DefaultPrefix  = "llmgateway:"
	DefaultTimeout = 500 * time.Millisecond
)

type options struct {
	logger        *slog.Logger
	leaseTTL      time.Duration
	probeInterval time.Duration
	now           func() time.Time
}

// Option configures a Store.
type Option func(*options)

// WithLogger sets the logger. Default: discard.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithLeaseTTL sets how long a concurrency slot or budget reservation of a
// replica that stopped renewing it (because it died) outlives it. Leases
// are renewed every third of it. Default: 1m.
func WithLeaseTTL(d time.Duration) Option { return func(o *options) { o.leaseTTL = d } }

// WithProbeInterval sets how often, while Redis is unreachable, one
// operation tries it again; the others go straight to the fallback (or
// fail) without waiting for a timeout. Default: 1s.
func WithProbeInterval(d time.Duration) Option { return func(o *options) { o.probeInterval = d } }

// WithClock sets the clock of the local fallback and of key retention.
// Redis-side decisions always use the Redis server's clock. Default:
// time.Now.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// Stats counts the store's trouble with Redis.
type Stats struct {
	// Failures counts operations that Redis did not answer, including
	// those skipped while it was known to be down.
	Failures int64
	// Fallbacks counts operations answered by the local fallback.
	Fallbacks int64
	// Degraded reports whether Redis is currently considered down.
	Degraded bool
}

// Store implements state.Store on Redis. Create it with New, call Start
// before use and Close after.
type Store struct {
	cfg    Config
	opts   options
	client *goredis.Client
	local  *memory.Store
	cool   *cooldowns

	leasePfx string
	leaseSeq atomic.Uint64
	leaseMu  sync.Mutex
	leases   map[lease]struct{}

	startOnce, closeOnce sync.Once
	looping              atomic.Bool
	stop                 chan struct{}
	done                 chan struct{}

	failures, fallbacks atomic.Int64
	degraded            atomic.Bool
	lastProbe           atomic.Int64 // Unix ns
	logMu               sync.Mutex
	lastLog             time.Time
	unlogged            int64
}

var (
	_ state.Store         = (*Store)(nil)
	_ state.CooldownStore = (*cooldowns)(nil)
)

// lease is one lease id in one sorted set.
type lease struct{ zset, id string }

// errSkipped stands for a Redis call not made because Redis is known to be
// down and no probe is due.
var errSkipped = errors.New("redis is unreachable (not retried until the next probe)")

// New returns a Store for cfg. It does no I/O: Start connects.
func New(cfg Config, opts ...Option) (*Store, error) {
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return nil, fmt.Errorf("redis address %q: want host:port: %w", cfg.Addr, err)
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	o := options{
		logger:        slog.New(slog.DiscardHandler),
		leaseTTL:      time.Minute,
		probeInterval: time.Second,
		now:           time.Now,
	}
	for _, opt := range opts {
		opt(&o)
	}
	if o.leaseTTL < 3*time.Millisecond {
		return nil, fmt.Errorf("lease time %s is too short", o.leaseTTL)
	}
	client := goredis.NewClient(&goredis.Options{
		Addr:                  cfg.Addr,
		Password:              cfg.Password,
		DB:                    cfg.DB,
		TLSConfig:             cfg.TLS,
		Protocol:              2,
		DisableIdentity:       true,
		DialTimeout:           max(cfg.Timeout, time.Second),
		ContextTimeoutEnabled: true,
		MaxRetries:            1,
		MaintNotificationsConfig: &maintnotifications.Config{
			Mode: maintnotifications.ModeDisabled,
		},
	})
	var b [6]byte
	_, _ = rand.Read(b[:])
	local := memory.New(memory.WithClock(o.now))
	s := &Store{
		cfg:      cfg,
		opts:     o,
		client:   client,
		local:    local,
		leasePfx: hex.EncodeToString(b[:]) + "-",
		leases:   make(map[lease]struct{}),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	s.cool = &cooldowns{s: s}
	return s, nil
}

// Start checks that Redis answers and starts renewing leases. An
// unreachable Redis is logged, not returned: the store then fails open or
// closed per request, as configured, until Redis answers.
func (s *Store) Start(ctx context.Context) error {
	s.startOnce.Do(func() {
		err := s.call(ctx, "ping", func(ctx context.Context) error {
			return s.client.Ping(ctx).Err()
		})
		if err == nil {
			s.opts.logger.Info("shared state on redis", "addr", s.cfg.Addr, "db", s.cfg.DB, "fail_open", s.cfg.FailOpen)
		}
		s.looping.Store(true)
		go s.renewLoop()
	})
	return nil
}

// Close stops renewing leases and closes the connections. Leases still
// held expire in Redis after the lease time. A Store is not usable after
// Close, and Start does nothing any more.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.startOnce.Do(func() {}) // no loop may start from now on
		close(s.stop)
		if s.looping.Load() {
			<-s.done
		}
		err = s.client.Close()
	})
	return err
}

// Stats returns the store's counters.
func (s *Store) Stats() Stats {
	return Stats{Failures: s.failures.Load(), Fallbacks: s.fallbacks.Load(), Degraded: s.degraded.Load()}
}

// Local returns the in-memory store the Store falls back to.
func (s *Store) Local() *memory.Store { return s.local }

// key names a Redis key of one kind for one state key; the braces make it
// a hash tag, so that a key's entries stay together.
func (s *Store) key(kind, key string) string {
	return s.cfg.Prefix + kind + ":{" + key + "}"
}

// call runs f against Redis within the operation timeout. It returns nil
// when Redis answered, the caller's own context error when the caller
// gave up, and otherwise the failure, which it counts and logs.
func (s *Store) call(ctx context.Context, what string, f func(ctx context.Context) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.degraded.Load() && !s.probeDue() {
		s.failures.Add(1)
		return errSkipped
	}
	cctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	err := f(cctx)
	if err == nil || errors.Is(err, goredis.Nil) {
		s.recovered()
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	s.failed(what, err)
	return err
}

// probeDue reports whether this caller should try Redis while it is down:
// one caller per probe interval does.
func (s *Store) probeDue() bool {
	now := time.Now().UnixNano()
	last := s.lastProbe.Load()
	return now-last >= int64(s.opts.probeInterval) && s.lastProbe.CompareAndSwap(last, now)
}

func (s *Store) failed(what string, err error) {
	s.failures.Add(1)
	s.lastProbe.Store(time.Now().UnixNano())
	s.logMu.Lock()
	defer s.logMu.Unlock()
	mode := "failing closed: limited requests are refused with Unavailable until it answers"
	if s.cfg.FailOpen {
		mode = "failing open: limits, budgets and cool-downs are kept per replica until it answers"
	}
	now := time.Now()
	if !s.degraded.Load() {
		s.degraded.Store(true)
		s.lastLog, s.unlogged = now, 0
		s.opts.logger.Error("redis unreachable: "+mode, "addr", s.cfg.Addr, "operation", what, "error", err)
		return
	}
	s.unlogged++
	if now.Sub(s.lastLog) >= 30*time.Second {
		s.opts.logger.Error("redis still unreachable: "+mode, "addr", s.cfg.Addr, "failures", s.unlogged, "error", err)
		s.lastLog, s.unlogged = now, 0
	}
}

func (s *Store) recovered() {
	if !s.degraded.Load() {
		return
	}
	s.logMu.Lock()
	defer s.logMu.Unlock()
	if s.degraded.CompareAndSwap(true, false) {
		s.opts.logger.Warn("redis reachable again: limits, budgets and cool-downs are shared again", "addr", s.cfg.Addr)
	}
}

// fallback decides what a failed operation does: nil to answer from the
// local store (failing open), or the error to return (failing closed, or
// the caller gave up).
func (s *Store) fallback(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	if s.cfg.FailOpen {
		s.fallbacks.Add(1)
		return nil
	}
	return fmt.Errorf("redis at %s: %w: %w", s.cfg.Addr, state.ErrUnavailable, err)
}

// Take implements state.Limiter.
func (s *Store) Take(ctx context.Context, key string, r state.Rate, n int64) (state.Decision, error) {
	if r.Limit <= 0 || r.Period <= 0 {
		return state.Decision{Allowed: true}, nil
	}
	t := float64(r.Period) / 1e3 / float64(r.Limit)
	tau := float64(r.Period) / 1e3
	var res []int64
	err := s.call(ctx, "rate limit", func(ctx context.Context) error {
		var err error
		res, err = takeScript.Run(ctx, s.client, []string{s.key("rl", key)}, t, tau, n, min(n, r.Limit)).Int64Slice()
		if err == nil && len(res) != 3 {
			err = fmt.Errorf("rate limit script returned %d values, want 3", len(res))
		}
		return err
	})
	if err != nil {
		if err := s.fallback(ctx, err); err != nil {
			return state.Decision{}, err
		}
		return s.local.Take(ctx, key, r, n)
	}
	return state.Decision{
		Allowed:    res[0] == 1,
		RetryAfter: time.Duration(res[1]) * time.Microsecond,
		Remaining:  res[2],
	}, nil
}

// Adjust implements state.Limiter.
func (s *Store) Adjust(ctx context.Context, key string, r state.Rate, delta int64) error {
	if r.Limit <= 0 || r.Period <= 0 || delta == 0 {
		return nil
	}
	t := float64(r.Period) / 1e3 / float64(r.Limit)
	err := s.call(ctx, "rate limit", func(ctx context.Context) error {
		return adjustScript.Run(ctx, s.client, []string{s.key("rl", key)}, t, delta).Err()
	})
	if err != nil {
		if err := s.fallback(ctx, err); err != nil {
			return err
		}
		return s.local.Adjust(ctx, key, r, delta)
	}
	return nil
}

func (s *Store) newLeaseID() string {
	return s.leasePfx + strconv.FormatUint(s.leaseSeq.Add(1), 36)
}

func (s *Store) hold(ls ...lease) {
	s.leaseMu.Lock()
	defer s.leaseMu.Unlock()
	for _, l := range ls {
		s.leases[l] = struct{}{}
	}
}

func (s *Store) drop(ls ...lease) {
	s.leaseMu.Lock()
	defer s.leaseMu.Unlock()
	for _, l := range ls {
		delete(s.leases, l)
	}
}

// Held returns how many leases the store is renewing.
func (s *Store) Held() int {
	s.leaseMu.Lock()
	defer s.leaseMu.Unlock()
	return len(s.leases)
}

// background returns a context for work that must finish although the
// request that started it is gone, such as a release.
func (s *Store) background() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.cfg.Timeout)
}

// Acquire implements state.Semaphore.
func (s *Store) Acquire(ctx context.Context, key string, limit int64) (state.Release, bool, error) {
	l := lease{zset: s.key("sem", key), id: s.newLeaseID()}
	var ok bool
	err := s.call(ctx, "concurrency", func(ctx context.Context) error {
		n, err := acquireScript.Run(ctx, s.client, []string{l.zset}, limit, l.id, s.opts.leaseTTL.Milliseconds()).Int64()
		ok = n == 1
		return err
	})
	if err != nil {
		if err := s.fallback(ctx, err); err != nil {
			return nil, false, err
		}
		return s.local.Acquire(ctx, key, limit)
	}
	if !ok {
		return nil, false, nil
	}
	s.hold(l)
	var once sync.Once
	return func() {
		once.Do(func() {
			s.drop(l)
			ctx, cancel := s.background()
			defer cancel()
			if err := s.call(ctx, "concurrency release", func(ctx context.Context) error {
				return s.client.ZRem(ctx, l.zset, l.id).Err()
			}); err != nil {
				s.opts.logger.Warn("concurrency slot not released in redis: it frees itself when its lease expires",
					"key", key, "lease_ttl", s.opts.leaseTTL, "error", err)
			}
		})
	}, true, nil
}

// budgetKeys returns the Redis keys of key's windows: counters, then
// leases, for each window.
func (s *Store) budgetKeys(key string, windows []state.Window) []string {
	keys := make([]string, 0, 2*len(windows))
	for _, w := range windows {
		h := s.key("budget", key) + ":" + w.ID
		keys = append(keys, h, h+":leases")
	}
	return keys
}

// retention is how long a window's keys are kept: a day past its end.
func (s *Store) retention(w state.Window) int64 {
	return max(w.End.Sub(s.opts.now())+24*time.Hour, time.Hour).Milliseconds()
}

// Reserve implements state.Budget.
func (s *Store) Reserve(ctx context.Context, key string, windows []state.Window, amount int64) (state.Settle, *state.Exceeded, error) {
	if len(windows) == 0 {
		return func(int64) {}, nil, nil
	}
	keys := s.budgetKeys(key, windows)
	id := s.newLeaseID()
	args := []any{amount, id, s.opts.leaseTTL.Milliseconds()}
	for _, w := range windows {
		args = append(args, w.Limit, s.retention(w))
	}
	var res []any
	err := s.call(ctx, "budget", func(ctx context.Context) error {
		var err error
		res, err = reserveScript.Run(ctx, s.client, keys, args...).Slice()
		if err == nil && len(res) != 1 && len(res) != 4 {
			err = fmt.Errorf("budget script returned %d values, want 1 or 4", len(res))
		}
		return err
	})
	if err != nil {
		if err := s.fallback(ctx, err); err != nil {
			return nil, nil, err
		}
		return s.local.Reserve(ctx, key, windows, amount)
	}
	if v, _ := res[0].(int64); v != 1 {
		i, _ := res[1].(int64)
		spent, _ := res[2].(int64)
		reserved, _ := res[3].(int64)
		if i < 1 || int(i) > len(windows) {
			i = 1
		}
		return nil, &state.Exceeded{Window: windows[i-1], Spent: spent, Reserved: reserved}, nil
	}
	ls := make([]lease, len(windows))
	for i := range windows {
		ls[i] = lease{zset: keys[2*i+1], id: id}
	}
	s.hold(ls...)
	ws := append([]state.Window(nil), windows...)
	var once sync.Once
	return func(actual int64) {
		once.Do(func() {
			s.drop(ls...)
			actual = max(actual, 0)
			s.local.AddSpend(key, ws, actual)
			sargs := []any{actual, id}
			for _, w := range ws {
				sargs = append(sargs, s.retention(w))
			}
			ctx, cancel := s.background()
			defer cancel()
			if err := s.call(ctx, "budget settle", func(ctx context.Context) error {
				return settleScript.Run(ctx, s.client, keys, sargs...).Err()
			}); err != nil {
				s.opts.logger.Error("spend not recorded in redis: the shared budget undercounts it (the ledger has it)",
					"key", key, "usd", state.USD(actual), "error", err)
			}
		})
	}, nil, nil
}

// Seed implements state.Budget. It seeds the local fallback too.
func (s *Store) Seed(ctx context.Context, key string, w state.Window, spent int64) error {
	_ = s.local.Seed(ctx, key, w, spent)
	err := s.call(ctx, "budget seed", func(ctx context.Context) error {
		return seedScript.Run(ctx, s.client, s.budgetKeys(key, []state.Window{w})[:1], spent, s.retention(w)).Err()
	})
	if err != nil {
		return s.fallback(ctx, err)
	}
	return nil
}

// Spent implements state.Budget.
func (s *Store) Spent(ctx context.Context, key string, w state.Window) (int64, int64, error) {
	var vals []any
	err := s.call(ctx, "budget read", func(ctx context.Context) error {
		var err error
		vals, err = s.client.HMGet(ctx, s.budgetKeys(key, []state.Window{w})[0], "spent", "reserved").Result()
		return err
	})
	if err != nil {
		if err := s.fallback(ctx, err); err != nil {
			return 0, 0, err
		}
		return s.local.Spent(ctx, key, w)
	}
	return parseInt(vals[0]), parseInt(vals[1]), nil
}

func parseInt(v any) int64 {
	str, _ := v.(string)
	n, _ := strconv.ParseInt(str, 10, 64)
	return n
}

// Cooldowns implements state.Store.
func (s *Store) Cooldowns() state.CooldownStore { return s.cool }

// cooldowns implements state.CooldownStore on the Store's Redis.
type cooldowns struct{ s *Store }

// Set implements state.CooldownStore. The local fallback records it too.
func (c *cooldowns) Set(ctx context.Context, key string, until time.Time) error {
	s := c.s
	_ = s.local.Cooldowns().Set(ctx, key, until)
	err := s.call(ctx, "cool-down", func(ctx context.Context) error {
		return cooldownScript.Run(ctx, s.client, []string{s.key("cooldown", key)}, until.UnixMilli()).Err()
	})
	if err != nil {
		return s.fallback(ctx, err)
	}
	return nil
}

// Get implements state.CooldownStore.
func (c *cooldowns) Get(ctx context.Context, key string) (time.Time, error) {
	s := c.s
	var ms int64
	err := s.call(ctx, "cool-down", func(ctx context.Context) error {
		v, err := s.client.Get(ctx, s.key("cooldown", key)).Int64()
		if errors.Is(err, goredis.Nil) {
			return nil
		}
		ms = v
		return err
	})
	if err != nil {
		if err := s.fallback(ctx, err); err != nil {
			return time.Time{}, err
		}
		return s.local.Cooldowns().Get(ctx, key)
	}
	if ms == 0 {
		return time.Time{}, nil
	}
	until := time.UnixMilli(ms)
	if !until.After(s.opts.now()) {
		return time.Time{}, nil
	}
	return until, nil
}

// renewLoop renews held leases every third of the lease time until Close.
func (s *Store) renewLoop() {
	defer close(s.done)
	t := time.NewTicker(s.opts.leaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.renew()
		}
	}
}

// renew extends every held lease, in batches.
func (s *Store) renew() {
	s.leaseMu.Lock()
	ls := make([]lease, 0, len(s.leases))
	for l := range s.leases {
		ls = append(ls, l)
	}
	s.leaseMu.Unlock()
	const batch = 256
	for len(ls) > 0 {
		n := min(len(ls), batch)
		keys := make([]string, n)
		args := make([]any, 0, n+1)
		args = append(args, s.opts.leaseTTL.Milliseconds())
		for i, l := range ls[:n] {
			keys[i] = l.zset
			args = append(args, l.id)
		}
		ls = ls[n:]
		ctx, cancel := s.background()
		err := s.call(ctx, "lease renewal", func(ctx context.Context) error {
			return renewScript.Run(ctx, s.client, keys, args...).Err()
		})
		cancel()
		if err != nil {
			return // logged by call; the next tick tries again
		}
	}
}
