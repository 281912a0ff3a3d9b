package metrics

import (
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/reflection"

	"github.com/llmgateway/llmgateway/ledger"
	"github.com/llmgateway/llmgateway/routing"
	redisstate "github.com/llmgateway/llmgateway/state/redis"
)

// Histogram buckets, in seconds or tokens.
var (
	// requestBuckets are the buckets the GenAI semantic conventions advise
	// for gen_ai.server.request.duration; upstream attempts use them too.
	requestBuckets = []float64{0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92}
	// ttftBuckets are those advised for gen_ai.server.time_to_first_token.
	ttftBuckets = []float64{0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0}
	// tokenBuckets are those advised for gen_ai.client.token.usage.
	tokenBuckets = []float64{1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864}
	// overheadBuckets span what the gateway adds to a call: from tens of
	// microseconds (a cached decision) to a second (a slow shared store).
	overheadBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}
)

type options struct {
	keyLabels []string
	version   string
	runtime   bool
}

// Option configures Metrics.
type Option func(*options)

// WithKeyLabels makes the named key labels (auth.Key.Labels, from the
// config's keys) labels of the token, cost and refusal metrics, as
// key_<name> with every . and - made _. A key without the label, and a
// gateway without keys, count as "". Default: none.
func WithKeyLabels(names ...string) Option {
	return func(o *options) { o.keyLabels = append([]string(nil), names...) }
}

// WithVersion sets the version llmgateway_build_info reports. Default:
// "devel".
func WithVersion(v string) Option { return func(o *options) { o.version = v } }

// WithoutRuntimeMetrics leaves out the Go runtime and process collectors,
// for tests that compare whole scrapes. Default: included.
func WithoutRuntimeMetrics() Option { return func(o *options) { o.runtime = false } }

// MetricLabel returns the Prometheus label name of the key label name.
func MetricLabel(name string) string {
	return "key_" + strings.NewReplacer(".", "_", "-", "_").Replace(name)
}

// Metrics is the gateway's metrics. Create it with New; it is safe for
// concurrent use, and lives as long as the process: a config reload keeps
// it (and its key labels) and points WatchRouter at the new router.
type Metrics struct {
	reg       *prometheus.Registry
	handler   http.Handler
	grpc      *grpcprom.ServerMetrics
	keyLabels []string

	// Chat calls (calls.go).
	requests   *prometheus.CounterVec
	inFlight   *prometheus.GaugeVec
	duration   *prometheus.HistogramVec
	ttft       *prometheus.HistogramVec
	tokenUsage *prometheus.HistogramVec
	tokens     *prometheus.CounterVec
	cost       *prometheus.CounterVec
	refusals   *prometheus.CounterVec
	overhead   *prometheus.HistogramVec

	// Upstream attempts and breakers (routing.go).
	attempts    *prometheus.CounterVec
	upstream    *prometheus.HistogramVec
	retries     *prometheus.CounterVec
	failovers   *prometheus.CounterVec
	hedges      *prometheus.CounterVec
	transitions *prometheus.CounterVec

	// What is read at scrape time (sources.go).
	gateway atomic.Pointer[func() GatewayStats]
	router  atomic.Pointer[func() []routing.DeploymentHealth]
	ledger  atomic.Pointer[func() ledger.Stats]
	redis   atomic.Pointer[func() redisstate.Stats]
}

var (
	_ routing.Observer     = (*Metrics)(nil)
	_ prometheus.Collector = (*sources)(nil)
)

