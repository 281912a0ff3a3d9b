package routing

import (
	"sync"
	"sync/atomic"
	"time"
)

// CooldownStore remembers the deployments an upstream asked to be left
// alone (a 429 or 503 with Retry-After) and until when. Every strategy
// skips a deployment while it cools down.
//
// Until is called while choosing, for every candidate of every request: it
// must not block or do I/O. A store shared between gateway processes (such
// as one backed by Redis) keeps a local copy for Until and refreshes it in
// the background; its CoolDown may publish asynchronously. Both methods
// are called concurrently.
type CooldownStore interface {
	// CoolDown records that k should not be sent requests before until. A
	// later until replaces an earlier one; an earlier one is ignored.
	CoolDown(k Key, until time.Time)
	// Until returns the end of k's cool-down, or the zero time when k is
	// not cooling down. It may return a time in the past.
	Until(k Key) time.Time
}

// MemoryCooldowns is the in-process CooldownStore a Router uses by
// default. Its zero value is ready to use.
type MemoryCooldowns struct {
	mu    sync.RWMutex
	until map[Key]int64 // unix nanoseconds
	size  atomic.Int32  // len(until), read without the lock
}

var _ CooldownStore = (*MemoryCooldowns)(nil)

// memoryCooldownSweep is the size above which CoolDown drops expired
// entries.
const memoryCooldownSweep = 256

// CoolDown implements CooldownStore.
func (m *MemoryCooldowns) CoolDown(k Key, until time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.until == nil {
		m.until = make(map[Key]int64)
	}
	if len(m.until) >= memoryCooldownSweep {
		now := time.Now().UnixNano()
		for key, u := range m.until {
			if u < now {
				delete(m.until, key)
			}
		}
	}
	if u := until.UnixNano(); u > m.until[k] {
		m.until[k] = u
	}
	m.size.Store(int32(len(m.until)))
}

// Until implements CooldownStore.
func (m *MemoryCooldowns) Until(k Key) time.Time {
	if m.size.Load() == 0 {
		return time.Time{}
	}
	m.mu.RLock()
	u, ok := m.until[k]
	m.mu.RUnlock()
	if !ok {
		return time.Time{}
	}
	return time.Unix(0, u)
}
