package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/llmgateway/llmgateway/ledger"
	"github.com/llmgateway/llmgateway/routing"
	redisstate "github.com/llmgateway/llmgateway/state/redis"
)

// GatewayStats is what the gateway itself counts: its load shedding and
// its config reloads.
type GatewayStats struct {
	// InFlight is the calls in flight under server.max_in_flight; Shed
	// counts those refused over it.
	InFlight int64
	Shed     uint64
	// ReloadsSucceeded and ReloadsFailed count config reloads;
	// LastReload is the time of the last successful one (zero: none).
	ReloadsSucceeded, ReloadsFailed uint64
	LastReload                      time.Time
}

// WatchGateway reads the gateway's own counters from stats at every
// scrape. nil stops reading.
func (m *Metrics) WatchGateway(stats func() GatewayStats) {
	if stats == nil {
		m.gateway.Store(nil)
		return
	}
	m.gateway.Store(&stats)
}

// WatchRouter reads each deployment's health from health at every scrape:
// breaker state and trips, cool-downs and failing health checks. A
// reload calls it again with the new router's Router.Health. nil stops
// reading.
func (m *Metrics) WatchRouter(health func() []routing.DeploymentHealth) {
	if health == nil {
		m.router.Store(nil)
		return
	}
	m.router.Store(&health)
}

// WatchLedger reads the usage ledger's counters from stats at every
// scrape. nil stops reading.
func (m *Metrics) WatchLedger(stats func() ledger.Stats) {
	if stats == nil {
		m.ledger.Store(nil)
		return
	}
	m.ledger.Store(&stats)
}

// WatchRedis reads the Redis state store's counters from stats at every
// scrape. nil stops reading.
func (m *Metrics) WatchRedis(stats func() redisstate.Stats) {
	if stats == nil {
		m.redis.Store(nil)
		return
	}
	m.redis.Store(&stats)
}

// Descriptions of the metrics read at scrape time.
var (
	depLabels = []string{"model", "provider", "deployment"}

	inFlightDesc = prometheus.NewDesc("llmgateway_in_flight",
		"Calls in flight on the whole gateway (every method), which server.max_in_flight caps.", nil, nil)
	shedDesc = prometheus.NewDesc("llmgateway_load_shed_total",
		"Calls refused at once with Unavailable because server.max_in_flight calls were in flight.", nil, nil)
	reloadsDesc = prometheus.NewDesc("llmgateway_config_reloads_total",
		"Config reloads by result: success, or failure (the config in effect stayed).", []string{"result"}, nil)
	lastReloadDesc = prometheus.NewDesc("llmgateway_config_last_reload_success_timestamp_seconds",
		"Unix time of the last successful config reload; 0 when there was none.", nil, nil)

	breakerStateDesc = prometheus.NewDesc("llmgateway_breaker_state",
		"Circuit breaker state of each deployment, one series per state (closed, open, half_open) set to 1 for the current one.",
		append(depLabels, "state"), nil)
	breakerTripsDesc = prometheus.NewDesc("llmgateway_breaker_trips_total",
		"Times each deployment's circuit breaker opened since the routing state was created (it survives config reloads).",
		depLabels, nil)
	coolingDesc = prometheus.NewDesc("llmgateway_deployment_cooling_down",
		"1 while a deployment is kept out of rotation by an upstream's Retry-After, else 0.", depLabels, nil)
	providerFailingDesc = prometheus.NewDesc("llmgateway_provider_health_check_failing",
		"1 while a provider fails its active health checks, else 0.", []string{"provider"}, nil)

	ledgerDepthDesc = prometheus.NewDesc("llmgateway_ledger_queue_depth",
		"Usage records accepted and not yet written (or lost) by the ledger.", nil, nil)
	ledgerQueuedDesc = prometheus.NewDesc("llmgateway_ledger_records_queued_total",
		"Usage records the ledger accepted.", nil, nil)
	ledgerWrittenDesc = prometheus.NewDesc("llmgateway_ledger_records_written_total",
		"Usage records the ledger stored.", nil, nil)
	ledgerDroppedDesc = prometheus.NewDesc("llmgateway_ledger_records_dropped_total",
		"Usage records dropped because the ledger's queue was full (raise ledger.queue_size) or it was closed.", nil, nil)
	ledgerFailedDesc = prometheus.NewDesc("llmgateway_ledger_records_failed_total",
		"Usage records lost to database errors.", nil, nil)

	redisFailuresDesc = prometheus.NewDesc("llmgateway_redis_failures_total",
		"Shared-state operations Redis did not answer, including those skipped while it was known to be down.", nil, nil)
	redisFallbacksDesc = prometheus.NewDesc("llmgateway_redis_fallbacks_total",
		"Shared-state operations answered by the per-replica fallback while Redis was down (failure_mode open).", nil, nil)
	redisDegradedDesc = prometheus.NewDesc("llmgateway_redis_degraded",
		"1 while Redis is considered down, else 0.", nil, nil)
)

