package routing

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/llmgateway/llmgateway/llm"
)

// Outcome is how one attempt ended.
type Outcome string

// The outcomes of an attempt.
const (
	OutcomeOK       Outcome = "ok"
	OutcomeError    Outcome = "error"
	OutcomeSkipped  Outcome = "skipped"
	OutcomeCanceled Outcome = "cancelled"
	// OutcomeHedgeLost is a hedged attempt cancelled because another
	// produced its first token (or response) first.
	OutcomeHedgeLost Outcome = "hedge_lost"
)

// Attempt records one try of one deployment, or one deployment skipped.
type Attempt struct {
	Provider      string
	Model         string
	UpstreamModel string
	Outcome       Outcome
	Latency       time.Duration
	// Reason says why the deployment was chosen or skipped.
	Reason string
	// Error summarises a failure (or why the deployment was skipped)
	// without the upstream's own message.
	Error      string
	Kind       llm.ErrorKind
	StatusCode int
	RetryAfter time.Duration
	// Hedge reports that the attempt was started as a hedge.
	Hedge bool
	// Cost is the estimated price of an attempt that lost a hedge race:
	// its prompt, which the upstream processed before it was cancelled.
	Cost float64
}

// Route records how one request was routed.
type Route struct {
	// Requested is the model as the caller named it.
	Requested string
	// Resolved is the model that answered, or, when none did, the model
	// (or virtual model) the name resolved to.
	Resolved string
	// Strategy is the name of the strategy that ordered the first stage.
	Strategy string
	// Tier and Rule are the classification of a virtual model's request.
	Tier string
	Rule string
	// Attempts lists every attempt and skipped deployment, in order.
	Attempts []Attempt
}

// Result is a routed unary response.
type Result struct {
	Response   *llm.Response
	Model      *Model
	Deployment Deployment
	// Cost is what the request cost in US dollars: the response's price
	// plus HedgeCost.
	Cost float64
	// HedgeCost is the estimated price of the attempts that lost a hedge
	// race, included in Cost.
	HedgeCost float64
	Route     Route
}

// Router carries chat requests to deployments: it resolves the model (or
// classifies a virtual model's request into a tier), orders the healthy
// deployments with the model's strategy, and fails over, retries and
// hedges within the model's policy. It is safe for concurrent use.
type Router struct {
	catalog   *Catalog
	providers map[string]Provider
	opts      options

	state      *State
	cooldowns  CooldownStore
	deps       map[Key]*depState
	provHealth map[string]*providerHealth

	targets map[string]*target  // by lowercased model name or alias
	virtual map[string]*virtual // by lowercased name
	vlist   []VirtualModel
	checks  []*healthProbe
}

// stage is one list of candidates ordered together: a model's deployments,
// a tier's models' deployments, or one fallback model's.
type stage struct {
	cands    []Candidate // configuration order; slot i is cands[i]
	strategy Strategy
	wrr      *wrrState
}

// target is what a request can be routed to: a model, or one tier of a
// virtual model. Its first stage is its own; fallbacks follow.
type target struct {
	name     string // for affinity and logs: the model, or virtual/tier
	resolved string // Route.Resolved until a model answers
	stages   []*stage
	affinity bool
	hedge    *HedgePolicy
	ftt      time.Duration // first-token timeout overriding the models'
}

type virtual struct {
	name       string
	classifier *Classifier
	tiers      map[Tier]*target
}

