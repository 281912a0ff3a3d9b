package app

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/llmgateway/llmgateway/config"
	pb "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
)

// outcomes lists a route's attempts as provider:outcome.
func outcomes(r *pb.Route) []string {
	var out []string
	for _, a := range r.GetAttempts() {
		out = append(out, a.GetProvider()+":"+a.GetOutcome())
	}
	return out
}

func ask(content string) []*pb.Message {
	return []*pb.Message{{Role: "user", Content: content}}
}

// streamAll reads a gateway stream to its end: the text, the final event
// and the status it ended with.
func streamAll(t *testing.T, st pb.LLMGatewayService_ChatStreamClient) (string, *pb.ChatStreamFinal, error) {
	t.Helper()
	var text strings.Builder
	var final *pb.ChatStreamFinal
	for {
		ev, err := st.Recv()
		if err == io.EOF {
			return text.String(), final, nil
		}
		if err != nil {
			return text.String(), final, err
		}
		if d := ev.GetDelta(); d != nil {
			text.WriteString(d.GetContent())
		}
		if f := ev.GetFinal(); f != nil {
			final = f
		}
	}
}

const failoverConfig = `
server: {drain_timeout: 5s}
providers:
  - name: sim-down
    type: simulator
    simulator: {error_rate: 1}
  - name: sim-ok
    type: simulator
  - name: sim-cut
    type: simulator
    simulator: {cut_rate: 1, tokens_per_second: 200}
  - name: sim-slow
    type: simulator
    simulator: {latency: {p50: 10s}}
models:
  - name: gpt-4.1
    deployments: [{provider: sim-down}, {provider: sim-ok, priority: 1}]
    pricing: {input_per_mtok: 2, output_per_mtok: 8}
  - name: cut-model
    deployments: [{provider: sim-cut}, {provider: sim-ok, priority: 1}]
    pricing: {input_per_mtok: 2, output_per_mtok: 8}
  - name: slow-model
    deployments: [{provider: sim-slow}, {provider: sim-ok, priority: 1}]
    pricing: {input_per_mtok: 2, output_per_mtok: 8}
  - name: hedged-model
    deployments: [{provider: sim-slow}, {provider: sim-ok, priority: 1}]
    pricing: {input_per_mtok: 2, output_per_mtok: 8}
  - name: claude-sonnet-4.5
    deployments: [{provider: sim-ok}]
  - name: gemini-2.5-flash
    deployments: [{provider: sim-ok}]
  - name: deepseek-v3.2
    deployments: [{provider: sim-ok}]
routing:
  breaker: {consecutive_failures: 3, open_for: 1m}
  models:
    - name: slow-model
      first_token_timeout: 200ms
    - name: hedged-model
      hedge: {delay: 100ms}
  virtual_models:
    - name: auto
      tiers:
        simple: {models: [deepseek-v3.2, gemini-2.5-flash], strategy: cost}
        standard: {models: [gemini-2.5-flash]}
        complex: {models: [gpt-4.1, claude-sonnet-4.5], strategy: priority}
`

func TestRoutingUnaryFailover(t *testing.T) {
	r := start(t, failoverConfig)
	for i := range 5 {
		resp, err := r.client.Chat(tctx(t), &pb.ChatRequest{Model: "gpt-4.1", Messages: ask("order 1234?")})
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if resp.GetProvider() != "sim-ok" || resp.GetMessage().GetContent() == "" {
			t.Fatalf("request %d answered by %q", i, resp.GetProvider())
		}
		want := []string{"sim-down:error", "sim-ok:ok"}
		if i >= 3 {
			// Three failures in a row opened sim-down's breaker.
			want = []string{"sim-down:skipped", "sim-ok:ok"}
		}
		if diff := cmp.Diff(want, outcomes(resp.GetRoute())); diff != "" {
			t.Errorf("request %d route (-want +got):\n%s", i, diff)
		}
		first := resp.GetRoute().GetAttempts()[0]
		switch {
		case i < 3 && (first.GetStatusCode() != 500 || first.GetError() != "server (HTTP 500)"):
			t.Errorf("request %d: failed attempt = %v", i, first)
		case i >= 3 && !strings.HasPrefix(first.GetReason(), "circuit open"):
			t.Errorf("request %d: skipped attempt = %v", i, first)
		}
	}
}

