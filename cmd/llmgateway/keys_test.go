package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/llmgateway/llmgateway/config"
	"github.com/llmgateway/llmgateway/interceptors/auth"
)

func TestKeysNew(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"keys", "new", "--name", "customer service"}, &out, &errOut); err != nil {
		t.Fatalf("keys new: %v (%s)", err, errOut.String())
	}
	key := regexp.MustCompile(`(?m)^    (sk-\S+)$`).FindStringSubmatch(out.String())
	if key == nil {
		t.Fatalf("no key in the output:\n%s", out.String())
	}
	id, secret, err := auth.ParseKey(key[1])
	if err != nil {
		t.Fatalf("printed key %q does not parse: %v", key[1], err)
	}
	if !strings.HasPrefix(id, "customer_service_") {
		t.Errorf("id = %q, want one made from the name", id)
	}
	sum := sha256.Sum256([]byte(secret))
	if !strings.Contains(out.String(), "secret_sha256: "+hex.EncodeToString(sum[:])) {
		t.Errorf("output does not hold the secret's SHA-256:\n%s", out.String())
	}
	// The printed entry pasted into a config is valid and is the key.
	entry := out.String()[strings.Index(out.String(), "  - id:"):strings.Index(out.String(), "    # models")]
	cfgYAML := "providers: [{name: s, type: simulator}]\nmodels: [{name: m, deployments: [{provider: s}]}]\nkeys:\n" + entry
	file := filepath.Join(t.TempDir(), "gw.yaml")
	if err := os.WriteFile(file, []byte(cfgYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatalf("the printed entry does not load: %v\n%s", err, cfgYAML)
	}
	if k := cfg.Keys[0]; k.ID != id || k.Name != "customer service" || k.SecretSHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("loaded key = %+v", k)
	}
	// Two keys never share a secret.
	var out2 bytes.Buffer
	if err := run(context.Background(), []string{"keys", "new", "--name", "customer service", "--id", "cs_bot"}, &out2, &errOut); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out2.String(), "sk-cs_bot-") || strings.Contains(out2.String(), secret) {
		t.Errorf("second key output:\n%s", out2.String())
	}
}

func TestKeysNewErrors(t *testing.T) {
	tests := []struct {
		name string
		give []string
		want string
	}{
		{"no subcommand", []string{"keys"}, "keys new --name NAME"},
		{"unknown subcommand", []string{"keys", "list"}, "keys new --name NAME"},
		{"no name", []string{"keys", "new"}, "--name NAME is required"},
		{"bad id", []string{"keys", "new", "--name", "x", "--id", "a-b"}, "--id must be"},
		{"extra argument", []string{"keys", "new", "--name", "x", "extra"}, `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(context.Background(), tt.give, &out, &errOut)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("run(%q) = %v, want an error containing %q", tt.give, err, tt.want)
			}
			if out.Len() > 0 {
				t.Errorf("run(%q) printed %q on failure", tt.give, out.String())
			}
		})
	}
}
