package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/stats"
)

// The exporters Config.Exporter names.
const (
	ExporterOTLPGRPC = "otlp-grpc"
	ExporterOTLPHTTP = "otlp-http"
)

// Config says where spans go and which are kept.
type Config struct {
	// Exporter is ExporterOTLPGRPC or ExporterOTLPHTTP. Required.
	Exporter string
	// Endpoint is the collector's host:port or, for otlp-http, a full
	// http(s) URL whose path is used as is. Required.
	Endpoint string
	// Insecure sends spans without TLS.
	Insecure bool
	// Headers are sent with every export.
	Headers map[string]string
	// SampleRatio is the share of new traces recorded, in [0, 1]; a call
	// with a traceparent follows its caller's decision.
	SampleRatio float64
	// ServiceName and ServiceVersion describe the gateway in its spans.
	ServiceName, ServiceVersion string
}

type options struct {
	exporter sdktrace.SpanExporter
	sync     bool
	logger   *slog.Logger
}

// Option configures New.
type Option func(*options)

// WithExporter sends spans to e instead of the OTLP exporter Config
// describes, for tests (tracetest.InMemoryExporter). With sync, each span
// is exported as it ends rather than in batches.
func WithExporter(e sdktrace.SpanExporter, sync bool) Option {
	return func(o *options) { o.exporter, o.sync = e, sync }
}

// WithLogger sets the logger for failed exports. Default: discard.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// Tracing is the gateway's tracing: off (Off) or exporting spans (New).
type Tracing struct {
	sdk    *sdktrace.TracerProvider // nil when off
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
}

// Off returns tracing that is off: Enabled is false and nothing is
// instrumented.
func Off() *Tracing { return &Tracing{} }

// New starts tracing as cfg says. It does not connect: the exporter dials
// the collector when it first exports, and failed exports are logged
// rather than failing the gateway. Shutdown flushes and stops it.
func New(ctx context.Context, cfg Config, opts ...Option) (*Tracing, error) {
	o := options{logger: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		opt(&o)
	}
	if cfg.SampleRatio < 0 || cfg.SampleRatio > 1 || cfg.SampleRatio != cfg.SampleRatio {
		return nil, fmt.Errorf("tracing: sample ratio %v is not in [0, 1]", cfg.SampleRatio)
	}
	exp := o.exporter
	if exp == nil {
		var err error
		if exp, err = newExporter(ctx, &cfg); err != nil {
			return nil, fmt.Errorf("tracing: %w", err)
		}
	}
	exp = &loggedExporter{SpanExporter: exp, logger: o.logger}
	attrs := []attribute.KeyValue{attribute.String("service.name", cfg.ServiceName)}
	if cfg.ServiceVersion != "" {
		attrs = append(attrs, attribute.String("service.version", cfg.ServiceVersion))
	}
	// WithBatcher starts its goroutine as soon as it is called: call only
	// the one used.
	var process sdktrace.TracerProviderOption
	if o.sync {
		process = sdktrace.WithSyncer(exp)
	} else {
		process = sdktrace.WithBatcher(exp)
	}
	tp := sdktrace.NewTracerProvider(
		process,
		sdktrace.WithResource(resource.NewSchemaless(attrs...)),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SampleRatio))),
	)
	return &Tracing{
		sdk:    tp,
		tracer: tp.Tracer("github.com/llmgateway/llmgateway/routing"),
		prop:   propagation.TraceContext{},
	}, nil
}

// newExporter builds the OTLP exporter of cfg.
func newExporter(ctx context.Context, cfg *Config) (sdktrace.SpanExporter, error) {
	switch cfg.Exporter {
	case ExporterOTLPGRPC:
		opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(cfg.Endpoint)}
		if cfg.Insecure {
			opts = append(opts, otlptracegrpc.WithInsecure())
		}
		if len(cfg.Headers) > 0 {
			opts = append(opts, otlptracegrpc.WithHeaders(cfg.Headers))
		}
		return otlptracegrpc.New(ctx, opts...)
	case ExporterOTLPHTTP:
		var opts []otlptracehttp.Option
		if strings.Contains(cfg.Endpoint, "://") {
			u, err := url.Parse(cfg.Endpoint)
			if err != nil {
				return nil, fmt.Errorf("endpoint %q: %w", cfg.Endpoint, err)
			}
			if u.Scheme == "https" && cfg.Insecure {
				return nil, fmt.Errorf("endpoint %q is https but insecure is set", cfg.Endpoint)
			}
			opts = append(opts, otlptracehttp.WithEndpointURL(cfg.Endpoint))
		} else {
			opts = append(opts, otlptracehttp.WithEndpoint(cfg.Endpoint), otlptracehttp.WithURLPath("/v1/traces"))
			if cfg.Insecure {
				opts = append(opts, otlptracehttp.WithInsecure())
			}
		}
		if len(cfg.Headers) > 0 {
			opts = append(opts, otlptracehttp.WithHeaders(cfg.Headers))
		}
		return otlptracehttp.New(ctx, opts...)
	}
	return nil, fmt.Errorf("unknown exporter %q (want %s or %s)", cfg.Exporter, ExporterOTLPGRPC, ExporterOTLPHTTP)
}

