package routing

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/llmgateway/llmgateway/llm"
)

// Tier is the class of difficulty a virtual model sorts requests into.
type Tier string

// The tiers, from cheapest to most capable.
const (
	TierSimple   Tier = "simple"
	TierStandard Tier = "standard"
	TierComplex  Tier = "complex"
)

// Tiers returns the tiers, cheapest first.
func Tiers() []Tier { return []Tier{TierSimple, TierStandard, TierComplex} }

func (t Tier) valid() bool { return t == TierSimple || t == TierStandard || t == TierComplex }

// Rule classifies requests that meet all of its conditions into Tier.
// Conditions left at their zero value do not apply; a rule needs at least
// one.
//
// The text a rule looks at is the content of the request's last user
// message; its length is measured in estimated tokens (llm.EstimateTokens:
// about four characters of English, one character of Chinese), so that
// one bound means the same amount of content in either language.
// Depth is the number of messages other than system and developer ones.
type Rule struct {
	// Name identifies the rule in route traces.
	Name string
	Tier Tier
	// Keywords match when any of them occurs anywhere in the text,
	// ignoring case: real substring matching, so 翻译 matches inside
	// 请帮我翻译这段话 and "summar" matches "summarize" and "summary".
	Keywords []string
	// MinTokens and MaxTokens bound the text's length in estimated
	// tokens; 0 means no bound.
	MinTokens, MaxTokens int
	// Tools, when set, requires the request to offer tools (true) or not
	// (false).
	Tools *bool
	// MinDepth and MaxDepth bound the conversation's depth; 0 means no
	// bound.
	MinDepth, MaxDepth int
}

func (r *Rule) validate() error {
	switch {
	case r.Name == "":
		return errors.New("a rule needs a name")
	case !r.Tier.valid():
		return fmt.Errorf("rule %q: tier %q is not simple, standard or complex", r.Name, r.Tier)
	case r.MinTokens < 0 || r.MaxTokens < 0 || r.MinDepth < 0 || r.MaxDepth < 0:
		return fmt.Errorf("rule %q: bounds must be >= 0", r.Name)
	case r.MaxTokens > 0 && r.MaxTokens < r.MinTokens:
		return fmt.Errorf("rule %q: max tokens %d is below min tokens %d", r.Name, r.MaxTokens, r.MinTokens)
	case r.MaxDepth > 0 && r.MaxDepth < r.MinDepth:
		return fmt.Errorf("rule %q: max depth %d is below min depth %d", r.Name, r.MaxDepth, r.MinDepth)
	case len(r.Keywords) == 0 && r.MinTokens == 0 && r.MaxTokens == 0 && r.Tools == nil && r.MinDepth == 0 && r.MaxDepth == 0:
		return fmt.Errorf("rule %q has no condition", r.Name)
	}
	for _, k := range r.Keywords {
		if strings.TrimSpace(k) == "" {
			return fmt.Errorf("rule %q: empty keyword", r.Name)
		}
	}
	return nil
}

// DefaultRules returns the rules a virtual model uses when it configures
// none, tuned for customer-service traffic. In order, the first that
// matches decides:
//
//   - complex-keywords: analysis, reasoning, code or architecture (分析,
//     推理, 代码, 架构, "analyze", "step by step", "debug", ...) -> complex
//   - long-input: 1,000 tokens or more (about 4,000 characters of
//     English) -> complex
//   - simple-keywords: look-ups, translation, summaries, extraction
//     (查询, 翻译, 总结, 提取, "order status", "translate", "summar",
//     "extract", ...) in under 1,000 tokens -> simple
//   - tools: the request offers tools -> standard
//   - deep-conversation: 10 messages or more -> standard
//   - short-message: under 40 tokens (about 160 characters of English,
//     40 of Chinese), 3 messages or fewer -> simple
//
// A request no rule matches gets the virtual model's default tier.
func DefaultRules() []Rule {
	yes := true
	return []Rule{
		{Name: "complex-keywords", Tier: TierComplex, Keywords: []string{
			"分析", "推理", "代码", "架构", "设计方案", "算法", "调试", "编程", "重构", "证明", "优化方案",
			"analyze", "analyse", "analysis", "reasoning", "step by step", "step-by-step",
			"architecture", "algorithm", "debug", "refactor", "source code", "write code",
			"code review", "stack trace", "proof", "optimize", "optimise", "trade-off", "tradeoff",
		}},
		{Name: "long-input", Tier: TierComplex, MinTokens: 1000},
		{Name: "simple-keywords", Tier: TierSimple, MaxTokens: 999, Keywords: []string{
			"查询", "翻译", "总结", "提取", "订单", "物流", "快递", "退款", "退货", "发货",
			"look up", "lookup", "order status", "where is my order", "tracking", "track my",
			"translate", "translation", "summar", "extract", "refund", "return policy",
			"reset my password", "opening hours", "shipping",
		}},
		{Name: "tools", Tier: TierStandard, Tools: &yes},
		{Name: "deep-conversation", Tier: TierStandard, MinDepth: 10},
		{Name: "short-message", Tier: TierSimple, MaxTokens: 39, MaxDepth: 3},
	}
}

