package openai_test

import (
	"github.com/llmgateway/llmgateway/providers/openai"
	"github.com/llmgateway/llmgateway/routing"
)

// The guard lives in a test file: providers import llm only, never the
// routing package that consumes them.
var _ routing.Provider = (*openai.Client)(nil)
