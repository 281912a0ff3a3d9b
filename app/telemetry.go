package app

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/stats"

	"github.com/llmgateway/llmgateway/config"
	"github.com/llmgateway/llmgateway/interceptors/observe"
	"github.com/llmgateway/llmgateway/interceptors/promptlog"
	"github.com/llmgateway/llmgateway/llm"
	"github.com/llmgateway/llmgateway/metrics"
	"github.com/llmgateway/llmgateway/routing"
	"github.com/llmgateway/llmgateway/telemetry"
	"github.com/llmgateway/llmgateway/telemetry/redact"
)

// telemetryOptions is what a gateway tells its operators beyond its log:
// metrics (WithMetrics), traces (WithTracing) and, for a gateway built
// from a config, the opt-in prompt log.
type telemetryOptions struct {
	metrics     *metrics.Metrics   // nil: no metrics
	metricsPath string             // on the HTTP listener, unless server is set
	server      *metricsServer     // nil: metrics on the HTTP listener
	tracing     *telemetry.Tracing // nil: no tracing
}

// tel returns o's telemetry options, creating them on first use along
// with the door interceptors that report chat calls to them.
func (o *options) tel() *telemetryOptions {
	if o.telemetry == nil {
		t := &telemetryOptions{}
		o.telemetry = t
		o.door = append(o.door, func(d DoorSpec) ([]grpc.UnaryServerInterceptor, []grpc.StreamServerInterceptor, error) {
			return t.door(d, o.logger)
		})
	}
	return o.telemetry
}

// WithMetrics serves m's metrics to GET path (default /metrics): on the
// HTTP listener, or, when addr is set, on a listener of their own that
// Serve opens at addr (host:port) and closes when it ends. It also puts
// the standard gRPC server metrics first in the chain and makes m observe
// every chat call, upstream attempt and breaker, and the gateway's load
// shedding and reloads. (A gateway built with New routes with a router
// built before it: give that router routing.WithObserver(m) for the
// attempts and breakers.) Default: no metrics.
func WithMetrics(m *metrics.Metrics, path, addr string) Option {
	return func(o *options) {
		t := o.tel()
		t.metrics, t.metricsPath = m, cmp.Or(path, "/metrics")
		if addr != "" {
			t.server = &metricsServer{addr: addr, path: t.metricsPath, handler: m.Handler(), logger: func() *slog.Logger { return o.logger }}
			o.starts = append(o.starts, t.server.start)
			o.stops = append(o.stops, t.server.stop)
		}
	}
}

// WithTracing traces the gateway with tr: a server span per gRPC call and
// per HTTP request (continuing the caller's W3C traceparent), a client
// span per call the HTTP surfaces make to the service (in-process), a span per
// upstream attempt, and the traceparent passed to upstream providers
// built by FromConfig. (A gateway built with New gets the attempt spans
// when its router has routing.WithObserver(tr).) Serve flushes tr when it
// ends. Tracing that is off (telemetry.Off) changes nothing. Default: no
// tracing.
func WithTracing(tr *telemetry.Tracing) Option {
	return func(o *options) {
		if tr == nil || !tr.Enabled() {
			return
		}
		o.tel().tracing = tr
		o.starts = append(o.starts, nil)
		o.stops = append(o.stops, tr.Shutdown)
	}
}

// withPromptLog makes a gateway built from a config log the prompts its
// telemetry.logging.prompt_logging opts in to.
func withPromptLog() Option { return func(o *options) { o.tel() } }

// interceptors returns the gRPC metrics interceptors of t, which go ahead
// of every other interceptor; none when metrics are off.
func (t *telemetryOptions) interceptors() ([]grpc.UnaryServerInterceptor, []grpc.StreamServerInterceptor) {
	if t == nil || t.metrics == nil {
		return nil, nil
	}
	return []grpc.UnaryServerInterceptor{t.metrics.UnaryServerInterceptor()},
		[]grpc.StreamServerInterceptor{t.metrics.StreamServerInterceptor()}
}

// statsHandlers returns the tracing stats handlers of t: the gRPC
// server's, and the client's that the HTTP surfaces' in-process channel
// runs, so that the HTTP request's trace goes on through a client and a
// server span as if the call crossed the listener. Both nil when tracing
// is off.
func (t *telemetryOptions) statsHandlers() (client, server stats.Handler) {
	if t == nil || t.tracing == nil {
		return nil, nil
	}
	return t.tracing.ClientHandler(), t.tracing.ServerHandler()
}

// routes adds the metrics endpoint to the HTTP listener's mux, unless the
// metrics have a listener of their own.
func (t *telemetryOptions) routes(mux *http.ServeMux) {
	if t == nil || t.metrics == nil || t.server != nil {
		return
	}
	mux.Handle("GET "+t.metricsPath, t.metrics.Handler())
}

