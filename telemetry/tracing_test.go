package telemetry_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"

	"github.com/llmgateway/llmgateway/interceptors/auth"
	"github.com/llmgateway/llmgateway/interceptors/observe"
	"github.com/llmgateway/llmgateway/interceptors/requestid"
	"github.com/llmgateway/llmgateway/llm"
	"github.com/llmgateway/llmgateway/routing"
	"github.com/llmgateway/llmgateway/telemetry"
	"github.com/llmgateway/llmgateway/telemetry/telemetrytest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// inMemory returns tracing that exports every span to an in-memory
// exporter as it ends.
func inMemory(t *testing.T, ratio float64) (*telemetry.Tracing, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tr, err := telemetry.New(testCtx(t), telemetry.Config{SampleRatio: ratio, ServiceName: "gw"}, telemetry.WithExporter(exp, true))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Shutdown(context.Background()) })
	return tr, exp
}

// traceparent is a sampled W3C trace context of a caller.
const (
	callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	traceparent = "00-" + callerTrace + "-00f067aa0ba902b7-01"
)

func callerContext(t *testing.T) context.Context {
	return propagation.TraceContext{}.Extract(testCtx(t), propagation.MapCarrier{"traceparent": traceparent})
}

func TestOffInstrumentsNothing(t *testing.T) {
	tr := telemetry.Off()
	h := http.NewServeMux()
	rt := http.DefaultTransport
	switch {
	case tr.Enabled():
		t.Error("Off().Enabled() = true")
	case tr.ServerHandler() != nil || tr.ClientHandler() != nil:
		t.Error("Off() returns stats handlers")
	case tr.TracerProvider() != nil:
		t.Error("Off() returns a tracer provider")
	case tr.Transport(rt) != rt:
		t.Error("Off().Transport() wraps the transport")
	case tr.Shutdown(context.Background()) != nil:
		t.Error("Off().Shutdown() fails")
	}
	if got, ok := tr.HTTPHandler(h).(*http.ServeMux); !ok || got != h {
		t.Errorf("Off().HTTPHandler() = %v, want the handler itself", got)
	}
	ctx := testCtx(t)
	if got := tr.AttemptStarted(ctx, routing.AttemptStart{}); got != ctx {
		t.Error("Off().AttemptStarted() changes the context")
	}
	tr.AttemptFinished(ctx, &routing.Attempt{}, nil)
	tr.End(ctx, &observe.Call{})
}

func TestAttemptSpans(t *testing.T) {
	tr, exp := inMemory(t, 1)
	ctx := callerContext(t)
	k := routing.Key{Model: "gpt-4.1", Provider: "openai", UpstreamModel: "gpt-4.1-2025-04-14"}

	actx := tr.AttemptStarted(ctx, routing.AttemptStart{Key: k, Cause: routing.CauseFirst})
	tr.AttemptFinished(actx, &routing.Attempt{Provider: "openai", Model: "gpt-4.1", UpstreamModel: k.UpstreamModel,
		Outcome: routing.OutcomeError, Kind: llm.KindRateLimited, StatusCode: 429, Error: "rate limited (429)"}, nil)
	bctx := tr.AttemptStarted(ctx, routing.AttemptStart{Key: k, Cause: routing.CauseFailover})
	tr.AttemptFinished(bctx, &routing.Attempt{Provider: "openai", Model: "gpt-4.1", UpstreamModel: k.UpstreamModel,
		Outcome: routing.OutcomeOK}, &llm.Usage{PromptTokens: 12, CompletionTokens: 34, CachedTokens: 5})

	spans := exp.GetSpans()
	if len(spans) != 2 {
		t.Fatalf("exported %d spans, want 2", len(spans))
	}
	parent := trace.SpanContextFromContext(ctx)
	tests := []struct {
		give   tracetest.SpanStub
		status string
		attrs  map[string]string
	}{
		{spans[0], "Error", map[string]string{"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
			"gen_ai.request.model": k.UpstreamModel, "llmgateway.model": "gpt-4.1", "llmgateway.deployment": "openai/" + k.UpstreamModel,
			"llmgateway.attempt.cause": "first", "llmgateway.attempt.outcome": "error", "error.type": "rate_limited",
			"http.response.status_code": "429"}},
		{spans[1], "Unset", map[string]string{"llmgateway.attempt.cause": "failover", "llmgateway.attempt.outcome": "ok",
			"gen_ai.usage.input_tokens": "12", "gen_ai.usage.output_tokens": "34", "llmgateway.usage.cached_tokens": "5"}},
	}
	for i, tt := range tests {
		s := tt.give
		if s.Name != "chat "+k.UpstreamModel || s.SpanKind != trace.SpanKindClient {
			t.Errorf("span %d = %q %v, want %q, client", i, s.Name, s.SpanKind, "chat "+k.UpstreamModel)
		}
		if s.SpanContext.TraceID() != parent.TraceID() || s.Parent.SpanID() != parent.SpanID() {
			t.Errorf("span %d is in trace %s under %s, want the caller's %s under %s", i,
				s.SpanContext.TraceID(), s.Parent.SpanID(), parent.TraceID(), parent.SpanID())
		}
		if s.Status.Code.String() != tt.status {
			t.Errorf("span %d status = %v, want %s", i, s.Status.Code, tt.status)
		}
		got := map[string]string{}
		for _, a := range s.Attributes {
			got[string(a.Key)] = a.Value.Emit()
		}
		for k, want := range tt.attrs {
			if got[k] != want {
				t.Errorf("span %d attribute %s = %q, want %q", i, k, got[k], want)
			}
		}
	}
}

