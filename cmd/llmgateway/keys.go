package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/llmgateway/llmgateway/interceptors/auth"
)

// keys runs "llmgateway keys new --name NAME [--id ID]": it makes a
// virtual API key, prints it once, and prints the config entry (which
// holds only the id and the SHA-256 of the secret) to paste under keys:.
func keys(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "new" {
		return errors.New(`keys: want "llmgateway keys new --name NAME [--id ID]"`)
	}
	fs := flag.NewFlagSet("llmgateway keys new", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "what the key is for, like customer-service (required)")
	id := fs.String("id", "", "the key's public id: letters, digits and _ (default: made from the name)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("keys new: unexpected argument %q", fs.Arg(0))
	}
	n := strings.TrimSpace(*name)
	switch {
	case n == "":
		return errors.New("keys new: --name NAME is required, like --name customer-service")
	case len(n) > 128 || strings.ContainsFunc(n, func(r rune) bool { return r < ' ' || r == 0x7f }):
		return errors.New("keys new: --name must be at most 128 characters without control characters")
	}
	kid := *id
	if kid == "" {
		kid = auth.NewID(n)
	}
	if !auth.ValidID(kid) {
		return fmt.Errorf("keys new: --id must be 1 to %d letters, digits or underscores, got %q", auth.MaxIDLen, kid)
	}
	key, hash, err := auth.Generate(kid)
	if err != nil {
		return fmt.Errorf("keys new: %w", err)
	}
	fmt.Fprintf(stdout, `New API key for %s (shown once: store it now, it cannot be recovered):

    %s

Add this entry under keys: in your config (it holds only the id and the
SHA-256 of the secret), then restart the gateway:

  - id: %s
    name: %s
    secret_sha256: %s
    # models: [gpt-4.1, "deepseek-*"]   # optional allowlist
    # rpm: 600                          # optional limits
    # tpm: 200000
    # max_concurrent: 20
    # budget: {daily_usd: 50, monthly_usd: 1000}
    # labels: {team: cs}
    # admin: false

Callers send it as: Authorization: Bearer %s
`, n, key, kid, strconv.Quote(n), hash, key)
	return nil
}