// sources collects what Metrics reads at scrape time.
type sources struct{ m *Metrics }

// Describe implements prometheus.Collector.
func (s *sources) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{inFlightDesc, shedDesc, reloadsDesc, lastReloadDesc, breakerStateDesc, breakerTripsDesc, coolingDesc, providerFailingDesc,
		ledgerDepthDesc, ledgerQueuedDesc, ledgerWrittenDesc, ledgerDroppedDesc, ledgerFailedDesc,
		redisFailuresDesc, redisFallbacksDesc, redisDegradedDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (s *sources) Collect(ch chan<- prometheus.Metric) {
	if f := s.m.gateway.Load(); f != nil {
		st := (*f)()
		ch <- prometheus.MustNewConstMetric(inFlightDesc, prometheus.GaugeValue, float64(st.InFlight))
		ch <- prometheus.MustNewConstMetric(shedDesc, prometheus.CounterValue, float64(st.Shed))
		ch <- prometheus.MustNewConstMetric(reloadsDesc, prometheus.CounterValue, float64(st.ReloadsSucceeded), "success")
		ch <- prometheus.MustNewConstMetric(reloadsDesc, prometheus.CounterValue, float64(st.ReloadsFailed), "failure")
		last := 0.0
		if !st.LastReload.IsZero() {
			last = float64(st.LastReload.UnixNano()) / 1e9
		}
		ch <- prometheus.MustNewConstMetric(lastReloadDesc, prometheus.GaugeValue, last)
	}
	if f := s.m.router.Load(); f != nil {
		collectHealth(ch, (*f)())
	}
	if f := s.m.ledger.Load(); f != nil {
		st := (*f)()
		ch <- prometheus.MustNewConstMetric(ledgerDepthDesc, prometheus.GaugeValue, float64(max(st.Queued-st.Written-st.Failed, 0)))
		ch <- prometheus.MustNewConstMetric(ledgerQueuedDesc, prometheus.CounterValue, float64(st.Queued))
		ch <- prometheus.MustNewConstMetric(ledgerWrittenDesc, prometheus.CounterValue, float64(st.Written))
		ch <- prometheus.MustNewConstMetric(ledgerDroppedDesc, prometheus.CounterValue, float64(st.Dropped))
		ch <- prometheus.MustNewConstMetric(ledgerFailedDesc, prometheus.CounterValue, float64(st.Failed))
	}
	if f := s.m.redis.Load(); f != nil {
		st := (*f)()
		ch <- prometheus.MustNewConstMetric(redisFailuresDesc, prometheus.CounterValue, float64(st.Failures))
		ch <- prometheus.MustNewConstMetric(redisFallbacksDesc, prometheus.CounterValue, float64(st.Fallbacks))
		ch <- prometheus.MustNewConstMetric(redisDegradedDesc, prometheus.GaugeValue, boolValue(st.Degraded))
	}
}

func collectHealth(ch chan<- prometheus.Metric, hs []routing.DeploymentHealth) {
	failing := make(map[string]bool)
	for _, h := range hs {
		lv := []string{h.Key.Model, h.Key.Provider, deployment(h.Key.Provider, h.Key.UpstreamModel)}
		for _, st := range []routing.BreakerState{routing.BreakerClosed, routing.BreakerOpen, routing.BreakerHalfOpen} {
			ch <- prometheus.MustNewConstMetric(breakerStateDesc, prometheus.GaugeValue, boolValue(h.Breaker == st), append(lv, st.String())...)
		}
		ch <- prometheus.MustNewConstMetric(breakerTripsDesc, prometheus.CounterValue, float64(h.Trips), lv...)
		ch <- prometheus.MustNewConstMetric(coolingDesc, prometheus.GaugeValue, boolValue(!h.CooldownUntil.IsZero()), lv...)
		failing[h.Key.Provider] = failing[h.Key.Provider] || h.ProviderFailing
	}
	for p, f := range failing {
		ch <- prometheus.MustNewConstMetric(providerFailingDesc, prometheus.GaugeValue, boolValue(f), p)
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
