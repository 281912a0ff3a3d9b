package config

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/llmgateway/llmgateway/llm"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// env returns a lookup function over vars, for WithLookupEnv.
func env(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

// fullYAML sets every key of the schema, each to a value other than its
// default.
const fullYAML = `
server:
  grpc_addr: "127.0.0.1:19090"
  http_addr: "127.0.0.1:18080"
  drain_timeout: 45s
  max_request_bytes: 1048576
  max_in_flight: 500
  max_concurrent_streams: 200
  keepalive:
    min_time: 30s
    permit_without_stream: true
    max_connection_idle: 10m
    max_connection_age: 30m
    time: 1h
    timeout: 5s
  http:
    read_header_timeout: 5s
    read_timeout: 30s
    write_timeout: 2m
    idle_timeout: 90s
    max_header_bytes: 65536
  tls:
    cert_file: /etc/llmgateway/tls/tls.crt
    key_file: /etc/llmgateway/tls/tls.key
    client_ca_file: /etc/llmgateway/tls/clients.pem
providers:
  - name: openai
    type: openai
    base_url: https://api.openai.com/v1/
    api_key_env: OPENAI_API_KEY
    headers: {X-Title: my-app}
    timeout: 90s
    default_max_tokens: 2048
    models: {gpt-4.1: gpt-4.1-2025-04-14}
  - name: azure-eu
    type: azure
    base_url: https://my-resource.openai.azure.com
    api_key_env: AZURE_OPENAI_API_KEY
    api_version: "2024-10-21"
    ca_file: /etc/llmgateway/tls/corp-ca.pem
  - name: sim-a
    type: simulator
    simulator:
      tokens_per_second: 200
      latency: {p50: 40ms, p99: 120ms}
      error_rate: 0.1
      rate_limit_rate: 0.2
      retry_after: 2s
      overload_rate: 0.3
      timeout_rate: 0.05
      cut_rate: 0.01
      slow_factor: 1.5
      seed: 7
models:
  - name: gpt-4.1
    aliases: [gpt-4]
    deployments:
      - provider: openai
        weight: 3
        priority: 0
      - provider: sim-a
        model: sim-gpt
        weight: 2
        priority: 1
        timeout: 30s
      - provider: azure-eu
        model: my-deployment
        weight: 0
        priority: -1
    pricing:
      input_per_mtok: 2.0
      output_per_mtok: 8.0
      cached_input_per_mtok: 0.5
      cache_write_per_mtok: 2.5
      reasoning_per_mtok: 10
  - name: gpt-4.1-mini
    deployments:
      - provider: sim-a
  - name: claude-sonnet-4.5
    deployments:
      - provider: sim-a
routing:
  strategy: least-latency
  first_token_timeout: 12s
  latency_window: 2m
  estimated_output_tokens: 512
  max_cooldown: 1m
  models:
    - name: gpt-4.1
      strategy: priority
      fallbacks: [claude-sonnet-4.5, gpt-4.1-mini]
      affinity: true
      hedge: {delay: 800ms, p95: true, max_hedges: 2}
      first_token_timeout: 8s
  virtual_models:
    - name: auto
      tiers:
        simple: {models: [gpt-4.1-mini], strategy: cost, fallbacks: [claude-sonnet-4.5]}
        standard: {models: [gpt-4.1-mini, gpt-4.1], strategy: weighted}
        complex: {models: [gpt-4.1, claude-sonnet-4.5], strategy: priority, fallbacks: [gpt-4.1-mini]}
      rules:
        - {name: code, tier: complex, keywords: [代码, code]}
        - {name: mid, tier: standard, min_tokens: 100, max_tokens: 2000, tools: true, min_depth: 2, max_depth: 8}
      default_tier: simple
      affinity: true
      hedge: {delay: 1s}
      first_token_timeout: 9s
  providers:
    - name: sim-a
      first_token_timeout: 4s
      health_check: {interval: 15s, timeout: 3s, model: gpt-4.1-mini, failures: 3}
  retry:
    max_attempts: 6
    backoff: 100ms
    max_backoff: 3s
    max_retry_after: 5s
  breaker:
    failure_rate: 0.4
    window: 20s
    min_requests: 8
    consecutive_failures: 3
    open_for: 2s
    max_open_for: 1m
    half_open_probes: 3
  sessions: {ttl: 30m, max: 5000}
keys:
  - id: cs_bot
    name: customer-service
    secret_sha256: 9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08
    models: [gpt-4, "claude-*", auto]
    rpm: 600
    tpm: 200000
    max_concurrent: 20
    budget: {daily_usd: 50, monthly_usd: 1000}
    labels: {team: cs, app: bot}
    admin: true
ledger: {path: /var/lib/llmgateway/usage.db, queue_size: 2000, batch_size: 100, flush_interval: 1s}
state:
  backend: redis
  default_max_tokens: 2048
  redis:
    addr: redis.internal:6380
    password_env: REDIS_PASSWORD
    db: 2
    tls: true
    prefix: "gw1:"
    timeout: 250ms
    failure_mode: closed
telemetry:
  metrics: {enabled: true, path: /internal/metrics, listen_addr: "127.0.0.1:19100", key_labels: [team, app]}
  tracing:
    enabled: true
    exporter: otlp-http
    endpoint: otel-collector:4318
    insecure: true
    headers: {X-Scope-OrgID: tenant-1}
    sample_ratio: 0.25
    service_name: llmgateway-eu
  logging:
    level: debug
    prompt_logging: {labels: {team: cs}, max_chars: 500}
    redaction: {builtin: [email, api_key], patterns: ["ORD-[0-9]{6}"]}
`

func fullConfig() *Config {
	return &Config{
		Server: Server{
			GRPCAddr:             "127.0.0.1:19090",
			HTTPAddr:             "127.0.0.1:18080",
			DrainTimeout:         45 * time.Second,
			MaxRequestBytes:      1 << 20,
			MaxInFlight:          500,
			MaxConcurrentStreams: 200,
			Keepalive: Keepalive{
				MinTime:             30 * time.Second,
				PermitWithoutStream: true,
				MaxConnectionIdle:   10 * time.Minute,
				MaxConnectionAge:    30 * time.Minute,
				Time:                time.Hour,
				Timeout:             5 * time.Second,
			},
			HTTP: HTTPLimits{
				ReadHeaderTimeout: 5 * time.Second,
				ReadTimeout:       30 * time.Second,
				WriteTimeout:      2 * time.Minute,
				IdleTimeout:       90 * time.Second,
				MaxHeaderBytes:    65536,
			},
			TLS: TLS{
				CertFile:     "/etc/llmgateway/tls/tls.crt",
				KeyFile:      "/etc/llmgateway/tls/tls.key",
				ClientCAFile: "/etc/llmgateway/tls/clients.pem",
			},
		},
		Providers: []Provider{
			{
				Name:             "openai",
				Type:             TypeOpenAI,
				BaseURL:          "https://api.openai.com/v1",
				APIKeyEnv:        "OPENAI_API_KEY",
				Headers:          map[string]string{"X-Title": "my-app"},
				Timeout:          90 * time.Second,
				DefaultMaxTokens: 2048,
				Models:           map[string]string{"gpt-4.1": "gpt-4.1-2025-04-14"},
			},
			{
				Name:       "azure-eu",
				Type:       TypeAzure,
				BaseURL:    "https://my-resource.openai.azure.com",
				APIKeyEnv:  "AZURE_OPENAI_API_KEY",
				CAFile:     "/etc/llmgateway/tls/corp-ca.pem",
				Timeout:    60 * time.Second,
				APIVersion: "2024-10-21",
			},
			{
				Name:    "sim-a",
				Type:    TypeSimulator,
				Timeout: 60 * time.Second,
				Simulator: &Simulator{
					TokensPerSecond: 200,
					Latency:         Latency{P50: 40 * time.Millisecond, P99: 120 * time.Millisecond},
					ErrorRate:       0.1,
					RateLimitRate:   0.2,
					RetryAfter:      2 * time.Second,
					OverloadRate:    0.3,
					TimeoutRate:     0.05,
					CutRate:         0.01,
					SlowFactor:      1.5,
					Seed:            7,
				},
			},
		},
		Models: []Model{{
			Name:    "gpt-4.1",
			Aliases: []string{"gpt-4"},
			Deployments: []Deployment{
				{Provider: "openai", Model: "gpt-4.1-2025-04-14", Weight: 3, Priority: 0},
				{Provider: "sim-a", Model: "sim-gpt", Weight: 2, Priority: 1, Timeout: 30 * time.Second},
				{Provider: "azure-eu", Model: "my-deployment", Weight: 0, Priority: -1},
			},
			Pricing: Pricing{
				InputPerMTok:       2,
				OutputPerMTok:      8,
				CachedInputPerMTok: 0.5,
				CacheWritePerMTok:  2.5,
				ReasoningPerMTok:   10,
			},
		}, {
			Name:        "gpt-4.1-mini",
			Deployments: []Deployment{{Provider: "sim-a", Model: "gpt-4.1-mini", Weight: 1}},
		}, {
			Name:        "claude-sonnet-4.5",
			Deployments: []Deployment{{Provider: "sim-a", Model: "claude-sonnet-4.5", Weight: 1}},
		}},
		Routing:   fullRouting(),
		Keys:      fullKeys(),
		Ledger:    fullLedger(),
		State:     fullState(),
		Telemetry: fullTelemetry(),
	}
}

func TestParseFull(t *testing.T) {
	got, err := Parse([]byte(fullYAML))
	if err != nil {
		t.Fatalf("Parse(full) error: %v", err)
	}
	if diff := cmp.Diff(fullConfig(), got); diff != "" {
		t.Errorf("Parse(full) mismatch (-want +got):\n%s", diff)
	}
}

// TestFullCoversEveryField guards TestParseFull: every field of every
// struct in the schema must be set to a non-zero value somewhere in
// fullYAML, so that a new field cannot be added without a round trip.
func TestFullCoversEveryField(t *testing.T) {
	cfg, err := Parse([]byte(fullYAML))
	if err != nil {
		t.Fatalf("Parse(full) error: %v", err)
	}
	seen := make(map[string]bool)   // "Type.Field" -> some instance is non-zero
	fields := make(map[string]bool) // every "Type.Field" reached
	var visit func(v reflect.Value)
	visit = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Pointer:
			if !v.IsNil() {
				visit(v.Elem())
			}
		case reflect.Slice:
			for i := range v.Len() {
				visit(v.Index(i))
			}
		case reflect.Struct:
			for i := range v.NumField() {
				name := v.Type().Name() + "." + v.Type().Field(i).Name
				fields[name] = true
				if !v.Field(i).IsZero() {
					seen[name] = true
				}
				visit(v.Field(i))
			}
		}
	}
	visit(reflect.ValueOf(cfg))
	for name := range fields {
		if !seen[name] {
			t.Errorf("fullYAML leaves %s at its zero value; set it so the round trip covers it", name)
		}
	}
	if len(fields) < 40 {
		t.Errorf("reached only %d fields; the walk is broken", len(fields))
	}
}