// Classifier sorts requests into tiers by the first matching rule.
type Classifier struct {
	rules []Rule
	def   Tier
	kw    keywordIndex
}

// NewClassifier returns a classifier applying rules in order, and def to
// requests none matches.
func NewClassifier(rules []Rule, def Tier) (*Classifier, error) {
	if !def.valid() {
		return nil, fmt.Errorf("default tier %q is not simple, standard or complex", def)
	}
	c := &Classifier{def: def, rules: make([]Rule, len(rules))}
	names := make(map[string]bool, len(rules))
	for i, r := range rules {
		if err := r.validate(); err != nil {
			return nil, err
		}
		if names[r.Name] {
			return nil, fmt.Errorf("rule name %q is used twice", r.Name)
		}
		names[r.Name] = true
		r.Keywords = append([]string(nil), r.Keywords...)
		for _, k := range r.Keywords {
			c.kw.add(strings.ToLower(k), i)
		}
		if r.Tools != nil {
			t := *r.Tools
			r.Tools = &t
		}
		c.rules[i] = r
	}
	return c, nil
}

// RuleDefault is the rule reported when no rule matched.
const RuleDefault = "default"

// Classify returns the tier of req and the name of the rule that decided
// it (RuleDefault when none matched).
func (c *Classifier) Classify(req *llm.Request) (Tier, string) {
	var text string
	depth := 0
	for i := range req.Messages {
		switch req.Messages[i].Role {
		case llm.RoleSystem, llm.RoleDeveloper:
			continue
		case llm.RoleUser:
			text = req.Messages[i].Content
		}
		depth++
	}
	tokens := int(llm.EstimateTokens(text))
	tools := len(req.Tools) > 0
	var buf [64]bool
	var matched []bool // by rule: a keyword of it occurs in text
	for i := range c.rules {
		r := &c.rules[i]
		if r.MinTokens > 0 && tokens < r.MinTokens || r.MaxTokens > 0 && tokens > r.MaxTokens ||
			r.MinDepth > 0 && depth < r.MinDepth || r.MaxDepth > 0 && depth > r.MaxDepth ||
			r.Tools != nil && *r.Tools != tools {
			continue
		}
		if len(r.Keywords) > 0 {
			if matched == nil {
				matched = buf[:0]
				if len(c.rules) > len(buf) {
					matched = make([]bool, 0, len(c.rules))
				}
				matched = matched[:len(c.rules)]
				c.kw.scan(text, matched)
			}
			if !matched[i] {
				continue
			}
		}
		return r.Tier, r.Name
	}
	return c.def, RuleDefault
}

// keywordIndex finds which rules' keywords occur in a text in one pass,
// ignoring case: at each byte it checks only the keywords that start with
// that byte, and only when some keyword starts with that byte and the
// next.
type keywordIndex struct {
	byFirst [256][]keyword
	pairs   [1 << 16 / 64]uint64 // bit c0<<8|c1 set: a keyword starts with c0 c1
	singles [256]bool            // a one-byte keyword is this byte
	fold    [256]byte            // ASCII letters lowered
}

type keyword struct {
	text string // lowered
	rule int
}

func (ix *keywordIndex) add(k string, rule int) {
	if ix.fold['A'] == 0 {
		for i := range ix.fold {
			ix.fold[i] = lowerASCII(byte(i))
		}
	}
	ix.byFirst[k[0]] = append(ix.byFirst[k[0]], keyword{text: k, rule: rule})
	if len(k) == 1 {
		ix.singles[k[0]] = true
		return
	}
	bit := uint(k[0])<<8 | uint(k[1])
	ix.pairs[bit>>6] |= 1 << (bit & 63)
}

// scan sets matched[rule] for every rule with a keyword in text.
func (ix *keywordIndex) scan(text string, matched []bool) {
	for i := 0; i < len(text); i++ {
		if text[i] >= utf8.RuneSelf {
			// Letters outside ASCII may have case: lower them properly
			// (ToLower allocates only when something changes).
			text = strings.ToLower(text)
			break
		}
	}
	for p := 0; p < len(text); p++ {
		c0 := ix.fold[text[p]]
		if !ix.singles[c0] {
			if p+1 == len(text) {
				break
			}
			bit := uint(c0)<<8 | uint(ix.fold[text[p+1]])
			if ix.pairs[bit>>6]&(1<<(bit&63)) == 0 {
				continue
			}
		}
		for _, k := range ix.byFirst[c0] {
			if !matched[k.rule] && hasLowerPrefix(text[p:], k.text) {
				matched[k.rule] = true
			}
		}
	}
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// hasLowerPrefix reports whether s, with ASCII letters lowered, starts
// with the lowered keyword k.
func hasLowerPrefix(s, k string) bool {
	if len(s) < len(k) {
		return false
	}
	for i := 1; i < len(k); i++ {
		if lowerASCII(s[i]) != k[i] {
			return false
		}
	}
	return true
}
