package chatcall

import (
	"sync"
	"sync/atomic"

	"github.com/llmgateway/llmgateway/interceptors/auth"
)

// maxPerKey bounds the keys a PerKey remembers. The keys of an
// Authenticator are far fewer; the bound only matters for a caller that
// makes a new *auth.Key per call, whose values are then derived per call.
const maxPerKey = 4096

// PerKey remembers what an interceptor derives from a caller's key (the
// names of its state entries, its header values, its compiled
// allowlist), so that calls do not derive it again. It is keyed by the
// *auth.Key, which is read-only once it authenticates calls: the keys an
// Authenticator hands out never change and live as long as it, and a
// reload builds new keys and new interceptors. It is safe for concurrent
// use.
type PerKey[V any] struct {
	derive func(*auth.Key) V
	m      sync.Map // *auth.Key -> V
	n      atomic.Int64
}

// NewPerKey returns a PerKey that derives a key's value with derive, which
// must depend on nothing but the key's fields.
func NewPerKey[V any](derive func(*auth.Key) V) *PerKey[V] {
	return &PerKey[V]{derive: derive}
}

// Get returns the value derived from k, deriving it on k's first call.
func (p *PerKey[V]) Get(k *auth.Key) V {
	if v, ok := p.m.Load(k); ok {
		return v.(V)
	}
	v := p.derive(k)
	if p.n.Load() >= maxPerKey {
		return v
	}
	if old, loaded := p.m.LoadOrStore(k, v); loaded {
		return old.(V)
	}
	p.n.Add(1)
	return v
}
