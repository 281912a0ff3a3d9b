package config

import (
	_ "embed"
	"errors"
	"fmt"
	"os"
	"strings"
)

//go:embed default.yaml
var defaultYAML []byte

// ErrMissingAPIKey is returned by Provider.APIKey when the environment
// variable the provider names is unset or empty.
var ErrMissingAPIKey = errors.New("api key missing")

// Option adjusts how a config is read.
type Option func(*options)

type options struct {
	lookupEnv func(string) (string, bool)
}

func defaultOptions() options {
	return options{lookupEnv: os.LookupEnv}
}

// WithLookupEnv makes ${NAME} references read variables through lookup
// instead of os.LookupEnv. lookup reports whether the variable is set, as
// os.LookupEnv does.
func WithLookupEnv(lookup func(name string) (string, bool)) Option {
	return func(o *options) {
		if lookup != nil {
			o.lookupEnv = lookup
		}
	}
}

// Load reads, validates and completes the config file at path. Problems
// with the file's content are returned as a *ValidationError.
func Load(path string, opts ...Option) (*Config, error) {
	if path == "" {
		return nil, errors.New("loading config: no file path given")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("loading config: %w", err)
	}
	cfg, err := Parse(data, opts...)
	if err != nil {
		return nil, fmt.Errorf("loading config %s: %w", path, err)
	}
	return cfg, nil
}

// Parse reads, validates and completes a config from YAML text. Problems
// with the text are returned as a *ValidationError.
func Parse(data []byte, opts ...Option) (*Config, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	expanded, err := expandEnv(data, o.lookupEnv)
	if err != nil {
		return nil, err
	}
	cfg, root, err := decode(expanded)
	if err != nil {
		return nil, err
	}
	v := &validator{root: root}
	v.config(cfg)
	if len(v.errs) > 0 {
		return nil, &ValidationError{Errors: v.errs}
	}
	applyDefaults(cfg, root)
	return cfg, nil
}

// Default returns the embedded default config (default.yaml): the gateway
// on simulated providers only, for a machine with no API keys and no
// network. opts apply as for Parse.
func Default(opts ...Option) (*Config, error) {
	cfg, err := Parse(defaultYAML, opts...)
	if err != nil {
		return nil, fmt.Errorf("embedded default config: %w", err)
	}
	return cfg, nil
}

// DefaultYAML returns a copy of the embedded default config's text, the
// commented example to start a config file from.
func DefaultYAML() []byte {
	return append([]byte(nil), defaultYAML...)
}

// APIKey returns the API key of p, read from the environment variable its
// APIKeyEnv names, through lookup (os.LookupEnv when nil), with surrounding
// white space removed. It returns ""
// when p names no variable, and an error wrapping ErrMissingAPIKey, naming
// the variable, when the variable is unset or empty.
func (p *Provider) APIKey(lookup func(name string) (string, bool)) (string, error) {
	if p.APIKeyEnv == "" {
		return "", nil
	}
	if lookup == nil {
		lookup = os.LookupEnv
	}
	v, ok := lookup(p.APIKeyEnv)
	v = strings.TrimSpace(v)
	switch {
	case !ok:
		return "", fmt.Errorf("provider %s: environment variable %s (its api_key_env) is not set: %w", p.Name, p.APIKeyEnv, ErrMissingAPIKey)
	case v == "":
		return "", fmt.Errorf("provider %s: environment variable %s (its api_key_env) is empty: %w", p.Name, p.APIKeyEnv, ErrMissingAPIKey)
	}
	return v, nil
}
