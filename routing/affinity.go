package routing

import (
	"sync"
	"time"
)

// affinityKey is one session on one routing target (a model or a virtual
// model's tier).
type affinityKey struct {
	target  string
	session string
}

type affinityEntry struct {
	dep     Key
	expires int64 // unix nanoseconds
}

// affinityTable maps sessions to the deployment that last answered them,
// so that their requests keep reaching the same provider-side prompt
// cache. It holds at most max sessions, each for ttl after its last use.
type affinityTable struct {
	mu      sync.Mutex
	entries map[affinityKey]affinityEntry
}

func newAffinityTable() *affinityTable {
	return &affinityTable{entries: make(map[affinityKey]affinityEntry)}
}

// get returns the deployment of session on target, if it has a live one.
func (t *affinityTable) get(target, session string, now time.Time) (Key, bool) {
	t.mu.Lock()
	e, ok := t.entries[affinityKey{target, session}]
	t.mu.Unlock()
	if !ok || e.expires < now.UnixNano() {
		return Key{}, false
	}
	return e.dep, true
}

// set pins session on target to dep until ttl from now. When the table is
// full it first drops expired sessions, then, if still full, an arbitrary
// tenth of them.
func (t *affinityTable) set(target, session string, dep Key, now time.Time, ttl time.Duration, maxSessions int) {
	k := affinityKey{target, session}
	e := affinityEntry{dep: dep, expires: now.Add(ttl).UnixNano()}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.entries[k]; !ok && len(t.entries) >= maxSessions {
		n := now.UnixNano()
		for key, old := range t.entries {
			if old.expires < n {
				delete(t.entries, key)
			}
		}
		for key := range t.entries {
			if len(t.entries) < maxSessions-maxSessions/10 {
				break
			}
			delete(t.entries, key)
		}
	}
	t.entries[k] = e
}

// drop forgets session on target if it is pinned to dep.
func (t *affinityTable) drop(target, session string, dep Key) {
	k := affinityKey{target, session}
	t.mu.Lock()
	if e, ok := t.entries[k]; ok && e.dep == dep {
		delete(t.entries, k)
	}
	t.mu.Unlock()
}

// len returns the number of sessions held.
func (t *affinityTable) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries)
}
