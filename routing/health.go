package routing

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/llmgateway/llmgateway/llm"
)

// healthProbe is the active health check of one provider.
type healthProbe struct {
	provider string
	hc       HealthCheck
	model    *Model
	dep      *Deployment
	ph       *providerHealth
}

// maxProbeTimeout bounds the default probe timeout.
const maxProbeTimeout = 10 * time.Second

func (r *Router) buildHealthChecks() error {
	names := make([]string, 0, len(r.opts.providers))
	for n, p := range r.opts.providers {
		if p.HealthCheck != nil {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		hc := *r.opts.providers[name].HealthCheck
		if hc.Interval <= 0 {
			return fmt.Errorf("provider %q: health check interval is %v, want > 0", name, hc.Interval)
		}
		if hc.Timeout < 0 {
			return fmt.Errorf("provider %q: health check timeout is %v, want > 0", name, hc.Timeout)
		}
		if hc.Timeout == 0 {
			hc.Timeout = min(hc.Interval, maxProbeTimeout)
		}
		p := &healthProbe{provider: name, hc: hc, ph: r.provHealth[name]}
		want := ""
		if hc.Model != "" {
			m, ok := r.catalog.Resolve(hc.Model)
			if !ok {
				return fmt.Errorf("provider %q: health check model %q is not a model", name, hc.Model)
			}
			want = m.Name
		}
		for _, m := range r.catalog.Models() {
			if want != "" && m.Name != want {
				continue
			}
			for i := range m.Deployments {
				if m.Deployments[i].Provider == name {
					p.model, p.dep = m, &m.Deployments[i]
					break
				}
			}
			if p.dep != nil {
				break
			}
		}
		if p.dep == nil {
			if hc.Model != "" {
				return fmt.Errorf("provider %q: health check model %q has no deployment on it", name, hc.Model)
			}
			return fmt.Errorf("provider %q: health check needs a model deployed on it, and none is", name)
		}
		r.checks = append(r.checks, p)
	}
	return nil
}

// RunHealthChecks probes every provider that has a health check, each on
// its own interval (the first probe after a random share of it, to spread
// them), until ctx ends; it returns once every probe has stopped. Without
// health checks it returns at once. Probes run off the request path:
// choosing only reads their last result.
func (r *Router) RunHealthChecks(ctx context.Context) {
	var wg sync.WaitGroup
	for _, p := range r.checks {
		wg.Go(func() { r.probeLoop(ctx, p) })
	}
	wg.Wait()
}

func (r *Router) probeLoop(ctx context.Context, p *healthProbe) {
	t := time.NewTimer(time.Duration(r.opts.rand() * float64(p.hc.Interval)))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.probe(ctx, p)
		t.Reset(p.hc.Interval)
	}
}

// probe sends one cheap request and records what it says of the
// provider's health.
func (r *Router) probe(ctx context.Context, p *healthProbe) {
	pctx, cancel := context.WithTimeout(ctx, p.hc.Timeout)
	defer cancel()
	_, err := r.providers[p.provider].Chat(pctx, &llm.Request{
		Model:     p.dep.UpstreamModel,
		Messages:  []llm.Message{{Role: llm.RoleUser, Content: "ping"}},
		MaxTokens: 1,
	})
	if ctx.Err() != nil {
		return
	}
	r.recordProbe(p, err)
}

// recordProbe updates the provider's health from one probe's error. A
// failure the probe itself caused (bad request) and rate limiting say
// nothing about whether the provider is up.
func (r *Router) recordProbe(p *healthProbe, err error) {
	now := r.opts.now()
	if err != nil {
		ue, ok := llm.AsUpstream(err)
		switch {
		case ok && (ue.Kind == llm.KindBadRequest || ue.Kind == llm.KindContextLength || ue.Kind == llm.KindContentFilter):
			r.opts.logger.Warn("health check probe rejected: the probe says nothing of the provider's health",
				"provider", p.provider, "model", p.model.Name, "error", err)
			return
		case ok && (ue.Kind == llm.KindRateLimited || ue.Kind == llm.KindOverloaded) && ue.RetryAfter > 0:
			r.coolDown(p.model.Key(p.dep), now, ue.RetryAfter)
			err = nil // up, only busy
		}
	}
	if err == nil {
		p.ph.failures.Store(0)
		if p.ph.failing.CompareAndSwap(true, false) {
			p.ph.since.Store(now.UnixNano())
			r.opts.logger.Info("provider passes its health check again", "provider", p.provider)
		}
		return
	}
	n := p.ph.failures.Add(1)
	if int(n) >= max(p.hc.Failures, 1) && p.ph.failing.CompareAndSwap(false, true) {
		p.ph.since.Store(now.UnixNano())
		r.opts.logger.Warn("provider fails its health check: its deployments are skipped",
			"provider", p.provider, "failures", n, "error", err)
	}
}
