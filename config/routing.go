package config

import "gopkg.in/yaml.v3"

// Routing configures how requests are spread over deployments and how
// failures are handled (YAML key routing).
type Routing struct{}

func (v *validator) routing(p path, c *Config) {}

func applyRoutingDefaults(c *Config, root *yaml.Node) {}
