package app

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/llmgateway/llmgateway/routing"
	"github.com/llmgateway/llmgateway/state"
)

// sharedCooldowns is a routing.CooldownStore shared by every replica
// through a state.CooldownStore (Redis in a fleet). Routing asks Until for
// every candidate of every request and must never wait on the network, so
// Until answers from a local copy; CoolDown updates the copy at once and
// publishes in the background; and a refresh loop pulls the cool-downs
// other replicas published, every interval, for every deployment in the
// catalog.
type sharedCooldowns struct {
	local    routing.MemoryCooldowns
	remote   state.CooldownStore
	keys     func() []routing.Key
	interval time.Duration
	logger   *slog.Logger

	pub     chan published
	dropped atomic.Int64
	wg      sync.WaitGroup
	cancel  context.CancelFunc
}

type published struct {
	key   routing.Key
	until time.Time
}

var _ routing.CooldownStore = (*sharedCooldowns)(nil)

// sharedCooldownQueue bounds the cool-downs waiting to be published; past
// it, CoolDown drops the publication (the local copy still holds it) and
// counts it.
const sharedCooldownQueue = 1024

func newSharedCooldowns(remote state.CooldownStore, keys func() []routing.Key, interval time.Duration, logger *slog.Logger) *sharedCooldowns {
	return &sharedCooldowns{
		remote:   remote,
		keys:     keys,
		interval: interval,
		logger:   logger,
		pub:      make(chan published, sharedCooldownQueue),
	}
}

// CoolDown implements routing.CooldownStore.
func (s *sharedCooldowns) CoolDown(k routing.Key, until time.Time) {
	s.local.CoolDown(k, until)
	select {
	case s.pub <- published{k, until}:
	default:
		s.dropped.Add(1)
	}
}

// Until implements routing.CooldownStore.
func (s *sharedCooldowns) Until(k routing.Key) time.Time { return s.local.Until(k) }

// start runs the publish and refresh loop until stop.
func (s *sharedCooldowns) start(context.Context) error {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.loop(ctx)
	}()
	return nil
}

// stop ends the loop after publishing what is queued, within ctx.
func (s *sharedCooldowns) stop(ctx context.Context) error {
	if s.cancel == nil {
		return nil
	}
	s.cancel()
	s.wg.Wait()
	for {
		select {
		case p := <-s.pub:
			s.publish(ctx, p)
		default:
			return nil
		}
	}
}

func (s *sharedCooldowns) loop(ctx context.Context) {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case p := <-s.pub:
			s.publish(ctx, p)
		case <-t.C:
			s.refresh(ctx)
		}
	}
}

func (s *sharedCooldowns) publish(ctx context.Context, p published) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := s.remote.Set(ctx, p.key.String(), p.until); err != nil && ctx.Err() == nil {
		s.logger.Warn("publishing an upstream cool-down failed; it holds on this replica only", "deployment", p.key.String(), "error", err)
	}
}

func (s *sharedCooldowns) refresh(ctx context.Context) {
	now := time.Now()
	for _, k := range s.keys() {
		gctx, cancel := context.WithTimeout(ctx, time.Second)
		until, err := s.remote.Get(gctx, k.String())
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				s.logger.Warn("reading shared upstream cool-downs failed", "error", err)
			}
			return
		}
		if until.After(now) {
			s.local.CoolDown(k, until)
		}
	}
}

// catalogKeys lists the deployment keys of every model in the router's
// catalog.
func catalogKeys(r func() *routing.Router) func() []routing.Key {
	return func() []routing.Key {
		var out []routing.Key
		for _, m := range r().Catalog().Models() {
			for i := range m.Deployments {
				out = append(out, m.Key(&m.Deployments[i]))
			}
		}
		return out
	}
}
