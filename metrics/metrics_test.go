package metrics_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/llmgateway/llmgateway/interceptors/auth"
	"github.com/llmgateway/llmgateway/interceptors/observe"
	"github.com/llmgateway/llmgateway/ledger"
	"github.com/llmgateway/llmgateway/llm"
	"github.com/llmgateway/llmgateway/metrics"
	"github.com/llmgateway/llmgateway/metrics/metricstest"
	"github.com/llmgateway/llmgateway/routing"
	redisstate "github.com/llmgateway/llmgateway/state/redis"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func scrape(t *testing.T, m *metrics.Metrics) metricstest.Samples {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	return metricstest.Scrape(t, srv.URL)
}

// check holds one expectation on a scrape: the sum of the series of name
// with labels.
type check struct {
	name   string
	labels []string
	want   float64
}

func (c check) run(t *testing.T, s metricstest.Samples) {
	t.Helper()
	if got := s.Sum(c.name, c.labels...); got != c.want {
		t.Errorf("%s%v = %v, want %v\n%s", c.name, c.labels, got, c.want, s.Find(c.name))
	}
}

func TestCallsAndAttempts(t *testing.T) {
	m := metrics.New(metrics.WithKeyLabels("team", "cost.center"), metrics.WithoutRuntimeMetrics())
	key := &auth.Key{ID: "k1", Labels: map[string]string{"team": "cs", "cost.center": "42"}}
	ctx := context.Background()

	// A stream that fails over from a to b.
	c := &observe.Call{Surface: "openai", Stream: true, Key: key, Requested: "gpt-4", RequestModel: "gpt-4.1"}
	cctx := m.Begin(ctx, c)
	inFlight := scrape(t, m)
	check{"llmgateway_in_flight_requests", []string{"surface", "openai", "method", "chat_stream"}, 1}.run(t, inFlight)

	ka := routing.Key{Model: "gpt-4.1", Provider: "a", UpstreamModel: "a-up"}
	kb := routing.Key{Model: "gpt-4.1", Provider: "b", UpstreamModel: "b-up"}
	actx := m.AttemptStarted(cctx, routing.AttemptStart{Key: ka, Cause: routing.CauseFirst, Stream: true})
	m.AttemptFinished(actx, &routing.Attempt{Provider: "a", Model: "gpt-4.1", UpstreamModel: "a-up", Outcome: routing.OutcomeError,
		Kind: llm.KindServer, StatusCode: 500, Latency: 50 * time.Millisecond}, nil)
	m.BreakerChanged(ka, routing.BreakerClosed, routing.BreakerOpen)
	bctx := m.AttemptStarted(cctx, routing.AttemptStart{Key: kb, Cause: routing.CauseFailover, Stream: true})
	m.AttemptFinished(bctx, &routing.Attempt{Provider: "b", Model: "gpt-4.1", UpstreamModel: "b-up", Outcome: routing.OutcomeOK,
		Latency: 100 * time.Millisecond}, &llm.Usage{PromptTokens: 100, CompletionTokens: 20})
	m.AttemptStarted(cctx, routing.AttemptStart{Key: kb, Cause: routing.CauseRetry})
	m.AttemptStarted(cctx, routing.AttemptStart{Key: ka, Cause: routing.CauseHedge})

	c.Code, c.Model, c.Provider, c.UpstreamModel = codes.OK, "gpt-4.1", "b", "b-up"
	c.Answered, c.Attempts = true, 2
	c.Usage = llm.Usage{PromptTokens: 100, CompletionTokens: 20, CachedTokens: 60}
	c.CostUSD = 0.01
	c.Latency, c.TTFT = 10*time.Second, 300*time.Millisecond
	m.End(cctx, c)

	// A call refused by its rpm limit.
	r := &observe.Call{Surface: "grpc", Key: key, Requested: "gpt-4.1", RequestModel: "gpt-4.1",
		Code: codes.ResourceExhausted, Reason: "RATE_LIMITED", Limit: "rpm", Latency: time.Millisecond}
	m.End(m.Begin(ctx, r), r)
	// A stream cut before its end, on an open gateway (no key).
	cut := &observe.Call{Surface: "rest", Stream: true, Requested: "x", RequestModel: "gpt-4.1", Model: "gpt-4.1",
		Code: codes.Canceled, Estimated: true, Usage: llm.Usage{PromptTokens: 10, CompletionTokens: 5}, CostUSD: 0.002, Latency: time.Second}
	m.End(m.Begin(ctx, cut), cut)

	s := scrape(t, m)
	for _, c := range []check{
		{"llmgateway_in_flight_requests", nil, 0},
		{"llmgateway_requests_total", []string{"surface", "openai", "method", "chat_stream", "model", "gpt-4.1", "provider", "b", "deployment", "b/b-up", "code", "OK"}, 1},
		{"llmgateway_requests_total", []string{"surface", "grpc", "method", "chat", "model", "gpt-4.1", "provider", "", "code", "ResourceExhausted"}, 1},
		{"llmgateway_requests_total", []string{"surface", "rest", "code", "Canceled"}, 1},
		{"gen_ai_server_request_duration_seconds_count", []string{"gen_ai_operation_name", "chat", "gen_ai_provider_name", "b", "gen_ai_request_model", "gpt-4.1", "gen_ai_response_model", "gpt-4.1", "error_type", ""}, 1},
		{"gen_ai_server_request_duration_seconds_sum", []string{"gen_ai_provider_name", "b"}, 10},
		{"gen_ai_server_request_duration_seconds_count", []string{"error_type", "ResourceExhausted"}, 1},
		{"gen_ai_server_time_to_first_token_seconds_count", nil, 1},
		{"gen_ai_server_time_to_first_token_seconds_sum", []string{"gen_ai_provider_name", "b"}, 0.3},
		{"gen_ai_server_time_to_first_token_seconds_bucket", []string{"le", "0.25"}, 0},
		{"gen_ai_server_time_to_first_token_seconds_bucket", []string{"le", "0.5"}, 1},
		{"gen_ai_client_token_usage_sum", []string{"gen_ai_token_type", "input"}, 100},
		{"gen_ai_client_token_usage_sum", []string{"gen_ai_token_type", "output"}, 20},
		{"gen_ai_client_token_usage_sum", []string{"gen_ai_token_type", "cached"}, 60},
		{"gen_ai_client_token_usage_count", []string{"gen_ai_token_type", "input"}, 1},
		{"llmgateway_tokens_total", []string{"type", "input", "model", "gpt-4.1", "provider", "b", "key_team", "cs", "key_cost_center", "42"}, 100},
		{"llmgateway_tokens_total", []string{"type", "output", "key_team", "cs"}, 20},
		{"llmgateway_tokens_total", []string{"type", "cached", "key_team", "cs"}, 60},
		{"llmgateway_tokens_total", []string{"type", "output", "key_team", "", "provider", ""}, 5},
		{"llmgateway_cost_usd_total", []string{"model", "gpt-4.1", "provider", "b", "key_team", "cs"}, 0.01},
		{"llmgateway_cost_usd_total", []string{"key_team", ""}, 0.002},
		{"llmgateway_refusals_total", []string{"reason", "rate_limited", "limit", "rpm", "key_team", "cs", "key_cost_center", "42"}, 1},
		{"llmgateway_upstream_attempts_total", []string{"model", "gpt-4.1", "provider", "a", "deployment", "a/a-up", "outcome", "error", "error_kind", "server"}, 1},
		{"llmgateway_upstream_attempts_total", []string{"provider", "b", "outcome", "ok", "error_kind", ""}, 1},
		{"llmgateway_upstream_duration_seconds_sum", []string{"provider", "b", "outcome", "ok"}, 0.1},
		{"llmgateway_upstream_duration_seconds_count", nil, 2},
		{"llmgateway_failovers_total", []string{"model", "gpt-4.1", "provider", "b"}, 1},
		{"llmgateway_retries_total", []string{"provider", "b"}, 1},
		{"llmgateway_hedges_total", []string{"provider", "a"}, 1},
		{"llmgateway_breaker_transitions_total", []string{"deployment", "a/a-up", "to", "open"}, 1},
		{"llmgateway_gateway_overhead_seconds_count", []string{"surface", "openai", "method", "chat_stream"}, 1},
		{"llmgateway_gateway_overhead_seconds_count", nil, 1},
	} {
		c.run(t, s)
	}
	// The attempts were timed against the real clock as they ended, 10 s
	// of call time against at most 150 ms of them plus this test's pace:
	// the overhead is well above 9 s.
	if got := s.Sum("llmgateway_gateway_overhead_seconds_sum"); got < 9 || got > 10 {
		t.Errorf("gateway overhead = %vs, want between 9 and 10", got)
	}
}