func TestDefault(t *testing.T) {
	cfg, err := Default(WithLookupEnv(env(nil)))
	if err != nil {
		t.Fatalf("Default() error: %v", err)
	}
	if cfg.Server.GRPCAddr != ":9090" || cfg.Server.HTTPAddr != ":8080" {
		t.Errorf("Default() listens on %q and %q, want :9090 and :8080", cfg.Server.GRPCAddr, cfg.Server.HTTPAddr)
	}
	var names []string
	for _, p := range cfg.Providers {
		names = append(names, p.Name)
		if p.Type != TypeSimulator {
			t.Errorf("Default() provider %s has type %s, want only simulators", p.Name, p.Type)
		}
		if p.Simulator.ErrorRate+p.Simulator.RateLimitRate+p.Simulator.OverloadRate+p.Simulator.TimeoutRate+p.Simulator.CutRate != 0 {
			t.Errorf("Default() provider %s injects faults: %+v", p.Name, p.Simulator)
		}
	}
	if want := []string{"sim-primary", "sim-secondary", "sim-budget"}; !slices.Equal(names, want) {
		t.Errorf("Default() providers = %v, want %v", names, want)
	}

	wantPricing := map[string]llm.Pricing{
		"gpt-4.1":           {InputPerMTok: 2, OutputPerMTok: 8, CachedInputPerMTok: 0.5},
		"gpt-4.1-mini":      {InputPerMTok: 0.4, OutputPerMTok: 1.6, CachedInputPerMTok: 0.1},
		"claude-sonnet-4.5": {InputPerMTok: 3, OutputPerMTok: 15, CachedInputPerMTok: 0.3, CacheWritePerMTok: 3.75},
		"gemini-2.5-flash":  {InputPerMTok: 0.3, OutputPerMTok: 2.5, CachedInputPerMTok: 0.03},
		"deepseek-v3.2":     {InputPerMTok: 0.28, OutputPerMTok: 0.42, CachedInputPerMTok: 0.028},
	}
	if len(cfg.Models) != len(wantPricing) {
		t.Errorf("Default() has %d models, want %d", len(cfg.Models), len(wantPricing))
	}
	for name, want := range wantPricing {
		m, ok := cfg.ModelByName(name)
		if !ok {
			t.Errorf("Default() has no model %s", name)
			continue
		}
		if got := m.Pricing.LLM(); got != want {
			t.Errorf("Default() %s pricing = %+v, want %+v", name, got, want)
		}
		// Two deployments on different providers, priorities 0 and 1, so
		// that failover shows.
		if len(m.Deployments) != 2 {
			t.Errorf("Default() %s has %d deployments, want 2", name, len(m.Deployments))
			continue
		}
		d0, d1 := m.Deployments[0], m.Deployments[1]
		if d0.Provider == d1.Provider || d0.Priority != 0 || d1.Priority != 1 {
			t.Errorf("Default() %s deployments = %+v, want two providers at priorities 0 and 1", name, m.Deployments)
		}
	}
	for alias, want := range map[string]string{"gpt-4": "gpt-4.1", "claude-3": "claude-sonnet-4.5", "gemini-pro": "gemini-2.5-flash", "deepseek-chat": "deepseek-v3.2"} {
		if m, ok := cfg.ModelByName(alias); !ok || m.Name != want {
			t.Errorf("Default() ModelByName(%q) = %v, want %s", alias, m, want)
		}
	}
	primary, _ := cfg.ProviderByName("sim-primary")
	if got, want := primary.Simulator.Latency, (Latency{P50: 30 * time.Millisecond, P99: 90 * time.Millisecond}); got != want || primary.Simulator.TokensPerSecond != 200 {
		t.Errorf("Default() sim-primary = %+v, want 200 tokens/s and latency %+v", primary.Simulator, want)
	}
}

