package config

import (
	"strings"
	"time"

	"github.com/llmgateway/llmgateway/llm"
)

// Config is the gateway's configuration: one YAML document with the
// top-level keys below. A new section is a new field here, a validation
// method in validate.go and, where it has any, defaults in defaults.go.
type Config struct {
	// Server configures the listeners (YAML key server).
	Server Server `yaml:"server"`
	// Providers are the upstream APIs the gateway can call (YAML key
	// providers). At least one is required.
	Providers []Provider `yaml:"providers"`
	// Models are the models callers can name, each served by one or more
	// deployments on the providers (YAML key models). At least one is
	// required.
	Models []Model `yaml:"models"`
	// Routing configures strategies, fallback chains, retries, breakers
	// and hedging (YAML key routing); see routing.go. Default: see each
	// field.
	Routing Routing `yaml:"routing"`
	// Keys are the virtual API keys callers present (YAML key keys); see
	// door.go. Default: none, and the gateway runs open.
	Keys []Key `yaml:"keys"`
	// Ledger configures the persisted usage ledger (YAML key ledger); see
	// door.go. Default: see each field.
	Ledger Ledger `yaml:"ledger"`
	// State selects where limits, budgets and cool-downs are kept (YAML
	// key state); see door.go. Default: see each field.
	State State `yaml:"state"`
	// Telemetry configures metrics, traces and logs (YAML key telemetry);
	// see telemetry.go. Default: see each field.
	Telemetry Telemetry `yaml:"telemetry"`
}

// Server configures the gateway's two listeners and their limits.
type Server struct {
	// GRPCAddr is the host:port the gRPC service listens on (YAML key
	// grpc_addr). An empty host listens on every interface; port 0 picks
	// a free port. Default: ":9090".
	GRPCAddr string `yaml:"grpc_addr"`
	// HTTPAddr is the host:port of the REST and OpenAI-compatible HTTP
	// surface (YAML key http_addr). It must differ from GRPCAddr.
	// Default: ":8080".
	HTTPAddr string `yaml:"http_addr"`
	// DrainTimeout is how long a graceful shutdown waits for in-flight
	// requests and streams before cutting them off (YAML key
	// drain_timeout). Must be > 0. Default: 30s.
	DrainTimeout time.Duration `yaml:"drain_timeout"`
	// MaxRequestBytes bounds the size of one request body or message
	// (YAML key max_request_bytes); a bigger one is refused with
	// ResourceExhausted (HTTP 413). Must be > 0. Default: 4194304 (4 MiB).
	MaxRequestBytes int64 `yaml:"max_request_bytes"`
	// MaxInFlight caps the requests in flight on the whole gateway, over
	// every surface (YAML key max_in_flight): a request over the cap is
	// refused at once with Unavailable (HTTP 503) and a Retry-After of 1s,
	// instead of queueing. gRPC health checks and reflection are never
	// refused. Reloadable, with one caveat: the HTTP surfaces' pool of
	// connections to the gRPC listener is sized at start, so a reload
	// that raises the cap past the next multiple of
	// max_concurrent_streams reaches the HTTP surfaces only at the next
	// restart. Must be > 0. Default: 4096.
	MaxInFlight int `yaml:"max_in_flight"`
	// MaxConcurrentStreams caps the calls open at once on one gRPC
	// connection (YAML key max_concurrent_streams, HTTP/2
	// SETTINGS_MAX_CONCURRENT_STREAMS); a client over it waits on its side
	// for one of its calls to end. The HTTP surfaces' own connections to
	// the gRPC listener are pooled so that they never wait on it. Must be
	// > 0. Default: 1024.
	MaxConcurrentStreams int `yaml:"max_concurrent_streams"`
	// Keepalive sets the gRPC listener's keepalive pings and connection
	// lifetimes (YAML key keepalive). Default: see each field.
	Keepalive Keepalive `yaml:"keepalive"`
	// HTTP sets the HTTP listener's timeouts and header limit (YAML key
	// http). Default: see each field.
	HTTP HTTPLimits `yaml:"http"`
	// TLS serves both listeners over TLS, optionally requiring client
	// certificates (YAML key tls). Default: off, plain text.
	TLS TLS `yaml:"tls"`
}

