package config

import (
	"errors"
	"strings"
	"testing"
)

// Building blocks for configs that are valid but for the part a test case
// breaks.
const (
	okServer    = "server: {grpc_addr: ':9090'}\n"
	okProviders = "providers: [{name: sim-a, type: simulator}]\n"
	okModels    = "models: [{name: m, deployments: [{provider: sim-a}]}]\n"
)

// wantProblem is an expected FieldError: Path exactly, Message as a
// substring, Line when non-zero.
type wantProblem struct {
	path string
	msg  string
	line int
}

// problems parses give and returns its problems, failing the test unless
// the error is a *ValidationError.
func problems(t *testing.T, give string) []FieldError {
	t.Helper()
	cfg, err := Parse([]byte(give), WithLookupEnv(env(nil)))
	if err == nil {
		t.Fatalf("Parse() = %+v, nil; want a *ValidationError", cfg)
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Parse() error = %v (%T), want a *ValidationError", err, err)
	}
	return ve.Errors
}

func checkProblems(t *testing.T, got []FieldError, want []wantProblem) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("Parse() = %d problems, want %d:\n%v", len(got), len(want), (&ValidationError{Errors: got}).Error())
	}
	for i, w := range want {
		g := got[i]
		if g.Path != w.path || !strings.Contains(g.Message, w.msg) || w.line != 0 && g.Line != w.line {
			t.Errorf("Parse() problem %d = %q (line %d), want path %q, a message containing %q, line %d",
				i, g.Error(), g.Line, w.path, w.msg, w.line)
		}
	}
}

