package app

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/llmgateway/llmgateway/config"
	pb "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
	"github.com/llmgateway/llmgateway/metrics/metricstest"
	"github.com/llmgateway/llmgateway/telemetry/telemetrytest"
)

// telemetryGateway is a gateway serving for one test, with the Gateway
// itself at hand.
type telemetryGateway struct {
	*running
	gw   *Gateway
	logs *syncBuffer
}

// startTelemetry serves a gateway built by FromConfig from yaml, logging
// JSON at debug level, with lookup for its environment.
func startTelemetry(t *testing.T, yaml string, lookup func(string) (string, bool)) *telemetryGateway {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml), config.WithLookupEnv(lookup))
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	gw, err := FromConfig(cfg, logger, lookup)
	if err != nil {
		t.Fatal(err)
	}
	return &telemetryGateway{running: serveGateway(t, gw), gw: gw, logs: logs}
}

func noEnv(string) (string, bool) { return "", false }

// grpcChatWith makes a unary call with key, returning its status code.
func (g *telemetryGateway) grpcChatWith(t *testing.T, key, model string) codes.Code {
	t.Helper()
	ctx := withKey(tctx(t), key)
	mt := int32(8)
	_, err := g.client.Chat(ctx, &pb.ChatRequest{Model: model, MaxTokens: &mt, Messages: []*pb.Message{{Role: "user", Content: "where is order 1234?"}}})
	return status.Code(err)
}

