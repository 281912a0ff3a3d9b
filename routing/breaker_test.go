package routing

import (
	"testing"
	"time"
)

// step is one event fed to a breaker: time passes, then a request is
// asked for and, if allowed, finishes with v.
type step struct {
	advance   time.Duration
	v         verdict
	wantAllow bool
	wantState BreakerState
}

func TestBreakerStateMachine(t *testing.T) {
	policy := BreakerPolicy{
		FailureRate: 0.5, Window: 10 * time.Second, MinRequests: 4,
		ConsecutiveFailures: 3, OpenFor: time.Second, MaxOpenFor: 4 * time.Second, HalfOpenProbes: 2,
	}
	ok := func(adv time.Duration, st BreakerState) step {
		return step{advance: adv, v: verdictSuccess, wantAllow: true, wantState: st}
	}
	fail := func(adv time.Duration, st BreakerState) step {
		return step{advance: adv, v: verdictFailure, wantAllow: true, wantState: st}
	}
	neutral := func(adv time.Duration, st BreakerState) step {
		return step{advance: adv, v: verdictNeutral, wantAllow: true, wantState: st}
	}
	refused := func(adv time.Duration, st BreakerState) step {
		return step{advance: adv, wantAllow: false, wantState: st}
	}
	tests := []struct {
		name      string
		give      []step
		wantTrips int64
	}{
		{name: "successes keep it closed", give: []step{ok(0, BreakerClosed), ok(0, BreakerClosed), ok(0, BreakerClosed)}},
		{
			name:      "consecutive failures open it",
			give:      []step{fail(0, BreakerClosed), fail(0, BreakerClosed), fail(0, BreakerOpen), refused(500*time.Millisecond, BreakerOpen)},
			wantTrips: 1,
		},
		{
			name: "a success resets the run",
			give: []step{
				ok(0, BreakerClosed), ok(0, BreakerClosed), ok(0, BreakerClosed), ok(0, BreakerClosed), ok(0, BreakerClosed), ok(0, BreakerClosed),
				fail(0, BreakerClosed), fail(0, BreakerClosed), ok(0, BreakerClosed), fail(0, BreakerClosed), fail(0, BreakerClosed),
			},
		},
		{
			name: "failure rate opens it once min requests are seen",
			give: []step{
				ok(0, BreakerClosed), fail(0, BreakerClosed), ok(0, BreakerClosed), fail(0, BreakerOpen),
			},
			wantTrips: 1,
		},
		{
			name: "failure rate needs min requests",
			give: []step{fail(0, BreakerClosed), ok(0, BreakerClosed), fail(0, BreakerClosed)},
		},
		{
			name: "old failures leave the window",
			give: []step{
				fail(0, BreakerClosed), fail(0, BreakerClosed), ok(0, BreakerClosed),
				// Two of three failed, but the window has moved on when
				// the next failure is judged: 2 of 4 would trip.
				ok(11*time.Second, BreakerClosed), ok(0, BreakerClosed), fail(0, BreakerClosed), ok(0, BreakerClosed),
			},
		},
		{
			name: "neutral outcomes do not count",
			give: []step{fail(0, BreakerClosed), neutral(0, BreakerClosed), neutral(0, BreakerClosed), fail(0, BreakerClosed)},
		},
		{
			name: "half open closes after the probes succeed",
			give: []step{
				fail(0, BreakerClosed), fail(0, BreakerClosed), fail(0, BreakerOpen),
				ok(time.Second, BreakerHalfOpen), ok(0, BreakerClosed), ok(0, BreakerClosed),
			},
			wantTrips: 1,
		},
		{
			name: "a failed probe reopens it for twice as long",
			give: []step{
				fail(0, BreakerClosed), fail(0, BreakerClosed), fail(0, BreakerOpen),
				fail(time.Second, BreakerOpen),
				refused(1500*time.Millisecond, BreakerOpen), // 2 s this time
				ok(500*time.Millisecond, BreakerHalfOpen),
				fail(0, BreakerOpen),
				refused(3900*time.Millisecond, BreakerOpen), // 4 s, the cap
				ok(100*time.Millisecond, BreakerHalfOpen),
				fail(0, BreakerOpen),
				refused(3900*time.Millisecond, BreakerOpen), // still capped at 4 s
				ok(100*time.Millisecond, BreakerHalfOpen),
			},
			wantTrips: 4,
		},
		{
			name: "a neutral probe frees its slot without deciding",
			give: []step{
				fail(0, BreakerClosed), fail(0, BreakerClosed), fail(0, BreakerOpen),
				neutral(time.Second, BreakerHalfOpen), ok(0, BreakerHalfOpen), ok(0, BreakerClosed),
			},
			wantTrips: 1,
		},
		{
			name: "trips soon after closing grow the cool-down",
			give: []step{
				fail(0, BreakerClosed), fail(0, BreakerClosed), fail(0, BreakerOpen),
				ok(time.Second, BreakerHalfOpen), ok(0, BreakerClosed),
				fail(0, BreakerClosed), fail(0, BreakerClosed), fail(0, BreakerOpen),
				refused(1500*time.Millisecond, BreakerOpen), // second trip: 2 s
				ok(500*time.Millisecond, BreakerHalfOpen),
			},
			wantTrips: 2,
		},
		{
			name: "trips long after closing start over",
			give: []step{
				fail(0, BreakerClosed), fail(0, BreakerClosed), fail(0, BreakerOpen),
				ok(time.Second, BreakerHalfOpen), ok(0, BreakerClosed),
				fail(20*time.Second, BreakerClosed), fail(0, BreakerClosed), fail(0, BreakerOpen),
				ok(time.Second, BreakerHalfOpen), // back to 1 s
			},
			wantTrips: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			var b breaker
			for i, s := range tt.give {
				clock.Advance(s.advance)
				now := clock.Now()
				ready, _ := b.ready(now, &policy)
				tk, allowed, _ := b.acquire(now, &policy)
				if allowed != s.wantAllow || ready != s.wantAllow {
					t.Fatalf("step %d: acquire() = %v (ready %v), want %v", i, allowed, ready, s.wantAllow)
				}
				if allowed {
					b.record(now, &policy, tk, s.v)
				}
				if st, _, _ := b.snapshot(); st != s.wantState {
					t.Fatalf("step %d: state = %v, want %v", i, st, s.wantState)
				}
			}
			if _, _, trips := b.snapshot(); trips != tt.wantTrips {
				t.Errorf("trips = %d, want %d", trips, tt.wantTrips)
			}
		})
	}
}

