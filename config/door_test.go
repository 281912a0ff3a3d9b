package config

import (
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fullKeys, fullLedger and fullState are what fullYAML's keys, ledger and
// state sections parse to.
func fullKeys() []Key {
	return []Key{{
		ID:            "cs_bot",
		Name:          "customer-service",
		SecretSHA256:  "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		Models:        []string{"gpt-4", "claude-*", "auto"},
		RPM:           600,
		TPM:           200000,
		MaxConcurrent: 20,
		Budget:        Budget{DailyUSD: 50, MonthlyUSD: 1000},
		Labels:        map[string]string{"team": "cs", "app": "bot"},
		Admin:         true,
	}}
}

func fullLedger() Ledger {
	return Ledger{Path: "/var/lib/llmgateway/usage.db", QueueSize: 2000, BatchSize: 100, FlushInterval: durationPtr(time.Second)}
}

func fullState() State {
	return State{
		Backend:          BackendRedis,
		DefaultMaxTokens: 2048,
		Redis: &Redis{
			Addr:        "redis.internal:6380",
			PasswordEnv: "REDIS_PASSWORD",
			DB:          2,
			TLS:         true,
			Prefix:      "gw1:",
			Timeout:     250 * time.Millisecond,
			FailureMode: FailClosed,
		},
	}
}

// defaultLedger and defaultState are what a file without ledger and state
// sections gets.
func defaultLedger() Ledger {
	return Ledger{QueueSize: 10000, BatchSize: 500, FlushInterval: durationPtr(200 * time.Millisecond)}
}

func durationPtr(d time.Duration) *time.Duration { return &d }

func defaultState() State { return State{Backend: BackendMemory, DefaultMaxTokens: 1024} }

const okSecret = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

func TestDoorDefaults(t *testing.T) {
	tests := []struct {
		name string
		give string
		want func(*Config) any
		out  any
	}{
		{"key name defaults to id", "keys: [{id: a, secret_sha256: " + strings.ToUpper(okSecret) + "}]",
			func(c *Config) any { return c.Keys }, []Key{{ID: "a", Name: "a", SecretSHA256: okSecret}}},
		{"redis defaults", "state: {backend: redis, redis: {addr: 'r:6379'}}",
			func(c *Config) any { return c.State },
			State{Backend: BackendRedis, DefaultMaxTokens: 1024, Redis: &Redis{Addr: "r:6379", Prefix: "llmgateway:", Timeout: 500 * time.Millisecond, FailureMode: FailOpen}}},
		{"explicit empty prefix kept", "state: {backend: redis, redis: {addr: 'r:6379', prefix: ''}}",
			func(c *Config) any { return c.State.Redis.Prefix }, ""},
		{"no sections", "",
			func(c *Config) any { return []any{c.Keys, c.Ledger, c.State} }, []any{[]Key(nil), defaultLedger(), defaultState()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse([]byte(okProviders+okModels+tt.give), WithLookupEnv(env(nil)))
			if err != nil {
				t.Fatalf("Parse() error: %v", err)
			}
			if diff := cmp.Diff(tt.out, tt.want(cfg)); diff != "" {
				t.Errorf("Parse() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDoorValidationErrors(t *testing.T) {
	base := okProviders + "models: [{name: gpt-4.1, aliases: [gpt-4], deployments: [{provider: sim-a}]}, {name: deepseek-v3.2, deployments: [{provider: sim-a}]}]\n"
	key := func(extra string) string {
		return base + "keys: [{id: k, secret_sha256: " + okSecret + extra + "}]\n"
	}
	tests := []struct {
		name string
		give string
		want []wantProblem
	}{
		{"id missing", base + "keys: [{secret_sha256: " + okSecret + "}]", []wantProblem{{"keys[0].id", "required", 0}}},
		{"id with dash", base + "keys: [{id: cs-bot, secret_sha256: " + okSecret + "}]", []wantProblem{{"keys[0].id", "letters, digits or underscores", 0}}},
		{"id too long", base + "keys: [{id: " + strings.Repeat("a", 65) + ", secret_sha256: " + okSecret + "}]", []wantProblem{{"keys[0].id", "1 to 64", 0}}},
		{"duplicate id", base + "keys: [{id: k, secret_sha256: " + okSecret + "}, {id: k, secret_sha256: " + strings.Repeat("a", 64) + "}]",
			[]wantProblem{{"keys[1].id", "already the id of keys[0]", 0}}},
		{"same secret twice", base + "keys: [{id: a, secret_sha256: " + okSecret + "}, {id: b, secret_sha256: " + strings.ToUpper(okSecret) + "}]",
			[]wantProblem{{"keys[1].secret_sha256", "same secret as keys[0]", 0}}},
		{"secret missing", base + "keys: [{id: k}]", []wantProblem{{"keys[0].secret_sha256", "required", 0}}},
		{"secret not hex", base + "keys: [{id: k, secret_sha256: xyz}]", []wantProblem{{"keys[0].secret_sha256", "64 hexadecimal digits", 0}}},
		{"secret is a key", base + "keys: [{id: k, secret_sha256: sk-k-abcdef}]", []wantProblem{{"keys[0].secret_sha256", "holds an API key", 0}}},
		{"unknown model", key(", models: [gpt-5]"), []wantProblem{{"keys[0].models[0]", `no model, alias or virtual model named "gpt-5"`, 0}}},
		{"glob matching nothing", key(", models: ['claude-*']"), []wantProblem{{"keys[0].models[0]", "matches no model", 0}}},
		{"empty model", key(", models: ['']"), []wantProblem{{"keys[0].models[0]", "must not be empty", 0}}},
		{"negative limits", key(", rpm: -1, tpm: -2, max_concurrent: -3"), []wantProblem{
			{"keys[0].rpm", ">= 0", 0}, {"keys[0].tpm", ">= 0", 0}, {"keys[0].max_concurrent", ">= 0", 0}}},
		{"negative budget", key(", budget: {daily_usd: -1, monthly_usd: .nan}"), []wantProblem{
			{"keys[0].budget.daily_usd", ">= 0", 0}, {"keys[0].budget.monthly_usd", ">= 0", 0}}},
		{"bad label", key(", labels: {'team name': x, ok: \"a\\nb\"}"), []wantProblem{
			{`keys[0].labels["ok"]`, "control characters", 0}, {`keys[0].labels["team name"]`, "label names", 0}}},
		{"fractional rpm", key(", rpm: 1.5"), []wantProblem{{"keys[0].rpm", "whole number", 0}}},
		{"unknown key field", key(", rpms: 5"), []wantProblem{{"keys[0].rpms", `did you mean "rpm"`, 0}}},
		{"ledger", base + "ledger: {path: 'u.db?mode=ro', queue_size: 0, batch_size: -1, flush_interval: -1s}", []wantProblem{
			{"ledger.path", "without ? or #", 0}, {"ledger.queue_size", "> 0", 0}, {"ledger.batch_size", "> 0", 0},
			{"ledger.flush_interval", ">= 0", 0}}},
		{"unknown backend", base + "state: {backend: etcd}", []wantProblem{{"state.backend", "want memory or redis", 0}}},
		{"redis without block", base + "state: {backend: redis}", []wantProblem{{"state.redis", "required for backend redis", 0}}},
		{"redis block with memory", base + "state: {redis: {addr: 'r:1'}}", []wantProblem{{"state.redis", "only used with backend: redis", 0}}},
		{"default_max_tokens", base + "state: {default_max_tokens: 0}", []wantProblem{{"state.default_max_tokens", "between 1 and", 0}}},
		{"redis fields", base + "state: {backend: redis, redis: {addr: redis, password_env: 'hunter 2', db: -1, prefix: 'a b', timeout: 0s, failure_mode: maybe}}", []wantProblem{
			{"state.redis.addr", "host:port", 0}, {"state.redis.password_env", "name of an environment variable", 0},
			{"state.redis.db", ">= 0", 0}, {"state.redis.prefix", "spaces", 0}, {"state.redis.timeout", "> 0", 0},
			{"state.redis.failure_mode", "open or closed", 0}}},
		{"redis port", base + "state: {backend: redis, redis: {addr: 'r:0'}}", []wantProblem{{"state.redis.addr", "1 to 65535", 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkProblems(t, problems(t, tt.give), tt.want)
		})
	}
}

func TestSecretNotEchoed(t *testing.T) {
	const give = okProviders + okModels + "keys: [{id: k, secret_sha256: sk-k-TopSecret123}]\nstate: {backend: redis, redis: {addr: 'r:1', password_env: 'p@ssw0rd!'}}\n"
	for _, fe := range problems(t, give) {
		if strings.Contains(fe.Message, "TopSecret") || strings.Contains(fe.Message, "p@ssw0rd") {
			t.Errorf("problem %q repeats a secret", fe.Error())
		}
	}
}

func TestAllowlistAcceptsNamesAliasesGlobsAndAuto(t *testing.T) {
	give := okProviders + "models: [{name: gpt-4.1, aliases: [gpt-4], deployments: [{provider: sim-a}]}, {name: deepseek-v3.2, deployments: [{provider: sim-a}]}]\n" +
		"keys: [{id: k, secret_sha256: " + okSecret + ", models: [GPT-4.1, gpt-4, 'deepseek-*', 'gpt-?.1', auto]}]\n"
	if _, err := Parse([]byte(give), WithLookupEnv(env(nil))); err != nil {
		t.Errorf("Parse() error: %v", err)
	}
}

func TestGlobMatch(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"*", "anything", true},
		{"deepseek-*", "deepseek-v3.2", true},
		{"deepseek-*", "DeepSeek-V3.2", true},
		{"deepseek-*", "deepseek", false},
		{"gpt-?.1", "gpt-4.1", true},
		{"gpt-?.1", "gpt-4.11", false},
		{"*mini", "gpt-4.1-mini", true},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"meta/*", "meta/llama-3", true},
	}
	for _, tt := range tests {
		if got := globMatch(tt.pattern, tt.name); got != tt.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tt.pattern, tt.name, got, tt.want)
		}
	}
}

func TestRedisPassword(t *testing.T) {
	tests := []struct {
		name    string
		give    Redis
		env     map[string]string
		want    string
		wantErr string
	}{
		{"none", Redis{}, nil, "", ""},
		{"set", Redis{PasswordEnv: "RP"}, map[string]string{"RP": "s3cret"}, "s3cret", ""},
		{"unset", Redis{PasswordEnv: "RP"}, nil, "", "RP"},
		{"empty", Redis{PasswordEnv: "RP"}, map[string]string{"RP": " "}, "", "RP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.give.Password(env(tt.env))
			if got != tt.want || (err == nil) != (tt.wantErr == "") || err != nil && !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Password() = %q, %v; want %q, error containing %q", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// TestDoorFieldDocs holds door.go's schema to the rule TestFieldDocs
// applies to config.go: every field's doc names its YAML key and states
// its default or that it is required.
func TestDoorFieldDocs(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "door.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
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
			tag := reflect.StructTag(strings.Trim(field.Tag.Value, "`"))
			key, _, _ := strings.Cut(tag.Get("yaml"), ",")
			doc := strings.Join(strings.Fields(field.Doc.Text()), " ")
			name := ts.Name.Name + "." + field.Names[0].Name
			checked++
			if !strings.Contains(doc, "(YAML key "+key) && !strings.Contains(doc, "(YAML key\n"+key) {
				t.Errorf("%s: doc comment does not name its YAML key %q", name, key)
			}
			if !strings.Contains(doc, "Default:") && !strings.Contains(doc, "Required") && !strings.Contains(doc, "required") {
				t.Errorf("%s: doc comment states neither its default nor that it is required", name)
			}
		}
		return true
	})
	if checked < 20 {
		t.Errorf("checked %d fields, want every field of door.go", checked)
	}
}