// handler wraps the HTTP listener's handler with tracing.
func (t *telemetryOptions) handler(h http.Handler) http.Handler {
	if t == nil || t.tracing == nil {
		return h
	}
	return t.tracing.HTTPHandler(h, t.metricsPath)
}

// routerOptions returns the router's observers: tracing first, so that
// its attempt span is in the context the others and the provider get.
func (t *telemetryOptions) routerOptions() []routing.Option {
	if t == nil {
		return nil
	}
	var opts []routing.Option
	if t.tracing != nil {
		opts = append(opts, routing.WithObserver(t.tracing))
	}
	if t.metrics != nil {
		opts = append(opts, routing.WithObserver(t.metrics))
	}
	return opts
}

// upstreamClient returns an HTTP client for one upstream provider when
// tracing or the provider's own CAs (roots, nil for the system's) need
// one (nil: the provider keeps its default): a pool of its own, as the
// default is, so that closing a replaced provider's idle connections at a
// reload leaves the others' alone.
func (t *telemetryOptions) upstreamClient(roots *x509.CertPool) *http.Client {
	tracing := t != nil && t.tracing != nil
	if !tracing && roots == nil {
		return nil
	}
	tr := upstreamTransport()
	if roots != nil {
		tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	}
	if !tracing {
		return &http.Client{Transport: tr}
	}
	return &http.Client{Transport: t.tracing.Transport(tr)}
}

// upstreamTransport returns a transport tuned as the providers' own
// default (providers/internal/upstream.NewTransport): a large idle pool per
// host, no cap on connections per host, HTTP/2 with health checks, and
// bounded dial and TLS handshake times.
func upstreamTransport() *http.Transport {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		HTTP2:                 &http.HTTP2Config{SendPingTimeout: 30 * time.Second, PingTimeout: 15 * time.Second},
	}
}

// watch points the metrics at g's router, shedding and reloads, and
// starts the gRPC metrics of g's methods at zero.
func (t *telemetryOptions) watch(g *Gateway) {
	if t == nil || t.metrics == nil {
		return
	}
	t.metrics.InitializeGRPC(g.grpc)
	t.metrics.WatchRouter(func() []routing.DeploymentHealth { return g.gen.Load().router.Health() })
	t.metrics.WatchGateway(func() metrics.GatewayStats {
		inFlight, shed := g.InFlight()
		rs := g.ReloadStats()
		return metrics.GatewayStats{InFlight: inFlight, Shed: shed,
			ReloadsSucceeded: rs.Succeeded, ReloadsFailed: rs.Failed, LastReload: rs.LastSuccess}
	})
}

// door builds the door interceptors of one config: the observer of chat
// calls (metrics and the call span's attributes) and the prompt log.
func (t *telemetryOptions) door(d DoorSpec, logger *slog.Logger) ([]grpc.UnaryServerInterceptor, []grpc.StreamServerInterceptor, error) {
	var unary []grpc.UnaryServerInterceptor
	var stream []grpc.StreamServerInterceptor
	var obs observe.Observers
	if t.metrics != nil {
		obs = append(obs, t.metrics)
	}
	if t.tracing != nil {
		obs = append(obs, t.tracing)
	}
	if len(obs) > 0 {
		resolve, price := d.Resolve, func(string) (llm.Pricing, bool) { return llm.Pricing{}, false }
		if d.Config != nil {
			mi := newModelIndex(d.Config)
			resolve, price = modelOrVirtual(mi, d.Config), mi.price
		}
		o := observe.New(obs, observe.WithResolver(resolve), observe.WithPricing(price))
		unary, stream = append(unary, o.UnaryServerInterceptor()), append(stream, o.StreamServerInterceptor())
	}
	if d.Config != nil {
		lc := &d.Config.Telemetry.Logging
		if len(lc.PromptLogging.Labels) > 0 {
			r, err := redact.New(lc.Redaction.Builtin, lc.Redaction.Patterns)
			if err != nil {
				return nil, nil, fmt.Errorf("telemetry.logging.redaction: %w", err)
			}
			p := promptlog.New(logger, lc.PromptLogging.Labels, r, promptlog.WithMaxChars(lc.PromptLogging.MaxChars))
			unary, stream = append(unary, p.UnaryServerInterceptor()), append(stream, p.StreamServerInterceptor())
		}
	}
	return unary, stream, nil
}

// modelOrVirtual resolves a model name, alias or virtual model name to
// its canonical name.
func modelOrVirtual(mi *modelIndex, cfg *config.Config) func(string) (string, bool) {
	virtual := make(map[string]string, len(cfg.Routing.VirtualModels))
	for _, vm := range cfg.Routing.VirtualModels {
		virtual[strings.ToLower(vm.Name)] = vm.Name
	}
	return func(name string) (string, bool) {
		if c, ok := mi.resolve(name); ok {
			return c, true
		}
		c, ok := virtual[strings.ToLower(name)]
		return c, ok
	}
}

