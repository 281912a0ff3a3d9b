package app

import (
	"log/slog"
	"os"
	"testing"

	"github.com/llmgateway/llmgateway/config"
)

// TestExampleConfigsBuild loads every shipped example config and builds a
// gateway from it with every API key variable set, as a user would.
func TestExampleConfigsBuild(t *testing.T) {
	for _, path := range []string{"../examples/providers.yaml", "../config/default.yaml"} {
		t.Run(path, func(t *testing.T) {
			lookup := func(name string) (string, bool) {
				if v, ok := os.LookupEnv(name); ok {
					return v, true
				}
				if name == "AGGREGATOR_BASE_URL" {
					return "", false // its ${...:-default} applies
				}
				return "test-key-for-" + name, true
			}
			cfg, err := config.Load(path, config.WithLookupEnv(lookup))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := FromConfig(cfg, slog.New(slog.DiscardHandler), lookup); err != nil {
				t.Fatalf("FromConfig(%s) = %v", path, err)
			}
		})
	}
}