func TestCallSpanAttributes(t *testing.T) {
	tr, exp := inMemory(t, 1)
	ctx, span := tr.TracerProvider().Tracer("test").Start(testCtx(t), "server")
	ctx = requestid.NewContext(ctx, "req-1")
	c := &observe.Call{Surface: "openai", Key: &auth.Key{ID: "cs_bot"}, Requested: "gpt-4", RequestModel: "gpt-4.1",
		Code: codes.OK, Model: "gpt-4.1", Provider: "sim-a", UpstreamModel: "up", Answered: true, Attempts: 2,
		Usage: llm.Usage{PromptTokens: 3, CompletionTokens: 4}, CostUSD: 0.5}
	tr.End(tr.Begin(ctx, c), c)
	span.End()
	got := map[string]string{}
	for _, a := range exp.GetSpans()[0].Attributes {
		got[string(a.Key)] = a.Value.Emit()
	}
	want := map[string]string{"llmgateway.request_id": "req-1", "llmgateway.key_id": "cs_bot", "gen_ai.request.model": "gpt-4",
		"gen_ai.response.model": "gpt-4.1", "gen_ai.provider.name": "sim-a", "llmgateway.deployment": "sim-a/up",
		"gen_ai.usage.input_tokens": "3", "gen_ai.usage.output_tokens": "4", "llmgateway.cost_usd": "0.5",
		"llmgateway.attempts": "2", "llmgateway.surface": "openai"}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("server span attribute %s = %q, want %q", k, got[k], w)
		}
	}
	if _, ok := got["error.type"]; ok {
		t.Errorf("a successful call's span has error.type %q", got["error.type"])
	}
}

func TestSampling(t *testing.T) {
	tr, exp := inMemory(t, 0)
	k := routing.Key{Model: "m", Provider: "p", UpstreamModel: "u"}
	// A new trace at ratio 0 is not recorded...
	ctx := tr.AttemptStarted(testCtx(t), routing.AttemptStart{Key: k})
	tr.AttemptFinished(ctx, &routing.Attempt{Outcome: routing.OutcomeOK}, nil)
	if n := len(exp.GetSpans()); n != 0 {
		t.Errorf("ratio 0 recorded %d root spans, want 0", n)
	}
	// ...but a caller's sampled trace is followed.
	ctx = tr.AttemptStarted(callerContext(t), routing.AttemptStart{Key: k})
	tr.AttemptFinished(ctx, &routing.Attempt{Outcome: routing.OutcomeOK}, nil)
	if n := len(exp.GetSpans()); n != 1 {
		t.Errorf("ratio 0 recorded %d spans of a sampled caller, want 1", n)
	}
}

func TestHTTPHandlerAndTransport(t *testing.T) {
	tr, exp := inMemory(t, 1)
	var mu sync.Mutex
	var upstreamParent string
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		upstreamParent = r.Header.Get("traceparent")
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer upstream.Close()
	client := &http.Client{Transport: tr.Transport(http.DefaultTransport.(*http.Transport).Clone())}
	defer client.CloseIdleConnections()

	gateway := tr.HTTPHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The gateway's routes call upstream in the request's context.
		if !strings.HasPrefix(r.URL.Path, "/v1/") {
			return
		}
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, upstream.URL, nil)
		resp, err := client.Do(req)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		resp.Body.Close()
		w.WriteHeader(http.StatusOK)
	}), "/metrics")
	for _, path := range []string{"/v1/chat/completions", "/healthz", "/metrics", "/v1/nope"} {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader("{}"))
		req.Header.Set("traceparent", traceparent)
		gateway.ServeHTTP(httptest.NewRecorder(), req)
	}

	names := map[string]tracetest.SpanStub{}
	for _, s := range exp.GetSpans() {
		if s.SpanContext.TraceID().String() != callerTrace {
			t.Errorf("span %q is in trace %s, want the caller's %s", s.Name, s.SpanContext.TraceID(), callerTrace)
		}
		names[s.Name] = s
	}
	server, ok := names["POST /v1/chat/completions"]
	if !ok || server.SpanKind != trace.SpanKindServer {
		t.Fatalf("spans = %v, want a server span POST /v1/chat/completions", keys(names))
	}
	if _, ok := names["POST"]; !ok {
		t.Errorf("spans = %v, want an unknown path named by its method only", keys(names))
	}
	var clientSpans int
	for _, s := range exp.GetSpans() {
		if s.SpanKind == trace.SpanKindClient {
			clientSpans++
		}
	}
	// Two traced requests called upstream; probes and metrics were not
	// traced.
	if len(exp.GetSpans()) != 4 || clientSpans != 2 {
		t.Errorf("spans = %v (%d client spans), want 2 server spans and 2 client spans", keys(names), clientSpans)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(upstreamParent, callerTrace) {
		t.Errorf("upstream got traceparent %q, want the caller's trace %s", upstreamParent, callerTrace)
	}
}

