package redis

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/llmgateway/llmgateway/state"
	"github.com/llmgateway/llmgateway/state/redistest"
	"github.com/llmgateway/llmgateway/state/statetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(redistest.Wrap(m)) }

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newStore returns a started Store on the test server with a prefix of
// its own.
func newStore(t *testing.T, cfg Config, opts ...Option) *Store {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = redistest.Addr(t)
	}
	if cfg.Prefix == "" {
		cfg.Prefix = redistest.Prefix(t)
	}
	s, err := New(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	statetest.Run(t, func(t *testing.T) state.Store { return newStore(t, Config{}) })
}

// TestTwoReplicasShareState runs two stores, as two gateway replicas
// would, against one Redis.
func TestTwoReplicasShareState(t *testing.T) {
	addr, pfx := redistest.Addr(t), redistest.Prefix(t)
	a := newStore(t, Config{Addr: addr, Prefix: pfx})
	b := newStore(t, Config{Addr: addr, Prefix: pfx})
	ctx := ctxT(t)

	r := state.Rate{Limit: 4, Period: time.Hour}
	for i, s := range []*Store{a, b, a, b} {
		if d, err := s.Take(ctx, "k", r, 1); err != nil || !d.Allowed {
			t.Fatalf("Take #%d = %+v, %v; want allowed", i+1, d, err)
		}
	}
	if d, err := b.Take(ctx, "k", r, 1); err != nil || d.Allowed {
		t.Errorf("Take #5 on the other replica = %+v, %v; want refused", d, err)
	}

	rel, ok, err := a.Acquire(ctx, "k", 1)
	if err != nil || !ok {
		t.Fatalf("Acquire on a = %v, %v", ok, err)
	}
	if _, ok, err := b.Acquire(ctx, "k", 1); err != nil || ok {
		t.Errorf("Acquire on b while a holds the only slot = %v, %v; want refused", ok, err)
	}
	rel()
	if rel, ok, err := b.Acquire(ctx, "k", 1); err != nil || !ok {
		t.Errorf("Acquire on b after a released = %v, %v; want ok", ok, err)
	} else {
		rel()
	}

	ws := []state.Window{state.Day(time.Now(), 100)}
	settle, ex, err := a.Reserve(ctx, "k", ws, 70)
	if err != nil || ex != nil {
		t.Fatalf("Reserve on a = %+v, %v", ex, err)
	}
	if _, ex, err := b.Reserve(ctx, "k", ws, 70); err != nil || ex == nil || ex.Reserved != 70 {
		t.Errorf("Reserve on b while a holds 70 of 100 = %+v, %v; want refused, seeing a's reservation", ex, err)
	}
	settle(65)
	if spent, reserved, err := b.Spent(ctx, "k", ws[0]); err != nil || spent != 65 || reserved != 0 {
		t.Errorf("Spent on b = %d, %d, %v; want 65 spent by a", spent, reserved, err)
	}

	until := time.Now().Add(time.Minute).Truncate(time.Millisecond)
	if err := a.Cooldowns().Set(ctx, "openai/gpt-4.1", until); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Cooldowns().Get(ctx, "openai/gpt-4.1"); err != nil || !got.Equal(until) {
		t.Errorf("cool-down seen by b = %v, %v; want %v", got, err, until)
	}
}

