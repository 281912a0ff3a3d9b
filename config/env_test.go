package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestExpandEnv(t *testing.T) {
	vars := map[string]string{
		"HOST":  "example.com",
		"PORT":  "9443",
		"EMPTY": "",
		"RATE":  "0.25",
	}
	tests := []struct {
		name string
		give string
		want string
	}{
		{name: "no references", give: "a: b\n", want: "a: b\n"},
		{name: "set", give: "url: https://${HOST}:${PORT}/v1", want: "url: https://example.com:9443/v1"},
		{name: "set but empty", give: "a: '${EMPTY}'", want: "a: ''"},
		{name: "fallback unused", give: "a: ${HOST:-other}", want: "a: example.com"},
		{name: "fallback for unset", give: "a: ${NOPE:-other.org:80}", want: "a: other.org:80"},
		{name: "fallback for empty", give: "a: ${EMPTY:-x}", want: "a: x"},
		{name: "empty fallback", give: "a: '${NOPE:-}'", want: "a: ''"},
		{name: "escape", give: "a: $$", want: "a: $"},
		{name: "escaped reference", give: "a: $${NOPE}", want: "a: ${NOPE}"},
		{name: "escape then reference", give: "a: $$${HOST}", want: "a: $example.com"},
		{name: "lone dollars kept", give: "# costs $5 a month, $ and $HOME\na: $", want: "# costs $5 a month, $ and $HOME\na: $"},
		{name: "in comments", give: "# ${HOST}\n", want: "# example.com\n"},
		{name: "number", give: "error_rate: ${RATE}", want: "error_rate: 0.25"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := expandEnv([]byte(tt.give), env(vars))
			if err != nil {
				t.Fatalf("expandEnv(%q) error: %v", tt.give, err)
			}
			if string(got) != tt.want {
				t.Errorf("expandEnv(%q) = %q, want %q", tt.give, got, tt.want)
			}
		})
	}
}

func TestExpandEnvErrors(t *testing.T) {
	tests := []struct {
		name string
		give string
		want []FieldError // Message holds a substring of the message
	}{
		{
			name: "unset",
			give: "a: 1\nb: ${OPENAI_BASE}\n",
			want: []FieldError{{Line: 2, Message: "environment variable OPENAI_BASE is not set"}},
		},
		{
			name: "every unset variable",
			give: "a: ${A}\n# ${B}\nc: ${A} ${C:-ok}\n",
			want: []FieldError{
				{Line: 1, Message: "environment variable A is not set"},
				{Line: 2, Message: "environment variable B is not set"},
				{Line: 3, Message: "environment variable A is not set"},
			},
		},
		{
			name: "unterminated",
			give: "a: b\nc: ${HOST\nd: }",
			want: []FieldError{{Line: 2, Message: `unterminated variable reference "${HOST"`}},
		},
		{
			name: "unterminated at end",
			give: "c: ${HO",
			want: []FieldError{{Line: 1, Message: `unterminated variable reference "${HO"`}},
		},
		{
			name: "invalid name",
			give: "a: ${1X}\nb: ${}\nc: ${A-B}",
			want: []FieldError{
				{Line: 1, Message: `invalid variable reference "${1X}"`},
				{Line: 2, Message: `invalid variable reference "${}"`},
				{Line: 3, Message: `invalid variable reference "${A-B}"`},
			},
		},
		{
			name: "nested",
			give: "a: ${A:-${B}}",
			want: []FieldError{{Line: 1, Message: "a fallback cannot contain another reference"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := expandEnv([]byte(tt.give), env(map[string]string{"HOST": "h"}))
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("expandEnv(%q) error = %v, want a *ValidationError", tt.give, err)
			}
			if len(ve.Errors) != len(tt.want) {
				t.Fatalf("expandEnv(%q) = %d problems, want %d:\n%v", tt.give, len(ve.Errors), len(tt.want), err)
			}
			for i, w := range tt.want {
				got := ve.Errors[i]
				if got.Line != w.Line || got.Path != "" || !strings.Contains(got.Message, w.Message) {
					t.Errorf("expandEnv(%q) problem %d = %+v, want line %d and a message containing %q", tt.give, i, got, w.Line, w.Message)
				}
			}
		})
	}
}

// TestParseExpandsEnv checks expansion end to end: values, numbers and
// durations from the environment, and the option that injects the lookup.
func TestParseExpandsEnv(t *testing.T) {
	const give = `
server:
  grpc_addr: "${GRPC_ADDR:-:9090}"
  drain_timeout: ${DRAIN}
providers:
  - name: ${PROVIDER_NAME}
    type: openai
    base_url: ${BASE_URL:-https://api.openai.com/v1}
    headers: {X-Title: "$${not-a-reference} $$5"}
models:
  - name: m
    deployments: [{provider: p1, weight: ${WEIGHT}}]
`
	cfg, err := Parse([]byte(give), WithLookupEnv(env(map[string]string{
		"DRAIN":         "5s",
		"PROVIDER_NAME": "p1",
		"WEIGHT":        "3",
		"BASE_URL":      "http://localhost:11434/v1",
	})))
	if err != nil {
		t.Fatalf("Parse() error: %v", err)
	}
	got := []any{cfg.Server.GRPCAddr, cfg.Server.DrainTimeout.String(), cfg.Providers[0].Name,
		cfg.Providers[0].BaseURL, cfg.Providers[0].Headers["X-Title"], cfg.Models[0].Deployments[0].Weight}
	want := []any{":9090", "5s", "p1", "http://localhost:11434/v1", "${not-a-reference} $5", 3}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Parse() expanded values mismatch (-want +got):\n%s", diff)
	}

	_, err = Parse([]byte(give), WithLookupEnv(env(map[string]string{"DRAIN": "5s", "WEIGHT": "1"})))
	if err == nil || !strings.Contains(err.Error(), "line 6: environment variable PROVIDER_NAME is not set") {
		t.Errorf("Parse() without PROVIDER_NAME error = %v, want it to name the variable and line 6", err)
	}
}

func TestParseUsesOSEnvByDefault(t *testing.T) {
	t.Setenv("LLMGATEWAY_CONFIG_TEST_ADDR", "127.0.0.1:7070")
	cfg, err := Parse([]byte(`
server: {grpc_addr: "${LLMGATEWAY_CONFIG_TEST_ADDR}"}
providers: [{name: s, type: simulator}]
models: [{name: m, deployments: [{provider: s}]}]
`))
	if err != nil {
		t.Fatalf("Parse() error: %v", err)
	}
	if cfg.Server.GRPCAddr != "127.0.0.1:7070" {
		t.Errorf("Parse() grpc_addr = %q, want %q", cfg.Server.GRPCAddr, "127.0.0.1:7070")
	}
}
