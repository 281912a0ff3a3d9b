package budget

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/llmgateway/llmgateway/interceptors/auth"
	"github.com/llmgateway/llmgateway/interceptors/internal/calltest"
	"github.com/llmgateway/llmgateway/state/memory"
)

// TestWindowsAtFollowsTheCalendar checks that the windows a Guard keeps
// from call to call are always those of the call's time, across days,
// months, a year and a clock set back.
func TestWindowsAtFollowsTheCalendar(t *testing.T) {
	g := New(memory.New(), price)
	keys := []*auth.Key{
		{ID: "both", DailyUSD: 1, MonthlyUSD: 20},
		{ID: "daily", DailyUSD: 2},
		{ID: "monthly", MonthlyUSD: 30},
	}
	times := []time.Time{
		time.Date(2025, 1, 31, 12, 0, 0, 0, time.UTC),
		time.Date(2025, 1, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2025, 1, 31, 23, 0, 0, 0, time.UTC),                   // set back
		time.Date(2025, 3, 1, 0, 30, 0, 0, time.FixedZone("CET", 3600)), // February in UTC
		time.Date(2025, 12, 31, 23, 59, 0, 0, time.UTC),
		time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC),
		time.Now(), // with a monotonic reading
	}
	for _, tm := range times {
		for _, k := range keys {
			for range 2 { // computed, then kept
				if diff := cmp.Diff(Windows(k, tm), g.windowsAt(k, tm)); diff != "" {
					t.Errorf("windowsAt(%s, %v) (-Windows +got):\n%s", k.ID, tm, diff)
				}
			}
		}
	}
}

func TestWindowsAtKeepsAKeysWindowsForTheDay(t *testing.T) {
	g := New(memory.New(), price)
	k := &auth.Key{ID: "k", DailyUSD: 1, MonthlyUSD: 20}
	morning := time.Date(2025, 3, 3, 8, 0, 0, 0, time.UTC)
	first := g.windowsAt(k, morning)
	if again := g.windowsAt(k, morning.Add(10*time.Hour)); &again[0] != &first[0] {
		t.Error("windowsAt made new windows later the same day, want the day's kept")
	}
	if next := g.windowsAt(k, morning.Add(24*time.Hour)); &next[0] == &first[0] || next[0].ID == first[0].ID {
		t.Errorf("windowsAt the next day = %v, want new windows", next)
	}
}

// TestNoBudgetNoClock checks that a key without budgets costs no
// calendar work.
func TestNoBudgetNoClock(t *testing.T) {
	read := 0
	g := New(memory.New(), price, WithClock(func() time.Time { read++; return now }))
	ctx := auth.NewContext(context.Background(), &auth.Key{ID: "k", RPM: 10})
	req := calltest.Request("gpt-4.1", "hi", 10)
	if _, err := g.UnaryServerInterceptor()(ctx, req, calltest.ChatInfo, func(context.Context, any) (any, error) {
		return calltest.Response("gpt-4.1", "p", 1, 1, 0.1), nil
	}); err != nil {
		t.Fatal(err)
	}
	if read != 0 {
		t.Errorf("a key without budgets read the clock %d times, want 0", read)
	}
}
