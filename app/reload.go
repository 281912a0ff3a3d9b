package app

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/llmgateway/llmgateway/config"
	"github.com/llmgateway/llmgateway/routing"
)

// DefaultDebounce is how long WatchConfig waits for a burst of file events
// (an editor's write and rename, a Kubernetes volume's symlink swap) to
// settle before it reloads.
const DefaultDebounce = 300 * time.Millisecond

// idleGrace is how long after the last call on a replaced config its
// providers' idle connections are closed once more: an upstream connection
// returns to its transport's idle pool a moment after its call ends.
const idleGrace = 500 * time.Millisecond

// seedTimeout bounds seeding the budgets of a reloaded config's keys from
// the usage ledger.
const seedTimeout = 10 * time.Second

// ReloadStats reports the config reloads of a gateway since it started.
type ReloadStats struct {
	// Succeeded counts the reloads applied; Failed counts those refused
	// (a file that does not load, validate or build), after which the
	// config in effect stayed.
	Succeeded, Failed uint64
	// LastSuccess and LastFailure are when the last reload of each kind
	// happened; zero when none did.
	LastSuccess, LastFailure time.Time
	// LastError says why the last refused reload was refused.
	LastError string
	// NotApplied names the settings (as YAML paths) whose new values need
	// a restart and were not applied by the last successful reload.
	NotApplied []string
}

// reloader is what a gateway built by FromConfig needs to reload.
type reloader struct {
	build *builder
	boot  *config.Config // the config at start: what the listeners and the door run with

	mu    sync.Mutex
	stats ReloadStats
}

func (r *reloader) record(err error, notApplied []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if err != nil {
		r.stats.Failed++
		r.stats.LastFailure, r.stats.LastError = now, err.Error()
		return
	}
	r.stats.Succeeded++
	r.stats.LastSuccess, r.stats.NotApplied = now, notApplied
}

// ReloadStats returns the gateway's reload counts, for metrics and status
// pages.
func (g *Gateway) ReloadStats() ReloadStats {
	if g.reload == nil {
		return ReloadStats{}
	}
	g.reload.mu.Lock()
	defer g.reload.mu.Unlock()
	st := g.reload.stats
	st.NotApplied = slices.Clone(st.NotApplied)
	return st
}

// ErrNotReloadable is returned by Reload on a gateway built with New, which
// has no config to build from.
var ErrNotReloadable = errors.New("this gateway was built from a router, not a config: it cannot reload")

// ReloadFrom loads a config with load (config.Load of the file, with the
// command line's overrides applied) and applies it with Reload. A config
// that does not load counts and logs as a failed reload, as one that does
// not build; trigger says what asked for the reload, for the log.
func (g *Gateway) ReloadFrom(trigger string, load func() (*config.Config, error)) error {
	if g.reload == nil {
		return ErrNotReloadable
	}
	cfg, err := load()
	if err != nil {
		g.reload.record(err, nil)
		g.opts.logger.Error("config reload refused: the config in effect stays", "trigger", trigger, "error", err)
		return fmt.Errorf("reloading config: %w", err)
	}
	return g.reload1(trigger, cfg)
}

// Reload applies cfg, a validated config (as config.Load returns it),
// while the gateway serves. Providers, models, routing, keys, limits,
// budgets, max_in_flight, drain_timeout and the TLS certificates are built
// anew, then swapped in at once: a call in flight finishes on the config
// it started with, and a call that arrives after the swap runs wholly on
// the new one. The breakers, latency windows and cool-downs of the
// deployments both configs share carry over, and so do the upstream
// connections of providers whose settings did not change; the idle
// connections of the providers replaced are closed at once and again once
// their last call has ended. When cfg does not build, nothing changes and the
// error is returned, logged and counted (see ReloadStats).
//
// Settings that the listeners, the shared state or the telemetry were set
// up with need a restart: the listen addresses, max_request_bytes,
// max_concurrent_streams, keepalive, the HTTP limits, turning TLS on or
// off, the state backend, the ledger, metrics and tracing. A reload that
// changes them applies the rest and logs which were not applied (see
// ReloadStats.NotApplied).
func (g *Gateway) Reload(cfg *config.Config) error {
	if g.reload == nil {
		return ErrNotReloadable
	}
	return g.reload1("api", cfg)
}

func (g *Gateway) reload1(trigger string, cfg *config.Config) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	log := g.opts.logger.With("trigger", trigger)
	old := g.gen.Load()
	gen, err := g.reload.build.build(cfg, old)
	if err != nil {
		g.reload.record(err, nil)
		log.Error("config reload refused: the config in effect stays", "error", err)
		return fmt.Errorf("reloading config: %w", err)
	}
	notApplied := restartOnly(g.reload.boot, cfg)
	if d := g.reload.build.door; d.started.Load() {
		ctx, cancel := context.WithTimeout(context.Background(), seedTimeout)
		if err := d.rebuildBudgets(ctx, gen.gate.keys, time.Now()); err != nil {
			log.Error("budgets of the reloaded keys not seeded from the usage ledger", "error", err)
		}
		cancel()
	}

	// The swap: from here on, new calls run on gen.
	if ts := g.reload.build.tls; ts != nil {
		ts.use(gen.certs)
	}
	g.gen.Store(gen)
	g.shed.SetMax(cfg.Server.MaxInFlight)
	g.drain.Store(int64(cfg.Server.DrainTimeout))
	g.setHealth(gen)
	if g.checks != nil {
		old.stopChecks()
		gen.startChecks(g.checks)
	}
	var replaced []routing.Provider
	for name, p := range old.providers {
		if gen.providers[name] != p {
			replaced = append(replaced, p)
		}
	}
	closeIdle(replaced)
	old.drained = func() {
		// The last calls' connections return to their transport's idle
		// pool a moment after the calls end.
		closeIdle(replaced)
		time.AfterFunc(idleGrace, func() { closeIdle(replaced) })
	}
	old.retire()

	g.reload.record(nil, notApplied)
	log.Info("config reloaded", "providers", len(gen.providers), "providers_replaced", len(replaced),
		"models", len(cfg.Models), "keys", len(gen.gate.keys), "usable", gen.usable)
	if len(notApplied) > 0 {
		log.Warn("config changes that need a restart were not applied", "settings", notApplied)
	}
	return nil
}