func TestRoutingStreamFailoverBeforeFirstToken(t *testing.T) {
	r := start(t, failoverConfig)
	st, err := r.client.ChatStream(tctx(t), &pb.ChatRequest{Model: "gpt-4.1", Messages: ask("where is my parcel")})
	if err != nil {
		t.Fatal(err)
	}
	text, final, err := streamAll(t, st)
	if err != nil {
		t.Fatal(err)
	}
	if final.GetProvider() != "sim-ok" || final.GetFinishReason() != "stop" || !strings.Contains(text, "Simulated reply") {
		t.Errorf("stream = %q, final %v", text, final)
	}
	if diff := cmp.Diff([]string{"sim-down:error", "sim-ok:ok"}, outcomes(final.GetRoute())); diff != "" {
		t.Errorf("route (-want +got):\n%s", diff)
	}
}

func TestRoutingStreamFailureAfterFirstToken(t *testing.T) {
	r := start(t, failoverConfig)
	st, err := r.client.ChatStream(tctx(t), &pb.ChatRequest{Model: "cut-model", Messages: ask("tell me a story")})
	if err != nil {
		t.Fatal(err)
	}
	text, final, err := streamAll(t, st)
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("stream ended with %v, want Unavailable after the cut", err)
	}
	if final == nil || final.GetFinishReason() != "error" || final.GetUsage().GetCompletionTokens() == 0 || final.GetProvider() != "sim-cut" {
		t.Fatalf("final = %v, want an error finish with the usage so far", final)
	}
	// Only the first upstream's words: nothing from sim-ok was spliced in.
	if !strings.HasPrefix(text, "Simulated reply from cut-model.") || strings.Count(text, "Simulated reply") != 1 {
		t.Errorf("text = %q, want part of one answer", text)
	}
	if diff := cmp.Diff([]string{"sim-cut:error"}, outcomes(final.GetRoute())); diff != "" {
		t.Errorf("route (-want +got):\n%s", diff)
	}
}

func TestRoutingFirstTokenTimeout(t *testing.T) {
	r := start(t, failoverConfig)
	start := time.Now()
	st, err := r.client.ChatStream(tctx(t), &pb.ChatRequest{Model: "slow-model", Messages: ask("hello")})
	if err != nil {
		t.Fatal(err)
	}
	_, final, err := streamAll(t, st)
	if err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("took %v: the 10 s upstream was waited for", el)
	}
	atts := final.GetRoute().GetAttempts()
	if len(atts) != 2 || atts[0].GetOutcome() != "error" || atts[0].GetError() != "timeout" || final.GetProvider() != "sim-ok" {
		t.Errorf("route = %v, want sim-slow timed out and sim-ok answering", final.GetRoute())
	}
}

func TestRoutingHedge(t *testing.T) {
	r := start(t, failoverConfig)
	start := time.Now()
	resp, err := r.client.Chat(tctx(t), &pb.ChatRequest{Model: "hedged-model", Messages: ask("hello")})
	if err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("took %v: the hedge did not win", el)
	}
	if diff := cmp.Diff([]string{"sim-slow:hedge_lost", "sim-ok:ok"}, outcomes(resp.GetRoute())); diff != "" {
		t.Errorf("route (-want +got):\n%s", diff)
	}
	u := resp.GetUsage()
	answer := (float64(u.GetPromptTokens())*2 + float64(u.GetCompletionTokens())*8) / 1e6
	if resp.GetCostUsd() <= answer {
		t.Errorf("cost = %v, want more than the answer's %v: the loser's prompt counts", resp.GetCostUsd(), answer)
	}
}

