package allowlist

import (
	"context"
	"testing"

	"github.com/llmgateway/llmgateway/interceptors/auth"
	"github.com/llmgateway/llmgateway/llm"
)

// TestFilterAgreesWithAllowed checks the model filter routing gets
// against Allowed, for an allowlist of names, aliases and globs in any
// case.
func TestFilterAgreesWithAllowed(t *testing.T) {
	c := New(resolve)
	k := &auth.Key{ID: "k", Models: []string{"GPT-4", "DeepSeek-*", "claude-?-*"}}
	ctx := c.withFilter(auth.NewContext(context.Background(), k))
	filter := llm.ModelFilter(ctx)
	if filter == nil {
		t.Fatal("no model filter in the context")
	}
	for _, tt := range []struct {
		give string
		want bool
	}{
		{"gpt-4.1", true}, {"gpt-4", true}, {"GPT-4.1", true}, {"gpt-4o", false},
		{"deepseek-chat", true}, {"DEEPSEEK-V3.2", true}, {"deepseek", false},
		{"claude-3-haiku", true}, {"claude-35-haiku", false},
	} {
		if got := c.Allowed(k, tt.give); got != tt.want {
			t.Errorf("Allowed(%q) = %v, want %v", tt.give, got, tt.want)
		}
		if got := filter(tt.give); got != tt.want {
			t.Errorf("filter(%q) = %v, want %v", tt.give, got, tt.want)
		}
	}
}

// TestAllowlistResolvedOnce checks that a key's allowlist is resolved on
// its first call only.
func TestAllowlistResolvedOnce(t *testing.T) {
	calls := 0
	c := New(func(m string) (string, bool) { calls++; return resolve(m) })
	k := &auth.Key{ID: "k", Models: []string{"gpt-4", "deepseek-chat", "o*"}}
	for range 3 {
		if c.Allowed(k, "gpt-4o") {
			t.Error("Allowed(gpt-4o) = true, want false")
		}
	}
	// 2 names of the list once, then the model asked for each time.
	if calls != 2+3 {
		t.Errorf("resolver called %d times, want %d", calls, 2+3)
	}
}