// Enabled reports whether tracing is on.
func (t *Tracing) Enabled() bool { return t.sdk != nil }

// TracerProvider returns the tracer provider; nil when off.
func (t *Tracing) TracerProvider() trace.TracerProvider {
	if t.sdk == nil {
		return nil
	}
	return t.sdk
}

// Shutdown exports the spans still buffered and stops tracing, within
// ctx. It is a no-op when tracing is off.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t.sdk == nil {
		return nil
	}
	if err := t.sdk.Shutdown(ctx); err != nil {
		return fmt.Errorf("flushing traces: %w", err)
	}
	return nil
}

// traced reports whether a gRPC method is traced: everything but health
// checks and reflection, which probes call all day.
func traced(info *stats.RPCTagInfo) bool {
	m := info.FullMethodName
	return !strings.HasPrefix(m, "/grpc.health.v1.Health/") && !strings.HasPrefix(m, "/grpc.reflection.")
}

// ServerHandler returns the otelgrpc stats handler for the gRPC server:
// a server span per call, continuing the caller's traceparent. nil when
// off.
func (t *Tracing) ServerHandler() stats.Handler {
	if t.sdk == nil {
		return nil
	}
	return otelgrpc.NewServerHandler(t.grpcOptions()...)
}

// ClientHandler returns the otelgrpc stats handler for the HTTP surfaces'
// client of the gRPC listener: a client span per call, whose context
// travels as the call's traceparent. nil when off.
func (t *Tracing) ClientHandler() stats.Handler {
	if t.sdk == nil {
		return nil
	}
	return otelgrpc.NewClientHandler(t.grpcOptions()...)
}

func (t *Tracing) grpcOptions() []otelgrpc.Option {
	return []otelgrpc.Option{
		otelgrpc.WithTracerProvider(t.sdk),
		otelgrpc.WithPropagators(t.prop),
		otelgrpc.WithMeterProvider(noop.NewMeterProvider()),
		otelgrpc.WithFilter(traced),
	}
}

// httpRoutes are the HTTP listener's routes, for span names; other paths
// are named by method only, to keep span names few.
var httpRoutes = []string{
	"/v1/chat/completions", "/v1/models", "/api/v1/chat:stream", "/api/v1/chat", "/api/v1/models", "/api/v1/usage", "/api/v1/openapi.json",
}

// HTTPHandler wraps h, the HTTP listener's handler, with a server span per
// request that continues the caller's traceparent; probes and the
// metrics path (skip) are not traced. It returns h itself when off.
func (t *Tracing) HTTPHandler(h http.Handler, skip ...string) http.Handler {
	if t.sdk == nil {
		return h
	}
	return otelhttp.NewHandler(h, "http.server",
		otelhttp.WithTracerProvider(t.sdk),
		otelhttp.WithPropagators(t.prop),
		otelhttp.WithMeterProvider(noop.NewMeterProvider()),
		otelhttp.WithFilter(func(r *http.Request) bool {
			p := r.URL.Path
			if p == "/healthz" || p == "/readyz" {
				return false
			}
			for _, s := range skip {
				if p == s {
					return false
				}
			}
			return true
		}),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
			for _, route := range httpRoutes {
				if r.URL.Path == route {
					return r.Method + " " + route
				}
			}
			return r.Method
		}),
	)
}

// Transport wraps rt, the upstream providers' transport, with a client
// span per HTTP request and the W3C traceparent of the upstream attempt
// in its headers; CloseIdleConnections reaches rt. It returns rt itself
// when off.
func (t *Tracing) Transport(rt http.RoundTripper) http.RoundTripper {
	if t.sdk == nil {
		return rt
	}
	return &transport{
		RoundTripper: otelhttp.NewTransport(rt,
			otelhttp.WithTracerProvider(t.sdk),
			otelhttp.WithPropagators(t.prop),
			otelhttp.WithMeterProvider(noop.NewMeterProvider()),
		),
		base: rt,
	}
}

// transport is a traced transport that, unlike otelhttp's, lets
// http.Client.CloseIdleConnections reach the transport it wraps.
type transport struct {
	http.RoundTripper
	base http.RoundTripper
}

// CloseIdleConnections closes the wrapped transport's idle connections.
func (t *transport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// loggedExporter logs failed exports itself, at most every 30 s, so that
// they reach the gateway's log rather than the OpenTelemetry SDK's global
// error handler.
type loggedExporter struct {
	sdktrace.SpanExporter
	logger *slog.Logger

	mu      sync.Mutex
	last    time.Time
	dropped int
}

func (e *loggedExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := e.SpanExporter.ExportSpans(ctx, spans)
	if err == nil || errors.Is(err, context.Canceled) {
		return err
	}
	e.mu.Lock()
	e.dropped += len(spans)
	if time.Since(e.last) < 30*time.Second {
		e.mu.Unlock()
		return nil
	}
	e.last = time.Now()
	n := e.dropped
	e.dropped = 0
	e.mu.Unlock()
	e.logger.Error("trace export failed: spans dropped", "spans", n, "error", err)
	return nil
}
