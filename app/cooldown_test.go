package app

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/llmgateway/llmgateway/routing"
	"github.com/llmgateway/llmgateway/state/memory"
)

// Two replicas over one shared store: a cool-down one of them records
// reaches the other within a refresh interval, and Until never waits on
// the store.
func TestSharedCooldownsReachOtherReplicas(t *testing.T) {
	shared := memory.New().Cooldowns()
	k := routing.Key{Provider: "openai", UpstreamModel: "gpt-4.1", Model: "gpt-4.1"}
	keys := func() []routing.Key { return []routing.Key{k} }
	a := newSharedCooldowns(shared, keys, 10*time.Millisecond, slog.New(slog.DiscardHandler))
	b := newSharedCooldowns(shared, keys, 10*time.Millisecond, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, s := range []*sharedCooldowns{a, b} {
		if err := s.start(ctx); err != nil {
			t.Fatal(err)
		}
		defer s.stop(ctx)
	}
	until := time.Now().Add(time.Minute).Truncate(time.Millisecond)
	a.CoolDown(k, until)
	if got := a.Until(k); !got.Equal(until) {
		t.Fatalf("a.Until() = %v, want %v at once", got, until)
	}
	for !b.Until(k).Equal(until) {
		select {
		case <-ctx.Done():
			t.Fatalf("b.Until() = %v, want %v from the shared store", b.Until(k), until)
		case <-time.After(5 * time.Millisecond):
		}
	}
	other := routing.Key{Provider: "anthropic", UpstreamModel: "x", Model: "y"}
	if got := b.Until(other); !got.IsZero() {
		t.Errorf("Until(unrelated) = %v, want zero", got)
	}
}
