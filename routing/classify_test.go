package routing

import (
	"strings"
	"testing"

	"github.com/llmgateway/llmgateway/llm"
)

func userMsg(s string) llm.Message { return llm.Message{Role: llm.RoleUser, Content: s} }

// standardAsk is a request of no particular tier: over 40 tokens,
// without keywords.
const standardAsk = "I would like to change the delivery address on my most recent purchase to my office, " +
	"which is in the city centre, and I wonder whether the courier can still be reached before noon"

func TestDefaultRulesClassify(t *testing.T) {
	c, err := NewClassifier(DefaultRules(), TierStandard)
	if err != nil {
		t.Fatal(err)
	}
	deep := make([]llm.Message, 0, 12)
	for i := range 6 {
		deep = append(deep, userMsg("tell me more about the delivery window please, in some detail this time "+strings.Repeat("x", i)),
			llm.Message{Role: llm.RoleAssistant, Content: "sure"})
	}
	tests := []struct {
		name     string
		give     *llm.Request
		wantTier Tier
		wantRule string
	}{
		{name: "chinese look-up, keyword in the middle", give: &llm.Request{Messages: []llm.Message{userMsg("您好，请帮我查询一下订单 12345 的状态")}},
			wantTier: TierSimple, wantRule: "simple-keywords"},
		{name: "chinese translation", give: &llm.Request{Messages: []llm.Message{userMsg("请把下面这段话翻译成英文：我们明天发货。")}},
			wantTier: TierSimple, wantRule: "simple-keywords"},
		{name: "english summary, any case", give: &llm.Request{Messages: []llm.Message{userMsg("Could you please SUMMARIZE the following complaint for the team: " + strings.Repeat("blah ", 40))}},
			wantTier: TierSimple, wantRule: "simple-keywords"},
		{name: "extraction", give: &llm.Request{Messages: []llm.Message{userMsg("Extract the order number and the email address from this message: " + strings.Repeat("text ", 40))}},
			wantTier: TierSimple, wantRule: "simple-keywords"},
		{name: "chinese analysis", give: &llm.Request{Messages: []llm.Message{userMsg("请分析一下这个季度退款率上升的原因")}},
			wantTier: TierComplex, wantRule: "complex-keywords"},
		{name: "chinese code", give: &llm.Request{Messages: []llm.Message{userMsg("帮我写一段Python代码来统计订单")}},
			wantTier: TierComplex, wantRule: "complex-keywords"},
		{name: "chinese architecture, keyword at the end", give: &llm.Request{Messages: []llm.Message{userMsg("我们的客服系统应该怎么设计架构")}},
			wantTier: TierComplex, wantRule: "complex-keywords"},
		{name: "english reasoning beats a simple keyword", give: &llm.Request{Messages: []llm.Message{userMsg("Look up why refunds spiked and reason step by step about the causes")}},
			wantTier: TierComplex, wantRule: "complex-keywords"},
		{name: "long input", give: &llm.Request{Messages: []llm.Message{userMsg(strings.Repeat("word ", 900))}},
			wantTier: TierComplex, wantRule: "long-input"},
		{name: "no rule matches", give: &llm.Request{Messages: []llm.Message{userMsg(standardAsk)}},
			wantTier: TierStandard, wantRule: RuleDefault},
		{name: "tools present", give: &llm.Request{Messages: []llm.Message{userMsg(standardAsk)},
			Tools: []llm.Tool{{Name: "update_address"}}},
			wantTier: TierStandard, wantRule: "tools"},
		{name: "deep conversation", give: &llm.Request{Messages: deep}, wantTier: TierStandard, wantRule: "deep-conversation"},
		{name: "short message", give: &llm.Request{Messages: []llm.Message{{Role: llm.RoleSystem, Content: "You are a support agent. Analyze carefully."}, userMsg("hi, are you open on sunday?")}},
			wantTier: TierSimple, wantRule: "short-message"},
		{name: "the last user message decides", give: &llm.Request{Messages: []llm.Message{userMsg("analyze this"), {Role: llm.RoleAssistant, Content: "ok"}, userMsg("thanks!")}},
			wantTier: TierSimple, wantRule: "short-message"},
		{name: "no user message", give: &llm.Request{Messages: []llm.Message{{Role: llm.RoleSystem, Content: "x"}}},
			wantTier: TierSimple, wantRule: "short-message"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tier, rule := c.Classify(tt.give)
			if tier != tt.wantTier || rule != tt.wantRule {
				t.Errorf("Classify() = %s, %s, want %s, %s", tier, rule, tt.wantTier, tt.wantRule)
			}
		})
	}
}

