package pricing

import (
	"math"
	"testing"

	"github.com/llmgateway/llmgateway/llm"
)

// The four models of the original design brief, at the output prices it
// quotes.
func TestBriefOutputPrices(t *testing.T) {
	tests := []struct {
		give string
		want float64
	}{
		{"gpt-4.1", 8.00},
		{"claude-sonnet-4.5", 15.00},
		{"gemini-2.5-flash", 2.50},
		{"DeepSeek-V3.2", 0.42},
	}
	for _, tt := range tests {
		p, ok := Lookup(tt.give)
		if !ok || p.OutputPerMTok != tt.want || p.InputPerMTok <= 0 {
			t.Errorf("Lookup(%q) = %+v, %v; want output %v and an input price", tt.give, p, ok, tt.want)
		}
	}
}

func TestCostWithCache(t *testing.T) {
	// Claude Sonnet 4.5: 10,000 input tokens of which 6,000 read from cache
	// and 2,000 written to it, 1,000 output tokens.
	p, _ := Lookup("claude-sonnet-4.5")
	u := llm.Usage{PromptTokens: 10000, CachedTokens: 6000, CacheWriteTokens: 2000, CompletionTokens: 1000}
	want := (2000*3.00 + 6000*0.30 + 2000*3.75 + 1000*15.00) / 1e6
	if got := p.Cost(u); math.Abs(got-want) > 1e-12 {
		t.Errorf("Cost(%+v) = %v, want %v", u, got, want)
	}
}

func TestUnknown(t *testing.T) {
	if p, ok := Lookup("my-private-finetune"); ok {
		t.Errorf("Lookup(unknown) = %+v, true; want false", p)
	}
}
