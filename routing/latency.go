package routing

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// latencySamples is how many recent samples a latency window keeps.
const latencySamples = 128

// latencyRefresh is how often a window's cached p95 is recomputed while it
// is read but not written, so that old samples age out.
const latencyRefresh = 500 * time.Millisecond

// latencyRecompute is how often at most a window's cached p95 is
// recomputed while it is being written: a read finds the samples of the
// last few milliseconds missing from it at worst. Sorting the window on
// every write cost each finished attempt 3.7 µs under the window's lock.
const latencyRecompute = 10 * time.Millisecond

type sample struct {
	d  time.Duration
	at int64 // unix nanoseconds
}

// latencyWindow tracks one deployment's recent latency: the last
// latencySamples samples no older than the window's age. Its p95 is cached
// and recomputed on reads: at once when the window knew nothing, at most
// every latencyRecompute after writes, and every latencyRefresh otherwise,
// so that old samples age out. Writing costs a store under the lock and
// reading while choosing a few atomic loads; a read that finds another
// goroutine recomputing uses the cached value rather than wait.
type latencyWindow struct {
	mu      sync.Mutex
	samples [latencySamples]sample
	n, next int

	p95        atomic.Int64 // nanoseconds; -1 when no sample is recent enough
	computedAt atomic.Int64 // unix nanoseconds
	dirty      atomic.Bool  // samples were added since computedAt
	exploring  atomic.Int64 // unix nanoseconds an exploring request started; 0 when none
}

func newLatencyWindow() *latencyWindow {
	w := &latencyWindow{}
	w.p95.Store(-1)
	return w
}

// add records a sample taken at now.
func (w *latencyWindow) add(now time.Time, d time.Duration) {
	w.mu.Lock()
	w.samples[w.next] = sample{d: d, at: now.UnixNano()}
	w.next = (w.next + 1) % latencySamples
	if w.n < latencySamples {
		w.n++
	}
	w.dirty.Store(true)
	w.mu.Unlock()
	w.exploring.Store(0)
}

// recompute refreshes the cached p95; w.mu is held.
func (w *latencyWindow) recompute(now time.Time, age time.Duration) {
	var buf [latencySamples]time.Duration
	vals := buf[:0]
	oldest := now.UnixNano() - int64(age)
	for i := 0; i < w.n; i++ {
		if s := w.samples[i]; s.at > oldest {
			vals = append(vals, s.d)
		}
	}
	w.computedAt.Store(now.UnixNano())
	w.dirty.Store(false)
	if len(vals) == 0 {
		w.p95.Store(-1)
		return
	}
	slices.Sort(vals)
	// Nearest rank: the smallest value with at least 95% at or below it.
	rank := (95*len(vals) + 99) / 100
	w.p95.Store(int64(vals[rank-1]))
}

// P95 returns the 95th percentile of the samples taken within age of now,
// and false when there are none.
func (w *latencyWindow) P95(now time.Time, age time.Duration) (time.Duration, bool) {
	if w.stale(now) && w.mu.TryLock() {
		w.recompute(now, age)
		w.mu.Unlock()
	}
	v := w.p95.Load()
	return time.Duration(v), v >= 0
}

// stale reports whether the cached p95 is due to be recomputed at now.
func (w *latencyWindow) stale(now time.Time) bool {
	since := now.UnixNano() - w.computedAt.Load()
	if !w.dirty.Load() {
		return since > int64(latencyRefresh)
	}
	return w.p95.Load() < 0 || since > int64(latencyRecompute) || since < 0
}

// explore marks an exploring request (one sent while the window knew
// nothing) as started at now, and reports whether none was under way
// already. A mark older than stale is taken over: its request may never
// report back.
func (w *latencyWindow) explore(now time.Time, stale time.Duration) bool {
	prev := w.exploring.Load()
	if prev != 0 && now.UnixNano()-prev < int64(stale) {
		return false
	}
	return w.exploring.CompareAndSwap(prev, now.UnixNano())
}

// exploringSince reports whether an exploring request started within stale
// of now.
func (w *latencyWindow) exploringSince(now time.Time, stale time.Duration) bool {
	prev := w.exploring.Load()
	return prev != 0 && now.UnixNano()-prev < int64(stale)
}