// TestDefaultYAMLIsCopy checks that DefaultYAML hands out a copy that
// parses to the same config as Default.
func TestDefaultYAMLIsCopy(t *testing.T) {
	a := DefaultYAML()
	want, err := Default()
	if err != nil {
		t.Fatalf("Default() error: %v", err)
	}
	got, err := Parse(a)
	if err != nil {
		t.Fatalf("Parse(DefaultYAML()) error: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Parse(DefaultYAML()) differs from Default() (-want +got):\n%s", diff)
	}
	a[0] = 'X'
	if b := DefaultYAML(); b[0] == 'X' {
		t.Errorf("DefaultYAML() returned shared memory")
	}
}

func TestDefaults(t *testing.T) {
	const give = `
providers:
  - {name: oa, type: openai, models: {m: upstream-m}}
  - {name: an, type: anthropic, base_url: "http://localhost:8081/"}
  - {name: ge, type: gemini}
  - {name: co, type: cohere}
  - {name: sim, type: simulator}
  - {name: sim2, type: simulator, simulator: {latency: {p50: 10ms}, retry_after: 0s, seed: 0}}
models:
  - name: m
    deployments:
      - {provider: oa}
      - {provider: an}
      - {provider: sim, model: explicit}
`
	got, err := Parse([]byte(give))
	if err != nil {
		t.Fatalf("Parse() error: %v", err)
	}
	want := &Config{
		Server: Server{GRPCAddr: ":9090", HTTPAddr: ":8080", DrainTimeout: 30 * time.Second, MaxRequestBytes: 4 << 20,
			MaxInFlight: 4096, MaxConcurrentStreams: 1024,
			Keepalive: Keepalive{MinTime: 10 * time.Second, Time: 2 * time.Hour, Timeout: 20 * time.Second},
			HTTP:      HTTPLimits{ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 1 << 20}},
		Providers: []Provider{
			{Name: "oa", Type: TypeOpenAI, BaseURL: "https://api.openai.com/v1", Timeout: time.Minute, Models: map[string]string{"m": "upstream-m"}},
			{Name: "an", Type: TypeAnthropic, BaseURL: "http://localhost:8081", Timeout: time.Minute, DefaultMaxTokens: 4096},
			{Name: "ge", Type: TypeGemini, BaseURL: "https://generativelanguage.googleapis.com", Timeout: time.Minute},
			{Name: "co", Type: TypeCohere, BaseURL: "https://api.cohere.com", Timeout: time.Minute},
			{Name: "sim", Type: TypeSimulator, Timeout: time.Minute, Simulator: &Simulator{RetryAfter: time.Second, SlowFactor: 1, Seed: 1}},
			{Name: "sim2", Type: TypeSimulator, Timeout: time.Minute, Simulator: &Simulator{
				Latency: Latency{P50: 10 * time.Millisecond, P99: 10 * time.Millisecond}, SlowFactor: 1}},
		},
		Models: []Model{{
			Name: "m",
			Deployments: []Deployment{
				{Provider: "oa", Model: "upstream-m", Weight: 1},
				{Provider: "an", Model: "m", Weight: 1},
				{Provider: "sim", Model: "explicit", Weight: 1},
			},
		}},
		Routing:   defaultRouting(),
		Ledger:    defaultLedger(),
		State:     defaultState(),
		Telemetry: defaultTelemetry(),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Parse() defaults mismatch (-want +got):\n%s", diff)
	}
}