// openaiStream streams a chat over the OpenAI surface and returns the
// response headers and the text streamed.
func openaiStream(t *testing.T, addr, key string, headers map[string]string) (http.Header, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(tctx(t), http.MethodPost, "http://"+addr+"/v1/chat/completions",
		strings.NewReader(`{"model":"gpt-4.1","stream":true,"max_tokens":8,"messages":[{"role":"user","content":"hello there"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("POST /v1/chat/completions = %d %s", resp.StatusCode, b)
	}
	var text strings.Builder
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok || line == "[DONE]" {
			continue
		}
		var chunk struct {
			Choices []struct {
				Delta struct{ Content string } `json:"delta"`
			} `json:"choices"`
		}
		if err := json.Unmarshal([]byte(line), &chunk); err != nil {
			t.Fatalf("SSE line %q: %v", line, err)
		}
		for _, c := range chunk.Choices {
			text.WriteString(c.Delta.Content)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return resp.Header, text.String()
}

// metricsConfig is a gateway whose primary deployment always fails, with
// a rate-limited key (team cs) and an unlimited one (team ops).
func metricsConfig(cs, ops apiKey, telemetry string) string {
	return `
server: {drain_timeout: 5s}
providers:
  - {name: sim-a, type: simulator, simulator: {error_rate: 1}}
  - {name: sim-b, type: simulator, simulator: {latency: {p50: 20ms}}}
models:
  - name: gpt-4.1
    aliases: [gpt-4]
    deployments: [{provider: sim-a}, {provider: sim-b, priority: 1}]
    pricing: {input_per_mtok: 2, output_per_mtok: 8}
keys:
` + cs.entry("labels: {team: cs}, rpm: 3") + ops.entry("labels: {team: ops}") + telemetry
}

type want struct {
	name   string
	labels []string
	value  float64
}

func checkScrape(t *testing.T, s metricstest.Samples, wants []want) {
	t.Helper()
	for _, w := range wants {
		if got := s.Sum(w.name, w.labels...); got != w.value {
			t.Errorf("%s%v = %v, want %v; series:\n%s", w.name, w.labels, got, w.value, s.Find(w.name))
		}
	}
}

// TestMetricsEndToEnd scrapes /metrics on the HTTP listener after real
// calls on every surface: failovers until the primary's breaker opens, a
// rate-limit refusal, a stream's time to first token.
func TestMetricsEndToEnd(t *testing.T) {
	cs, ops := newKey(t, "cs_key"), newKey(t, "ops_key")
	g := startTelemetry(t, metricsConfig(cs, ops, "telemetry: {metrics: {key_labels: [team]}}\n"), noEnv)

	// Five calls fail over from sim-a to sim-b; the fifth failure in a
	// row opens sim-a's breaker.
	for range 5 {
		if c := g.grpcChatWith(t, ops.key, "gpt-4"); c != codes.OK {
			t.Fatalf("Chat() = %v, want OK", c)
		}
	}
	// Three calls go straight to sim-b; the fourth is over cs's rpm.
	for i := range 4 {
		want := codes.OK
		if i == 3 {
			want = codes.ResourceExhausted
		}
		if c := g.grpcChatWith(t, cs.key, "gpt-4.1"); c != want {
			t.Fatalf("Chat() #%d = %v, want %v", i+1, c, want)
		}
	}
	if _, text := openaiStream(t, g.httpAddr, ops.key, nil); text == "" {
		t.Fatal("the stream streamed nothing")
	}
	if res := restChat(t, g.running, call{auth: bearer(ops.key)}); res.status != 200 {
		t.Fatalf("REST chat = %+v", res)
	}

	s := metricstest.Scrape(t, "http://"+g.httpAddr+"/metrics")
	okB := []string{"model", "gpt-4.1", "provider", "sim-b", "deployment", "sim-b/gpt-4.1", "code", "OK"}
	checkScrape(t, s, []want{
		{"llmgateway_requests_total", append([]string{"surface", "grpc", "method", "chat"}, okB...), 8},
		{"llmgateway_requests_total", []string{"surface", "openai", "method", "chat_stream", "code", "OK", "provider", "sim-b"}, 1},
		{"llmgateway_requests_total", []string{"surface", "rest", "method", "chat", "code", "OK", "provider", "sim-b"}, 1},
		{"llmgateway_requests_total", []string{"surface", "grpc", "model", "gpt-4.1", "provider", "", "code", "ResourceExhausted"}, 1},
		{"llmgateway_refusals_total", []string{"reason", "rate_limited", "limit", "rpm", "key_team", "cs"}, 1},
		{"llmgateway_refusals_total", nil, 1},
		{"llmgateway_failovers_total", []string{"model", "gpt-4.1", "provider", "sim-b"}, 5},
		{"llmgateway_retries_total", nil, 0},
		{"llmgateway_upstream_attempts_total", []string{"provider", "sim-a", "deployment", "sim-a/gpt-4.1", "outcome", "error", "error_kind", "server"}, 5},
		{"llmgateway_upstream_attempts_total", []string{"provider", "sim-b", "outcome", "ok"}, 10},
		{"llmgateway_upstream_duration_seconds_count", nil, 15},
		{"llmgateway_breaker_transitions_total", []string{"deployment", "sim-a/gpt-4.1", "to", "open"}, 1},
		{"llmgateway_breaker_state", []string{"deployment", "sim-a/gpt-4.1", "state", "open"}, 1},
		{"llmgateway_breaker_state", []string{"deployment", "sim-b/gpt-4.1", "state", "closed"}, 1},
		{"llmgateway_breaker_trips_total", []string{"model", "gpt-4.1", "provider", "sim-a"}, 1},
		{"gen_ai_server_time_to_first_token_seconds_count", []string{"gen_ai_operation_name", "chat", "gen_ai_provider_name", "sim-b",
			"gen_ai_request_model", "gpt-4.1", "gen_ai_response_model", "gpt-4.1"}, 1},
		{"gen_ai_server_request_duration_seconds_count", nil, 11},
		{"gen_ai_server_request_duration_seconds_count", []string{"error_type", "ResourceExhausted"}, 1},
		{"gen_ai_client_token_usage_count", []string{"gen_ai_token_type", "input", "gen_ai_provider_name", "sim-b"}, 10},
		{"llmgateway_gateway_overhead_seconds_count", nil, 10},
		{"llmgateway_in_flight_requests", nil, 0},
		{"grpc_server_handled_total", []string{"grpc_method", "Chat", "grpc_code", "OK"}, 9},
		{"grpc_server_handled_total", []string{"grpc_method", "Chat", "grpc_code", "ResourceExhausted"}, 1},
		{"grpc_server_handled_total", []string{"grpc_method", "ChatStream", "grpc_code", "OK"}, 1},
		{"llmgateway_build_info", nil, 1},
		{"llmgateway_load_shed_total", nil, 0},
		{"llmgateway_config_reloads_total", nil, 0},
	})
	// The time to first token includes sim-b's 20 ms latency.
	if got := s.Sum("gen_ai_server_time_to_first_token_seconds_sum"); got < 0.02 || got > 10 {
		t.Errorf("time to first token = %vs, want at least sim-b's 20ms", got)
	}
	for _, team := range []string{"cs", "ops"} {
		for _, typ := range []string{"input", "output"} {
			if got := s.Sum("llmgateway_tokens_total", "type", typ, "key_team", team, "model", "gpt-4.1", "provider", "sim-b"); got <= 0 {
				t.Errorf("llmgateway_tokens_total{type=%s,key_team=%s} = %v, want > 0", typ, team, got)
			}
		}
		if got := s.Sum("llmgateway_cost_usd_total", "key_team", team); got <= 0 {
			t.Errorf("llmgateway_cost_usd_total{key_team=%s} = %v, want > 0", team, got)
		}
	}
	if got := s.Sum("llmgateway_ledger_records_queued_total"); got < 11 {
		t.Errorf("llmgateway_ledger_records_queued_total = %v, want every call recorded (11)", got)
	}
	// Bounded labels: no key id, request id or prompt anywhere.
	for _, sm := range s {
		for k, v := range sm.Labels {
			if strings.Contains(v, "order 1234") || v == cs.id || v == ops.id || k == "request_id" || k == "key_id" {
				t.Errorf("series %s carries an unbounded label %s=%q", sm, k, v)
			}
		}
	}
}

// TestMetricsOwnListener serves the metrics on a listener of their own,
// and not on the HTTP listener.
func TestMetricsOwnListener(t *testing.T) {
	cs, ops := newKey(t, "cs"), newKey(t, "ops")
	g := startTelemetry(t, metricsConfig(cs, ops, "telemetry: {metrics: {listen_addr: '127.0.0.1:0', path: /internal/metrics}}\n"), noEnv)
	if c := g.grpcChatWith(t, ops.key, "gpt-4.1"); c != codes.OK {
		t.Fatalf("Chat() = %v", c)
	}
	addr := g.gw.MetricsAddr()
	if addr == nil {
		t.Fatal("MetricsAddr() = nil while serving")
	}
	s := metricstest.Scrape(t, "http://"+addr.String()+"/internal/metrics")
	checkScrape(t, s, []want{{"llmgateway_requests_total", []string{"code", "OK"}, 1}})
	for _, path := range []string{"/internal/metrics", "/metrics"} {
		resp, err := http.Get("http://" + g.httpAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("GET %s on the HTTP listener = 200, want the metrics on their own listener only", path)
		}
	}
	g.stop()
	if err := g.wait(t); err != nil {
		t.Fatal(err)
	}
	if _, err := net.Dial("tcp", addr.String()); err == nil {
		t.Error("the metrics listener still accepts after shutdown")
	}
}

func TestMetricsDisabled(t *testing.T) {
	cs, ops := newKey(t, "cs"), newKey(t, "ops")
	g := startTelemetry(t, metricsConfig(cs, ops, "telemetry: {metrics: {enabled: false}}\n"), noEnv)
	resp, err := http.Get("http://" + g.httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || g.gw.MetricsAddr() != nil {
		t.Errorf("GET /metrics with metrics off = %d, want 404", resp.StatusCode)
	}
}

// recorder is an OpenAI-compatible upstream that answers with status
// (500 fails, 200 answers) and records each request's traceparent.
type recorder struct {
	srv    *httptest.Server
	mu     sync.Mutex
	parent []string
}

func newRecorder(t *testing.T, status int) *recorder {
	t.Helper()
	rec := &recorder{}
	rec.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.parent = append(rec.parent, r.Header.Get("Traceparent"))
		rec.mu.Unlock()
		var body struct{ Stream bool }
		_ = json.NewDecoder(r.Body).Decode(&body)
		if body.Stream && status == http.StatusOK {
			w.Header().Set("Content-Type", "text/event-stream")
			for _, d := range []string{`{"content":"hel"}`, `{"content":"lo"}`} {
				fmt.Fprintf(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"up-model\",\"choices\":[{\"index\":0,\"delta\":%s}]}\n\n", d)
				w.(http.Flusher).Flush()
			}
			io.WriteString(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"up-model\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":2,\"total_tokens\":9}}\n\ndata: [DONE]\n\n")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if status != http.StatusOK {
			w.WriteHeader(status)
			io.WriteString(w, `{"error":{"message":"upstream exploded","type":"server_error"}}`)
			return
		}
		io.WriteString(w, `{"id":"c1","object":"chat.completion","model":"up-model","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}`)
	}))
	t.Cleanup(rec.srv.Close)
	return rec
}

