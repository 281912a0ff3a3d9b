package routing

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/llmgateway/llmgateway/llm"
)

// Deployment is one model served by one provider: the unit of health.
type Deployment struct {
	// Provider names the provider that serves it.
	Provider string
	// UpstreamModel is the model name sent to the provider.
	UpstreamModel string
	// Weight is its share among deployments of equal priority. 0 keeps it
	// out of weighted selection unless nothing else is left.
	Weight int
	// Priority orders deployments: lower first.
	Priority int
	// Timeout bounds one attempt: a unary call, or a stream from its start
	// to its end. 0 leaves it to the provider's own.
	Timeout time.Duration
}

// String names the deployment as provider/upstream-model.
func (d *Deployment) String() string { return d.Provider + "/" + d.UpstreamModel }

// Key identifies a deployment across router generations: health state
// (breakers, latency windows, cool-downs, session affinity) is kept under
// it, so that a router built from a reloaded config finds the state of the
// deployments it shares with its predecessor.
type Key struct {
	Provider      string
	UpstreamModel string
	// Model is the gateway model the deployment serves.
	Model string
}

// String formats k as model@provider/upstream-model, the form logs and
// shared stores use.
func (k Key) String() string { return k.Model + "@" + k.Provider + "/" + k.UpstreamModel }

// Model is a model callers can name, with the deployments that serve it.
type Model struct {
	Name        string
	Aliases     []string
	Deployments []Deployment
	Pricing     llm.Pricing
}

// Key returns the key of m's deployment d.
func (m *Model) Key(d *Deployment) Key {
	return Key{Provider: d.Provider, UpstreamModel: d.UpstreamModel, Model: m.Name}
}

// Catalog resolves model names and aliases. It is immutable once built.
type Catalog struct {
	byName map[string]*Model
	models []*Model // sorted by name
}

// NewCatalog builds a catalog. Names and aliases must be unique across all
// models, ignoring case, and every model needs at least one deployment.
func NewCatalog(models []Model) (*Catalog, error) {
	c := &Catalog{byName: make(map[string]*Model, len(models)*2)}
	for i := range models {
		m := models[i]
		if m.Name == "" {
			return nil, fmt.Errorf("model %d: empty name", i)
		}
		if len(m.Deployments) == 0 {
			return nil, fmt.Errorf("model %q: no deployments", m.Name)
		}
		m.Aliases = append([]string(nil), m.Aliases...)
		m.Deployments = append([]Deployment(nil), m.Deployments...)
		seen := make(map[Key]bool, len(m.Deployments))
		for j := range m.Deployments {
			k := m.Key(&m.Deployments[j])
			if seen[k] {
				return nil, fmt.Errorf("model %q: deployment %s appears twice", m.Name, m.Deployments[j].String())
			}
			seen[k] = true
		}
		for _, n := range append([]string{m.Name}, m.Aliases...) {
			key := strings.ToLower(n)
			if prev, ok := c.byName[key]; ok {
				return nil, fmt.Errorf("model %q: name %q already used by model %q", m.Name, n, prev.Name)
			}
			c.byName[key] = &m
		}
		c.models = append(c.models, &m)
	}
	sort.Slice(c.models, func(i, j int) bool { return c.models[i].Name < c.models[j].Name })
	return c, nil
}

// Resolve returns the model that name or alias denotes, ignoring case.
func (c *Catalog) Resolve(name string) (*Model, bool) {
	m, ok := c.byName[name]
	if !ok {
		m, ok = c.byName[strings.ToLower(name)]
	}
	return m, ok
}

// Models returns every model, sorted by name. The caller must not modify
// them.
func (c *Catalog) Models() []*Model { return c.models }
