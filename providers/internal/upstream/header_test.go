package upstream

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/llmgateway/llmgateway/llm"
)

func TestNewHeader(t *testing.T) {
	reserveHost := func(k string) error {
		if http.CanonicalHeaderKey(k) == "Host" {
			return errors.New("Host is reserved")
		}
		return nil
	}
	tests := []struct {
		name       string
		giveName   string
		givePrefix string
		giveKey    string
		giveExtra  map[string]string
		giveCheck  func(string) error
		want       http.Header
		wantErr    string // a fragment of the error; "" for none
	}{
		{
			name:     "key and extra headers",
			giveName: "Authorization", givePrefix: "Bearer ", giveKey: "sk-1",
			giveExtra: map[string]string{"x-title": "gw", "OpenAI-Organization": "org-1"},
			want:      http.Header{"Authorization": {"Bearer sk-1"}, "X-Title": {"gw"}, "Openai-Organization": {"org-1"}},
		},
		{
			name:     "no key: no key header, and the key header may be set",
			giveName: "x-api-key", giveExtra: map[string]string{"X-API-Key": "proxy"},
			want: http.Header{"X-Api-Key": {"proxy"}},
		},
		{
			name:     "no key: the key header name is not checked",
			giveName: "bad name",
			want:     http.Header{},
		},
		{name: "bad key header name", giveName: "api key", giveKey: "k", wantErr: `auth header name "api key" is not a valid HTTP header name`},
		{name: "bad prefix", giveName: "Authorization", givePrefix: "Bearer\n", giveKey: "k", wantErr: "auth header prefix"},
		{name: "key with a trailing newline", giveName: "Authorization", giveKey: "k\n", wantErr: "APIKey has surrounding whitespace or control characters"},
		{name: "key with a leading space", giveName: "Authorization", giveKey: " k", wantErr: "APIKey has surrounding whitespace"},
		{name: "bad header name", giveName: "Authorization", giveExtra: map[string]string{"Bad Header": "v"}, wantErr: `Headers: "Bad Header" is not a valid HTTP header name`},
		{name: "header value with a newline", giveName: "Authorization", giveExtra: map[string]string{"X-A": "v\r\nX-B: w"}, wantErr: `Headers: the value of "X-A" contains control characters`},
		{name: "clash with the key", giveName: "Authorization", giveKey: "k", giveExtra: map[string]string{"authorization": "Bearer j"}, wantErr: "Headers sets authorization, which APIKey already sets"},
		{name: "refused by check", giveName: "Authorization", giveExtra: map[string]string{"host": "h"}, giveCheck: reserveHost, wantErr: "Host is reserved"},
		{name: "check runs after the value is found valid", giveName: "Authorization", giveExtra: map[string]string{"host": "h\n"}, giveCheck: reserveHost, wantErr: "contains control characters"},
		{name: "check runs before the clash", giveName: "Host", giveKey: "k", giveExtra: map[string]string{"host": "h"}, giveCheck: reserveHost, wantErr: "Host is reserved"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NewHeader(tt.giveName, tt.givePrefix, tt.giveKey, tt.giveExtra, tt.giveCheck)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("NewHeader() = %v, %v; want an error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewHeader() error = %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("NewHeader() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidHeaderName(t *testing.T) {
	tests := []struct {
		give string
		want bool
	}{
		{"X-Api-Key", true},
		{"anthropic-beta", true},
		{"x!#$%&'*+-.^_`|~9", true},
		{"", false},
		{"Bad Header", false},
		{"X:Y", false},
		{"naïve", false},
	}
	for _, tt := range tests {
		if got := ValidHeaderName(tt.give); got != tt.want {
			t.Errorf("ValidHeaderName(%q) = %v, want %v", tt.give, got, tt.want)
		}
	}
}

func TestValidHeaderValue(t *testing.T) {
	tests := []struct {
		give string
		want bool
	}{
		{"", true},
		{"Bearer sk-1", true},
		{"a\tb", true},
		{"naïve", true},
		{"a\nb", false},
		{"a\rb", false},
		{"a\x00b", false},
		{"a\x7fb", false},
	}
	for _, tt := range tests {
		if got := ValidHeaderValue(tt.give); got != tt.want {
			t.Errorf("ValidHeaderValue(%q) = %v, want %v", tt.give, got, tt.want)
		}
	}
}

func TestCheckRequest(t *testing.T) {
	msgs := []llm.Message{{Role: llm.RoleUser, Content: "x"}}
	tests := []struct {
		name    string
		give    *llm.Request
		wantErr string // "" for none
	}{
		{"valid", &llm.Request{Model: "m", Messages: msgs}, ""},
		{"nil", nil, "request is nil"},
		{"no model", &llm.Request{Messages: msgs}, "request has no model"},
		{"no messages", &llm.Request{Model: "m"}, "request has no messages"},
		{"negative max tokens", &llm.Request{Model: "m", Messages: msgs, MaxTokens: -1}, "request MaxTokens is -1, want 0 (the default) or more"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckRequest(tt.give)
			if tt.wantErr == "" {
				if err != nil {
					t.Errorf("CheckRequest() = %v, want nil", err)
				}
				return
			}
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("CheckRequest() = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestParseAPIRoot(t *testing.T) {
	tests := []struct {
		give    string
		want    string // the URL parsed; "" when an error is wanted
		wantErr string
	}{
		{give: "https://api.example.com", want: "https://api.example.com"},
		{give: "http://127.0.0.1:8080/proxy/?tenant=a", want: "http://127.0.0.1:8080/proxy/?tenant=a"},
		{give: "api.example.com", wantErr: `BaseURL "api.example.com" is not an absolute http(s) URL; set it to the API root, such as https://root.example`},
		{give: "ftp://api.example.com", wantErr: "not an absolute http(s) URL"},
		{give: "http://[::1", wantErr: "not an absolute http(s) URL"},
		{give: "https://", wantErr: "not an absolute http(s) URL"},
		{give: "https://key@api.example.com", wantErr: "has a fragment or user info; give the API root only, and the key as APIKey"},
		{give: "https://api.example.com#x", wantErr: "has a fragment or user info"},
	}
	for _, tt := range tests {
		u, err := ParseAPIRoot(tt.give, "https://root.example")
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseAPIRoot(%q) = %v, %v; want an error containing %q", tt.give, u, err, tt.wantErr)
			}
			continue
		}
		if err != nil || u.String() != tt.want {
			t.Errorf("ParseAPIRoot(%q) = %v, %v; want %s", tt.give, u, err, tt.want)
		}
	}
}
