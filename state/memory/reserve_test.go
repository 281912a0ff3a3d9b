package memory

import (
	"context"
	"testing"
	"time"

	"github.com/llmgateway/llmgateway/state"
)

// TestReserveAnyWindows reserves in more windows than a day and a month,
// and in one window named twice, and settles twice.
func TestReserveAnyWindows(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2025, 3, 3, 12, 0, 0, 0, time.UTC)
	day, month := state.Day(at, 1000), state.Month(at, 1000)
	custom := state.Window{ID: "d:custom", Limit: 1000, End: day.End}
	tests := []struct {
		name    string
		windows []state.Window
		// want is each window's spend and reservation while held, then
		// its spend once settled at 70.
		wantHeld, wantSettled map[string][2]int64
	}{
		{"three windows", []state.Window{day, month, custom},
			map[string][2]int64{day.ID: {0, 100}, month.ID: {0, 100}, custom.ID: {0, 100}},
			map[string][2]int64{day.ID: {70, 0}, month.ID: {70, 0}, custom.ID: {70, 0}}},
		{"one window twice", []state.Window{day, day},
			map[string][2]int64{day.ID: {0, 200}},
			map[string][2]int64{day.ID: {140, 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(WithClock(func() time.Time { return at }))
			settle, ex, err := s.Reserve(ctx, "k", tt.windows, 100)
			if err != nil || ex != nil {
				t.Fatalf("Reserve() = %v, %v; want it reserved", ex, err)
			}
			check := func(when string, want map[string][2]int64) {
				t.Helper()
				for _, w := range tt.windows {
					spent, reserved, err := s.Spent(ctx, "k", w)
					if err != nil {
						t.Fatal(err)
					}
					if got := [2]int64{spent, reserved}; got != want[w.ID] {
						t.Errorf("%s: %s spent, reserved = %v, want %v", when, w.ID, got, want[w.ID])
					}
				}
			}
			check("held", tt.wantHeld)
			settle(70)
			settle(70)
			check("settled", tt.wantSettled)
		})
	}
}
