package statetest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llmgateway/llmgateway/state"
)

// Run runs the conformance suite against stores made by newStore, which is
// called once per subtest and must return an empty store (or one whose
// keys no other subtest sees).
func Run(t *testing.T, newStore func(t *testing.T) state.Store) {
	t.Run("Limiter", func(t *testing.T) { testLimiter(t, newStore(t)) })
	t.Run("LimiterLargeRequest", func(t *testing.T) { testLargeRequest(t, newStore(t)) })
	t.Run("LimiterConcurrent", func(t *testing.T) { testLimiterConcurrent(t, newStore(t)) })
	t.Run("Semaphore", func(t *testing.T) { testSemaphore(t, newStore(t)) })
	t.Run("SemaphoreConcurrent", func(t *testing.T) { testSemaphoreConcurrent(t, newStore(t)) })
	t.Run("Budget", func(t *testing.T) { testBudget(t, newStore(t)) })
	t.Run("BudgetConcurrent", func(t *testing.T) { testBudgetConcurrent(t, newStore(t)) })
	t.Run("Cooldowns", func(t *testing.T) { testCooldowns(t, newStore(t).Cooldowns()) })
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func testLimiter(t *testing.T, s state.Store) {
	ctx := ctxT(t)
	r := state.Rate{Limit: 3, Period: time.Minute}
	for i, wantRemaining := range []int64{2, 1, 0} {
		d, err := s.Take(ctx, "k", r, 1)
		if err != nil || !d.Allowed || d.Remaining != wantRemaining {
			t.Fatalf("Take #%d = %+v, %v; want allowed with %d remaining", i+1, d, err, wantRemaining)
		}
	}
	d, err := s.Take(ctx, "k", r, 1)
	if err != nil || d.Allowed {
		t.Fatalf("Take #4 = %+v, %v; want refused", d, err)
	}
	// One unit refills every 20 s.
	if d.RetryAfter <= 10*time.Second || d.RetryAfter > 21*time.Second {
		t.Errorf("Take #4 RetryAfter = %v, want about 20s", d.RetryAfter)
	}
	if d, err := s.Take(ctx, "other", r, 1); err != nil || !d.Allowed {
		t.Errorf("Take(other) = %+v, %v; want keys to be independent", d, err)
	}
	// Giving a unit back lets one more through.
	if err := s.Adjust(ctx, "k", r, -1); err != nil {
		t.Fatal(err)
	}
	if d, err := s.Take(ctx, "k", r, 1); err != nil || !d.Allowed {
		t.Errorf("Take after Adjust(-1) = %+v, %v; want allowed", d, err)
	}
	// Charging more refuses.
	if err := s.Adjust(ctx, "fresh", r, 3); err != nil {
		t.Fatal(err)
	}
	if d, err := s.Take(ctx, "fresh", r, 1); err != nil || d.Allowed {
		t.Errorf("Take after Adjust(+3) = %+v, %v; want refused", d, err)
	}
	// A zero rate is no limit.
	for range 5 {
		if d, err := s.Take(ctx, "k", state.Rate{}, 100); err != nil || !d.Allowed {
			t.Fatalf("Take(no limit) = %+v, %v; want allowed", d, err)
		}
	}
}

func testLargeRequest(t *testing.T, s state.Store) {
	ctx := ctxT(t)
	r := state.Rate{Limit: 10, Period: time.Minute}
	d, err := s.Take(ctx, "k", r, 25)
	if err != nil || !d.Allowed || d.Remaining != 0 {
		t.Fatalf("Take(25 of 10) = %+v, %v; want allowed on a full allowance", d, err)
	}
	// 25 units at 6 s each: the next unit fits after 25*6 - 60 + 6 = 96 s.
	d, err = s.Take(ctx, "k", r, 1)
	if err != nil || d.Allowed || d.RetryAfter < 90*time.Second || d.RetryAfter > 97*time.Second {
		t.Fatalf("Take after a large request = %+v, %v; want refused for about 96s", d, err)
	}
	if err := s.Adjust(ctx, "k", r, -25); err != nil {
		t.Fatal(err)
	}
	if d, err := s.Take(ctx, "k", r, 10); err != nil || !d.Allowed {
		t.Errorf("Take(10) after giving 25 back = %+v, %v; want allowed", d, err)
	}
}

func testLimiterConcurrent(t *testing.T, s state.Store) {
	ctx := ctxT(t)
	r := state.Rate{Limit: 20, Period: time.Hour}
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 60 {
		wg.Go(func() {
			d, err := s.Take(ctx, "k", r, 1)
			if err != nil {
				t.Error(err)
				return
			}
			if d.Allowed {
				allowed.Add(1)
			}
		})
	}
	wg.Wait()
	if got := allowed.Load(); got != 20 {
		t.Errorf("60 concurrent Takes of a 20/h allowance allowed %d, want 20", got)
	}
}

func testSemaphore(t *testing.T, s state.Store) {
	ctx := ctxT(t)
	r1, ok, err := s.Acquire(ctx, "k", 2)
	if err != nil || !ok {
		t.Fatalf("Acquire #1 = %v, %v; want ok", ok, err)
	}
	r2, ok, err := s.Acquire(ctx, "k", 2)
	if err != nil || !ok {
		t.Fatalf("Acquire #2 = %v, %v; want ok", ok, err)
	}
	if rel, ok, err := s.Acquire(ctx, "k", 2); err != nil || ok || rel != nil {
		t.Fatalf("Acquire #3 = %v, %v; want refused with no release", ok, err)
	}
	if _, ok, err := s.Acquire(ctx, "other", 1); err != nil || !ok {
		t.Errorf("Acquire(other) = %v, %v; want keys to be independent", ok, err)
	}
	r1()
	r1() // a second release must not free a second slot
	r3, ok, err := s.Acquire(ctx, "k", 2)
	if err != nil || !ok {
		t.Fatalf("Acquire after a release = %v, %v; want ok", ok, err)
	}
	if _, ok, err := s.Acquire(ctx, "k", 2); err != nil || ok {
		t.Fatalf("Acquire with both slots held = %v, %v; want refused (a double release freed a slot)", ok, err)
	}
	r2()
	r3()
}

func testSemaphoreConcurrent(t *testing.T, s state.Store) {
	ctx := ctxT(t)
	var held atomic.Int64
	var mu sync.Mutex
	var releases []state.Release
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() {
			rel, ok, err := s.Acquire(ctx, "k", 5)
			if err != nil {
				t.Error(err)
				return
			}
			if ok {
				held.Add(1)
				mu.Lock()
				releases = append(releases, rel)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if got := held.Load(); got != 5 {
		t.Errorf("40 concurrent Acquires of 5 slots got %d, want 5", got)
	}
	for _, rel := range releases {
		rel()
	}
	if rel, ok, err := s.Acquire(ctx, "k", 5); err != nil || !ok {
		t.Errorf("Acquire after every release = %v, %v; want ok", ok, err)
	} else {
		rel()
	}
}

func testBudget(t *testing.T, s state.Store) {
	ctx := ctxT(t)
	now := time.Now()
	day, month := state.Day(now, 100), state.Month(now, 1000)
	ws := []state.Window{day, month}
	settle1, ex, err := s.Reserve(ctx, "k", ws, 60)
	if err != nil || ex != nil {
		t.Fatalf("Reserve(60) = %+v, %v; want ok", ex, err)
	}
	_, ex, err = s.Reserve(ctx, "k", ws, 50)
	if err != nil || ex == nil {
		t.Fatalf("Reserve(50) with 60 reserved of 100 = %+v, %v; want refused", ex, err)
	}
	if ex.Window.ID != day.ID || ex.Spent != 0 || ex.Reserved != 60 {
		t.Errorf("Reserve(50) exceeded = %+v, want the day window with 0 spent and 60 reserved", ex)
	}
	settle1(30)
	settle1(1000) // only the first settle counts
	if spent, reserved, err := s.Spent(ctx, "k", day); err != nil || spent != 30 || reserved != 0 {
		t.Errorf("Spent(day) = %d, %d, %v; want 30, 0", spent, reserved, err)
	}
	if spent, _, err := s.Spent(ctx, "k", month); err != nil || spent != 30 {
		t.Errorf("Spent(month) = %d, %v; want 30", spent, err)
	}
	settle2, ex, err := s.Reserve(ctx, "k", ws, 50)
	if err != nil || ex != nil {
		t.Fatalf("Reserve(50) with 30 spent of 100 = %+v, %v; want ok", ex, err)
	}
	settle2(0) // a failed request releases its reservation
	if spent, reserved, err := s.Spent(ctx, "k", day); err != nil || spent != 30 || reserved != 0 {
		t.Errorf("Spent(day) after a release = %d, %d, %v; want 30, 0", spent, reserved, err)
	}
	// An amount larger than a whole window never fits.
	if _, ex, err := s.Reserve(ctx, "fresh", ws, 101); err != nil || ex == nil || ex.Window.ID != day.ID {
		t.Errorf("Reserve(101 of 100) = %+v, %v; want refused by the day window", ex, err)
	}
	// Seeding raises the spend and never lowers it.
	if err := s.Seed(ctx, "k", month, 990); err != nil {
		t.Fatal(err)
	}
	if err := s.Seed(ctx, "k", month, 10); err != nil {
		t.Fatal(err)
	}
	if spent, _, err := s.Spent(ctx, "k", month); err != nil || spent != 990 {
		t.Errorf("Spent(month) after seeding = %d, %v; want 990", spent, err)
	}
	if _, ex, err := s.Reserve(ctx, "k", ws, 20); err != nil || ex == nil || ex.Window.ID != month.ID || ex.Spent != 990 {
		t.Errorf("Reserve(20) with 990 of 1000 spent this month = %+v, %v; want refused by the month window", ex, err)
	}
	// No windows: no budget.
	if settle, ex, err := s.Reserve(ctx, "k", nil, 1<<40); err != nil || ex != nil {
		t.Errorf("Reserve(no windows) = %+v, %v; want ok", ex, err)
	} else {
		settle(1 << 40)
	}
}

func testBudgetConcurrent(t *testing.T, s state.Store) {
	ctx := ctxT(t)
	ws := []state.Window{state.Day(time.Now(), 1000)}
	var ok atomic.Int64
	var wg sync.WaitGroup
	for range 200 {
		wg.Go(func() {
			settle, ex, err := s.Reserve(ctx, "k", ws, 10)
			if err != nil {
				t.Error(err)
				return
			}
			if ex == nil {
				ok.Add(1)
				settle(10)
			}
		})
	}
	wg.Wait()
	spent, reserved, err := s.Spent(ctx, "k", ws[0])
	if err != nil || spent > 1000 || reserved != 0 {
		t.Errorf("after 200 concurrent requests on a budget of 100: spent %d, reserved %d, %v; want at most 1000 spent and nothing reserved", spent, reserved, err)
	}
	if ok.Load() != spent/10 {
		t.Errorf("%d reservations succeeded but %d was spent", ok.Load(), spent)
	}
}

func testCooldowns(t *testing.T, c state.CooldownStore) {
	ctx := ctxT(t)
	if got, err := c.Get(ctx, "dep"); err != nil || !got.IsZero() {
		t.Fatalf("Get(unknown) = %v, %v; want the zero time", got, err)
	}
	until := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	if err := c.Set(ctx, "dep", until); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Get(ctx, "dep"); err != nil || !got.Equal(until) {
		t.Errorf("Get = %v, %v; want %v", got, err, until)
	}
	if err := c.Set(ctx, "dep", until.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Get(ctx, "dep"); err != nil || !got.Equal(until) {
		t.Errorf("Get after an earlier Set = %v, %v; want %v kept", got, err, until)
	}
	later := until.Add(time.Minute)
	if err := c.Set(ctx, "dep", later); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Get(ctx, "dep"); err != nil || !got.Equal(later) {
		t.Errorf("Get after a later Set = %v, %v; want %v", got, err, later)
	}
	if err := c.Set(ctx, "past", time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Get(ctx, "past"); err != nil || !got.IsZero() {
		t.Errorf("Get(past cool-down) = %v, %v; want the zero time", got, err)
	}
	short := time.Now().Add(150 * time.Millisecond)
	if err := c.Set(ctx, "short", short); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(short) + 50*time.Millisecond)
	if got, err := c.Get(ctx, "short"); err != nil || !got.IsZero() {
		t.Errorf("Get(expired cool-down) = %v, %v; want the zero time", got, err)
	}
}
