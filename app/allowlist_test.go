package app

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
)

// A key's allowlist holds for the models routing reaches on its own:
// fallbacks (and tiers of virtual models) outside it are skipped, never
// called.
func TestAllowlistBoundsFallbacks(t *testing.T) {
	narrow, wide := newKey(t, "narrow"), newKey(t, "wide")
	yaml := `
server: {drain_timeout: 5s}
providers:
  - {name: sim-down, type: simulator, simulator: {error_rate: 1}}
  - {name: sim-ok, type: simulator}
models:
  - {name: gpt-4.1, deployments: [{provider: sim-down}]}
  - {name: claude-sonnet-4.5, deployments: [{provider: sim-ok}]}
routing:
  models: [{name: gpt-4.1, fallbacks: [claude-sonnet-4.5]}]
keys:
` + narrow.entry("models: [gpt-4.1]") + wide.entry("models: [gpt-4.1, claude-sonnet-4.5]")
	r := startDoor(t, yaml, nil)
	req := &pb.ChatRequest{Model: "gpt-4.1", Messages: []*pb.Message{{Role: "user", Content: "hi"}}}

	resp, err := r.client.Chat(withKey(tctx(t), wide.key), req)
	if err != nil || resp.GetModel() != "claude-sonnet-4.5" {
		t.Fatalf("wide key: Chat() = %v, %v; want the fallback claude-sonnet-4.5", resp.GetModel(), err)
	}

	_, err = r.client.Chat(withKey(tctx(t), narrow.key), req)
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("narrow key: Chat() = %v, want Unavailable: its only allowed model is down", err)
	}
	st, err := r.client.ChatStream(withKey(tctx(t), narrow.key), req)
	if err == nil {
		_, err = st.Recv()
	}
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("narrow key: ChatStream() = %v, want Unavailable", err)
	}
}
