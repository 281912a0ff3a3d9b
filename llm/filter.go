package llm

import "context"

type modelFilterKey struct{}

// WithModelFilter returns a context under which routing sends a request
// only to models allow accepts, fallbacks and tiers of virtual models
// included: the door puts a key's model allowlist here, so that a
// fallback chain cannot lead a key to a model it may not use.
func WithModelFilter(ctx context.Context, allow func(model string) bool) context.Context {
	return context.WithValue(ctx, modelFilterKey{}, allow)
}

// ModelFilter returns the filter WithModelFilter put in ctx, or nil when
// every model is allowed.
func ModelFilter(ctx context.Context) func(model string) bool {
	f, _ := ctx.Value(modelFilterKey{}).(func(string) bool)
	return f
}
