package memory

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/llmgateway/llmgateway/state"
	"github.com/llmgateway/llmgateway/state/statetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestConformance(t *testing.T) {
	statetest.Run(t, func(*testing.T) state.Store { return New() })
}

// clock is a fake clock the test moves by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestGCRARefill(t *testing.T) {
	clk := &clock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := New(WithClock(clk.Now))
	ctx := context.Background()
	r := state.Rate{Limit: 60, Period: time.Minute} // one unit a second
	tests := []struct {
		name        string
		advance     time.Duration
		give        int64
		wantAllowed bool
		wantRetry   time.Duration
	}{
		{"burst of the whole allowance", 0, 60, true, 0},
		{"empty", 0, 1, false, time.Second},
		{"half a unit later", 500 * time.Millisecond, 1, false, 500 * time.Millisecond},
		{"a unit later", 500 * time.Millisecond, 1, true, 0},
		{"ten more need ten seconds", 0, 10, false, 10 * time.Second},
		{"ten seconds later", 10 * time.Second, 10, true, 0},
		{"a minute later, full again", time.Minute, 60, true, 0},
	}
	for _, tt := range tests {
		clk.Advance(tt.advance)
		d, err := s.Take(ctx, "k", r, tt.give)
		if err != nil {
			t.Fatal(err)
		}
		if d.Allowed != tt.wantAllowed {
			t.Fatalf("%s: Take(%d) allowed = %v, want %v", tt.name, tt.give, d.Allowed, tt.wantAllowed)
		}
		if !tt.wantAllowed && (d.RetryAfter < tt.wantRetry || d.RetryAfter > tt.wantRetry+time.Millisecond) {
			t.Errorf("%s: Take(%d) RetryAfter = %v, want %v", tt.name, tt.give, d.RetryAfter, tt.wantRetry)
		}
	}
}

func TestAdjustNeverBanksBeyondTheAllowance(t *testing.T) {
	clk := &clock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := New(WithClock(clk.Now))
	ctx := context.Background()
	r := state.Rate{Limit: 10, Period: time.Minute}
	if err := s.Adjust(ctx, "k", r, -100); err != nil {
		t.Fatal(err)
	}
	if d, _ := s.Take(ctx, "k", r, 10); !d.Allowed {
		t.Fatal("Take(10) refused on a full allowance")
	}
	if d, _ := s.Take(ctx, "k", r, 1); d.Allowed {
		t.Error("Take(1) allowed after the whole allowance was used: Adjust(-100) banked units")
	}
}

func TestSweepForgetsIdleKeys(t *testing.T) {
	clk := &clock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := New(WithClock(clk.Now))
	ctx := context.Background()
	r := state.Rate{Limit: 1000, Period: time.Second}
	for i := range sweepEvery - 1 {
		if _, err := s.Take(ctx, string(rune('a'+i%26))+string(rune(i)), r, 1); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(time.Hour)
	if _, err := s.Take(ctx, "last", r, 1); err != nil {
		t.Fatal(err)
	}
	s.rlMu.Lock()
	n := len(s.tats)
	s.rlMu.Unlock()
	if n > 1 {
		t.Errorf("after a sweep %d limiter entries remain, want at most 1", n)
	}
}

func TestWindows(t *testing.T) {
	at := time.Date(2025, 2, 28, 23, 59, 0, 0, time.FixedZone("x", -3600))
	tests := []struct {
		give      state.Window
		wantID    string
		wantStart time.Time
		wantEnd   time.Time
	}{
		{state.Day(at, 1), "d:2025-03-01", time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 3, 2, 0, 0, 0, 0, time.UTC)},
		{state.Month(at, 1), "m:2025-03", time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		if tt.give.ID != tt.wantID || !tt.give.End.Equal(tt.wantEnd) || !tt.give.Start().Equal(tt.wantStart) {
			t.Errorf("window = %s [%v, %v), want %s [%v, %v)", tt.give.ID, tt.give.Start(), tt.give.End, tt.wantID, tt.wantStart, tt.wantEnd)
		}
	}
}

func TestNanoUSD(t *testing.T) {
	tests := []struct {
		give float64
		want int64
	}{
		{0, 0},
		{1, 1e9},
		{0.000000001, 1},
		{-5, 0},
		{1e30, 1<<63 - 1},
	}
	for _, tt := range tests {
		if got := state.NanoUSD(tt.give); got != tt.want {
			t.Errorf("NanoUSD(%v) = %d, want %d", tt.give, got, tt.want)
		}
	}
}

func BenchmarkTake(b *testing.B) {
	s := New()
	ctx := context.Background()
	r := state.Rate{Limit: 1 << 40, Period: time.Minute}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Take(ctx, "k", r, 1); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkReserveSettle(b *testing.B) {
	s := New()
	ctx := context.Background()
	ws := []state.Window{state.Day(time.Now(), 1<<62), state.Month(time.Now(), 1<<62)}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			settle, _, err := s.Reserve(ctx, "k", ws, 1000)
			if err != nil {
				b.Fatal(err)
			}
			settle(900)
		}
	})
}
