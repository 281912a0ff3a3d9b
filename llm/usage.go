package llm

// Usage counts the tokens of one response.
//
// PromptTokens counts every input token, including CachedTokens (read from
// the provider's prompt cache) and CacheWriteTokens (written to it).
// CompletionTokens counts every output token, including ReasoningTokens.
// Adapters for providers that report these apart (Anthropic's input_tokens
// excludes cache reads and writes) add them up to this convention.
type Usage struct {
	PromptTokens     int64
	CompletionTokens int64
	CachedTokens     int64
	CacheWriteTokens int64
	ReasoningTokens  int64
}

// Total returns PromptTokens + CompletionTokens.
func (u Usage) Total() int64 { return u.PromptTokens + u.CompletionTokens }

// Add returns u + v, field by field.
func (u Usage) Add(v Usage) Usage {
	return Usage{
		PromptTokens:     u.PromptTokens + v.PromptTokens,
		CompletionTokens: u.CompletionTokens + v.CompletionTokens,
		CachedTokens:     u.CachedTokens + v.CachedTokens,
		CacheWriteTokens: u.CacheWriteTokens + v.CacheWriteTokens,
		ReasoningTokens:  u.ReasoningTokens + v.ReasoningTokens,
	}
}

// Pricing is a model's price in US dollars per million tokens. A zero price
// for cached input, cache writes or reasoning means those tokens are billed
// at the input or output price respectively.
type Pricing struct {
	InputPerMTok       float64
	OutputPerMTok      float64
	CachedInputPerMTok float64
	CacheWritePerMTok  float64
	ReasoningPerMTok   float64
}

// IsZero reports whether no price is set.
func (p Pricing) IsZero() bool { return p == Pricing{} }

// Cost returns the price of u in US dollars:
//
//	plain input × input + cached × cached-input + cache writes × cache-write
//	+ plain output × output + reasoning × reasoning
//
// where plain input excludes cached and cache-write tokens, so that cached
// tokens are never also billed as plain input, and plain output excludes
// reasoning tokens only when reasoning has a price of its own.
func (p Pricing) Cost(u Usage) float64 {
	cachedPrice := p.CachedInputPerMTok
	if cachedPrice == 0 {
		cachedPrice = p.InputPerMTok
	}
	writePrice := p.CacheWritePerMTok
	if writePrice == 0 {
		writePrice = p.InputPerMTok
	}
	plainIn := u.PromptTokens - u.CachedTokens - u.CacheWriteTokens
	if plainIn < 0 {
		plainIn = 0
	}
	out := u.CompletionTokens
	var reasoning float64
	if p.ReasoningPerMTok != 0 {
		out -= u.ReasoningTokens
		if out < 0 {
			out = 0
		}
		reasoning = float64(u.ReasoningTokens) * p.ReasoningPerMTok
	}
	micro := float64(plainIn)*p.InputPerMTok +
		float64(u.CachedTokens)*cachedPrice +
		float64(u.CacheWriteTokens)*writePrice +
		float64(out)*p.OutputPerMTok +
		reasoning
	return micro / 1e6
}