// New returns a Router over catalog. Every deployment's provider must be in
// providers, and every model, fallback and tier the options name must be
// in catalog.
func New(catalog *Catalog, providers map[string]Provider, opts ...Option) (*Router, error) {
	o := defaultOptions
	for _, opt := range opts {
		opt(&o)
	}
	if err := o.breaker.validate(); err != nil {
		return nil, err
	}
	switch {
	case o.latencyWindow <= 0:
		return nil, fmt.Errorf("latency window is %v, want > 0", o.latencyWindow)
	case o.maxCooldown <= 0:
		return nil, fmt.Errorf("max cool-down is %v, want > 0", o.maxCooldown)
	case o.sessionTTL <= 0 || o.maxSessions < 1:
		return nil, fmt.Errorf("sessions are kept %v, at most %d; want > 0 and >= 1", o.sessionTTL, o.maxSessions)
	case o.strategy == nil:
		return nil, fmt.Errorf("no default strategy")
	}
	for _, m := range catalog.Models() {
		for _, d := range m.Deployments {
			if _, ok := providers[d.Provider]; !ok {
				return nil, fmt.Errorf("model %q: deployment on unknown provider %q", m.Name, d.Provider)
			}
		}
	}
	for name := range o.models {
		if m, ok := catalog.Resolve(name); !ok || m.Name != name {
			return nil, fmt.Errorf("policy for unknown model %q (use a model's name, not an alias)", name)
		}
	}
	for name := range o.providers {
		if _, ok := providers[name]; !ok {
			return nil, fmt.Errorf("policy for unknown provider %q", name)
		}
	}
	r := &Router{catalog: catalog, providers: providers, opts: o,
		targets: make(map[string]*target), virtual: make(map[string]*virtual)}
	r.state = o.state
	if r.state == nil {
		r.state = NewState()
	}
	r.cooldowns = o.cooldowns
	if r.cooldowns == nil {
		r.cooldowns = r.state.cooldowns
	}
	var keys []Key
	for _, m := range catalog.Models() {
		for i := range m.Deployments {
			keys = append(keys, m.Key(&m.Deployments[i]))
		}
	}
	provNames := make([]string, 0, len(providers))
	for p := range providers {
		provNames = append(provNames, p)
	}
	slices.Sort(provNames)
	r.deps, r.provHealth = r.state.lookup(keys, provNames)

	// Each model's own stage, shared by every target that uses the model
	// on its own, so that its round-robin position is one.
	own := make(map[string]*stage, len(catalog.Models()))
	for _, m := range catalog.Models() {
		p := o.models[m.Name]
		if p.Hedge != nil {
			if err := p.Hedge.validate(); err != nil {
				return nil, fmt.Errorf("model %q: %w", m.Name, err)
			}
		}
		own[m.Name] = r.newStage([]*Model{m}, p.Strategy)
	}
	for _, m := range catalog.Models() {
		p := o.models[m.Name]
		t := &target{name: m.Name, resolved: m.Name, stages: []*stage{own[m.Name]}, affinity: p.Affinity, hedge: p.Hedge}
		if err := r.addFallbacks(t, []string{m.Name}, p.Fallbacks, own); err != nil {
			return nil, fmt.Errorf("model %q: %w", m.Name, err)
		}
		for _, n := range append([]string{m.Name}, m.Aliases...) {
			r.targets[strings.ToLower(n)] = t
		}
	}
	for _, v := range o.virtual {
		if err := r.addVirtual(v, own); err != nil {
			return nil, fmt.Errorf("virtual model %q: %w", v.Name, err)
		}
	}
	if err := r.buildHealthChecks(); err != nil {
		return nil, err
	}
	// Only a router that was built forgets what its predecessor knew of
	// deployments it no longer has.
	r.state.retain(r.deps, r.provHealth)
	return r, nil
}

// newStage builds the stage of models' deployments.
func (r *Router) newStage(models []*Model, s Strategy) *stage {
	if s == nil {
		s = r.opts.strategy
	}
	st := &stage{strategy: s}
	for rank, m := range models {
		for i := range m.Deployments {
			d := &m.Deployments[i]
			st.cands = append(st.cands, Candidate{candidate: &candidate{Model: m, Deployment: d, rank: rank, slot: len(st.cands),
				st: r.deps[m.Key(d)], ph: r.provHealth[d.Provider]}})
		}
	}
	st.wrr = &wrrState{cur: make([]int, len(st.cands))}
	return st
}

// addFallbacks appends a stage per fallback model to t; models already in
// t (have) are not repeated.
func (r *Router) addFallbacks(t *target, have []string, fallbacks []string, own map[string]*stage) error {
	for _, f := range fallbacks {
		m, ok := r.catalog.Resolve(f)
		if !ok {
			return fmt.Errorf("fallback %q is not a model", f)
		}
		if slices.Contains(have, m.Name) {
			continue
		}
		have = append(have, m.Name)
		t.stages = append(t.stages, own[m.Name])
	}
	return nil
}

func (r *Router) addVirtual(v VirtualModel, own map[string]*stage) error {
	key := strings.ToLower(v.Name)
	if v.Name == "" {
		return fmt.Errorf("empty name")
	}
	if _, ok := r.targets[key]; ok {
		return fmt.Errorf("the name is already a model or alias")
	}
	if _, ok := r.virtual[key]; ok {
		return fmt.Errorf("defined twice")
	}
	if v.Hedge != nil {
		if err := v.Hedge.validate(); err != nil {
			return err
		}
	}
	rules := v.Rules
	if rules == nil {
		rules = DefaultRules()
	}
	def := v.DefaultTier
	if def == "" {
		def = TierStandard
	}
	cl, err := NewClassifier(rules, def)
	if err != nil {
		return err
	}
	vt := &virtual{name: v.Name, classifier: cl, tiers: make(map[Tier]*target, 3)}
	for _, tier := range Tiers() {
		tp, ok := v.Tiers[tier]
		if !ok {
			return fmt.Errorf("tier %s is not configured", tier)
		}
		if len(tp.Models) == 0 {
			return fmt.Errorf("tier %s has no models", tier)
		}
		var models []*Model
		var names []string
		for _, n := range tp.Models {
			m, ok := r.catalog.Resolve(n)
			if !ok {
				return fmt.Errorf("tier %s: %q is not a model", tier, n)
			}
			if slices.Contains(names, m.Name) {
				return fmt.Errorf("tier %s lists model %q twice", tier, m.Name)
			}
			models = append(models, m)
			names = append(names, m.Name)
		}
		t := &target{name: v.Name + "/" + string(tier), resolved: v.Name, affinity: v.Affinity, hedge: v.Hedge, ftt: v.FirstTokenTimeout}
		if len(models) == 1 && tp.Strategy == nil {
			t.stages = []*stage{own[models[0].Name]}
		} else {
			t.stages = []*stage{r.newStage(models, tp.Strategy)}
		}
		if err := r.addFallbacks(t, names, tp.Fallbacks, own); err != nil {
			return fmt.Errorf("tier %s: %w", tier, err)
		}
		vt.tiers[tier] = t
	}
	for tier := range v.Tiers {
		if !tier.valid() {
			return fmt.Errorf("unknown tier %q (want simple, standard or complex)", tier)
		}
	}
	r.virtual[key] = vt
	r.vlist = append(r.vlist, v)
	return nil
}