// closer is a transport that counts CloseIdleConnections.
type closer struct {
	http.RoundTripper
	closed int
}

func (c *closer) CloseIdleConnections() { c.closed++ }

func TestTransportClosesIdleConnections(t *testing.T) {
	tr, _ := inMemory(t, 1)
	base := &closer{RoundTripper: http.DefaultTransport}
	client := &http.Client{Transport: tr.Transport(base)}
	client.CloseIdleConnections()
	if base.closed != 1 {
		t.Errorf("CloseIdleConnections reached the wrapped transport %d times, want 1", base.closed)
	}
}

func keys(m map[string]tracetest.SpanStub) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestOTLPExport(t *testing.T) {
	tests := []struct {
		name      string
		collector func(testing.TB) *telemetrytest.Collector
		exporter  string
		endpoint  func(*telemetrytest.Collector) string
		wantPath  string
	}{
		{"grpc", telemetrytest.NewGRPC, telemetry.ExporterOTLPGRPC, func(c *telemetrytest.Collector) string { return c.Endpoint }, ""},
		{"http host:port", telemetrytest.NewHTTP, telemetry.ExporterOTLPHTTP, func(c *telemetrytest.Collector) string {
			return strings.TrimSuffix(strings.TrimPrefix(c.Endpoint, "http://"), "/v1/traces")
		}, "/v1/traces"},
		{"http URL", telemetrytest.NewHTTP, telemetry.ExporterOTLPHTTP, func(c *telemetrytest.Collector) string {
			return strings.Replace(c.Endpoint, "/v1/traces", "/otlp/v1/traces", 1)
		}, "/otlp/v1/traces"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			col := tt.collector(t)
			tr, err := telemetry.New(testCtx(t), telemetry.Config{
				Exporter: tt.exporter, Endpoint: tt.endpoint(col), Insecure: true,
				Headers: map[string]string{"x-tenant": "t1"}, SampleRatio: 1,
				ServiceName: "llmgateway-test", ServiceVersion: "v9",
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx := tr.AttemptStarted(callerContext(t), routing.AttemptStart{Key: routing.Key{Model: "m", Provider: "p", UpstreamModel: "u"}})
			tr.AttemptFinished(ctx, &routing.Attempt{Outcome: routing.OutcomeOK}, &llm.Usage{PromptTokens: 1, CompletionTokens: 2})
			if err := tr.Shutdown(testCtx(t)); err != nil {
				t.Fatalf("Shutdown() = %v", err)
			}
			s := col.Wait(t, "attempt span", func(s telemetrytest.Span) bool { return s.Name == "chat u" })
			if s.TraceID != callerTrace || s.Resource["service.name"] != "llmgateway-test" || s.Resource["service.version"] != "v9" ||
				s.Attributes["gen_ai.usage.output_tokens"] != "2" {
				t.Errorf("exported span = %v, resource %v", s, s.Resource)
			}
			if h := col.Headers(); h["x-tenant"] != "t1" || tt.wantPath != "" && h["path"] != tt.wantPath {
				t.Errorf("export headers = %v, want x-tenant t1 and path %q", h, tt.wantPath)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name string
		give telemetry.Config
		want string
	}{
		{"unknown exporter", telemetry.Config{Exporter: "zipkin", Endpoint: "c:1", SampleRatio: 1}, `unknown exporter "zipkin"`},
		{"bad ratio", telemetry.Config{Exporter: telemetry.ExporterOTLPGRPC, Endpoint: "c:1", SampleRatio: 2}, "sample ratio"},
		{"insecure https", telemetry.Config{Exporter: telemetry.ExporterOTLPHTTP, Endpoint: "https://c/v1/traces", Insecure: true, SampleRatio: 1}, "insecure"},
	}
	for _, tt := range tests {
		if _, err := telemetry.New(testCtx(t), tt.give); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: New() error = %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}

// failing is an exporter that always fails.
type failing struct{}

func (failing) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error {
	return errors.New("collector unreachable")
}
func (failing) Shutdown(context.Context) error { return nil }

func TestFailedExportsAreLoggedNotGlobal(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewJSONHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	}), nil))
	tr, err := telemetry.New(testCtx(t), telemetry.Config{SampleRatio: 1}, telemetry.WithExporter(failing{}, true), telemetry.WithLogger(logger))
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		ctx := tr.AttemptStarted(testCtx(t), routing.AttemptStart{})
		tr.AttemptFinished(ctx, &routing.Attempt{}, nil)
	}
	_ = tr.Shutdown(testCtx(t))
	mu.Lock()
	defer mu.Unlock()
	if n := strings.Count(buf.String(), "trace export failed"); n != 1 {
		t.Errorf("logged %d export failures, want 1 (rate-limited):\n%s", n, buf.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