// TestNullMeansOmitted checks that an explicit null (as ${NAME:-} can
// produce) takes the default, where an explicit zero would be an error or
// kept as given.
func TestNullMeansOmitted(t *testing.T) {
	const give = `
server: {drain_timeout: ~, max_request_bytes: null}
providers: [{name: s, type: simulator, timeout: ${T:-}, simulator: {slow_factor: ~, seed: ~}}]
models: [{name: m, deployments: [{provider: s, weight: ~}]}]
`
	cfg, err := Parse([]byte(give), WithLookupEnv(env(nil)))
	if err != nil {
		t.Fatalf("Parse() error: %v", err)
	}
	got := []any{cfg.Server.DrainTimeout, cfg.Server.MaxRequestBytes, cfg.Providers[0].Simulator.SlowFactor,
		cfg.Providers[0].Simulator.Seed, cfg.Models[0].Deployments[0].Weight}
	want := []any{30 * time.Second, int64(4 << 20), 1.0, int64(1), 1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Parse() with nulls mismatch (-want +got):\n%s", diff)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(file, []byte(fullYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := Load(file)
	if err != nil {
		t.Fatalf("Load(%s) error: %v", file, err)
	}
	if diff := cmp.Diff(fullConfig(), got); diff != "" {
		t.Errorf("Load(%s) mismatch (-want +got):\n%s", file, diff)
	}

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("server:\n  grpc_adr: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(bad)
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Load(%s) error = %v, want a *ValidationError", bad, err)
	}
	if msg := err.Error(); !strings.Contains(msg, bad) || !strings.Contains(msg, "server.grpc_adr") {
		t.Errorf("Load(%s) error = %q, want the file name and the key's path", bad, msg)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		give string
		want []string
	}{
		{give: filepath.Join(dir, "missing.yaml"), want: []string{"loading config", "missing.yaml", "no such file or directory"}},
		{give: dir, want: []string{"loading config", "is a directory"}},
		{give: "", want: []string{"no file path given"}},
	}
	for _, tt := range tests {
		_, err := Load(tt.give)
		if err == nil {
			t.Errorf("Load(%q) error = nil, want one", tt.give)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Load(%q) error = %q, want it to contain %q", tt.give, err, w)
			}
		}
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) error = %v, want it to wrap os.ErrNotExist", err)
	}
}