func TestScrapeTimeSources(t *testing.T) {
	m := metrics.New(metrics.WithVersion("v1.2.3"), metrics.WithoutRuntimeMetrics())
	ka := routing.Key{Model: "gpt-4.1", Provider: "a", UpstreamModel: "a-up"}
	kb := routing.Key{Model: "gpt-4.1", Provider: "b", UpstreamModel: "b-up"}
	m.WatchRouter(func() []routing.DeploymentHealth {
		return []routing.DeploymentHealth{
			{Key: ka, Breaker: routing.BreakerOpen, OpenUntil: time.Now().Add(time.Minute), Trips: 3, ProviderFailing: true},
			{Key: kb, Breaker: routing.BreakerClosed, CooldownUntil: time.Now().Add(time.Second)},
		}
	})
	m.WatchLedger(func() ledger.Stats { return ledger.Stats{Queued: 10, Written: 6, Failed: 1, Dropped: 2} })
	m.WatchRedis(func() redisstate.Stats { return redisstate.Stats{Failures: 4, Fallbacks: 3, Degraded: true} })
	m.WatchGateway(func() metrics.GatewayStats {
		return metrics.GatewayStats{InFlight: 7, Shed: 2, ReloadsSucceeded: 3, ReloadsFailed: 1, LastReload: time.Unix(1700000000, 0)}
	})

	s := scrape(t, m)
	for _, c := range []check{
		{"llmgateway_breaker_state", []string{"deployment", "a/a-up", "state", "open"}, 1},
		{"llmgateway_breaker_state", []string{"deployment", "a/a-up", "state", "closed"}, 0},
		{"llmgateway_breaker_state", []string{"deployment", "b/b-up", "state", "closed"}, 1},
		{"llmgateway_breaker_state", nil, 2},
		{"llmgateway_breaker_trips_total", []string{"model", "gpt-4.1", "provider", "a", "deployment", "a/a-up"}, 3},
		{"llmgateway_deployment_cooling_down", []string{"deployment", "b/b-up"}, 1},
		{"llmgateway_deployment_cooling_down", []string{"deployment", "a/a-up"}, 0},
		{"llmgateway_provider_health_check_failing", []string{"provider", "a"}, 1},
		{"llmgateway_provider_health_check_failing", []string{"provider", "b"}, 0},
		{"llmgateway_ledger_queue_depth", nil, 3},
		{"llmgateway_ledger_records_queued_total", nil, 10},
		{"llmgateway_ledger_records_written_total", nil, 6},
		{"llmgateway_ledger_records_dropped_total", nil, 2},
		{"llmgateway_ledger_records_failed_total", nil, 1},
		{"llmgateway_redis_failures_total", nil, 4},
		{"llmgateway_redis_fallbacks_total", nil, 3},
		{"llmgateway_redis_degraded", nil, 1},
		{"llmgateway_build_info", []string{"version", "v1.2.3"}, 1},
		{"llmgateway_config_reloads_total", []string{"result", "success"}, 3},
		{"llmgateway_config_reloads_total", []string{"result", "failure"}, 1},
		{"llmgateway_config_last_reload_success_timestamp_seconds", nil, 1700000000},
		{"llmgateway_in_flight", nil, 7},
		{"llmgateway_load_shed_total", nil, 2},
	} {
		c.run(t, s)
	}

	// Unwatched, the sources disappear from the scrape.
	m.WatchRouter(nil)
	m.WatchLedger(nil)
	m.WatchRedis(nil)
	m.WatchGateway(nil)
	s = scrape(t, m)
	for _, name := range []string{"llmgateway_breaker_state", "llmgateway_ledger_queue_depth", "llmgateway_redis_degraded", "llmgateway_load_shed_total"} {
		if s.Has(name) {
			t.Errorf("%s still scraped after its source was removed", name)
		}
	}
}

