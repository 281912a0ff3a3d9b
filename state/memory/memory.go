package memory

import (
	"context"
	"sync"
	"time"

	"github.com/llmgateway/llmgateway/state"
)

// sweepEvery is how many writes pass between sweeps of expired entries.
const sweepEvery = 1024

// Store implements state.Store in memory. The zero value is not usable;
// create one with New. It is safe for concurrent use.
type Store struct {
	now func() time.Time

	rlMu   sync.Mutex
	tats   map[string]int64 // GCRA theoretical arrival time, Unix ns
	rlOps  int
	semMu  sync.Mutex
	sems   map[string]int64
	budMu  sync.Mutex
	spends map[windowKey]*spend
	budOps int
	cool   *Cooldowns
}

var (
	_ state.Store         = (*Store)(nil)
	_ state.CooldownStore = (*Cooldowns)(nil)
)

type windowKey struct{ key, window string }

type spend struct {
	spent, reserved int64
	end             time.Time
}

type options struct {
	now func() time.Time
}

// Option configures a Store.
type Option func(*options)

// WithClock sets the clock. Default: time.Now.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// New returns an empty Store.
func New(opts ...Option) *Store {
	o := options{now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	return &Store{
		now:    o.now,
		tats:   make(map[string]int64),
		sems:   make(map[string]int64),
		spends: make(map[windowKey]*spend),
		cool:   &Cooldowns{now: o.now, until: make(map[string]time.Time)},
	}
}

// interval returns GCRA's emission interval (ns per unit) and tolerance
// (the whole allowance, ns) for r.
func interval(r state.Rate) (t, tau float64) {
	return float64(r.Period) / float64(r.Limit), float64(r.Period)
}

// Take implements state.Limiter.
func (s *Store) Take(_ context.Context, key string, r state.Rate, n int64) (state.Decision, error) {
	if r.Limit <= 0 || r.Period <= 0 {
		return state.Decision{Allowed: true}, nil
	}
	t, tau := interval(r)
	now := s.now().UnixNano()
	s.rlMu.Lock()
	defer s.rlMu.Unlock()
	s.rlOps++
	if s.rlOps%sweepEvery == 0 {
		for k, tat := range s.tats {
			if tat <= now {
				delete(s.tats, k)
			}
		}
	}
	tat := max(s.tats[key], now)
	check := min(n, r.Limit)
	allowAt := float64(tat) + float64(check)*t - tau
	if allowAt > float64(now) {
		return state.Decision{
			RetryAfter: time.Duration(allowAt - float64(now) + 1),
			Remaining:  remaining(tau, float64(tat-now), t),
		}, nil
	}
	next := tat + int64(float64(n)*t)
	s.tats[key] = next
	return state.Decision{Allowed: true, Remaining: remaining(tau, float64(next-now), t)}, nil
}

// remaining is how many units fit in the allowance when the theoretical
// arrival time is ahead of now by ahead ns.
func remaining(tau, ahead, t float64) int64 {
	if ahead >= tau {
		return 0
	}
	return int64((tau - ahead) / t)
}

// Adjust implements state.Limiter.
func (s *Store) Adjust(_ context.Context, key string, r state.Rate, delta int64) error {
	if r.Limit <= 0 || r.Period <= 0 || delta == 0 {
		return nil
	}
	t, _ := interval(r)
	now := s.now().UnixNano()
	s.rlMu.Lock()
	defer s.rlMu.Unlock()
	next := max(s.tats[key], now) + int64(float64(delta)*t)
	if next <= now {
		delete(s.tats, key)
		return nil
	}
	s.tats[key] = next
	return nil
}

// Acquire implements state.Semaphore.
func (s *Store) Acquire(_ context.Context, key string, limit int64) (state.Release, bool, error) {
	s.semMu.Lock()
	defer s.semMu.Unlock()
	if s.sems[key] >= limit {
		return nil, false, nil
	}
	s.sems[key]++
	var once sync.Once
	return func() {
		once.Do(func() {
			s.semMu.Lock()
			defer s.semMu.Unlock()
			if s.sems[key]--; s.sems[key] <= 0 {
				delete(s.sems, key)
			}
		})
	}, true, nil
}

// InFlight returns how many slots of key are taken.
func (s *Store) InFlight(key string) int64 {
	s.semMu.Lock()
	defer s.semMu.Unlock()
	return s.sems[key]
}

// Reserve implements state.Budget.
func (s *Store) Reserve(_ context.Context, key string, windows []state.Window, amount int64) (state.Settle, *state.Exceeded, error) {
	s.budMu.Lock()
	defer s.budMu.Unlock()
	s.sweepBudgets()
	// The spends found while checking are the ones to reserve in: one map
	// lookup per window rather than two.
	var found [2]*spend
	sps := found[:0]
	for _, w := range windows {
		var spent, reserved int64
		sp := s.spends[windowKey{key, w.ID}]
		if sp != nil {
			spent, reserved = sp.spent, sp.reserved
		}
		if amount > w.Limit-spent-reserved {
			return nil, &state.Exceeded{Window: w, Spent: spent, Reserved: reserved}, nil
		}
		sps = append(sps, sp)
	}
	for i, w := range windows {
		sp := sps[i]
		if sp == nil {
			sp = s.window(key, w)
		}
		sp.reserved += amount
	}
	r := &reservation{s: s, key: key, amount: amount}
	r.windows = append(r.inline[:0], windows...)
	return r.settle, nil, nil
}

// reservation is one Reserve's hold, released by its settle.
type reservation struct {
	s       *Store
	key     string
	amount  int64
	once    sync.Once
	windows []state.Window
	// inline holds the windows of a day and a month without a second
	// allocation.
	inline [2]state.Window
}

func (r *reservation) settle(actual int64) {
	r.once.Do(func() {
		r.s.budMu.Lock()
		defer r.s.budMu.Unlock()
		for _, w := range r.windows {
			sp := r.s.window(r.key, w)
			sp.reserved -= r.amount
			sp.spent += max(actual, 0)
		}
	})
}

// AddSpend adds amount nanodollars to key's spend in every window, without
// a reservation. The Redis backend mirrors its spend here, so that its
// local fallback starts from this replica's spend.
func (s *Store) AddSpend(key string, windows []state.Window, amount int64) {
	s.budMu.Lock()
	defer s.budMu.Unlock()
	for _, w := range windows {
		s.window(key, w).spent += amount
	}
}

// window returns the spend of key in w, creating it. s.budMu is held.
func (s *Store) window(key string, w state.Window) *spend {
	k := windowKey{key, w.ID}
	sp := s.spends[k]
	if sp == nil {
		sp = &spend{end: w.End}
		s.spends[k] = sp
	}
	return sp
}

// sweepBudgets forgets windows that ended more than a day ago, now and
// then. s.budMu is held.
func (s *Store) sweepBudgets() {
	s.budOps++
	if s.budOps%sweepEvery != 0 {
		return
	}
	cutoff := s.now().Add(-24 * time.Hour)
	for k, sp := range s.spends {
		if sp.end.Before(cutoff) && sp.reserved == 0 {
			delete(s.spends, k)
		}
	}
}

// Seed implements state.Budget.
func (s *Store) Seed(_ context.Context, key string, w state.Window, spent int64) error {
	s.budMu.Lock()
	defer s.budMu.Unlock()
	sp := s.window(key, w)
	sp.spent = max(sp.spent, spent)
	return nil
}

// Spent implements state.Budget.
func (s *Store) Spent(_ context.Context, key string, w state.Window) (int64, int64, error) {
	s.budMu.Lock()
	defer s.budMu.Unlock()
	sp := s.spends[windowKey{key, w.ID}]
	if sp == nil {
		return 0, 0, nil
	}
	return sp.spent, sp.reserved, nil
}

// Cooldowns implements state.Store.
func (s *Store) Cooldowns() state.CooldownStore { return s.cool }

// Cooldowns implements state.CooldownStore in memory.
type Cooldowns struct {
	now   func() time.Time
	mu    sync.Mutex
	until map[string]time.Time
	ops   int
}

// Set implements state.CooldownStore.
func (c *Cooldowns) Set(_ context.Context, key string, until time.Time) error {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ops++
	if c.ops%sweepEvery == 0 {
		for k, u := range c.until {
			if !u.After(now) {
				delete(c.until, k)
			}
		}
	}
	if !until.After(now) || !until.After(c.until[key]) {
		return nil
	}
	c.until[key] = until
	return nil
}

// Get implements state.CooldownStore.
func (c *Cooldowns) Get(_ context.Context, key string) (time.Time, error) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	u, ok := c.until[key]
	if !ok || !u.After(now) {
		return time.Time{}, nil
	}
	return u, nil
}
