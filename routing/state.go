package routing

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// State is the routing state that outlives one Router: each deployment's
// circuit breaker and latency windows, the in-process cool-downs, the
// session affinity table and the providers' health-check results. A router
// built from a reloaded config takes its predecessor's State
// (New(..., WithState(old.State()))) and keeps what it knew about the
// deployments both configs share, keyed by Key. State is safe for
// concurrent use by both routers while the old one drains.
type State struct {
	mu        sync.Mutex
	deps      map[Key]*depState
	providers map[string]*providerHealth

	cooldowns *MemoryCooldowns
	affinity  *affinityTable
}

// NewState returns an empty State.
func NewState() *State {
	return &State{
		deps:      make(map[Key]*depState),
		providers: make(map[string]*providerHealth),
		cooldowns: &MemoryCooldowns{},
		affinity:  newAffinityTable(),
	}
}

// depState is the health of one deployment.
type depState struct {
	key     Key
	breaker breaker
	stream  *latencyWindow // time to first token of streams
	unary   *latencyWindow // total time of unary calls
}

// providerHealth is the result of a provider's active health checks.
type providerHealth struct {
	failing  atomic.Bool
	since    atomic.Int64 // unix nanoseconds of the last change
	failures atomic.Int32 // consecutive failed probes
}

// lookup returns the state of keys and providers, creating what is
// missing.
func (s *State) lookup(keys []Key, providers []string) (map[Key]*depState, map[string]*providerHealth) {
	s.mu.Lock()
	defer s.mu.Unlock()
	deps := make(map[Key]*depState, len(keys))
	for _, k := range keys {
		d, ok := s.deps[k]
		if !ok {
			d = &depState{key: k, stream: newLatencyWindow(), unary: newLatencyWindow()}
			s.deps[k] = d
		}
		deps[k] = d
	}
	provs := make(map[string]*providerHealth, len(providers))
	for _, p := range providers {
		h, ok := s.providers[p]
		if !ok {
			h = &providerHealth{}
			s.providers[p] = h
		}
		provs[p] = h
	}
	return deps, provs
}

// retain forgets the deployments and providers a new router no longer
// has. A router still holding them keeps its pointers.
func (s *State) retain(deps map[Key]*depState, providers map[string]*providerHealth) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.deps {
		if _, ok := deps[k]; !ok {
			delete(s.deps, k)
		}
	}
	for p := range s.providers {
		if _, ok := providers[p]; !ok {
			delete(s.providers, p)
		}
	}
}

// DeploymentHealth is a snapshot of one deployment's health, for metrics,
// status pages and drills.
type DeploymentHealth struct {
	Key Key
	// Breaker is the circuit breaker's state; OpenUntil is the end of its
	// cool-down while open.
	Breaker   BreakerState
	OpenUntil time.Time
	// Trips counts the breaker's trips since the State was created.
	Trips int64
	// CooldownUntil is the end of a Retry-After cool-down, when one is in
	// effect.
	CooldownUntil time.Time
	// ProviderFailing reports that the provider fails its health checks.
	ProviderFailing bool
	// StreamP95 and UnaryP95 are the recent 95th-percentile time to first
	// token of streams and total time of unary calls; 0 when unknown.
	StreamP95 time.Duration
	UnaryP95  time.Duration
}

// Health returns a snapshot of every deployment's health, sorted by key.
func (r *Router) Health() []DeploymentHealth {
	now := r.opts.now()
	out := make([]DeploymentHealth, 0, len(r.deps))
	for k, d := range r.deps {
		st, until, trips := d.breaker.snapshot()
		h := DeploymentHealth{Key: k, Breaker: st, OpenUntil: until, Trips: trips}
		if u := r.cooldowns.Until(k); u.After(now) {
			h.CooldownUntil = u
		}
		if ph := r.provHealth[k.Provider]; ph != nil {
			h.ProviderFailing = ph.failing.Load()
		}
		if p, ok := d.stream.P95(now, r.opts.latencyWindow); ok {
			h.StreamP95 = p
		}
		if p, ok := d.unary.P95(now, r.opts.latencyWindow); ok {
			h.UnaryP95 = p
		}
		out = append(out, h)
	}
	slices.SortFunc(out, func(a, b DeploymentHealth) int {
		switch {
		case a.Key.String() < b.Key.String():
			return -1
		case a.Key.String() > b.Key.String():
			return 1
		}
		return 0
	})
	return out
}
