package gemini

import "github.com/llmgateway/llmgateway/routing"

var _ routing.Provider = (*Client)(nil)