func TestRoutingAuto(t *testing.T) {
	r := start(t, failoverConfig)
	tests := []struct {
		give      string
		wantTier  string
		wantRule  string
		wantModel string
	}{
		{give: "请帮我查询订单 A-1001 的物流", wantTier: "simple", wantRule: "simple-keywords", wantModel: "deepseek-v3.2"},
		{give: "Please analyze the refund trend and reason step by step", wantTier: "complex", wantRule: "complex-keywords", wantModel: "gpt-4.1"},
		{give: strings.Repeat("I have a question about the warranty of the blender I bought. ", 4), wantTier: "standard", wantRule: "default", wantModel: "gemini-2.5-flash"},
	}
	for _, tt := range tests {
		resp, err := r.client.Chat(tctx(t), &pb.ChatRequest{Model: "auto", Messages: ask(tt.give)})
		if err != nil {
			t.Fatal(err)
		}
		rt := resp.GetRoute()
		got := []string{rt.GetTier(), rt.GetRule(), resp.GetModel(), rt.GetRequestedModel(), rt.GetResolvedModel()}
		if diff := cmp.Diff([]string{tt.wantTier, tt.wantRule, tt.wantModel, "auto", tt.wantModel}, got); diff != "" {
			t.Errorf("auto %q: tier, rule, model, requested, resolved (-want +got):\n%s", tt.give, diff)
		}
	}
	models, err := r.client.ListModels(tctx(t), &pb.ListModelsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var virtual []string
	for _, m := range models.GetModels() {
		if m.GetVirtual() {
			virtual = append(virtual, m.GetName())
		}
	}
	if diff := cmp.Diff([]string{"auto"}, virtual); diff != "" {
		t.Errorf("virtual models (-want +got):\n%s", diff)
	}
}

// openAIUpstream is an httptest server speaking the OpenAI Chat
// Completions API: its status for the next requests is scripted, and each
// answer names the server.
type openAIUpstream struct {
	*httptest.Server
	name string

	mu     sync.Mutex
	script []int // HTTP statuses for the next requests; 200 once empty
	calls  int
}

func newOpenAIUpstream(t *testing.T, name string, script ...int) *openAIUpstream {
	u := &openAIUpstream{name: name, script: script}
	u.Server = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(u.Close)
	return u
}

func (u *openAIUpstream) Calls() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.calls
}

func (u *openAIUpstream) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	u.mu.Lock()
	u.calls++
	code := http.StatusOK
	if len(u.script) > 0 {
		code, u.script = u.script[0], u.script[1:]
	}
	u.mu.Unlock()
	if r.URL.Path != "/v1/chat/completions" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if code != http.StatusOK {
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"error":{"message":"scripted %d","type":"server_error"}}`, code)
		return
	}
	text := "hello from " + u.name
	if !strings.Contains(string(body), `"stream":true`) {
		fmt.Fprintf(w, `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4.1-2025-04-14",`+
			`"choices":[{"index":0,"message":{"role":"assistant","content":%q},"finish_reason":"stop"}],`+
			`"usage":{"prompt_tokens":10,"completion_tokens":3,"total_tokens":13}}`, text)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	chunk := func(s string) {
		fmt.Fprintf(w, "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4.1-2025-04-14\",%s}\n\n", s)
		w.(http.Flusher).Flush()
	}
	chunk(`"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]`)
	for _, word := range strings.SplitAfter(text, " ") {
		chunk(fmt.Sprintf(`"choices":[{"index":0,"delta":{"content":%q},"finish_reason":null}]`, word))
	}
	chunk(`"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]`)
	chunk(`"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":3,"total_tokens":13}`)
	fmt.Fprint(w, "data: [DONE]\n\n")
}