// Keepalive configures gRPC keepalive: how often clients may ping, and when
// the server pings or closes connections.
type Keepalive struct {
	// MinTime is the shortest interval at which a client may send
	// keepalive pings (YAML key min_time); a client that pings more often
	// is disconnected (GOAWAY "too_many_pings"). Must be > 0. Default: 10s.
	MinTime time.Duration `yaml:"min_time"`
	// PermitWithoutStream lets clients ping while they have no call open
	// (YAML key permit_without_stream). Default: false; such pings count
	// as too many.
	PermitWithoutStream bool `yaml:"permit_without_stream"`
	// MaxConnectionIdle closes, gracefully, a connection that has had no
	// call open for this long (YAML key max_connection_idle); clients
	// reconnect when they next call. Must be >= 0. Default: 0, never.
	MaxConnectionIdle time.Duration `yaml:"max_connection_idle"`
	// MaxConnectionAge closes, gracefully, a connection this old, give or
	// take 10% (YAML key max_connection_age), so that clients behind a
	// layer-4 load balancer spread over new replicas. Calls in flight on
	// it are never cut, however long they stream. Must be >= 0. Default:
	// 0, never.
	MaxConnectionAge time.Duration `yaml:"max_connection_age"`
	// Time is how long a connection may be silent before the server pings
	// the client to check it is still there (YAML key time). Must be at
	// least 1s. Default: 2h.
	Time time.Duration `yaml:"time"`
	// Timeout is how long the server waits for the answer to its ping
	// before it closes the connection (YAML key timeout). Must be > 0.
	// Default: 20s.
	Timeout time.Duration `yaml:"timeout"`
}

// HTTPLimits bounds what a client of the HTTP listener may hold: slow
// headers and bodies (slowloris), idle connections and large headers.
type HTTPLimits struct {
	// ReadHeaderTimeout is how long a client may take to send a request's
	// headers (YAML key read_header_timeout); a slower one is cut off.
	// Must be > 0. Default: 10s.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// ReadTimeout is how long a client may take to send a request's body,
	// counted from the end of its headers (YAML key read_timeout). Once
	// the body is read it no longer applies, so a long stream back to the
	// client is not cut. Must be > 0. Default: 60s.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout bounds the time to answer a request on the routes that
	// never stream (YAML key write_timeout): everything but
	// /api/v1/chat:stream and /v1/chat/completions, whose streams may
	// last as long as the model writes. Set it above the longest unary
	// chat (provider timeouts times retries). Must be >= 0. Default: 0,
	// none.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// IdleTimeout closes a kept-alive connection that carries no request
	// for this long (YAML key idle_timeout). Must be > 0. Default: 120s.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxHeaderBytes bounds the size of a request's headers (YAML key
	// max_header_bytes); a bigger one gets 431. gRPC metadata is bounded
	// to the same size plus 64 KiB. Must be > 0. Default: 1048576 (1 MiB).
	MaxHeaderBytes int `yaml:"max_header_bytes"`
}

// TLS configures TLS on both listeners. The files are read at start and
// again at every config reload, so that a renewed certificate is served
// without a restart; turning TLS on or off needs a restart.
type TLS struct {
	// CertFile is the PEM file of the server certificate, followed by any
	// intermediates (YAML key cert_file). Required with KeyFile. Default:
	// none, TLS off.
	CertFile string `yaml:"cert_file"`
	// KeyFile is the PEM file of the certificate's private key (YAML key
	// key_file). Required with CertFile. Default: none.
	KeyFile string `yaml:"key_file"`
	// ClientCAFile is a PEM file of the CA certificates that sign client
	// certificates (YAML key client_ca_file). When set, both listeners
	// require and verify a client certificate (mTLS); it needs CertFile.
	// Default: none, no client certificate asked for.
	ClientCAFile string `yaml:"client_ca_file"`
}