func TestValidationErrors(t *testing.T) {
	tests := []struct {
		name string
		give string
		want []wantProblem
	}{
		{
			name: "base_url not a URL",
			give: `
providers:
  - {name: sim-a, type: simulator}
  - name: openai
    type: openai
    base_url: foo
` + okModels,
			want: []wantProblem{{path: "providers[1].base_url", msg: `must be an absolute http or https URL, got "foo"`, line: 6}},
		},
		{
			name: "base_url with another scheme",
			give: "providers: [{name: o, type: openai, base_url: 'ftp://x.org'}]\nmodels: [{name: m, deployments: [{provider: o}]}]\n",
			want: []wantProblem{{path: "providers[0].base_url", msg: "absolute http or https URL"}},
		},
		{
			name: "base_url with query",
			give: "providers: [{name: o, type: openai, base_url: 'https://x.org/v1?a=b'}]\nmodels: [{name: m, deployments: [{provider: o}]}]\n",
			want: []wantProblem{{path: "providers[0].base_url", msg: "must not have a query or fragment"}},
		},
		{
			name: "base_url with credentials",
			give: "providers: [{name: o, type: openai, base_url: 'https://u:secret@x.org'}]\nmodels: [{name: m, deployments: [{provider: o}]}]\n",
			want: []wantProblem{{path: "providers[0].base_url", msg: "must not contain credentials"}},
		},
		{
			name: "base_url on simulator",
			give: "providers: [{name: sim-a, type: simulator, base_url: 'http://x'}]\n" + okModels,
			want: []wantProblem{{path: "providers[0].base_url", msg: "not allowed for simulator providers"}},
		},
		{
			name: "ca_file on simulator",
			give: "providers: [{name: sim-a, type: simulator, ca_file: ca.pem}]\n" + okModels,
			want: []wantProblem{{path: "providers[0].ca_file", msg: "not allowed for simulator providers"}},
		},
		{
			name: "ca_file with plain http",
			give: "providers: [{name: sim-a, type: openai, base_url: 'http://vllm:8000/v1', ca_file: ca.pem}]\n" + okModels,
			want: []wantProblem{{path: "providers[0].ca_file", msg: "needs an https base_url"}},
		},
		{
			name: "unknown deployment provider",
			give: `
providers:
  - {name: openai, type: openai}
  - {name: sim-a, type: simulator}
models:
  - name: m
    deployments:
      - provider: openai
      - provider: sim-a
      - provider: opnai
`,
			want: []wantProblem{{path: "models[0].deployments[2].provider", msg: `unknown provider "opnai" (known: openai, sim-a)`, line: 10}},
		},
		{
			name: "missing deployment provider",
			give: okProviders + "models: [{name: m, deployments: [{model: x}]}]\n",
			want: []wantProblem{{path: "models[0].deployments[0].provider", msg: "required (known: sim-a)"}},
		},
		{
			name: "alias taken",
			give: okProviders + `
models:
  - {name: gpt-4.1, aliases: [gpt-4], deployments: [{provider: sim-a}]}
  - {name: a, deployments: [{provider: sim-a}]}
  - {name: b, deployments: [{provider: sim-a}]}
  - name: c
    aliases: [gpt-4]
    deployments: [{provider: sim-a}]
`,
			want: []wantProblem{{path: "models[3].aliases[0]", msg: `"gpt-4" is already the name or alias of models[0]`, line: 8}},
		},
		{
			name: "name taken ignoring case",
			give: okProviders + `
models:
  - {name: gpt-4.1, deployments: [{provider: sim-a}]}
  - {name: GPT-4.1, deployments: [{provider: sim-a}]}
`,
			want: []wantProblem{{path: "models[1].name", msg: `"GPT-4.1" is already the name or alias of models[0], as "gpt-4.1" (names and aliases ignore case)`}},
		},
		{
			name: "alias equal to own name",
			give: okProviders + "models: [{name: m, aliases: [m], deployments: [{provider: sim-a}]}]\n",
			want: []wantProblem{{path: "models[0].aliases[0]", msg: `"m" is already the name or alias of models[0]`}},
		},
		{
			name: "reserved and malformed model names",
			give: okProviders + `
models:
  - {name: auto, deployments: [{provider: sim-a}]}
  - {name: "my model", aliases: [""], deployments: [{provider: sim-a}]}
  - {deployments: [{provider: sim-a}]}
`,
			want: []wantProblem{
				{path: "models[0].name", msg: `"auto" is reserved`},
				{path: "models[1].name", msg: "must not contain spaces"},
				{path: "models[1].aliases[0]", msg: "required"},
				{path: "models[2].name", msg: "required", line: 6},
			},
		},
		{
			name: "duplicate provider names",
			give: `
providers:
  - {name: sim-a, type: simulator}
  - {name: sim-a, type: simulator}
` + okModels,
			want: []wantProblem{{path: "providers[1].name", msg: `"sim-a" is already the name of providers[0]`, line: 4}},
		},
		{
			name: "bad provider names",
			give: `
providers:
  - {name: Sim, type: simulator}
  - {name: -x, type: simulator}
  - {type: simulator}
models: [{name: m, deployments: [{provider: Sim}]}]
`,
			want: []wantProblem{
				{path: "providers[0].name", msg: `lowercase letters, digits, _ . or -, starting with a letter or digit, got "Sim"`},
				{path: "providers[1].name", msg: `got "-x"`},
				{path: "providers[2].name", msg: "required"},
			},
		},
		{
			name: "unknown type",
			give: "providers: [{name: sim-a, type: openia}]\n" + okModels,
			want: []wantProblem{{path: "providers[0].type", msg: `unknown type "openia" (want one of: openai, simulator, anthropic, gemini, azure, cohere)`}},
		},
		{
			name: "missing type",
			give: "providers: [{name: sim-a}]\n" + okModels,
			want: []wantProblem{{path: "providers[0].type", msg: "required, one of: openai, simulator"}},
		},
		{
			name: "simulator block on another type",
			give: "providers: [{name: sim-a, type: openai, simulator: {seed: 2}}]\n" + okModels,
			want: []wantProblem{{path: "providers[0].simulator", msg: "only allowed for simulator providers (this one is openai)"}},
		},
		{
			name: "azure without base_url and api_version",
			give: "providers: [{name: sim-a, type: azure}]\n" + okModels,
			want: []wantProblem{
				{path: "providers[0].base_url", msg: "required for azure providers"},
				{path: "providers[0].api_version", msg: "required for azure providers"},
			},
		},
		{
			name: "api_version on another type",
			give: "providers: [{name: sim-a, type: openai, api_version: '2024-10-21'}]\n" + okModels,
			want: []wantProblem{{path: "providers[0].api_version", msg: "only allowed for azure providers"}},
		},
		{
			name: "api_key_env holding a key",
			give: "providers: [{name: sim-a, type: openai, api_key_env: sk-proj-abc123}]\n" + okModels,
			want: []wantProblem{{path: "providers[0].api_key_env", msg: "must be the name of an environment variable"}},
		},
		{
			name: "api_key_env and headers on simulator",
			give: "providers: [{name: sim-a, type: simulator, api_key_env: KEY, headers: {A: b}}]\n" + okModels,
			want: []wantProblem{
				{path: "providers[0].api_key_env", msg: "not allowed for simulator providers"},
				{path: "providers[0].headers", msg: "not allowed for simulator providers"},
			},
		},
		{
			name: "bad headers",
			give: "providers: [{name: sim-a, type: openai, headers: {'X Title': a, X-Ok: \"a\\r\\nInjected: 1\"}}]\n" + okModels,
			want: []wantProblem{
				{path: `providers[0].headers["X Title"]`, msg: `invalid HTTP header name "X Title"`},
				{path: `providers[0].headers["X-Ok"]`, msg: "must not contain line breaks"},
			},
		},
		{
			name: "negative and zero durations",
			give: `
server: {drain_timeout: 0s}
providers: [{name: sim-a, type: simulator, timeout: -1s}]
models: [{name: m, deployments: [{provider: sim-a, timeout: -5s}]}]
`,
			want: []wantProblem{
				{path: "server.drain_timeout", msg: "must be > 0, got 0s", line: 2},
				{path: "providers[0].timeout", msg: "must be > 0, got -1s", line: 3},
				{path: "models[0].deployments[0].timeout", msg: "must be > 0, got -5s", line: 4},
			},
		},
		{
			name: "negative drain_timeout and max_request_bytes",
			give: "server: {drain_timeout: -1s, max_request_bytes: -1}\n" + okProviders + okModels,
			want: []wantProblem{
				{path: "server.drain_timeout", msg: "must be > 0, got -1s"},
				{path: "server.max_request_bytes", msg: "must be > 0, got -1"},
			},
		},
		{
			name: "zero max_request_bytes",
			give: "server: {max_request_bytes: 0}\n" + okProviders + okModels,
			want: []wantProblem{{path: "server.max_request_bytes", msg: "must be > 0, got 0"}},
		},
		{
			name: "listen addresses",
			give: "server: {grpc_addr: '9090', http_addr: ':99999'}\n" + okProviders + okModels,
			want: []wantProblem{
				{path: "server.grpc_addr", msg: `must be host:port, like ":9090" or "127.0.0.1:9090", got "9090"`},
				{path: "server.http_addr", msg: `port must be a number from 0 to 65535, got "99999"`},
			},
		},
		{
			name: "listen address clash with a default",
			give: "server: {grpc_addr: '0.0.0.0:8080'}\n" + okProviders + okModels,
			want: []wantProblem{{path: "server.http_addr", msg: `":8080" clashes with grpc_addr "0.0.0.0:8080"`}},
		},
		{
			name: "model without deployments",
			give: okProviders + "models: [{name: m}, {name: n, deployments: []}]\n",
			want: []wantProblem{
				{path: "models[0].deployments", msg: "at least one deployment is required"},
				{path: "models[1].deployments", msg: "at least one deployment is required"},
			},
		},
		{
			name: "all weights zero",
			give: `
providers:
  - {name: sim-a, type: simulator}
  - {name: sim-b, type: simulator}
models:
  - name: m
    deployments:
      - {provider: sim-a, weight: 0}
      - {provider: sim-b, weight: 0}
`,
			want: []wantProblem{{path: "models[0].deployments", msg: "no deployment has a weight above 0", line: 7}},
		},
		{
			name: "negative weight",
			give: okProviders + "models: [{name: m, deployments: [{provider: sim-a}, {provider: sim-a, model: x, weight: -1}]}]\n",
			want: []wantProblem{{path: "models[0].deployments[1].weight", msg: "must be >= 0, got -1"}},
		},
		{
			name: "duplicate deployment",
			give: `
providers: [{name: sim-a, type: simulator, models: {m: up}}]
models:
  - {name: m, deployments: [{provider: sim-a}, {provider: sim-a, model: up}]}
`,
			want: []wantProblem{{path: "models[0].deployments[1]", msg: "same provider and upstream model (sim-a/up) as deployments[0]"}},
		},
		{
			name: "negative and non-finite pricing",
			give: okProviders + `
models:
  - name: m
    deployments: [{provider: sim-a}]
    pricing: {input_per_mtok: -1, output_per_mtok: .nan, cached_input_per_mtok: .inf, cache_write_per_mtok: -0.5, reasoning_per_mtok: -2}
`,
			want: []wantProblem{
				{path: "models[0].pricing.input_per_mtok", msg: "must be a number >= 0, got -1"},
				{path: "models[0].pricing.output_per_mtok", msg: "got NaN"},
				{path: "models[0].pricing.cached_input_per_mtok", msg: "got +Inf"},
				{path: "models[0].pricing.cache_write_per_mtok", msg: "got -0.5"},
				{path: "models[0].pricing.reasoning_per_mtok", msg: "got -2"},
			},
		},
		{
			name: "simulator values",
			give: `
providers:
  - name: sim-a
    type: simulator
    simulator:
      tokens_per_second: -1
      latency: {p50: 100ms, p99: 50ms}
      error_rate: 1.5
      rate_limit_rate: -0.1
      retry_after: -1s
      overload_rate: .nan
      timeout_rate: 2
      cut_rate: 1.01
      slow_factor: 0
` + okModels,
			want: []wantProblem{
				{path: "providers[0].simulator.tokens_per_second", msg: "must be a number >= 0, got -1", line: 6},
				{path: "providers[0].simulator.latency.p99", msg: "must be >= p50 (100ms), got 50ms", line: 7},
				{path: "providers[0].simulator.error_rate", msg: "must be between 0 and 1, got 1.5"},
				{path: "providers[0].simulator.rate_limit_rate", msg: "got -0.1"},
				{path: "providers[0].simulator.retry_after", msg: "must be >= 0, got -1s"},
				{path: "providers[0].simulator.overload_rate", msg: "got NaN"},
				{path: "providers[0].simulator.timeout_rate", msg: "got 2"},
				{path: "providers[0].simulator.cut_rate", msg: "got 1.01"},
				{path: "providers[0].simulator.slow_factor", msg: "must be a number > 0, got 0"},
			},
		},
		{
			name: "simulator p99 without p50",
			give: "providers: [{name: sim-a, type: simulator, simulator: {latency: {p99: 1s}}}]\n" + okModels,
			want: []wantProblem{{path: "providers[0].simulator.latency.p99", msg: "needs p50 as well"}},
		},
		{
			name: "default_max_tokens",
			give: "providers: [{name: sim-a, type: anthropic, default_max_tokens: -5}]\n" + okModels,
			want: []wantProblem{{path: "providers[0].default_max_tokens", msg: "must be > 0, got -5"}},
		},
		{
			name: "provider models map",
			give: `
providers:
  - name: sim-a
    type: simulator
    models: {gpt-4: a, M: b, nope: c, m: "two words"}
models: [{name: m, deployments: [{provider: sim-a}]}, {name: gpt-4.1, aliases: [gpt-4], deployments: [{provider: sim-a}]}]
`,
			want: []wantProblem{
				{path: `providers[0].models["M"]`, msg: `no model named "M" in models; did you mean "m"?`},
				{path: `providers[0].models["gpt-4"]`, msg: `"gpt-4" is an alias of gpt-4.1; map the model's name instead`},
				{path: `providers[0].models["m"]`, msg: `must not contain spaces or control characters, got "two words"`},
				{path: `providers[0].models["nope"]`, msg: `no model named "nope" in models`},
			},
		},
		{
			name: "no providers and no models",
			give: okServer,
			want: []wantProblem{
				{path: "providers", msg: "at least one provider is required"},
				{path: "models", msg: "at least one model is required"},
			},
		},
		{
			name: "only a separator",
			give: "---\n",
			want: []wantProblem{
				{path: "providers", msg: "at least one provider is required"},
				{path: "models", msg: "at least one model is required"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkProblems(t, problems(t, tt.give), tt.want)
		})
	}
}

// TestValidationReportsEverything checks that problems in every section
// come back together, one per line of Error().
func TestValidationReportsEverything(t *testing.T) {
	const give = `
server:
  drain_timeout: -1s
providers:
  - {name: openai, type: openai}
  - {name: sim-a, type: simulator, base_url: "foo"}
  - {name: openai, type: gemini}
models:
  - name: gpt-4.1
    aliases: [gpt-4]
    deployments: [{provider: opnai}]
  - name: other
    aliases: [GPT-4]
    deployments: [{provider: sim-a, weight: 0}]
    pricing: {input_per_mtok: -1}
`
	want := []wantProblem{
		{path: "server.drain_timeout", msg: "must be > 0", line: 3},
		{path: "providers[1].base_url", msg: "not allowed for simulator providers", line: 6},
		{path: "providers[2].name", msg: "already the name of providers[0]", line: 7},
		{path: "models[0].deployments[0].provider", msg: `unknown provider "opnai" (known: openai, sim-a, openai)`, line: 11},
		{path: "models[1].aliases[0]", msg: "already the name or alias of models[0]", line: 13},
		{path: "models[1].deployments", msg: "no deployment has a weight above 0", line: 14},
		{path: "models[1].pricing.input_per_mtok", msg: "must be a number >= 0", line: 15},
	}
	_, err := Parse([]byte(give))
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Parse() error = %v, want a *ValidationError", err)
	}
	checkProblems(t, ve.Errors, want)

	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want)+1 || lines[0] != "invalid config (7 problems):" {
		t.Fatalf("Error() = %q, want a header and one line per problem", err.Error())
	}
	if got, wantLine := lines[2], `  line 6: providers[1].base_url: not allowed for simulator providers`; got != wantLine {
		t.Errorf("Error() line 2 = %q, want %q", got, wantLine)
	}
}