func TestRoutingHTTPUpstreams(t *testing.T) {
	primary := newOpenAIUpstream(t, "primary")
	secondary := newOpenAIUpstream(t, "secondary")
	cfg := fmt.Sprintf(`
server: {drain_timeout: 5s}
providers:
  - {name: primary, type: openai, base_url: %s/v1}
  - {name: secondary, type: openai, base_url: %s/v1}
models:
  - name: gpt-4.1
    deployments: [{provider: primary}, {provider: secondary, priority: 1}]
routing:
  retry: {max_retry_after: 0s}
`, primary.URL, secondary.URL)
	r := start(t, cfg)

	tests := []struct {
		name         string
		script       []int // primary's next statuses
		stream       bool
		wantProvider string
		wantRoute    []string
	}{
		{name: "unary, healthy", wantProvider: "primary", wantRoute: []string{"primary:ok"}},
		{name: "stream, healthy", stream: true, wantProvider: "primary", wantRoute: []string{"primary:ok"}},
		{name: "unary, 502 fails over", script: []int{502}, wantProvider: "secondary", wantRoute: []string{"primary:error", "secondary:ok"}},
		{name: "stream, 500 fails over", script: []int{500}, stream: true, wantProvider: "secondary", wantRoute: []string{"primary:error", "secondary:ok"}},
		{name: "unary, 400 is the request's fault", script: []int{400}, wantProvider: "", wantRoute: nil},
		{name: "unary, 429 with Retry-After cools primary down", script: []int{429}, wantProvider: "secondary", wantRoute: []string{"primary:error", "secondary:ok"}},
		{name: "stream, primary skipped while cooling down", stream: true, wantProvider: "secondary", wantRoute: []string{"primary:skipped", "secondary:ok"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			primary.mu.Lock()
			primary.script = tt.script
			primary.mu.Unlock()
			req := &pb.ChatRequest{Model: "gpt-4.1", Messages: ask("hi")}
			var (
				provider, text string
				route          *pb.Route
				err            error
			)
			if tt.stream {
				var st pb.LLMGatewayService_ChatStreamClient
				st, err = r.client.ChatStream(tctx(t), req)
				if err == nil {
					var final *pb.ChatStreamFinal
					text, final, err = streamAll(t, st)
					provider, route = final.GetProvider(), final.GetRoute()
				}
			} else {
				var resp *pb.ChatResponse
				resp, err = r.client.Chat(tctx(t), req)
				provider, route, text = resp.GetProvider(), resp.GetRoute(), resp.GetMessage().GetContent()
			}
			if tt.wantProvider == "" {
				if status.Code(err) != codes.Internal {
					t.Errorf("error = %v, want Internal (the gateway built a request the upstream refused)", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if provider != tt.wantProvider || text != "hello from "+tt.wantProvider {
				t.Errorf("answered by %q with %q", provider, text)
			}
			if diff := cmp.Diff(tt.wantRoute, outcomes(route)); diff != "" {
				t.Errorf("route (-want +got):\n%s", diff)
			}
		})
	}

	// Every upstream rate limited: the caller is told when to come back.
	secondary.mu.Lock()
	secondary.script = []int{429}
	secondary.mu.Unlock()
	_, err := r.client.Chat(tctx(t), &pb.ChatRequest{Model: "gpt-4.1", Messages: ask("hi")})
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted {
		t.Fatalf("error = %v, want ResourceExhausted", err)
	}
	var delay time.Duration
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			delay = ri.GetRetryDelay().AsDuration()
		}
	}
	if delay < 25*time.Second || delay > 30*time.Second {
		t.Errorf("retry delay = %v, want the upstream's Retry-After (about 30s)", delay)
	}
}

func TestRoutingDefaultConfig(t *testing.T) {
	r := start(t, string(config.DefaultYAML()))
	resp, err := r.client.Chat(tctx(t), &pb.ChatRequest{Model: "auto", Messages: ask("请把这句话翻译成英文：谢谢")})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetRoute().GetTier() != "simple" || resp.GetModel() != "deepseek-v3.2" {
		t.Errorf("auto on the default config = %s via tier %s", resp.GetModel(), resp.GetRoute().GetTier())
	}
}