// Enabled reports whether the listeners serve TLS.
func (t *TLS) Enabled() bool { return t.CertFile != "" }

// MutualTLS reports whether the listeners require client certificates.
func (t *TLS) MutualTLS() bool { return t.Enabled() && t.ClientCAFile != "" }

// ProviderType names the API family a provider speaks, which selects its
// adapter.
type ProviderType string

// The provider types.
const (
	// TypeOpenAI is the OpenAI Chat Completions API, also spoken by many
	// OpenAI-compatible servers (vLLM, Ollama, LM Studio, OpenRouter).
	TypeOpenAI ProviderType = "openai"
	// TypeSimulator is the built-in simulated provider: no network, with
	// configurable latency, throughput and faults.
	TypeSimulator ProviderType = "simulator"
	// TypeAnthropic is the Anthropic Messages API.
	TypeAnthropic ProviderType = "anthropic"
	// TypeGemini is the Google Gemini API (generativelanguage).
	TypeGemini ProviderType = "gemini"
	// TypeAzure is Azure OpenAI: the OpenAI API on an Azure resource, with
	// deployments in the URL and an api-version query parameter.
	TypeAzure ProviderType = "azure"
	// TypeCohere is the Cohere Chat API (v2).
	TypeCohere ProviderType = "cohere"
)

// ProviderTypes returns every provider type, in the order the
// documentation lists them.
func ProviderTypes() []ProviderType {
	return []ProviderType{TypeOpenAI, TypeSimulator, TypeAnthropic, TypeGemini, TypeAzure, TypeCohere}
}

// DefaultBaseURL returns the base URL a provider of type t uses when the
// file gives none, or "" when t has none (azure needs the resource's own
// endpoint; the simulator has no URL).
func DefaultBaseURL(t ProviderType) string {
	switch t {
	case TypeOpenAI:
		return "https://api.openai.com/v1"
	case TypeAnthropic:
		return "https://api.anthropic.com"
	case TypeGemini:
		return "https://generativelanguage.googleapis.com"
	case TypeCohere:
		return "https://api.cohere.com"
	}
	return ""
}

// Provider is one upstream API account: where to reach it and how to
// authenticate. Deployments in Models refer to it by Name.
type Provider struct {
	// Name identifies the provider in deployments, logs and metrics (YAML
	// key name). Required, unique, and made of lowercase letters, digits
	// and _ . - (starting with a letter or digit).
	Name string `yaml:"name"`
	// Type selects the API family (YAML key type): openai, simulator,
	// anthropic, gemini, azure or cohere. Required.
	Type ProviderType `yaml:"type"`
	// BaseURL is the absolute http or https URL the API paths are appended
	// to (YAML key base_url), without query or fragment; trailing slashes
	// are removed. Required for azure (the resource endpoint, like
	// https://my-resource.openai.azure.com); not allowed for simulator.
	// Default: per type, see DefaultBaseURL (openai
	// https://api.openai.com/v1, anthropic https://api.anthropic.com,
	// gemini https://generativelanguage.googleapis.com, cohere
	// https://api.cohere.com).
	BaseURL string `yaml:"base_url"`
	// APIKeyEnv is the name of the environment variable that holds the API
	// key (YAML key api_key_env); keys never sit in the file. Use APIKey
	// to read it. Default: none, for servers that need no key (a local
	// Ollama). Not allowed for simulator.
	APIKeyEnv string `yaml:"api_key_env"`
	// Headers are extra HTTP headers sent with every request (YAML key
	// headers), such as OpenRouter's X-Title. A value may come from the
	// environment with ${NAME}; treat the values as secrets. Not allowed
	// for simulator. Default: none.
	Headers map[string]string `yaml:"headers"`
	// Timeout bounds one attempt against this provider, from sending the
	// request to the end of the response (YAML key timeout). A
	// deployment's own Timeout takes precedence. Must be > 0. Default: 60s.
	Timeout time.Duration `yaml:"timeout"`
	// APIVersion is Azure OpenAI's api-version (YAML key api_version),
	// like "2024-10-21". Required for azure; not allowed for other types.
	APIVersion string `yaml:"api_version"`
	// DefaultMaxTokens is the output limit sent when a request sets none
	// (YAML key default_max_tokens). Must be > 0. Default: 4096 for
	// anthropic, whose API requires a limit; none (the provider's own
	// default) for the other types.
	DefaultMaxTokens int `yaml:"default_max_tokens"`
	// Models maps a gateway model name (the Name of an entry in the
	// top-level models, not an alias) to this provider's name for it
	// (YAML key models), for deployments that give no model of their own.
	// Default: none; the gateway's name is used as is.
	Models map[string]string `yaml:"models"`
	// CAFile is a PEM file of CA certificates trusted for this provider's
	// TLS connections, besides the system's roots (YAML key ca_file): for
	// self-hosted upstreams behind a private CA. It is read at start and
	// on every reload. Needs an https base_url; not allowed for
	// simulator. Default: none, the system's roots only.
	CAFile string `yaml:"ca_file"`
	// Simulator configures a simulator provider (YAML key simulator). Only
	// allowed for type simulator. After loading it is non-nil for every
	// simulator provider and nil for the others. Default: no delays and no
	// faults.
	Simulator *Simulator `yaml:"simulator"`
}