func TestValidationErrorFormat(t *testing.T) {
	tests := []struct {
		give *ValidationError
		want string
	}{
		{
			give: &ValidationError{},
			want: "invalid config",
		},
		{
			give: &ValidationError{Errors: []FieldError{{Path: "providers[1].base_url", Line: 4, Message: "bad"}}},
			want: "invalid config: line 4: providers[1].base_url: bad",
		},
		{
			give: &ValidationError{Errors: []FieldError{{Message: "no line, no path"}, {Path: "models", Message: "no line"}}},
			want: "invalid config (2 problems):\n  no line, no path\n  models: no line",
		},
	}
	for _, tt := range tests {
		if got := tt.give.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

// TestValidationErrorsUnderMerge checks that explicit zeros are found
// through YAML merge keys: the second deployment's weight 0 comes from the
// first one's anchor.
func TestValidationErrorsUnderMerge(t *testing.T) {
	const give = `
providers:
  - {name: sim-a, type: simulator}
  - {name: sim-b, type: simulator}
models:
  - name: m
    deployments:
      - &zero {provider: sim-a, weight: 0}
      - {<<: *zero, provider: sim-b}
`
	checkProblems(t, problems(t, give), []wantProblem{
		{path: "models[0].deployments", msg: "no deployment has a weight above 0", line: 7},
	})
}

// TestServerLimitsAndTLS checks the server's limits, keepalive and TLS
// settings.
func TestServerLimitsAndTLS(t *testing.T) {
	tests := []struct {
		name string
		give string // the server section
		want []wantProblem
	}{
		{"explicit zero cap", "server: {max_in_flight: 0}", []wantProblem{{path: "server.max_in_flight", msg: "must be > 0, got 0"}}},
		{"negative streams", "server: {max_concurrent_streams: -1}", []wantProblem{{path: "server.max_concurrent_streams", msg: "must be > 0"}}},
		{"streams over uint32", "server: {max_concurrent_streams: 4294967296}", []wantProblem{{path: "server.max_concurrent_streams", msg: "at most 4294967295"}}},
		{"keepalive", "server: {keepalive: {min_time: 0s, max_connection_idle: -1s, max_connection_age: -1m, time: 500ms, timeout: -2s}}", []wantProblem{
			{path: "server.keepalive.min_time", msg: "must be > 0"},
			{path: "server.keepalive.max_connection_idle", msg: "must be >= 0"},
			{path: "server.keepalive.max_connection_age", msg: "must be >= 0"},
			{path: "server.keepalive.time", msg: "at least 1s, got 500ms"},
			{path: "server.keepalive.timeout", msg: "must be > 0"},
		}},
		{"http", "server: {http: {read_header_timeout: 0s, read_timeout: -1s, write_timeout: -1s, idle_timeout: 0s, max_header_bytes: 0}}", []wantProblem{
			{path: "server.http.read_header_timeout", msg: "must be > 0"},
			{path: "server.http.read_timeout", msg: "must be > 0"},
			{path: "server.http.write_timeout", msg: "must be >= 0"},
			{path: "server.http.idle_timeout", msg: "must be > 0"},
			{path: "server.http.max_header_bytes", msg: "must be > 0"},
		}},
		{"cert without key", "server: {tls: {cert_file: a.crt}}", []wantProblem{{path: "server.tls.key_file", msg: "required with cert_file"}}},
		{"key without cert", "server: {tls: {key_file: a.key}}", []wantProblem{{path: "server.tls.cert_file", msg: "required with key_file"}}},
		{"client CA without TLS", "server: {tls: {client_ca_file: ca.pem}}", []wantProblem{{path: "server.tls.client_ca_file", msg: "needs cert_file and key_file"}}},
		{"unknown tls key", "server: {tls: {certfile: a.crt}}", []wantProblem{{path: "server.tls.certfile", msg: `did you mean "cert_file"`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkProblems(t, problems(t, tt.give+"\n"+okProviders+okModels), tt.want)
		})
	}

	cfg, err := Parse([]byte("server: {tls: {cert_file: a.crt, key_file: a.key, client_ca_file: ca.pem}, keepalive: {max_connection_age: 0s}}\n"+okProviders+okModels), WithLookupEnv(env(nil)))
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Server.TLS.Enabled() || !cfg.Server.TLS.MutualTLS() || cfg.Server.Keepalive.MaxConnectionAge != 0 {
		t.Errorf("Parse() server = %+v, want TLS with client certificates and no connection age", cfg.Server)
	}
}
