package azure

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/llmgateway/llmgateway/providers/openai"
)

// Config holds the settings of a Client.
type Config struct {
	// Name names the provider in errors and logs. Required.
	Name string
	// Endpoint is the resource endpoint, such as
	// https://my-resource.openai.azure.com. Required.
	Endpoint string
	// APIVersion is the api-version query parameter, such as
	// "2024-10-21". Required.
	APIVersion string
	// APIKey is sent in the api-key header. Default "": no key header (for
	// a proxy that adds its own credentials).
	APIKey string
	// Headers are extra headers sent with every request. Default none.
	Headers map[string]string
	// Timeout bounds an attempt as in openai.Config. Default 0: only the
	// context bounds the call.
	Timeout time.Duration
}

// Client is an Azure OpenAI client. It implements the router's Provider
// interface through the embedded openai.Client.
type Client struct {
	*openai.Client
}

// Option configures a Client.
type Option func(*options)

type options struct {
	httpClient *http.Client
}

// WithHTTPClient sets the HTTP client. Default: openai's tuned client.
func WithHTTPClient(hc *http.Client) Option { return func(o *options) { o.httpClient = hc } }

// New returns a Client for cfg.
func New(cfg Config, opts ...Option) (*Client, error) {
	if cfg.Name == "" {
		return nil, errors.New("azure: Name is required")
	}
	if cfg.APIVersion == "" {
		return nil, fmt.Errorf("azure %s: APIVersion is required (e.g. \"2024-10-21\")", cfg.Name)
	}
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("azure %s: Endpoint must be an absolute http(s) URL like https://NAME.openai.azure.com, got %q", cfg.Name, cfg.Endpoint)
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	root := strings.TrimRight(cfg.Endpoint, "/")
	version := url.QueryEscape(cfg.APIVersion)
	endpoint := func(deployment string) string {
		return root + "/openai/deployments/" + url.PathEscape(deployment) + "/chat/completions?api-version=" + version
	}
	oopts := []openai.Option{openai.WithEndpoint(endpoint), openai.WithAuthHeader("api-key", ""), openai.WithOmitModel()}
	if o.httpClient != nil {
		oopts = append(oopts, openai.WithHTTPClient(o.httpClient))
	}
	c, err := openai.New(openai.Config{Name: cfg.Name, APIKey: cfg.APIKey, Headers: cfg.Headers, Timeout: cfg.Timeout}, oopts...)
	if err != nil {
		return nil, fmt.Errorf("azure: %w", err)
	}
	return &Client{Client: c}, nil
}
