package state

import (
	"context"
	"errors"
	"math"
	"time"
)

// ErrUnavailable is returned, wrapped, when the backend cannot be reached
// and is configured to fail closed.
var ErrUnavailable = errors.New("shared state unavailable")

// Rate is a limit of Limit units per Period. The allowance refills
// continuously and holds at most Limit units, so a caller may burst up to
// Limit at once.
type Rate struct {
	Limit  int64
	Period time.Duration
}

// Decision is a limiter's answer.
type Decision struct {
	// Allowed reports whether the units were taken.
	Allowed bool
	// RetryAfter is, when not allowed, how long until the same request
	// would be.
	RetryAfter time.Duration
	// Remaining is how many units are left after the decision; 0 while a
	// large request is being repaid.
	Remaining int64
}

// Limiter enforces rates with the generic cell rate algorithm: one
// timestamp per key, updated atomically.
//
// Take and Adjust must not block beyond one round trip to the backend.
type Limiter interface {
	// Take takes n units from key's allowance under r, or takes nothing
	// and says when to retry. A request of more than r.Limit units is
	// admitted once the allowance is full and charged in full, so that
	// it can run at all; later requests wait until it is repaid.
	Take(ctx context.Context, key string, r Rate, n int64) (Decision, error)
	// Adjust changes what key has used by delta units without refusing:
	// a positive delta charges more, a negative one gives units back
	// (never beyond a full allowance). It settles a reservation made with
	// Take to what the request really used.
	Adjust(ctx context.Context, key string, r Rate, delta int64) error
}

// Release gives back what Acquire took. Calling it more than once is
// harmless; it never blocks for long.
type Release func()

// Semaphore counts requests in flight.
type Semaphore interface {
	// Acquire takes one of key's limit slots. ok is false, and release
	// nil, when all are taken.
	Acquire(ctx context.Context, key string, limit int64) (release Release, ok bool, err error)
}

// Window is one budget period of one key.
type Window struct {
	// ID names the period, like "d:2025-01-31" or "m:2025-01".
	ID string
	// Limit is the budget in nanodollars.
	Limit int64
	// End is when the period ends; backends may forget it a day later.
	End time.Time
}

// Day returns the UTC day around t as a window of limit nanodollars.
func Day(t time.Time, limit int64) Window {
	t = t.UTC()
	start := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	return Window{ID: "d:" + start.Format("2006-01-02"), Limit: limit, End: start.AddDate(0, 0, 1)}
}

// Month returns the UTC month around t as a window of limit nanodollars.
func Month(t time.Time, limit int64) Window {
	t = t.UTC()
	start := time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	return Window{ID: "m:" + start.Format("2006-01"), Limit: limit, End: start.AddDate(0, 1, 0)}
}

// Start returns when w began: a day or a month before its end.
func (w Window) Start() time.Time {
	if len(w.ID) > 0 && w.ID[0] == 'm' {
		return w.End.AddDate(0, -1, 0)
	}
	return w.End.AddDate(0, 0, -1)
}

// Exceeded describes the window a reservation did not fit in.
type Exceeded struct {
	Window Window
	// Spent and Reserved are the window's spend and the reservations of
	// requests in flight, in nanodollars, before the refused reservation.
	Spent, Reserved int64
}

// Settle ends a reservation: it releases the reserved amount and adds
// actual nanodollars (0 for a request that cost nothing) to the spend of
// every window reserved in. Calling it more than once is harmless; only
// the first call counts.
type Settle func(actual int64)

// Budget keeps spend per key and window, with reservations for requests
// in flight, so that concurrent requests cannot overshoot a budget by more
// than the difference between what they reserved and what they cost.
type Budget interface {
	// Reserve reserves amount nanodollars in every window of key, if it
	// fits in all of them (spent + reserved + amount <= limit). Otherwise
	// it reserves nothing and describes the first window it did not fit.
	Reserve(ctx context.Context, key string, windows []Window, amount int64) (settle Settle, exceeded *Exceeded, err error)
	// Seed raises key's spend in w to at least spent. The gateway seeds
	// counters from its usage ledger at start, so that a restart does not
	// reset budgets; taking the maximum keeps a shared counter that other
	// replicas have already moved further.
	Seed(ctx context.Context, key string, w Window, spent int64) error
	// Spent returns key's spend and reservations in w, in nanodollars.
	Spent(ctx context.Context, key string, w Window) (spent, reserved int64, err error)
}

// CooldownStore records until when an upstream deployment should not be
// tried, typically from its Retry-After, so that every replica backs off
// together.
type CooldownStore interface {
	// Set records that key cools down until until. A time earlier than
	// the one already recorded is ignored.
	Set(ctx context.Context, key string, until time.Time) error
	// Get returns when key's cool-down ends: the zero time when it has
	// none or it has passed.
	Get(ctx context.Context, key string) (time.Time, error)
}

// Store is a backend of every kind of shared state.
type Store interface {
	Limiter
	Semaphore
	Budget
	// Cooldowns returns the store's cool-down records.
	Cooldowns() CooldownStore
}

// NanoUSD converts US dollars to nanodollars, rounding to the nearest;
// negative, NaN and infinite amounts become 0 and amounts beyond
// math.MaxInt64 nanodollars become math.MaxInt64.
func NanoUSD(usd float64) int64 {
	n := math.Round(usd * 1e9)
	switch {
	case !(n > 0): // also NaN
		return 0
	case n >= math.MaxInt64:
		return math.MaxInt64
	}
	return int64(n)
}

// USD converts nanodollars to US dollars.
func USD(nano int64) float64 { return float64(nano) / 1e9 }