func TestProviderByName(t *testing.T) {
	cfg := fullConfig()
	tests := []struct {
		give   string
		want   string
		wantOK bool
	}{
		{give: "openai", want: "openai", wantOK: true},
		{give: "sim-a", want: "sim-a", wantOK: true},
		{give: "OpenAI", wantOK: false},
		{give: "", wantOK: false},
	}
	for _, tt := range tests {
		p, ok := cfg.ProviderByName(tt.give)
		if ok != tt.wantOK || ok && p.Name != tt.want {
			t.Errorf("ProviderByName(%q) = %v, %v, want %q, %v", tt.give, p, ok, tt.want, tt.wantOK)
		}
	}
	// The result points into the config.
	p, _ := cfg.ProviderByName("openai")
	if p != &cfg.Providers[0] {
		t.Errorf("ProviderByName(openai) = %p, want %p", p, &cfg.Providers[0])
	}
}

func TestModelByName(t *testing.T) {
	cfg := fullConfig()
	tests := []struct {
		give   string
		wantOK bool
	}{
		{give: "gpt-4.1", wantOK: true},
		{give: "GPT-4.1", wantOK: true},
		{give: "gpt-4", wantOK: true},
		{give: "gpt-5", wantOK: false},
	}
	for _, tt := range tests {
		m, ok := cfg.ModelByName(tt.give)
		if ok != tt.wantOK || ok && m.Name != "gpt-4.1" {
			t.Errorf("ModelByName(%q) = %v, %v, want gpt-4.1, %v", tt.give, m, ok, tt.wantOK)
		}
	}
}