// Simulator configures the built-in simulated provider: how fast it
// answers and which faults it injects. Each rate is the probability, in
// [0, 1], that a request meets that fault.
type Simulator struct {
	// TokensPerSecond is the pace of streamed output tokens (YAML key
	// tokens_per_second). Must be >= 0. Default: 0, no delay between
	// tokens.
	TokensPerSecond float64 `yaml:"tokens_per_second"`
	// Latency is the time to the first token (YAML key latency). Default:
	// none.
	Latency Latency `yaml:"latency"`
	// ErrorRate is the rate of HTTP 500 server errors (YAML key
	// error_rate). Default: 0.
	ErrorRate float64 `yaml:"error_rate"`
	// RateLimitRate is the rate of HTTP 429 rate-limit errors (YAML key
	// rate_limit_rate). Default: 0.
	RateLimitRate float64 `yaml:"rate_limit_rate"`
	// RetryAfter is the Retry-After that simulated 429 and 503 answers
	// carry (YAML key retry_after); 0 sends none. Must be >= 0. Default: 1s.
	RetryAfter time.Duration `yaml:"retry_after"`
	// OverloadRate is the rate of HTTP 503 overloaded errors (YAML key
	// overload_rate). Default: 0.
	OverloadRate float64 `yaml:"overload_rate"`
	// TimeoutRate is the rate of requests that never answer until the
	// attempt's deadline (YAML key timeout_rate). Default: 0.
	TimeoutRate float64 `yaml:"timeout_rate"`
	// CutRate is the rate of streams cut off midway (YAML key cut_rate).
	// Default: 0.
	CutRate float64 `yaml:"cut_rate"`
	// SlowFactor multiplies every simulated delay, both time to first token
	// and time between tokens (YAML key slow_factor): 2 makes the provider
	// twice as slow. Must be > 0. Default: 1.
	SlowFactor float64 `yaml:"slow_factor"`
	// Seed seeds the simulator's random source, so that latencies and
	// faults repeat from run to run (YAML key seed). Default: 1.
	Seed int64 `yaml:"seed"`
}

// Latency is a lognormal distribution of delays given by two of its
// percentiles.
type Latency struct {
	// P50 is the median delay (YAML key p50). Must be >= 0. Default: 0.
	P50 time.Duration `yaml:"p50"`
	// P99 is the 99th-percentile delay (YAML key p99). It needs P50 and
	// must be >= P50. Default: P50, a constant delay.
	P99 time.Duration `yaml:"p99"`
}