func (rec *recorder) parents() []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]string(nil), rec.parent...)
}

// TestTracingEndToEnd exports a call's trace to an in-process OTLP
// collector: the caller's traceparent on the OpenAI surface is continued
// through the HTTP server span, the surface's gRPC client span, the gRPC
// server span and a span per upstream attempt, and passed upstream.
func TestTracingEndToEnd(t *testing.T) {
	col := telemetrytest.NewGRPC(t)
	bad, good := newRecorder(t, http.StatusInternalServerError), newRecorder(t, http.StatusOK)
	yaml := fmt.Sprintf(`
server: {drain_timeout: 5s}
providers:
  - {name: bad, type: openai, base_url: %q, api_key_env: UP_KEY}
  - {name: good, type: openai, base_url: %q, api_key_env: UP_KEY}
models:
  - name: gpt-4.1
    deployments: [{provider: bad, model: up-bad}, {provider: good, model: up-good, priority: 1}]
telemetry:
  tracing: {enabled: true, endpoint: %q, insecure: true, service_name: gw-test}
`, bad.srv.URL+"/v1", good.srv.URL+"/v1", col.Endpoint)
	g := startTelemetry(t, yaml, func(n string) (string, bool) { return "sk-upstream-0123456789", n == "UP_KEY" })

	const (
		callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
		callerSpan  = "00f067aa0ba902b7"
	)
	req, err := http.NewRequestWithContext(tctx(t), http.MethodPost, "http://"+g.httpAddr+"/v1/chat/completions",
		strings.NewReader(`{"model":"gpt-4.1","messages":[{"role":"user","content":"hello"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Traceparent", "00-"+callerTrace+"-"+callerSpan+"-01")
	req.Header.Set("X-Request-Id", "trace-req-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Request-Id") != "trace-req-1" {
		t.Fatalf("POST /v1/chat/completions = %d, X-Request-Id %q", resp.StatusCode, resp.Header.Get("X-Request-Id"))
	}
	// A gRPC caller's traceparent is continued too.
	const grpcTrace = "0af7651916cd43dd8448eb211c80319c"
	gctx := metadata.AppendToOutgoingContext(tctx(t), "traceparent", "00-"+grpcTrace+"-b7ad6b7169203331-01")
	if _, err := g.client.Chat(gctx, &pb.ChatRequest{Model: "gpt-4.1", Messages: []*pb.Message{{Role: "user", Content: "hi"}}}); err != nil {
		t.Fatal(err)
	}

	// Streams are traced too, and still flushed as they come through the
	// traced HTTP handler.
	if _, text := openaiStream(t, g.httpAddr, "unused", nil); text != "hello" {
		t.Errorf("streamed %q through tracing, want hello", text)
	}

	// Shutting down flushes the spans.
	g.stop()
	if err := g.wait(t); err != nil {
		t.Fatal(err)
	}
	spans := col.Spans()
	find := func(what string, cond func(telemetrytest.Span) bool) telemetrytest.Span {
		t.Helper()
		for _, s := range spans {
			if cond(s) {
				return s
			}
		}
		t.Fatalf("no %s among the spans:\n%s", what, telemetrytest.Format(spans))
		return telemetrytest.Span{}
	}
	httpSpan := find("HTTP server span", func(s telemetrytest.Span) bool { return s.Name == "POST /v1/chat/completions" })
	if httpSpan.TraceID != callerTrace || httpSpan.Parent != callerSpan || httpSpan.Kind != "SERVER" || httpSpan.Resource["service.name"] != "gw-test" {
		t.Errorf("HTTP server span = %v, want the caller's trace under its span", httpSpan)
	}
	clientSpan := find("surface's gRPC client span", func(s telemetrytest.Span) bool {
		return s.Kind == "CLIENT" && s.Name == "llmgateway.v1.LLMGatewayService/Chat" && s.TraceID == callerTrace
	})
	if clientSpan.Parent != httpSpan.SpanID {
		t.Errorf("gRPC client span's parent = %s, want the HTTP server span %s", clientSpan.Parent, httpSpan.SpanID)
	}
	server := find("gRPC server span", func(s telemetrytest.Span) bool {
		return s.Kind == "SERVER" && s.Name == "llmgateway.v1.LLMGatewayService/Chat" && s.TraceID == callerTrace
	})
	if server.Parent != clientSpan.SpanID {
		t.Errorf("gRPC server span's parent = %s, want the client span %s", server.Parent, clientSpan.SpanID)
	}
	for k, v := range map[string]string{"llmgateway.request_id": "trace-req-1", "gen_ai.request.model": "gpt-4.1",
		"gen_ai.response.model": "gpt-4.1", "gen_ai.provider.name": "good", "llmgateway.surface": "openai",
		"gen_ai.usage.input_tokens": "7", "gen_ai.usage.output_tokens": "3", "llmgateway.attempts": "2"} {
		if server.Attributes[k] != v {
			t.Errorf("server span %s = %q, want %q", k, server.Attributes[k], v)
		}
	}
	var attempts []telemetrytest.Span
	for _, s := range spans {
		if strings.HasPrefix(s.Name, "chat ") && s.TraceID == callerTrace {
			attempts = append(attempts, s)
		}
	}
	if len(attempts) != 2 {
		t.Fatalf("attempt spans in the caller's trace = %d, want 2:\n%s", len(attempts), telemetrytest.Format(spans))
	}
	wantAttempts := []map[string]string{
		{"gen_ai.provider.name": "bad", "gen_ai.request.model": "up-bad", "llmgateway.attempt.outcome": "error",
			"llmgateway.attempt.cause": "first", "error.type": "server", "http.response.status_code": "500"},
		{"gen_ai.provider.name": "good", "gen_ai.request.model": "up-good", "llmgateway.attempt.outcome": "ok",
			"llmgateway.attempt.cause": "failover", "gen_ai.usage.input_tokens": "7", "gen_ai.usage.output_tokens": "3"},
	}
	for i, a := range attempts {
		if a.Parent != server.SpanID || a.Kind != "CLIENT" {
			t.Errorf("attempt span %v is not a client child of the server span %s", a, server.SpanID)
		}
		for k, v := range wantAttempts[i] {
			if a.Attributes[k] != v {
				t.Errorf("attempt span %d %s = %q, want %q", i, k, a.Attributes[k], v)
			}
		}
	}
	if attempts[0].StatusCode != "ERROR" {
		t.Errorf("failed attempt's status = %s, want ERROR", attempts[0].StatusCode)
	}
	// Each upstream got the trace, under the HTTP client span of its
	// attempt.
	for i, rec := range []*recorder{bad, good} {
		ps := rec.parents()
		if len(ps) != 3 {
			t.Fatalf("upstream %d got %d requests, want 3 (OpenAI surface, gRPC, stream)", i, len(ps))
		}
		parts := strings.Split(ps[0], "-")
		if len(parts) != 4 || parts[1] != callerTrace {
			t.Errorf("upstream %d got traceparent %q, want the caller's trace %s", i, ps[0], callerTrace)
			continue
		}
		hs := find("upstream HTTP client span", func(s telemetrytest.Span) bool { return s.SpanID == parts[2] })
		if hs.Parent != attempts[i].SpanID {
			t.Errorf("upstream %d's parent span %v is not under its attempt %s", i, hs, attempts[i].SpanID)
		}
		if !strings.Contains(ps[1], grpcTrace) {
			t.Errorf("upstream %d got traceparent %q from the gRPC call, want its trace %s", i, ps[1], grpcTrace)
		}
	}
	find("gRPC caller's server span", func(s telemetrytest.Span) bool { return s.Kind == "SERVER" && s.TraceID == grpcTrace })
	stream := find("stream's server span", func(s telemetrytest.Span) bool {
		return s.Kind == "SERVER" && s.Name == "llmgateway.v1.LLMGatewayService/ChatStream"
	})
	if stream.Attributes["gen_ai.usage.output_tokens"] != "2" || stream.Attributes["llmgateway.surface"] != "openai" {
		t.Errorf("stream's server span = %v", stream)
	}
	// Probes are not traced.
	for _, s := range spans {
		if strings.Contains(s.Name, "Health") || strings.Contains(s.Name, "healthz") {
			t.Errorf("probe traced: %v", s)
		}
	}
}

// TestLogsEndToEnd reads the JSON log of real calls: one line per call
// with its request id, key id, model, provider, status and latency; no
// key, upstream key or prompt text, but for the opted-in team's prompts,
// redacted; an upstream's echo of its key masked.
func TestLogsEndToEnd(t *testing.T) {
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		// Echo the key we were sent, as some upstreams do.
		fmt.Fprintf(w, `{"error":{"message":"Incorrect API key provided: %s","type":"invalid_request_error"}}`,
			strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
	}))
	defer echo.Close()
	cs, sales := newKey(t, "cs_bot"), newKey(t, "sales_bot")
	const upstreamKey = "upstream-secret-key-0123456789"
	yaml := fmt.Sprintf(`
server: {drain_timeout: 5s}
providers:
  - {name: echo, type: openai, base_url: %q, api_key_env: ECHO_KEY}
  - {name: sim, type: simulator}
models:
  - name: gpt-4.1
    deployments: [{provider: echo, model: up}, {provider: sim, priority: 1}]
keys:
`+cs.entry("labels: {team: cs}")+sales.entry("labels: {team: sales}")+`
telemetry:
  logging:
    prompt_logging: {labels: {team: cs}}
    redaction: {patterns: ['ORD-[0-9]{6}']}
`, echo.URL+"/v1")
	g := startTelemetry(t, yaml, func(n string) (string, bool) { return upstreamKey, n == "ECHO_KEY" })

	const (
		csPrompt    = "I am jane@example.com, card 4111 1111 1111 1111, order ORD-123456"
		salesPrompt = "confidential sales forecast for ACME"
	)
	ask := func(key, prompt, requestID string) {
		t.Helper()
		ctx := metadata.AppendToOutgoingContext(withKey(tctx(t), key), "x-request-id", requestID)
		var hdr metadata.MD
		if _, err := g.client.Chat(ctx, &pb.ChatRequest{Model: "gpt-4.1", Messages: []*pb.Message{{Role: "user", Content: prompt}}}, grpc.Header(&hdr)); err != nil {
			t.Fatal(err)
		}
		if got := hdr.Get("x-request-id"); len(got) != 1 || got[0] != requestID {
			t.Errorf("x-request-id header = %v, want %s", got, requestID)
		}
	}
	ask(cs.key, csPrompt, "req-cs")
	ask(sales.key, salesPrompt, "req-sales")
	// The HTTP surfaces return the id too; a fresh one when none is given.
	resp, _ := postJSON(t, "http://"+g.httpAddr+"/api/v1/chat", bearer(sales.key), chatBody(call{model: "gpt-4.1", content: "hi", maxTokens: 4}))
	restID := resp.Header.Get("X-Request-Id")
	hdr, _ := openaiStream(t, g.httpAddr, sales.key, map[string]string{"X-Request-Id": "req-openai"})
	if restID == "" || hdr.Get("X-Request-Id") != "req-openai" {
		t.Errorf("X-Request-Id: REST %q, OpenAI %q; want a fresh id and req-openai", restID, hdr.Get("X-Request-Id"))
	}

	g.stop()
	if err := g.wait(t); err != nil {
		t.Fatal(err)
	}
	logs := g.logs.String()
	var calls, prompts []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		switch {
		case m["msg"] == "finished call" && strings.HasPrefix(fmt.Sprint(m["grpc.method"]), "Chat"):
			calls = append(calls, m)
		case m["msg"] == "prompt":
			prompts = append(prompts, m)
		}
	}
	if len(calls) != 4 {
		t.Fatalf("logged %d chat calls, want 4:\n%s", len(calls), logs)
	}
	wantIDs := map[string]string{"req-cs": "cs_bot", "req-sales": "sales_bot", restID: "sales_bot", "req-openai": "sales_bot"}
	for _, c := range calls {
		id := fmt.Sprint(c["request_id"])
		if wantIDs[id] == "" || c["key_id"] != wantIDs[id] {
			t.Errorf("call logged with request_id %q and key_id %v, want one of %v", id, c["key_id"], wantIDs)
		}
		if c["model"] != "gpt-4.1" || c["provider"] != "sim" || c["grpc.code"] != "OK" || c["attempts"] != 2.0 {
			t.Errorf("call line = %v, want model gpt-4.1, provider sim, code OK, 2 attempts", c)
		}
		if _, ok := c["latency_ms"].(float64); !ok {
			t.Errorf("call line has no latency_ms: %v", c)
		}
	}
	if len(prompts) != 1 || prompts[0]["key_id"] != "cs_bot" || prompts[0]["request_id"] != "req-cs" {
		t.Fatalf("prompt lines = %v, want one, for cs_bot's call", prompts)
	}
	wantMsgs := []any{map[string]any{"role": "user", "content": "I am [EMAIL], card [CARD], order [REDACTED]"}}
	if diff := cmp.Diff(wantMsgs, prompts[0]["messages"]); diff != "" {
		t.Errorf("logged prompt (-want +got):\n%s", diff)
	}
	if !strings.Contains(logs, "upstream attempt failed") || !strings.Contains(logs, "Incorrect API key provided: [SECRET]") {
		t.Errorf("the upstream's failure is not logged with its key masked:\n%s", logs)
	}
	never := []string{upstreamKey, "jane@example.com", "4111", "ORD-123456", salesPrompt, "hello there"}
	for _, k := range []apiKey{cs, sales} {
		_, secret, _ := strings.Cut(strings.TrimPrefix(k.key, "sk-"+k.id), "-")
		never = append(never, k.key, secret)
	}
	for _, leak := range never {
		if strings.Contains(logs, leak) {
			t.Errorf("the log contains %q", leak)
		}
	}
}