func TestCustomRules(t *testing.T) {
	yes, no := true, false
	rules := []Rule{
		{Name: "vip", Tier: TierComplex, Keywords: []string{"VIP"}},
		{Name: "mid-length", Tier: TierStandard, MinTokens: 10, MaxTokens: 20},
		{Name: "tool-less-deep", Tier: TierSimple, Tools: &no, MinDepth: 3, MaxDepth: 4},
		{Name: "tools", Tier: TierComplex, Tools: &yes},
	}
	c, err := NewClassifier(rules, TierSimple)
	if err != nil {
		t.Fatal(err)
	}
	three := []llm.Message{userMsg("a"), {Role: llm.RoleAssistant, Content: "b"}, userMsg("c")}
	tests := []struct {
		name     string
		give     *llm.Request
		wantTier Tier
		wantRule string
	}{
		{name: "keyword lowered on both sides", give: &llm.Request{Messages: []llm.Message{userMsg("i am a vip customer")}}, wantTier: TierComplex, wantRule: "vip"},
		{name: "length counts Chinese characters as tokens", give: &llm.Request{Messages: []llm.Message{userMsg("一二三四五六七八九十")}}, wantTier: TierStandard, wantRule: "mid-length"},
		{name: "below min tokens", give: &llm.Request{Messages: []llm.Message{userMsg("一二三")}}, wantTier: TierSimple, wantRule: RuleDefault},
		{name: "above max tokens", give: &llm.Request{Messages: []llm.Message{userMsg(strings.Repeat("a", 84))}}, wantTier: TierSimple, wantRule: RuleDefault},
		{name: "depth bounds", give: &llm.Request{Messages: three}, wantTier: TierSimple, wantRule: "tool-less-deep"},
		{name: "tools: false excludes tool requests", give: &llm.Request{Messages: three, Tools: []llm.Tool{{Name: "f"}}}, wantTier: TierComplex, wantRule: "tools"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tier, rule := c.Classify(tt.give)
			if tier != tt.wantTier || rule != tt.wantRule {
				t.Errorf("Classify() = %s, %s, want %s, %s", tier, rule, tt.wantTier, tt.wantRule)
			}
		})
	}
}

func TestNewClassifierRejects(t *testing.T) {
	tests := []struct {
		name  string
		rules []Rule
		def   Tier
		want  string
	}{
		{name: "bad default", def: "hard", want: "default tier"},
		{name: "no name", rules: []Rule{{Tier: TierSimple, MaxTokens: 3}}, def: TierSimple, want: "needs a name"},
		{name: "bad tier", rules: []Rule{{Name: "r", Tier: "easy", MaxTokens: 3}}, def: TierSimple, want: "not simple"},
		{name: "no condition", rules: []Rule{{Name: "r", Tier: TierSimple}}, def: TierSimple, want: "no condition"},
		{name: "min above max", rules: []Rule{{Name: "r", Tier: TierSimple, MinTokens: 5, MaxTokens: 3}}, def: TierSimple, want: "below min"},
		{name: "empty keyword", rules: []Rule{{Name: "r", Tier: TierSimple, Keywords: []string{" "}}}, def: TierSimple, want: "empty keyword"},
		{name: "duplicate name", rules: []Rule{{Name: "r", Tier: TierSimple, MaxTokens: 3}, {Name: "r", Tier: TierSimple, MaxTokens: 4}}, def: TierSimple, want: "twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewClassifier(tt.rules, tt.def)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewClassifier() error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}