func TestAPIKey(t *testing.T) {
	tests := []struct {
		name    string
		giveEnv string
		giveVar map[string]string
		want    string
		wantErr string
	}{
		{name: "no variable configured", giveEnv: "", want: ""},
		{name: "set", giveEnv: "KEY", giveVar: map[string]string{"KEY": "sk-123"}, want: "sk-123"},
		{name: "trimmed", giveEnv: "KEY", giveVar: map[string]string{"KEY": " sk-123\n"}, want: "sk-123"},
		{name: "unset", giveEnv: "KEY", giveVar: nil, wantErr: "environment variable KEY (its api_key_env) is not set"},
		{name: "empty", giveEnv: "KEY", giveVar: map[string]string{"KEY": " "}, wantErr: "environment variable KEY (its api_key_env) is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &Provider{Name: "openai", APIKeyEnv: tt.giveEnv}
			got, err := p.APIKey(env(tt.giveVar))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "openai") {
					t.Fatalf("APIKey() error = %v, want one containing %q and the provider", err, tt.wantErr)
				}
				if !errors.Is(err, ErrMissingAPIKey) {
					t.Errorf("APIKey() error = %v, want it to wrap ErrMissingAPIKey", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("APIKey() = %q, %v, want %q, nil", got, err, tt.want)
			}
		})
	}
}

func TestAPIKeyOSLookup(t *testing.T) {
	t.Setenv("LLMGATEWAY_CONFIG_TEST_KEY", "from-os")
	p := &Provider{Name: "p", APIKeyEnv: "LLMGATEWAY_CONFIG_TEST_KEY"}
	if got, err := p.APIKey(nil); err != nil || got != "from-os" {
		t.Errorf("APIKey(nil) = %q, %v, want %q, nil", got, err, "from-os")
	}
}

func TestPricingLLM(t *testing.T) {
	give := Pricing{InputPerMTok: 1, OutputPerMTok: 2, CachedInputPerMTok: 3, CacheWritePerMTok: 4, ReasoningPerMTok: 5}
	want := llm.Pricing{InputPerMTok: 1, OutputPerMTok: 2, CachedInputPerMTok: 3, CacheWritePerMTok: 4, ReasoningPerMTok: 5}
	if got := give.LLM(); got != want {
		t.Errorf("Pricing.LLM() = %+v, want %+v", got, want)
	}
}

// TestFieldDocs holds every schema field to the documentation rule: its
// doc comment names its YAML key and, for a setting (not a section), states
// its default or that it is required.
func TestFieldDocs(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "config.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	structs := make(map[string]bool)
	ast.Inspect(f, func(n ast.Node) bool {
		if ts, ok := n.(*ast.TypeSpec); ok {
			if _, ok := ts.Type.(*ast.StructType); ok {
				structs[ts.Name.Name] = true
			}
		}
		return true
	})
	checked := 0
	ast.Inspect(f, func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok {
			return true
		}
		st, ok := ts.Type.(*ast.StructType)
		if !ok {
			return true
		}
		for _, field := range st.Fields.List {
			if field.Tag == nil {
				continue
			}
			tag := reflect.StructTag(strings.Trim(field.Tag.Value, "`"))
			key, _, _ := strings.Cut(tag.Get("yaml"), ",")
			name := ts.Name.Name + "." + field.Names[0].Name
			doc := field.Doc.Text()
			checked++
			if !strings.Contains(strings.Join(strings.Fields(doc), " "), "(YAML key "+key) {
				t.Errorf("%s: doc comment does not name its YAML key %q", name, key)
			}
			if isSection(field.Type, structs) {
				continue
			}
			if !strings.Contains(doc, "Default:") && !strings.Contains(doc, "Required") && !strings.Contains(doc, "required") {
				t.Errorf("%s: doc comment states neither its default nor that it is required", name)
			}
		}
		return true
	})
	if checked < 40 {
		t.Errorf("checked %d fields, want every schema field", checked)
	}
}

// isSection reports whether a field's type is one of structs (or a pointer
// to or list of one): a section whose own fields carry the defaults.
func isSection(e ast.Expr, structs map[string]bool) bool {
	switch e := e.(type) {
	case *ast.Ident:
		return structs[e.Name]
	case *ast.StarExpr:
		return isSection(e.X, structs)
	case *ast.ArrayType:
		return isSection(e.Elt, structs)
	}
	return false
}