func TestGRPCServerMetrics(t *testing.T) {
	m := metrics.New(metrics.WithoutRuntimeMetrics())
	gs := grpc.NewServer()
	healthpb.RegisterHealthServer(gs, health.NewServer())
	m.InitializeGRPC(gs)
	info := &grpc.UnaryServerInfo{FullMethod: "/grpc.health.v1.Health/Check"}
	_, _ = m.UnaryServerInterceptor()(context.Background(), &healthpb.HealthCheckRequest{}, info,
		func(context.Context, any) (any, error) { return nil, status.Error(codes.NotFound, "unknown service") })
	s := scrape(t, m)
	for _, c := range []check{
		{"grpc_server_started_total", []string{"grpc_service", "grpc.health.v1.Health", "grpc_method", "Check"}, 1},
		{"grpc_server_handled_total", []string{"grpc_method", "Check", "grpc_code", "NotFound"}, 1},
		{"grpc_server_handled_total", []string{"grpc_method", "Watch", "grpc_code", "OK"}, 0},
		{"grpc_server_handling_seconds_count", []string{"grpc_method", "Check"}, 1},
	} {
		c.run(t, s)
	}
	// Initialized: Watch shows before its first call.
	if !s.Has("grpc_server_started_total", "grpc_method", "Watch") {
		t.Error("grpc_server_started_total has no series for Watch before its first call")
	}
}

// TestEveryMetricDocumented checks that every metric has help text and
// that the runtime collectors are there unless left out.
func TestEveryMetricDocumented(t *testing.T) {
	m := metrics.New()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range fams {
		names[f.GetName()] = true
		if strings.TrimSpace(f.GetHelp()) == "" {
			t.Errorf("%s has no help text", f.GetName())
		}
	}
	for _, want := range []string{"go_goroutines", "llmgateway_build_info"} {
		if !names[want] {
			t.Errorf("gathered metrics lack %s", want)
		}
	}
}

func TestMetricLabel(t *testing.T) {
	tests := []struct{ give, want string }{{"team", "key_team"}, {"cost.center", "key_cost_center"}, {"app-name", "key_app_name"}}
	for _, tt := range tests {
		if got := metrics.MetricLabel(tt.give); got != tt.want {
			t.Errorf("MetricLabel(%q) = %q, want %q", tt.give, got, tt.want)
		}
	}
}