// TestLeasesOfADeadReplicaExpire shows that a replica that dies holding a
// slot and a reservation frees them after the lease time, while a live
// one keeps its leases by renewing them.
func TestLeasesOfADeadReplicaExpire(t *testing.T) {
	addr, pfx := redistest.Addr(t), redistest.Prefix(t)
	const ttl = 300 * time.Millisecond
	live := newStore(t, Config{Addr: addr, Prefix: pfx}, WithLeaseTTL(ttl))
	dead := newStore(t, Config{Addr: addr, Prefix: pfx}, WithLeaseTTL(ttl))
	ctx := ctxT(t)
	ws := []state.Window{state.Day(time.Now(), 100)}

	relLive, ok, err := live.Acquire(ctx, "k", 2)
	if err != nil || !ok {
		t.Fatal("live Acquire failed", err)
	}
	defer relLive()
	settleLive, _, err := live.Reserve(ctx, "k", ws, 30)
	if err != nil {
		t.Fatal(err)
	}
	defer settleLive(0)
	if _, ok, err := dead.Acquire(ctx, "k", 2); err != nil || !ok {
		t.Fatal("dead Acquire failed", err)
	}
	if _, ex, err := dead.Reserve(ctx, "k", ws, 60); err != nil || ex != nil {
		t.Fatal("dead Reserve failed", ex, err)
	}
	dead.Close() // dies without releasing: its leases are no longer renewed

	time.Sleep(4 * ttl)
	// The dead replica's slot and 60 are free again; the live one's 30
	// are still reserved.
	rel, ok, err := live.Acquire(ctx, "k", 2)
	if err != nil || !ok {
		t.Fatalf("Acquire after the dead replica's lease expired = %v, %v; want ok", ok, err)
	}
	rel()
	if _, ok, err := live.Acquire(ctx, "k", 1); err != nil || ok {
		t.Errorf("Acquire(limit 1) with the live slot held = %v, %v; want refused: the live lease expired", ok, err)
	}
	settle, ex, err := live.Reserve(ctx, "k", ws, 70)
	if err != nil || ex != nil {
		t.Fatalf("Reserve(70) after the dead replica's 60 expired = %+v, %v; want ok", ex, err)
	}
	settle(0)
	if _, ex, err := live.Reserve(ctx, "k", ws, 71); err != nil || ex == nil || ex.Reserved != 30 {
		t.Errorf("Reserve(71) = %+v, %v; want refused with the live 30 still reserved", ex, err)
	}
}

