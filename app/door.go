package app

import (
	"log/slog"

	"github.com/llmgateway/llmgateway/config"
)

// doorOptions builds the interceptors that guard the door (keys, limits,
// budgets) and the usage ledger from the config.
func doorOptions(cfg *config.Config, logger *slog.Logger) ([]Option, error) {
	return nil, nil
}
