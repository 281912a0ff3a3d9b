package app

import (
	"context"
	"log/slog"
	"testing"
	"time"

	pb "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
	"github.com/llmgateway/llmgateway/routing"
	"github.com/llmgateway/llmgateway/state/memory"
	"github.com/llmgateway/llmgateway/state/redistest"
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

// Two gateways on one Redis: a Retry-After one of them receives cools the
// deployment down on the other too, which then skips it without ever
// sending it a request.
func TestCooldownsSharedAcrossReplicas(t *testing.T) {
	addr := redistest.New(t)
	yaml := `
server: {drain_timeout: 5s}
providers:
  - name: sim-a
    type: simulator
    simulator: {rate_limit_rate: 1, retry_after: 60s}
  - name: sim-b
    type: simulator
models:
  - name: gpt-4.1
    deployments: [{provider: sim-a}, {provider: sim-b, priority: 1}]
routing: {strategy: priority}
state: {backend: redis, redis: {addr: '` + addr + `', prefix: '` + redistest.Prefix(t) + `'}}
`
	a := startDoor(t, yaml, nil)
	b := startDoor(t, yaml, nil)
	msgs := []*pb.Message{{Role: "user", Content: "hi"}}

	resp, err := a.client.Chat(tctx(t), &pb.ChatRequest{Model: "gpt-4.1", Messages: msgs})
	if err != nil || resp.GetProvider() != "sim-b" {
		t.Fatalf("Chat() on a = %v, %v; want sim-b after sim-a's 429", resp.GetProvider(), err)
	}
	if got := resp.GetRoute().GetAttempts()[0]; got.GetProvider() != "sim-a" || got.GetStatusCode() != 429 {
		t.Fatalf("a's first attempt = %v, want sim-a answering 429", got)
	}
	// b refreshes shared cool-downs every second.
	time.Sleep(3 * time.Second)
	resp, err = b.client.Chat(tctx(t), &pb.ChatRequest{Model: "gpt-4.1", Messages: msgs})
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range resp.GetRoute().GetAttempts() {
		if at.GetProvider() == "sim-a" && at.GetOutcome() != "skipped" {
			t.Errorf("b sent a request to sim-a (%v): the cool-down did not reach it", at)
		}
	}
	if resp.GetProvider() != "sim-b" {
		t.Errorf("b answered from %s, want sim-b", resp.GetProvider())
	}
}