func TestBreakerHalfOpenBoundsProbes(t *testing.T) {
	policy := BreakerPolicy{ConsecutiveFailures: 1, OpenFor: time.Second, HalfOpenProbes: 2}
	clock := newFakeClock()
	var b breaker
	tk, _, _ := b.acquire(clock.Now(), &policy)
	if tr := b.record(clock.Now(), &policy, tk, verdictFailure); tr.to != BreakerOpen || tr.until != clock.Now().Add(time.Second) {
		t.Fatalf("record(failure) = %+v, want open for 1s", tr)
	}
	clock.Advance(time.Second)
	p1, ok1, tr := b.acquire(clock.Now(), &policy)
	if !ok1 || tr.to != BreakerHalfOpen {
		t.Fatalf("first probe: %v %+v, want allowed into half open", ok1, tr)
	}
	p2, ok2, _ := b.acquire(clock.Now(), &policy)
	_, ok3, _ := b.acquire(clock.Now(), &policy)
	if !ok2 || ok3 {
		t.Fatalf("probes allowed = %v, %v, want true, false (2 slots)", ok2, ok3)
	}
	if ready, _ := b.ready(clock.Now(), &policy); ready {
		t.Errorf("ready() = true with every probe slot taken")
	}
	// A request let through while closed finishing now does not count.
	b.record(clock.Now(), &policy, ticket{}, verdictSuccess)
	if st, _, _ := b.snapshot(); st != BreakerHalfOpen {
		t.Errorf("a stale success changed the state to %v", st)
	}
	b.record(clock.Now(), &policy, p1, verdictSuccess)
	if ready, _ := b.ready(clock.Now(), &policy); !ready {
		t.Errorf("ready() = false after a probe finished")
	}
	if tr := b.record(clock.Now(), &policy, p2, verdictSuccess); tr.to != BreakerClosed {
		t.Errorf("second probe success: %+v, want closed", tr)
	}
}

func TestBreakerDisabled(t *testing.T) {
	var policy BreakerPolicy
	var b breaker
	now := newFakeClock().Now()
	for range 100 {
		tk, ok, _ := b.acquire(now, &policy)
		if !ok {
			t.Fatal("a disabled breaker refused a request")
		}
		b.record(now, &policy, tk, verdictFailure)
	}
}

func TestBreakerPolicyValidate(t *testing.T) {
	tests := []struct {
		give    BreakerPolicy
		wantErr bool
	}{
		{give: defaultBreakerPolicy},
		{give: BreakerPolicy{}},
		{give: BreakerPolicy{FailureRate: 1.5, Window: time.Second, OpenFor: time.Second}, wantErr: true},
		{give: BreakerPolicy{FailureRate: 0.5, OpenFor: time.Second}, wantErr: true},
		{give: BreakerPolicy{ConsecutiveFailures: 3}, wantErr: true},
		{give: BreakerPolicy{ConsecutiveFailures: 3, OpenFor: 2 * time.Second, MaxOpenFor: time.Second}, wantErr: true},
		{give: BreakerPolicy{ConsecutiveFailures: -1}, wantErr: true},
	}
	for _, tt := range tests {
		if err := tt.give.validate(); (err != nil) != tt.wantErr {
			t.Errorf("validate(%+v) = %v, wantErr %v", tt.give, err, tt.wantErr)
		}
	}
}
