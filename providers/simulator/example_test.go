package simulator_test

import (
	"context"
	"fmt"
	"time"

	"github.com/llmgateway/llmgateway/llm"
	"github.com/llmgateway/llmgateway/providers/simulator"
)

func Example() {
	p, err := simulator.New(simulator.Config{
		Name:            "sim",
		TokensPerSecond: 1000,
		Latency:         simulator.LatencyDist{P50: time.Millisecond, P99: 5 * time.Millisecond},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	req := &llm.Request{
		Model:     "sim-small",
		Messages:  []llm.Message{{Role: llm.RoleUser, Content: "Hello!"}},
		MaxTokens: 6,
	}
	resp, err := p.Chat(ctx, req)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%q %s %+v\n", resp.Message.Content, resp.FinishReason, resp.Usage)

	// Force a rate limit for this one request.
	req.Metadata = map[string]string{simulator.MetadataFault: simulator.FaultRateLimit}
	_, err = p.Chat(ctx, req)
	ue, _ := llm.AsUpstream(err)
	fmt.Println(ue.Kind, ue.StatusCode, ue.Retryable, ue.RetryAfter)
	// Output:
	// "Simulated reply from sim-small. Silver delta " length {PromptTokens:9 CompletionTokens:6 CachedTokens:0 CacheWriteTokens:0 ReasoningTokens:0}
	// rate_limited 429 true 1s
}
