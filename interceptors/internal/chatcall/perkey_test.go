package chatcall

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/llmgateway/llmgateway/interceptors/auth"
)

func TestPerKeyDerivesOncePerKey(t *testing.T) {
	var derived atomic.Int64
	p := NewPerKey(func(k *auth.Key) string {
		derived.Add(1)
		return "conc:" + k.ID
	})
	a, b := &auth.Key{ID: "a"}, &auth.Key{ID: "b"}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if got := p.Get(a); got != "conc:a" {
					t.Errorf("Get(a) = %q, want conc:a", got)
				}
				if got := p.Get(b); got != "conc:b" {
					t.Errorf("Get(b) = %q, want conc:b", got)
				}
			}
		})
	}
	wg.Wait()
	// Goroutines that miss at once may each derive; only one value is kept.
	if n := derived.Load(); n < 2 || n > 16 {
		t.Errorf("derived %d times for 2 keys on 8 goroutines, want 2 to 16", n)
	}
	before := derived.Load()
	p.Get(a)
	p.Get(b)
	if n := derived.Load(); n != before {
		t.Errorf("derived %d more times for keys already seen, want 0", n-before)
	}
}

func TestPerKeyIsBounded(t *testing.T) {
	var derived int
	p := NewPerKey(func(k *auth.Key) *auth.Key { derived++; return k })
	keys := make([]*auth.Key, maxPerKey+10)
	for i := range keys {
		keys[i] = &auth.Key{ID: "k"}
		if got := p.Get(keys[i]); got != keys[i] {
			t.Fatalf("Get(key %d) = %p, want %p", i, got, keys[i])
		}
	}
	derived = 0
	for i, k := range keys {
		if got := p.Get(k); got != k {
			t.Fatalf("second Get(key %d) = %p, want %p", i, got, k)
		}
	}
	if derived != 10 {
		t.Errorf("second pass derived %d values, want 10 (the keys beyond the bound)", derived)
	}
}
