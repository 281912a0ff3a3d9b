package simulator_test

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/llmgateway/llmgateway/llm"
	"github.com/llmgateway/llmgateway/providers/simulator"
)

func BenchmarkChat(b *testing.B) {
	p := newProvider(b, simulator.Config{})
	ctx := context.Background()
	req := userRequest("sim", "What is the capital of France?")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Chat(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkChatParallel(b *testing.B) {
	p := newProvider(b, simulator.Config{
		Latency: simulator.LatencyDist{P50: 1, P99: 2}, // drawn per request, about a nanosecond
		Faults:  simulator.Faults{ErrorRate: 0.01},
	})
	ctx := context.Background()
	req := userRequest("sim", "What is the capital of France?")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_, _ = p.Chat(ctx, req)
		}
	})
}

func BenchmarkChatStream100Tokens(b *testing.B) {
	p := newProvider(b, simulator.Config{})
	ctx := context.Background()
	req := withMetadata(userRequest("sim", "x"), simulator.MetadataReply, strings.Repeat("token ", 100))
	b.ReportAllocs()
	for b.Loop() {
		s, err := p.ChatStream(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			c, err := s.Recv()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if c.HasContent() {
				n++
			}
		}
		s.Close()
		if n != 100 {
			b.Fatalf("stream sent %d tokens, want 100", n)
		}
	}
}

func BenchmarkToolCall(b *testing.B) {
	p := newProvider(b, simulator.Config{})
	ctx := context.Background()
	req := userRequest("sim", "Weather in Paris?")
	req.Tools = []llm.Tool{{
		Name:       "get_weather",
		Parameters: []byte(`{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"}},"required":["city","days"]}`),
	}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Chat(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}
