package config

import (
	"cmp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// The defaults of settings the file may leave out, as documented on the
// fields.
const (
	defaultGRPCAddr           = ":9090"
	defaultHTTPAddr           = ":8080"
	defaultDrainTimeout       = 30 * time.Second
	defaultMaxRequestBytes    = 4 << 20
	defaultMaxInFlight        = 4096
	defaultMaxStreams         = 1024
	defaultKeepaliveMinTime   = 10 * time.Second
	defaultKeepaliveTime      = 2 * time.Hour
	defaultKeepaliveTimeout   = 20 * time.Second
	defaultReadHeaderTimeout  = 10 * time.Second
	defaultReadTimeout        = 60 * time.Second
	defaultIdleTimeout        = 120 * time.Second
	defaultMaxHeaderBytes     = 1 << 20
	defaultProviderTimeout    = 60 * time.Second
	defaultAnthropicMaxTokens = 4096
	defaultRetryAfter         = time.Second
	defaultSlowFactor         = 1.0
	defaultSeed               = 1
)

// applyDefaults fills the settings c leaves out. It runs after validation,
// so it can rely on every reference resolving. root tells which keys the
// file gives, for settings where an explicit 0 differs from an omitted key.
func applyDefaults(c *Config, root *yaml.Node) {
	defer applyRoutingDefaults(c, root)
	defer applyDoorDefaults(c, root)
	defer applyTelemetryDefaults(c, root)
	s := &c.Server
	if s.GRPCAddr == "" {
		s.GRPCAddr = defaultGRPCAddr
	}
	if s.HTTPAddr == "" {
		s.HTTPAddr = defaultHTTPAddr
	}
	if s.DrainTimeout == 0 {
		s.DrainTimeout = defaultDrainTimeout
	}
	if s.MaxRequestBytes == 0 {
		s.MaxRequestBytes = defaultMaxRequestBytes
	}
	s.MaxInFlight = cmp.Or(s.MaxInFlight, defaultMaxInFlight)
	s.MaxConcurrentStreams = cmp.Or(s.MaxConcurrentStreams, defaultMaxStreams)
	ka := &s.Keepalive
	ka.MinTime = cmp.Or(ka.MinTime, defaultKeepaliveMinTime)
	ka.Time = cmp.Or(ka.Time, defaultKeepaliveTime)
	ka.Timeout = cmp.Or(ka.Timeout, defaultKeepaliveTimeout)
	hl := &s.HTTP
	hl.ReadHeaderTimeout = cmp.Or(hl.ReadHeaderTimeout, defaultReadHeaderTimeout)
	hl.ReadTimeout = cmp.Or(hl.ReadTimeout, defaultReadTimeout)
	hl.IdleTimeout = cmp.Or(hl.IdleTimeout, defaultIdleTimeout)
	hl.MaxHeaderBytes = cmp.Or(hl.MaxHeaderBytes, defaultMaxHeaderBytes)

	for i := range c.Providers {
		p := &c.Providers[i]
		pp := path{"providers"}.index(i)
		p.BaseURL = strings.TrimRight(p.BaseURL, "/")
		if p.BaseURL == "" {
			p.BaseURL = DefaultBaseURL(p.Type)
		}
		if p.Timeout == 0 {
			p.Timeout = defaultProviderTimeout
		}
		if p.DefaultMaxTokens == 0 && p.Type == TypeAnthropic {
			p.DefaultMaxTokens = defaultAnthropicMaxTokens
		}
		if p.Type != TypeSimulator {
			continue
		}
		if p.Simulator == nil {
			p.Simulator = &Simulator{}
		}
		sim, sp := p.Simulator, pp.field("simulator")
		if sim.Latency.P99 == 0 {
			sim.Latency.P99 = sim.Latency.P50
		}
		if sim.RetryAfter == 0 && !present(root, sp.field("retry_after")) {
			sim.RetryAfter = defaultRetryAfter
		}
		if sim.SlowFactor == 0 {
			sim.SlowFactor = defaultSlowFactor
		}
		if sim.Seed == 0 && !present(root, sp.field("seed")) {
			sim.Seed = defaultSeed
		}
	}

	for i := range c.Models {
		m := &c.Models[i]
		for j := range m.Deployments {
			d := &m.Deployments[j]
			if prov, ok := c.ProviderByName(d.Provider); ok {
				d.Model = upstreamModel(d, m, prov)
			}
			wp := path{"models"}.index(i).field("deployments").index(j).field("weight")
			if d.Weight == 0 && !present(root, wp) {
				d.Weight = 1
			}
		}
	}
}