// New returns the gateway's metrics on a registry of their own.
func New(opts ...Option) *Metrics {
	o := options{version: "devel", runtime: true}
	for _, opt := range opts {
		opt(&o)
	}
	m := &Metrics{reg: prometheus.NewRegistry(), keyLabels: o.keyLabels}
	keys := make([]string, len(o.keyLabels))
	for i, n := range o.keyLabels {
		keys[i] = MetricLabel(n)
	}
	with := func(labels ...string) []string { return append(labels, keys...) }
	genAI := []string{"gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model", "gen_ai_response_model"}

	m.requests = m.counter("llmgateway_requests_total",
		"Chat calls by surface (grpc, rest, openai), method (chat, chat_stream), model, provider and deployment (provider/upstream model) that answered, and gRPC status code.",
		"surface", "method", "model", "provider", "deployment", "code")
	m.inFlight = m.gauge("llmgateway_in_flight_requests",
		"Chat calls in flight, by surface and method (chat_stream counts open streams).", "surface", "method")
	m.duration = m.histogram("gen_ai_server_request_duration_seconds",
		"Duration of whole chat calls, as the GenAI semantic conventions define gen_ai.server.request.duration; error_type is the gRPC code of failed calls.",
		requestBuckets, append(genAI, "error_type")...)
	m.ttft = m.histogram("gen_ai_server_time_to_first_token_seconds",
		"Time from the start of a streamed chat call to its first content (gen_ai.server.time_to_first_token).",
		ttftBuckets, genAI...)
	m.tokenUsage = m.histogram("gen_ai_client_token_usage",
		"Tokens per answered chat call, as the upstream reported them (gen_ai.client.token.usage); gen_ai_token_type is input, output or cached (cached input, a part of input, recorded when non-zero).",
		tokenBuckets, append(genAI, "gen_ai_token_type")...)
	m.tokens = m.counter("llmgateway_tokens_total",
		"Tokens by type (input, output, cached), model, provider and key labels: what upstreams reported, or, for streams cut before their end, an estimate of what was streamed.",
		with("type", "model", "provider")...)
	m.cost = m.counter("llmgateway_cost_usd_total",
		"Cost in US dollars by model, provider and key labels, as the usage ledger counts it (cut streams estimated).",
		with("model", "provider")...)
	m.refusals = m.counter("llmgateway_refusals_total",
		"Calls the gateway refused for a key's limit: reason rate_limited (limit rpm, tpm or max_concurrent) or budget_exceeded (limit daily_usd or monthly_usd).",
		with("reason", "limit")...)
	m.overhead = m.histogram("llmgateway_gateway_overhead_seconds",
		"Time a chat call spent in the gateway outside its upstream attempts (the whole call minus the span from its first attempt's start to its last one's end): auth, limits, routing, encoding. Calls without attempts are left out.",
		overheadBuckets, "surface", "method")

	dep := []string{"model", "provider", "deployment"}
	m.attempts = m.counter("llmgateway_upstream_attempts_total",
		"Upstream attempts by deployment, outcome (ok, error, cancelled, hedge_lost) and error_kind (rate_limited, timeout, server, ...).",
		append(dep, "outcome", "error_kind")...)
	m.upstream = m.histogram("llmgateway_upstream_duration_seconds",
		"Duration of upstream attempts by deployment and outcome: unary calls to their answer, streams to their end.",
		requestBuckets, append(dep, "outcome")...)
	m.retries = m.counter("llmgateway_retries_total",
		"Attempts that start a new round over a model's deployments after a back-off or a Retry-After wait, by the model and provider tried.", "model", "provider")
	m.failovers = m.counter("llmgateway_failovers_total",
		"Attempts made at once on the next deployment (or fallback model) after a failure, by the model and provider tried.", "model", "provider")
	m.hedges = m.counter("llmgateway_hedges_total",
		"Hedged attempts raced against a slow one, by the model and provider tried.", "model", "provider")
	m.transitions = m.counter("llmgateway_breaker_transitions_total",
		"Circuit breaker state changes by deployment and the state entered (open, half_open, closed).", append(dep, "to")...)

	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "llmgateway_build_info",
		Help: "Always 1: the gateway's version and the Go version it was built with."}, []string{"version", "goversion"})
	build.WithLabelValues(o.version, runtime.Version()).Set(1)
	m.reg.MustRegister(build)

	m.grpc = grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(grpcprom.WithHistogramBuckets(requestBuckets)))
	m.reg.MustRegister(m.grpc, &sources{m: m})
	if o.runtime {
		m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	m.handler = promhttp.InstrumentMetricHandler(m.reg, promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		Registry:            m.reg,
		EnableOpenMetrics:   true,
		MaxRequestsInFlight: 4,
	}))
	return m
}

func (m *Metrics) counter(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	m.reg.MustRegister(c)
	return c
}

func (m *Metrics) gauge(name, help string, labels ...string) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	m.reg.MustRegister(g)
	return g
}

func (m *Metrics) histogram(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	m.reg.MustRegister(h)
	return h
}

// Registry returns the registry, to add collectors to or to gather from.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler returns the HTTP handler that serves the metrics in the
// Prometheus text format (or OpenMetrics, when the scraper asks for it).
func (m *Metrics) Handler() http.Handler { return m.handler }

// UnaryServerInterceptor returns the standard gRPC server metrics'
// interceptor (grpc_server_started_total, grpc_server_handled_total,
// grpc_server_handling_seconds, ...). It belongs first in the chain, to
// count every call.
func (m *Metrics) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return m.grpc.UnaryServerInterceptor()
}

// StreamServerInterceptor is UnaryServerInterceptor for streaming calls.
func (m *Metrics) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return m.grpc.StreamServerInterceptor()
}

// InitializeGRPC starts the gRPC server metrics of every method of s at
// zero, so that they exist before the first call. Call it after the
// services are registered.
func (m *Metrics) InitializeGRPC(s reflection.ServiceInfoProvider) { m.grpc.InitializeMetrics(s) }