// metricsServer serves the metrics on a listener of their own.
type metricsServer struct {
	addr, path string
	handler    http.Handler
	logger     func() *slog.Logger

	mu   sync.Mutex
	lis  net.Listener
	srv  *http.Server
	done chan struct{}
}

func (s *metricsServer) start(context.Context) error {
	lis, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("metrics listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+s.path, s.handler)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.logger().Handler(), slog.LevelWarn),
	}
	done := make(chan struct{})
	s.mu.Lock()
	s.lis, s.srv, s.done = lis, srv, done
	s.mu.Unlock()
	go func() {
		defer close(done)
		if err := srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger().Error("metrics listener failed", "error", err)
		}
	}()
	s.logger().Info("metrics serving", "addr", lis.Addr().String(), "path", s.path)
	return nil
}

func (s *metricsServer) stop(ctx context.Context) error {
	s.mu.Lock()
	srv, done := s.srv, s.done
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	err := srv.Shutdown(ctx)
	if err != nil {
		srv.Close()
	}
	<-done
	return err
}

// MetricsAddr returns the address of the metrics' own listener while
// Serve runs; nil when the metrics are served on the HTTP listener, or
// not at all.
func (g *Gateway) MetricsAddr() net.Addr {
	t := g.opts.telemetry
	if t == nil || t.server == nil {
		return nil
	}
	t.server.mu.Lock()
	defer t.server.mu.Unlock()
	if t.server.lis == nil {
		return nil
	}
	return t.server.lis.Addr()
}

// telemetryFromConfig returns the telemetry options that cfg's telemetry
// section asks for, on the door's ledger and shared state, and a function
// that releases what they hold (the tracer's exporter) should the gateway
// not be built after all.
func telemetryFromConfig(cfg *config.Config, logger *slog.Logger, d *door) ([]Option, func(), error) {
	tc := &cfg.Telemetry
	opts := []Option{withPromptLog()}
	release := func() {}
	if tc.Metrics.Enabled {
		m := metrics.New(metrics.WithKeyLabels(tc.Metrics.KeyLabels...), metrics.WithVersion(Version()))
		m.WatchLedger(d.ledger.Stats)
		if d.redis != nil {
			m.WatchRedis(d.redis.Stats)
		}
		opts = append(opts, WithMetrics(m, tc.Metrics.Path, tc.Metrics.ListenAddr))
	}
	if tr := &tc.Tracing; tr.Enabled {
		t, err := telemetry.New(context.Background(), telemetry.Config{
			Exporter:       tr.Exporter,
			Endpoint:       tr.Endpoint,
			Insecure:       tr.Insecure,
			Headers:        tr.Headers,
			SampleRatio:    tr.SampleRatio,
			ServiceName:    tr.ServiceName,
			ServiceVersion: Version(),
		}, telemetry.WithLogger(logger))
		if err != nil {
			return nil, nil, fmt.Errorf("telemetry.tracing: %w", err)
		}
		release = func() { _ = t.Shutdown(context.Background()) }
		opts = append(opts, WithTracing(t))
	}
	return opts, release, nil
}

// redactingLogger returns logger with the secrets cfg gives the gateway
// (providers' API keys and header values, the Redis password, the trace
// exporter's headers) and API-key-like strings masked in every logged
// error: upstreams sometimes echo the key they were sent.
func redactingLogger(logger *slog.Logger, cfg *config.Config, lookup func(string) (string, bool)) *slog.Logger {
	var secrets []string
	for i := range cfg.Providers {
		pc := &cfg.Providers[i]
		if key, err := pc.APIKey(lookup); err == nil && key != "" {
			secrets = append(secrets, key)
		}
		for _, v := range pc.Headers {
			secrets = append(secrets, v)
		}
	}
	if rc := cfg.State.Redis; rc != nil {
		if pw, err := rc.Password(lookup); err == nil && pw != "" {
			secrets = append(secrets, pw)
		}
	}
	for _, v := range cfg.Telemetry.Tracing.Headers {
		secrets = append(secrets, v)
	}
	r, err := redact.New([]string{redact.APIKey}, nil, secrets...)
	if err != nil {
		// The built-in rule always builds.
		return logger
	}
	return slog.New(redact.Handler(logger.Handler(), r))
}

// withClient returns the provider option that sets hc, or none when hc
// is nil.
func withClient[O any](hc *http.Client, with func(*http.Client) O) []O {
	if hc == nil {
		return nil
	}
	return []O{with(hc)}
}
