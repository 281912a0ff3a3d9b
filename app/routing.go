package app

import (
	"log/slog"

	"github.com/llmgateway/llmgateway/config"
	"github.com/llmgateway/llmgateway/routing"
)

// routerOptions turns the config's routing section into router options.
func routerOptions(cfg *config.Config, logger *slog.Logger) ([]routing.Option, error) {
	return nil, nil
}