// closeIdle closes the idle upstream connections of providers that keep
// any.
func closeIdle(ps []routing.Provider) {
	for _, p := range ps {
		if c, ok := p.(interface{ CloseIdleConnections() }); ok {
			c.CloseIdleConnections()
		}
	}
}

// restartOnly returns the settings that differ between the running config
// and next and that only a restart applies, as YAML paths.
func restartOnly(running, next *config.Config) []string {
	var out []string
	diff := func(name string, a, b any) {
		if !reflect.DeepEqual(a, b) {
			out = append(out, name)
		}
	}
	rs, ns := &running.Server, &next.Server
	diff("server.grpc_addr", rs.GRPCAddr, ns.GRPCAddr)
	diff("server.http_addr", rs.HTTPAddr, ns.HTTPAddr)
	diff("server.max_request_bytes", rs.MaxRequestBytes, ns.MaxRequestBytes)
	diff("server.max_concurrent_streams", rs.MaxConcurrentStreams, ns.MaxConcurrentStreams)
	diff("server.keepalive", rs.Keepalive, ns.Keepalive)
	diff("server.http", rs.HTTP, ns.HTTP)
	diff("server.tls (on or off)", rs.TLS.Enabled(), ns.TLS.Enabled())
	diff("state.backend", running.State.Backend, next.State.Backend)
	diff("state.redis", running.State.Redis, next.State.Redis)
	diff("ledger", running.Ledger, next.Ledger)
	// Metrics and tracing live as long as the process; the prompt log and
	// its redaction reload with the door.
	rt, nt := &running.Telemetry, &next.Telemetry
	diff("telemetry.metrics", rt.Metrics, nt.Metrics)
	diff("telemetry.tracing", rt.Tracing, nt.Tracing)
	diff("telemetry.logging.level", rt.Logging.Level, nt.Logging.Level)
	// Metrics and tracing are set up once; the prompt log is part of the
	// door and reloads with it.
	diff("telemetry.metrics", running.Telemetry.Metrics, next.Telemetry.Metrics)
	diff("telemetry.tracing", running.Telemetry.Tracing, next.Telemetry.Tracing)
	return out
}

// WatchConfig reloads the gateway with load (see ReloadFrom) whenever the
// config file at path, or a certificate file of the config in effect,
// changes, until ctx ends; then it returns nil. It watches the files'
// directories rather than the files, so that it sees an editor's
// write-and-rename and a Kubernetes ConfigMap's or Secret's symlink swap;
// a burst of events is settled for debounce (DefaultDebounce when 0),
// and a reload happens only when the content of the files changed.
// SIGHUP is the caller's to handle, with ReloadFrom. An error means the
// files cannot be watched.
func (g *Gateway) WatchConfig(ctx context.Context, path string, load func() (*config.Config, error), debounce time.Duration) error {
	if g.reload == nil {
		return ErrNotReloadable
	}
	if debounce <= 0 {
		debounce = DefaultDebounce
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watching config: %w", err)
	}
	defer w.Close()
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("watching config: %w", err)
	}
	watched := map[string]bool{}
	watch := func() error {
		for _, f := range g.watchedFiles(abs) {
			dir := filepath.Dir(f)
			if watched[dir] {
				continue
			}
			if err := w.Add(dir); err != nil {
				return fmt.Errorf("watching %s: %w", dir, err)
			}
			watched[dir] = true
		}
		return nil
	}
	if err := watch(); err != nil {
		return err
	}
	last := fingerprint(g.watchedFiles(abs))
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	log := g.opts.logger.With("config", abs)
	log.Info("watching the config file for changes")
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if ev.Op != fsnotify.Chmod {
				timer.Reset(debounce)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			log.Warn("config watch error", "error", err)
		case <-timer.C:
			// Taken before the load: a change during the load is seen
			// as a change at the next event, never missed.
			now := fingerprint(g.watchedFiles(abs))
			if bytes.Equal(now, last) {
				continue
			}
			last = now
			if err := g.ReloadFrom("file change", load); err == nil {
				// The new config may name certificates elsewhere.
				if err := watch(); err != nil {
					log.Warn("config watch incomplete", "error", err)
				}
			}
		}
	}
}

// watchedFiles returns the config file and the certificate files of the
// config in effect.
func (g *Gateway) watchedFiles(path string) []string {
	files := []string{path}
	if cfg := g.gen.Load().cfg; cfg != nil && cfg.Server.TLS.Enabled() {
		tc := &cfg.Server.TLS
		for _, f := range []string{tc.CertFile, tc.KeyFile, tc.ClientCAFile} {
			if f == "" {
				continue
			}
			if abs, err := filepath.Abs(f); err == nil {
				files = append(files, abs)
			}
		}
	}
	return files
}

// fingerprint hashes the names and contents of files (a file that cannot
// be read counts by its error).
func fingerprint(files []string) []byte {
	h := sha256.New()
	for _, f := range files {
		fmt.Fprintf(h, "%s\x00", f)
		data, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintf(h, "error %v\x00", err)
			continue
		}
		fmt.Fprintf(h, "%d\x00", len(data))
		h.Write(data)
	}
	return h.Sum(nil)
}
