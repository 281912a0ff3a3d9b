package redact_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/llmgateway/llmgateway/telemetry/redact"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestBuiltinRules(t *testing.T) {
	r, err := redact.New(redact.Rules(), nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		give string
		want string
	}{
		{"email", "write to jane.doe+orders@example.co.uk today", "write to [EMAIL] today"},
		{"two emails", "a@b.io, c.d@e-f.com", "[EMAIL], [EMAIL]"},
		{"visa with spaces", "card 4111 1111 1111 1111 exp 12/29", "card [CARD] exp 12/29"},
		{"mastercard with dashes", "5555-5555-5555-4444", "[CARD]"},
		{"amex", "378282246310005", "[CARD]"},
		{"16 digits failing Luhn are no card", "tracking 1234567812345678", "tracking 1234567812345678"},
		{"US phone", "call me at (415) 555-0100 please", "call me at [PHONE] please"},
		{"international phone", "+44 20 7946 0958", "[PHONE]"},
		{"Chinese mobile", "我的手机是13812345678", "我的手机是[PHONE]"},
		{"order number kept", "Where is my order 1234?", "Where is my order 1234?"},
		{"short date kept", "on 2024-10-21", "on 2024-10-21"},
		{"OpenAI key", "my key is sk-proj-AbCdEf0123456789xyzXYZ", "my key is [API_KEY]"},
		{"gateway key", "sk-cs_bot-Z8rPq0aXw3bT6yV1nM4kL7jH2gF5dS9e", "[API_KEY]"},
		{"Anthropic key", "sk-ant-api03-abcdefghij0123456789", "[API_KEY]"},
		{"Google key", "AIzaSyA1234567890abcdefghijklmnopqrstuv", "[API_KEY]"},
		{"AWS key id", "AKIAIOSFODNN7EXAMPLE", "[API_KEY]"},
		{"bearer token", "Authorization: Bearer abc.def-ghi_jkl", "Authorization: Bearer [API_KEY]"},
		{"random token", "token 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b", "token [API_KEY]"},
		{"long word kept", "supercalifragilisticexpialidociousandthensome", "supercalifragilisticexpialidociousandthensome"},
		{"plain text kept", "The quick brown fox.", "The quick brown fox."},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := r.String(tt.give); got != tt.want {
				t.Errorf("String(%q) = %q, want %q", tt.give, got, tt.want)
			}
		})
	}
}

func TestRuleSelectionPatternsAndSecrets(t *testing.T) {
	tests := []struct {
		name     string
		rules    []string
		patterns []string
		secrets  []string
		give     string
		want     string
	}{
		{"only emails", []string{redact.Email}, nil, nil, "a@b.io 4111111111111111", "[EMAIL] 4111111111111111"},
		{"no rules", nil, nil, nil, "a@b.io", "a@b.io"},
		{"custom pattern", nil, []string{`ORD-[0-9]{6}`}, nil, "order ORD-123456 shipped", "order [REDACTED] shipped"},
		{"exact secret", nil, nil, []string{"hunter2hunter2"}, "password hunter2hunter2!", "password [SECRET]!"},
		{"secret inside a longer one", nil, nil, []string{"abcdefgh", "abcdefgh-long"}, "abcdefgh-long abcdefgh", "[SECRET] [SECRET]"},
		{"short secret ignored", nil, nil, []string{"abc"}, "abc", "abc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := redact.New(tt.rules, tt.patterns, tt.secrets...)
			if err != nil {
				t.Fatal(err)
			}
			if got := r.String(tt.give); got != tt.want {
				t.Errorf("String(%q) = %q, want %q", tt.give, got, tt.want)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name     string
		rules    []string
		patterns []string
		want     string
	}{
		{"unknown rule", []string{"ssn"}, nil, `unknown redaction rule "ssn"`},
		{"bad pattern", nil, []string{"(a"}, "redaction pattern 0"},
		{"empty match", nil, []string{"a*"}, "matches the empty string"},
	}
	for _, tt := range tests {
		if _, err := redact.New(tt.rules, tt.patterns); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%v, %v) error = %v, want one containing %q", tt.rules, tt.patterns, err, tt.want)
		}
	}
}

func TestNilRedactorPasses(t *testing.T) {
	var r *redact.Redactor
	if got := r.String("a@b.io"); got != "a@b.io" {
		t.Errorf("nil Redactor String() = %q, want the input", got)
	}
}

func TestHandler(t *testing.T) {
	r, err := redact.New([]string{redact.APIKey}, nil, "upstream-secret-123")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	log := slog.New(redact.Handler(slog.NewJSONHandler(&buf, nil), r))
	upstream := errors.New("401: Incorrect API key provided: sk-proj-AbCdEf0123456789xyzXYZ (key upstream-secret-123)")
	log.With("error", "early upstream-secret-123").Warn("attempt failed",
		"error", upstream,
		"grpc.error", "bearer abcdefgh12345678",
		"note", "upstream-secret-123 is not an error attribute",
		slog.Group("call", "err", errors.New("echo upstream-secret-123")))
	log.Info("plain", "n", 1)

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("logged %d lines, want 2:\n%s", len(lines), buf.String())
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"error":      "401: Incorrect API key provided: [API_KEY] (key [SECRET])",
		"grpc.error": "Bearer [API_KEY]",
		"note":       "upstream-secret-123 is not an error attribute",
		"call":       map[string]any{"err": "echo [SECRET]"},
	}
	for k, w := range want {
		if got := rec[k]; !jsonEqual(got, w) {
			t.Errorf("logged %s = %v, want %v", k, got, w)
		}
	}
	if strings.Contains(lines[0], "early upstream-secret-123") {
		t.Errorf("an error attribute given With was not redacted: %s", lines[0])
	}
	if !strings.Contains(lines[1], `"msg":"plain"`) {
		t.Errorf("plain record = %s", lines[1])
	}
}

func jsonEqual(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}
