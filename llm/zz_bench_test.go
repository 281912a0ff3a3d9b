package llm

import (
	"strings"
	"testing"
)

// The per-request accounting of the hot path: pricing a response,
// estimating a prompt before a call (limits and budgets reserve it), and
// assembling stream chunks.

func BenchmarkPricingCost(b *testing.B) {
	p := Pricing{InputPerMTok: 3, OutputPerMTok: 15, CachedInputPerMTok: 0.3, CacheWritePerMTok: 3.75}
	u := Usage{PromptTokens: 1200, CompletionTokens: 350, CachedTokens: 800, CacheWriteTokens: 100, ReasoningTokens: 40}
	b.ReportAllocs()
	var sum float64
	for b.Loop() {
		sum += p.Cost(u)
	}
	if sum <= 0 {
		b.Fatal("cost is not positive")
	}
}

func BenchmarkEstimateTokens(b *testing.B) {
	s := strings.Repeat("Where is my order 1234? It was due yesterday. ", 20) + "我的订单在哪里？"
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	for b.Loop() {
		if EstimateTokens(s) == 0 {
			b.Fatal("no tokens")
		}
	}
}

// BenchmarkAssemblerAdd is per chunk: the cost of keeping a stream's
// answer for its final accounting.
func BenchmarkAssemblerAdd(b *testing.B) {
	usage := Usage{PromptTokens: 42, CompletionTokens: 64}
	b.ReportAllocs()
	var a Assembler
	n := 0
	for b.Loop() {
		if n == 64 {
			a = Assembler{}
			n = 0
		}
		c := Chunk{Content: "token "}
		if n == 63 {
			c.FinishReason, c.Usage = FinishStop, &usage
		}
		a.Add(&c)
		n++
	}
}