// unreachable returns the address of a port nobody listens on.
func unreachable(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestFailOpen(t *testing.T) {
	var logs syncBuffer
	s := newStore(t, Config{Addr: unreachable(t), Prefix: "x:", FailOpen: true, Timeout: 200 * time.Millisecond},
		WithLogger(slog.New(slog.NewTextHandler(&logs, nil))), WithProbeInterval(time.Hour))
	ctx := ctxT(t)
	r := state.Rate{Limit: 2, Period: time.Hour}
	for range 2 {
		if d, err := s.Take(ctx, "k", r, 1); err != nil || !d.Allowed {
			t.Fatalf("Take = %+v, %v; want allowed by the local fallback", d, err)
		}
	}
	// The local fallback still limits.
	if d, err := s.Take(ctx, "k", r, 1); err != nil || d.Allowed {
		t.Errorf("Take #3 = %+v, %v; want refused by the local fallback", d, err)
	}
	rel, ok, err := s.Acquire(ctx, "k", 1)
	if err != nil || !ok {
		t.Fatalf("Acquire = %v, %v", ok, err)
	}
	if _, ok, _ := s.Acquire(ctx, "k", 1); ok {
		t.Error("second Acquire of one local slot succeeded")
	}
	rel()
	settle, ex, err := s.Reserve(ctx, "k", []state.Window{state.Day(time.Now(), 10)}, 5)
	if err != nil || ex != nil {
		t.Fatalf("Reserve = %+v, %v", ex, err)
	}
	settle(5)
	if err := s.Cooldowns().Set(ctx, "dep", time.Now().Add(time.Minute)); err != nil {
		t.Errorf("Cooldowns().Set = %v, want nil", err)
	}
	if got, err := s.Cooldowns().Get(ctx, "dep"); err != nil || got.IsZero() {
		t.Errorf("Cooldowns().Get = %v, %v; want the local cool-down", got, err)
	}
	st := s.Stats()
	if !st.Degraded || st.Fallbacks < 8 || st.Failures < 8 {
		t.Errorf("Stats() = %+v, want degraded with every operation counted", st)
	}
	// Loud but not flooding: one error line for the outage.
	if n := strings.Count(logs.String(), "redis unreachable: failing open"); n != 1 {
		t.Errorf("logged the outage %d times, want once:\n%s", n, logs.String())
	}
}

func TestFailClosed(t *testing.T) {
	s := newStore(t, Config{Addr: unreachable(t), Prefix: "x:", Timeout: 200 * time.Millisecond})
	ctx := ctxT(t)
	checks := []struct {
		name string
		call func() error
	}{
		{"Take", func() error { _, err := s.Take(ctx, "k", state.Rate{Limit: 1, Period: time.Second}, 1); return err }},
		{"Adjust", func() error { return s.Adjust(ctx, "k", state.Rate{Limit: 1, Period: time.Second}, 1) }},
		{"Acquire", func() error { _, _, err := s.Acquire(ctx, "k", 1); return err }},
		{"Reserve", func() error {
			_, _, err := s.Reserve(ctx, "k", []state.Window{state.Day(time.Now(), 1)}, 1)
			return err
		}},
		{"Seed", func() error { return s.Seed(ctx, "k", state.Day(time.Now(), 1), 1) }},
		{"Spent", func() error { _, _, err := s.Spent(ctx, "k", state.Day(time.Now(), 1)); return err }},
		{"Cooldowns.Set", func() error { return s.Cooldowns().Set(ctx, "k", time.Now().Add(time.Second)) }},
		{"Cooldowns.Get", func() error { _, err := s.Cooldowns().Get(ctx, "k"); return err }},
	}
	for _, c := range checks {
		if err := c.call(); !errors.Is(err, state.ErrUnavailable) {
			t.Errorf("%s() = %v, want an error wrapping state.ErrUnavailable", c.name, err)
		}
	}
	// While Redis is down, calls fail at once rather than each waiting for
	// a timeout.
	start := time.Now()
	for range 50 {
		_, _ = s.Take(ctx, "k", state.Rate{Limit: 1, Period: time.Second}, 1)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("50 calls while Redis is down took %v, want them to skip it between probes", d)
	}
}

// TestRecovers stops a Redis server under a store and starts it again.
func TestRecovers(t *testing.T) {
	redistest.Addr(t) // skips without redis-server
	srv, err := redistest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { srv.Stop() }()
	var logs syncBuffer
	s := newStore(t, Config{Addr: srv.Addr, FailOpen: true, Timeout: 300 * time.Millisecond},
		WithLogger(slog.New(slog.NewTextHandler(&logs, nil))), WithProbeInterval(50*time.Millisecond))
	ctx := ctxT(t)
	r := state.Rate{Limit: 100, Period: time.Hour}
	if _, err := s.Take(ctx, "k", r, 1); err != nil || s.Stats().Degraded {
		t.Fatalf("Take = %v, stats %+v", err, s.Stats())
	}
	srv.Stop()
	if d, err := s.Take(ctx, "k", r, 1); err != nil || !d.Allowed || !s.Stats().Degraded {
		t.Fatalf("Take with Redis down = %+v, %v, stats %+v; want allowed by the fallback and degraded", d, err, s.Stats())
	}
	srv, err = redistest.StartOn(srv.Port())
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.Stats().Degraded {
		if time.Now().After(deadline) {
			t.Fatal("store did not recover after Redis came back")
		}
		time.Sleep(60 * time.Millisecond)
		_, _ = s.Take(ctx, "k", r, 1)
	}
	if !strings.Contains(logs.String(), "redis reachable again") {
		t.Errorf("recovery not logged:\n%s", logs.String())
	}
}

func TestNewRejectsBadAddress(t *testing.T) {
	for _, give := range []string{"", "localhost", "host:port:extra"} {
		if _, err := New(Config{Addr: give}); err == nil {
			t.Errorf("New(Addr %q) = nil error, want one", give)
		}
	}
}

// TestKeysExpire checks that the store leaves nothing behind without an
// expiry, so that a shared Redis does not fill up with dead keys.
func TestKeysExpire(t *testing.T) {
	s := newStore(t, Config{})
	ctx := ctxT(t)
	if _, err := s.Take(ctx, "k", state.Rate{Limit: 5, Period: time.Minute}, 1); err != nil {
		t.Fatal(err)
	}
	rel, _, _ := s.Acquire(ctx, "k", 5)
	settle, _, _ := s.Reserve(ctx, "k", []state.Window{state.Day(time.Now(), 100), state.Month(time.Now(), 100)}, 5)
	settle(3)
	if err := s.Cooldowns().Set(ctx, "dep", time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(&goredis.Options{Addr: s.cfg.Addr, Protocol: 2, DisableIdentity: true})
	defer c.Close()
	keys, err := c.Keys(ctx, s.cfg.Prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) < 5 {
		t.Errorf("keys = %v, want the limiter, slots, budget and cool-down keys", keys)
	}
	for _, k := range keys {
		if ttl, err := c.PTTL(ctx, k).Result(); err != nil || ttl <= 0 {
			t.Errorf("key %s has TTL %v (%v), want an expiry", k, ttl, err)
		}
	}
	rel()
}

func BenchmarkTake(b *testing.B) {
	s, err := New(Config{Addr: redistest.Addr(b), Prefix: redistest.Prefix(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	_ = s.Start(ctx)
	r := state.Rate{Limit: 1 << 40, Period: time.Minute}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Take(ctx, "k", r, 1); err != nil {
			b.Fatal(err)
		}
	}
}