// Model is a model callers can name, served by one or more deployments.
type Model struct {
	// Name is what callers send as the model (YAML key name). Required,
	// without spaces, and unique among the names and aliases of all models,
	// ignoring case. "auto" is reserved for routing.
	Name string `yaml:"name"`
	// Aliases are other names callers may use for this model (YAML key
	// aliases), under the same rules as Name. Default: none.
	Aliases []string `yaml:"aliases"`
	// Deployments are the providers that serve the model (YAML key
	// deployments). At least one is required, and at least one must have
	// a weight above 0.
	Deployments []Deployment `yaml:"deployments"`
	// Pricing is the model's price (YAML key pricing), used for cost
	// accounting. A pricing block replaces the built-in price whole.
	// Default: the built-in price (package pricing) of the model's name or
	// an alias; a model with neither is counted at cost 0, with a warning
	// at start.
	Pricing Pricing `yaml:"pricing"`
}

// Names returns the model's name followed by its aliases.
func (m *Model) Names() []string {
	return append([]string{m.Name}, m.Aliases...)
}

// Deployment is one model served by one provider.
type Deployment struct {
	// Provider is the Name of the provider that serves the deployment
	// (YAML key provider). Required.
	Provider string `yaml:"provider"`
	// Model is the provider's name for the model (YAML key model).
	// Default: the provider's Models entry for the model's Name, else the
	// model's Name.
	Model string `yaml:"model"`
	// Weight is the deployment's share of traffic among deployments of the
	// same priority (YAML key weight). 0 keeps it out of weighted
	// selection unless nothing else is left. Must be >= 0. Default: 1.
	Weight int `yaml:"weight"`
	// Priority orders deployments: lower is tried first, higher ones are
	// failover (YAML key priority). Default: 0.
	Priority int `yaml:"priority"`
	// Timeout bounds one attempt on this deployment (YAML key timeout).
	// Must be > 0. Default: none, the provider's Timeout applies.
	Timeout time.Duration `yaml:"timeout"`
}

// Pricing is a model's price in US dollars per million tokens. Every price
// must be >= 0. A zero price for cached input, cache writes or reasoning
// bills those tokens at the input or output price (see llm.Pricing).
type Pricing struct {
	// InputPerMTok is the price of input tokens (YAML key input_per_mtok).
	// Default: 0.
	InputPerMTok float64 `yaml:"input_per_mtok"`
	// OutputPerMTok is the price of output tokens (YAML key
	// output_per_mtok). Default: 0.
	OutputPerMTok float64 `yaml:"output_per_mtok"`
	// CachedInputPerMTok is the price of input tokens read from the
	// provider's prompt cache (YAML key cached_input_per_mtok). Default: 0,
	// the input price.
	CachedInputPerMTok float64 `yaml:"cached_input_per_mtok"`
	// CacheWritePerMTok is the price of input tokens written to the prompt
	// cache (YAML key cache_write_per_mtok). Default: 0, the input price.
	CacheWritePerMTok float64 `yaml:"cache_write_per_mtok"`
	// ReasoningPerMTok is the price of reasoning tokens (YAML key
	// reasoning_per_mtok). Default: 0, the output price.
	ReasoningPerMTok float64 `yaml:"reasoning_per_mtok"`
}

// LLM returns p as the domain type that computes costs.
func (p Pricing) LLM() llm.Pricing {
	return llm.Pricing{
		InputPerMTok:       p.InputPerMTok,
		OutputPerMTok:      p.OutputPerMTok,
		CachedInputPerMTok: p.CachedInputPerMTok,
		CacheWritePerMTok:  p.CacheWritePerMTok,
		ReasoningPerMTok:   p.ReasoningPerMTok,
	}
}

// ProviderByName returns the provider called name.
func (c *Config) ProviderByName(name string) (*Provider, bool) {
	for i := range c.Providers {
		if c.Providers[i].Name == name {
			return &c.Providers[i], true
		}
	}
	return nil, false
}

// ModelByName returns the model that name denotes, by its name or one of
// its aliases, ignoring case as the router does.
func (c *Config) ModelByName(name string) (*Model, bool) {
	for i := range c.Models {
		for _, n := range c.Models[i].Names() {
			if strings.EqualFold(n, name) {
				return &c.Models[i], true
			}
		}
	}
	return nil, false
}