// Catalog returns the router's catalog.
func (r *Router) Catalog() *Catalog { return r.catalog }

// State returns the router's State, to hand to the router that replaces
// it after a config reload.
func (r *Router) State() *State { return r.state }

// VirtualModels returns the virtual models, in the order they were
// configured. The caller must not modify them.
func (r *Router) VirtualModels() []VirtualModel { return r.vlist }

// resolve finds the target of model for req, classifying a virtual
// model's request.
func (r *Router) resolve(model string, req *llm.Request) (*target, Route, error) {
	t, ok := r.targets[model]
	if !ok {
		t, ok = r.targets[strings.ToLower(model)]
	}
	if ok {
		return t, Route{Requested: model, Resolved: t.resolved, Strategy: t.stages[0].strategy.Name()}, nil
	}
	v, ok := r.virtual[strings.ToLower(model)]
	if !ok {
		return nil, Route{}, &UnknownModelError{Name: model}
	}
	tier, rule := v.classifier.Classify(req)
	t = v.tiers[tier]
	return t, Route{Requested: model, Resolved: t.resolved, Strategy: t.stages[0].strategy.Name(), Tier: string(tier), Rule: rule}, nil
}

// Chat routes req to the model named model and returns the first
// successful response. req.Model is ignored: each attempt sends its
// deployment's upstream model name.
func (r *Router) Chat(ctx context.Context, model string, req *llm.Request) (*Result, error) {
	t, route, err := r.resolve(model, req)
	if err != nil {
		return nil, err
	}
	x := r.newExec(ctx, t, req, false, route)
	resp, f, err := run(x, x.callUnary, func(*llm.Response) {})
	if err != nil {
		return nil, err
	}
	f.cancel()
	x.r.attemptFinished(f.octx, &x.route.Attempts[f.att], &resp.Usage)
	cost := f.c.Model.Pricing.Cost(resp.Usage)
	return &Result{Response: resp, Model: f.c.Model, Deployment: *f.c.Deployment,
		Cost: cost + x.hedgeCost, HedgeCost: x.hedgeCost, Route: x.route}, nil
}

// ChatStream routes req like Chat and returns a stream once a deployment
// has produced its first content (or finished without any). Until then a
// failing deployment is abandoned for the next, and a slow one may be
// hedged; after that, a failure ends the stream: content is never spliced
// from two upstreams.
func (r *Router) ChatStream(ctx context.Context, model string, req *llm.Request) (*Stream, error) {
	t, route, err := r.resolve(model, req)
	if err != nil {
		return nil, err
	}
	x := r.newExec(ctx, t, req, true, route)
	s, f, err := run(x, x.callStream, func(s *Stream) { s.Close() })
	if err != nil {
		return nil, err
	}
	s.route = x.route
	s.att = f.att
	s.tk = f.tk
	s.judge.Store(true)
	s.hedgeCost = x.hedgeCost
	s.cancelFlight = f.cancel
	s.octx = f.octx
	return s, nil
}

// firstTokenTimeout returns the first-token timeout of c for target t.
func (r *Router) firstTokenTimeout(c *Candidate, t *target) time.Duration {
	if t.ftt > 0 {
		return t.ftt
	}
	if p := r.opts.models[c.Model.Name]; p.FirstTokenTimeout > 0 {
		return p.FirstTokenTimeout
	}
	if p := r.opts.providers[c.Deployment.Provider]; p.FirstTokenTimeout > 0 {
		return p.FirstTokenTimeout
	}
	return r.opts.firstToken
}

func withModel(req *llm.Request, model string) *llm.Request {
	c := *req
	c.Model = model
	return &c
}
