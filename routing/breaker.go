package routing

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// BreakerState is the state of a deployment's circuit breaker.
type BreakerState int32

// The states of a circuit breaker.
const (
	// BreakerClosed lets every request through.
	BreakerClosed BreakerState = iota
	// BreakerOpen lets no request through until its cool-down ends.
	BreakerOpen
	// BreakerHalfOpen lets a bounded number of probe requests through;
	// their outcome closes the breaker or opens it again.
	BreakerHalfOpen
)

func (s BreakerState) String() string {
	switch s {
	case BreakerClosed:
		return "closed"
	case BreakerOpen:
		return "open"
	case BreakerHalfOpen:
		return "half_open"
	}
	return fmt.Sprintf("BreakerState(%d)", int32(s))
}

// BreakerPolicy says when a deployment's circuit breaker opens and how it
// recovers. The zero value never trips.
type BreakerPolicy struct {
	// FailureRate opens the breaker when the share of failed requests in
	// Window reaches it, once MinRequests requests were seen there. 0
	// disables this trigger.
	FailureRate float64
	// Window is the sliding window FailureRate is measured over.
	Window time.Duration
	// MinRequests is the fewest requests in Window for FailureRate to
	// apply.
	MinRequests int
	// ConsecutiveFailures opens the breaker after that many failures in a
	// row. 0 disables this trigger.
	ConsecutiveFailures int
	// OpenFor is how long the breaker stays open after its first trip.
	// Each trip that follows within Window of the breaker closing doubles
	// it, up to MaxOpenFor.
	OpenFor    time.Duration
	MaxOpenFor time.Duration
	// HalfOpenProbes bounds the probe requests in flight while half open;
	// that many successful probes close the breaker, one failure opens it
	// again. Values below 1 mean 1.
	HalfOpenProbes int
}

// defaultBreakerPolicy is the policy of a Router given none: open at 50%
// failures over 30 s (at least 10 requests) or 5 failures in a row, for
// 5 s doubling up to 2 min, with 2 probes.
var defaultBreakerPolicy = BreakerPolicy{
	FailureRate:         0.5,
	Window:              30 * time.Second,
	MinRequests:         10,
	ConsecutiveFailures: 5,
	OpenFor:             5 * time.Second,
	MaxOpenFor:          2 * time.Minute,
	HalfOpenProbes:      2,
}

func (p *BreakerPolicy) validate() error {
	switch {
	case p.FailureRate < 0 || p.FailureRate > 1 || p.FailureRate != p.FailureRate:
		return fmt.Errorf("breaker failure rate is %v, want a share in [0, 1]", p.FailureRate)
	case p.FailureRate > 0 && p.Window <= 0:
		return fmt.Errorf("breaker window is %v, want > 0 with a failure rate", p.Window)
	case p.MinRequests < 0 || p.ConsecutiveFailures < 0:
		return fmt.Errorf("breaker request counts must be >= 0")
	case p.tripping() && p.OpenFor <= 0:
		return fmt.Errorf("breaker open time is %v, want > 0", p.OpenFor)
	case p.MaxOpenFor > 0 && p.MaxOpenFor < p.OpenFor:
		return fmt.Errorf("breaker max open time %v is below its open time %v", p.MaxOpenFor, p.OpenFor)
	}
	return nil
}

func (p *BreakerPolicy) tripping() bool { return p.FailureRate > 0 || p.ConsecutiveFailures > 0 }

func (p *BreakerPolicy) probes() int32 {
	if p.HalfOpenProbes < 1 {
		return 1
	}
	return int32(p.HalfOpenProbes)
}

// openFor returns the cool-down of the trips-th trip in a row.
func (p *BreakerPolicy) openFor(trips int) time.Duration {
	d := p.OpenFor
	for i := 1; i < trips && (p.MaxOpenFor <= 0 || d < p.MaxOpenFor); i++ {
		d *= 2
	}
	if p.MaxOpenFor > 0 && d > p.MaxOpenFor {
		d = p.MaxOpenFor
	}
	return d
}

// verdict is what an attempt's outcome means for a breaker.
type verdict int

const (
	// verdictNeutral says nothing about the deployment's health: the
	// caller went away, the request was bad, a hedge was cancelled.
	verdictNeutral verdict = iota
	verdictSuccess
	verdictFailure
)

// breakerBuckets is the number of buckets of the failure-rate window.
const breakerBuckets = 10

type bucket struct {
	start    int64 // unix nanoseconds; 0 when unused
	ok, fail int32
}

// breaker is one deployment's circuit breaker. Its policy is passed to
// each call rather than held, so that a router built from a reloaded
// config applies its own policy to the state it inherits.
//
// ready reads atomics only: choosing never waits on the mutex.
type breaker struct {
	state     atomic.Int32 // BreakerState
	openUntil atomic.Int64 // unix nanoseconds, while open
	probes    atomic.Int32 // probes in flight, while half open
	tripsAll  atomic.Int64 // every trip since the state was created

	mu          sync.Mutex
	gen         uint64 // bumped on every state change
	consecutive int
	buckets     [breakerBuckets]bucket
	trips       int // trips in a row, for the growing cool-down
	closedAt    int64
	successes   int // successful probes while half open
}

// ticket is a permission to send one request, returned to record.
type ticket struct {
	gen   uint64
	probe bool
}

// transition reports a state change, for logging outside the lock.
type transition struct {
	from, to BreakerState
	until    time.Time // the end of the cool-down, when to is open
	reason   string
}

