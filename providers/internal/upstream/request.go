package upstream

import (
	"errors"
	"fmt"
	"net/url"

	"github.com/llmgateway/llmgateway/llm"
)

// CheckRequest checks what every adapter requires of a request before it
// maps it to its wire format: that there is one, with a model, at least
// one message and a MaxTokens of 0 (the provider's default) or more. Its
// errors say what to fix.
func CheckRequest(req *llm.Request) error {
	if req == nil {
		return errors.New("request is nil")
	}
	if req.Model == "" {
		return errors.New("request has no model")
	}
	if len(req.Messages) == 0 {
		return errors.New("request has no messages")
	}
	if req.MaxTokens < 0 {
		return fmt.Errorf("request MaxTokens is %d, want 0 (the default) or more", req.MaxTokens)
	}
	return nil
}

// ParseAPIRoot parses base, an adapter's Config.BaseURL: an absolute
// http(s) URL without user info or fragment. example is a valid API root,
// named in the errors, which say what to fix.
func ParseAPIRoot(base, example string) (*url.URL, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("BaseURL %q is not an absolute http(s) URL; set it to the API root, such as %s", base, example)
	}
	if u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("BaseURL %q has a fragment or user info; give the API root only, and the key as APIKey", base)
	}
	return u, nil
}
