package pricing

import (
	"strings"

	"github.com/llmgateway/llmgateway/llm"
)

// Source says where the built-in prices come from and when they were
// read.
const Source = "the providers' public pricing pages (openai.com/api/pricing, " +
	"anthropic.com/pricing, ai.google.dev/gemini-api/docs/pricing, " +
	"api-docs.deepseek.com/quick_start/pricing, cohere.com/pricing), " +
	"standard tier, short-context rates, as listed in October 2025"

// table maps lower-case model names to prices. Cached input is the price
// of a prompt-cache read; cache writes are priced only where the provider
// bills them apart (Anthropic's 5-minute cache write).
var table = map[string]llm.Pricing{
	// OpenAI
	"gpt-4.1":      {InputPerMTok: 2.00, CachedInputPerMTok: 0.50, OutputPerMTok: 8.00},
	"gpt-4.1-mini": {InputPerMTok: 0.40, CachedInputPerMTok: 0.10, OutputPerMTok: 1.60},
	"gpt-4.1-nano": {InputPerMTok: 0.10, CachedInputPerMTok: 0.025, OutputPerMTok: 0.40},
	"gpt-4o":       {InputPerMTok: 2.50, CachedInputPerMTok: 1.25, OutputPerMTok: 10.00},
	"gpt-4o-mini":  {InputPerMTok: 0.15, CachedInputPerMTok: 0.075, OutputPerMTok: 0.60},
	"gpt-5":        {InputPerMTok: 1.25, CachedInputPerMTok: 0.125, OutputPerMTok: 10.00},
	"gpt-5-mini":   {InputPerMTok: 0.25, CachedInputPerMTok: 0.025, OutputPerMTok: 2.00},
	"gpt-5-nano":   {InputPerMTok: 0.05, CachedInputPerMTok: 0.005, OutputPerMTok: 0.40},
	"o3":           {InputPerMTok: 2.00, CachedInputPerMTok: 0.50, OutputPerMTok: 8.00},
	"o4-mini":      {InputPerMTok: 1.10, CachedInputPerMTok: 0.275, OutputPerMTok: 4.40},
	// Anthropic
	"claude-sonnet-4.5": {InputPerMTok: 3.00, CachedInputPerMTok: 0.30, CacheWritePerMTok: 3.75, OutputPerMTok: 15.00},
	"claude-sonnet-4":   {InputPerMTok: 3.00, CachedInputPerMTok: 0.30, CacheWritePerMTok: 3.75, OutputPerMTok: 15.00},
	"claude-opus-4.1":   {InputPerMTok: 15.00, CachedInputPerMTok: 1.50, CacheWritePerMTok: 18.75, OutputPerMTok: 75.00},
	"claude-haiku-4.5":  {InputPerMTok: 1.00, CachedInputPerMTok: 0.10, CacheWritePerMTok: 1.25, OutputPerMTok: 5.00},
	"claude-3.5-haiku":  {InputPerMTok: 0.80, CachedInputPerMTok: 0.08, CacheWritePerMTok: 1.00, OutputPerMTok: 4.00},
	// Google
	"gemini-2.5-pro":        {InputPerMTok: 1.25, CachedInputPerMTok: 0.125, OutputPerMTok: 10.00},
	"gemini-2.5-flash":      {InputPerMTok: 0.30, CachedInputPerMTok: 0.03, OutputPerMTok: 2.50},
	"gemini-2.5-flash-lite": {InputPerMTok: 0.10, CachedInputPerMTok: 0.01, OutputPerMTok: 0.40},
	// DeepSeek (V3.2: deepseek-chat and deepseek-reasoner share one price)
	"deepseek-v3.2":     {InputPerMTok: 0.28, CachedInputPerMTok: 0.028, OutputPerMTok: 0.42},
	"deepseek-chat":     {InputPerMTok: 0.28, CachedInputPerMTok: 0.028, OutputPerMTok: 0.42},
	"deepseek-reasoner": {InputPerMTok: 0.28, CachedInputPerMTok: 0.028, OutputPerMTok: 0.42},
	// Cohere
	"command-a-03-2025": {InputPerMTok: 2.50, OutputPerMTok: 10.00},
	"command-r-plus":    {InputPerMTok: 2.50, OutputPerMTok: 10.00},
	"command-r":         {InputPerMTok: 0.15, OutputPerMTok: 0.60},
}

// Lookup returns the built-in price of the model called name, ignoring
// case.
func Lookup(name string) (llm.Pricing, bool) {
	p, ok := table[strings.ToLower(name)]
	return p, ok
}

// Names returns the names of every model with a built-in price.
func Names() []string {
	out := make([]string, 0, len(table))
	for n := range table {
		out = append(out, n)
	}
	return out
}