func (t transition) changed() bool { return t.from != t.to }

// ready reports whether the breaker would let a request through at now,
// and, when not, until when it stays open (zero while half open with
// every probe slot taken). It never blocks.
func (b *breaker) ready(now time.Time, p *BreakerPolicy) (bool, time.Time) {
	switch BreakerState(b.state.Load()) {
	case BreakerOpen:
		until := b.openUntil.Load()
		if now.UnixNano() >= until {
			return true, time.Time{}
		}
		return false, time.Unix(0, until)
	case BreakerHalfOpen:
		return b.probes.Load() < p.probes(), time.Time{}
	}
	return true, time.Time{}
}

// acquire claims the right to send one request at now: always while
// closed, a probe slot once the cool-down ended. ok is false when the
// breaker refuses.
func (b *breaker) acquire(now time.Time, p *BreakerPolicy) (t ticket, ok bool, tr transition) {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := BreakerState(b.state.Load())
	tr = transition{from: st, to: st}
	switch st {
	case BreakerClosed:
		return ticket{gen: b.gen}, true, tr
	case BreakerOpen:
		if now.UnixNano() < b.openUntil.Load() {
			return ticket{}, false, tr
		}
		b.set(BreakerHalfOpen)
		b.successes = 0
		tr.to, tr.reason = BreakerHalfOpen, "cool-down over: letting probes through"
	}
	if b.probes.Load() >= p.probes() {
		return ticket{}, false, tr
	}
	b.probes.Add(1)
	return ticket{gen: b.gen, probe: true}, true, tr
}

// set changes the state; b.mu is held.
func (b *breaker) set(s BreakerState) {
	b.gen++
	b.state.Store(int32(s))
	b.probes.Store(0)
}

// record reports the outcome of the request t allowed. A result from
// before the last state change only counts while closed, and then only
// once: stale successes never close an open breaker.
func (b *breaker) record(now time.Time, p *BreakerPolicy, t ticket, v verdict) transition {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := BreakerState(b.state.Load())
	tr := transition{from: st, to: st}
	switch st {
	case BreakerHalfOpen:
		if !t.probe || t.gen != b.gen {
			return tr
		}
		b.probes.Add(-1)
		switch v {
		case verdictSuccess:
			b.successes++
			if int32(b.successes) >= p.probes() {
				b.set(BreakerClosed)
				b.consecutive = 0
				b.buckets = [breakerBuckets]bucket{}
				b.closedAt = now.UnixNano()
				tr.to, tr.reason = BreakerClosed, fmt.Sprintf("%d probe(s) succeeded", b.successes)
			}
		case verdictFailure:
			b.trip(now, p, &tr, "a probe failed")
		}
	case BreakerClosed:
		switch v {
		case verdictSuccess:
			b.consecutive = 0
			b.bucketAt(now, p).ok++
		case verdictFailure:
			b.consecutive++
			b.bucketAt(now, p).fail++
			if p.ConsecutiveFailures > 0 && b.consecutive >= p.ConsecutiveFailures {
				b.trip(now, p, &tr, fmt.Sprintf("%d failures in a row", b.consecutive))
			} else if p.FailureRate > 0 {
				ok, fail := b.counts(now, p)
				if n := ok + fail; n >= max(p.MinRequests, 1) && float64(fail) >= p.FailureRate*float64(n) {
					b.trip(now, p, &tr, fmt.Sprintf("%d of %d requests failed in %s", fail, n, p.Window))
				}
			}
		}
	}
	return tr
}

// trip opens the breaker; b.mu is held.
func (b *breaker) trip(now time.Time, p *BreakerPolicy, tr *transition, reason string) {
	if b.closedAt != 0 && now.UnixNano()-b.closedAt > int64(p.Window) && BreakerState(b.state.Load()) == BreakerClosed {
		b.trips = 0 // stable since it last closed: start over
	}
	b.trips++
	until := now.Add(p.openFor(b.trips))
	b.set(BreakerOpen)
	b.openUntil.Store(until.UnixNano())
	b.tripsAll.Add(1)
	b.consecutive = 0
	tr.to, tr.until, tr.reason = BreakerOpen, until, reason
}

// bucketAt returns the bucket of now, recycling an expired one.
func (b *breaker) bucketAt(now time.Time, p *BreakerPolicy) *bucket {
	width := int64(p.Window) / breakerBuckets
	if width <= 0 {
		width = int64(time.Second)
	}
	n := now.UnixNano()
	start := n - n%width
	bk := &b.buckets[(n/width)%breakerBuckets]
	if bk.start != start {
		*bk = bucket{start: start}
	}
	return bk
}

// counts sums the buckets inside the window ending at now.
func (b *breaker) counts(now time.Time, p *BreakerPolicy) (ok, fail int) {
	oldest := now.UnixNano() - int64(p.Window)
	for i := range b.buckets {
		if bk := &b.buckets[i]; bk.start != 0 && bk.start > oldest {
			ok += int(bk.ok)
			fail += int(bk.fail)
		}
	}
	return ok, fail
}

// snapshot returns the state and, while open, the end of the cool-down.
func (b *breaker) snapshot() (BreakerState, time.Time, int64) {
	st := BreakerState(b.state.Load())
	var until time.Time
	if st == BreakerOpen {
		until = time.Unix(0, b.openUntil.Load())
	}
	return st, until, b.tripsAll.Load()
}
