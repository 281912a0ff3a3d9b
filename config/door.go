package config

import "gopkg.in/yaml.v3"

// Key is one virtual API key (YAML key keys).
type Key struct{}

// Ledger configures the usage ledger (YAML key ledger).
type Ledger struct{}

// State selects the backend of shared state (YAML key state).
type State struct{}

func (v *validator) door(c *Config) {}

func applyDoorDefaults(c *Config, root *yaml.Node) {}
