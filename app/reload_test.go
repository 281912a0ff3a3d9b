package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/llmgateway/llmgateway/config"
	pb "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
	"github.com/llmgateway/llmgateway/routing"
)

// fileGateway is a gateway served from a config file for one test.
type fileGateway struct {
	*running
	gw   *Gateway
	path string
	logs *syncBuffer
	load func() (*config.Config, error)
	// https is set when the HTTP listener serves TLS.
	https bool
}

type serveOpts struct {
	lookup func(string) (string, bool)
	watch  bool                             // run WatchConfig
	creds  credentials.TransportCredentials // of r.conn; nil: plain text
}

// serveFile writes yaml to a config file and serves a gateway from it.
func serveFile(t *testing.T, yaml string, so serveOpts) *fileGateway {
	t.Helper()
	if so.lookup == nil {
		so.lookup = func(string) (string, bool) { return "", false }
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	fg := &fileGateway{path: path, logs: &syncBuffer{}, https: so.creds != nil}
	fg.load = func() (*config.Config, error) { return config.Load(path, config.WithLookupEnv(so.lookup)) }
	cfg, err := fg.load()
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewJSONHandler(fg.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if fg.gw, err = FromConfig(cfg, logger, so.lookup); err != nil {
		t.Fatal(err)
	}
	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{grpcAddr: gl.Addr().String(), httpAddr: hl.Addr().String(), stop: cancel, done: make(chan error, 1)}
	fg.running = r
	go func() { r.done <- fg.gw.Serve(ctx, gl, hl) }()
	watched := make(chan error, 1)
	if so.watch {
		go func() { watched <- fg.gw.WatchConfig(ctx, path, fg.load, 20*time.Millisecond) }()
	} else {
		watched <- nil
	}
	creds := so.creds
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	if r.conn, err = grpc.NewClient(r.grpcAddr, grpc.WithTransportCredentials(creds)); err != nil {
		t.Fatal(err)
	}
	r.client = pb.NewLLMGatewayServiceClient(r.conn)
	t.Cleanup(func() {
		r.conn.Close()
		r.stop()
		if err := r.wait(t); err != nil {
			t.Errorf("Serve() = %v, want nil after shutdown", err)
		}
		if err := <-watched; err != nil {
			t.Errorf("WatchConfig() = %v, want nil after shutdown", err)
		}
		http.DefaultClient.CloseIdleConnections()
	})
	if so.creds == nil {
		waitReady(t, r.httpAddr)
	}
	if so.watch {
		waitLog(t, fg.logs, "watching the config file")
	}
	return fg
}

// waitLog waits until logs has a line containing msg.
func waitLog(t *testing.T, logs *syncBuffer, msg string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), msg) {
		if time.Now().After(deadline) {
			t.Fatalf("the log never said %q", msg)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitReloads waits until the gateway has applied n reloads in all.
func (fg *fileGateway) waitReloads(t *testing.T, n uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for fg.gw.ReloadStats().Succeeded < n {
		if time.Now().After(deadline) {
			t.Fatalf("ReloadStats() = %+v, want %d reloads applied; log:\n%s", fg.gw.ReloadStats(), n, fg.logLines("reload", "watch"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// logLines returns the log lines that contain any of words.
func (fg *fileGateway) logLines(words ...string) string {
	var out []string
	for _, l := range strings.Split(fg.logs.String(), "\n") {
		for _, w := range words {
			if strings.Contains(l, w) {
				out = append(out, l)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}

// rewrite replaces the config file: through a rename (editors, atomic
// writers) or in place.
func (fg *fileGateway) rewrite(t *testing.T, yaml string, atomically bool) {
	t.Helper()
	if atomically {
		writeFileAtomic(t, fg.path, []byte(yaml))
		return
	}
	if err := os.WriteFile(fg.path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
}

// surfaceCall sends one chat request, unary or streaming, on one surface
// and returns the provider that answered, or an error describing what
// went wrong. A stream counts only when it ends with its final event.
type surfaceCall func(ctx context.Context, fg *fileGateway, hc *http.Client, key, model string, stream bool) (string, error)

func grpcCall(ctx context.Context, fg *fileGateway, _ *http.Client, key, model string, stream bool) (string, error) {
	ctx = withKey(ctx, key)
	mt := int32(12)
	req := &pb.ChatRequest{Model: model, MaxTokens: &mt, Messages: []*pb.Message{{Role: "user", Content: "hello there"}}}
	if !stream {
		resp, err := fg.client.Chat(ctx, req)
		return resp.GetProvider(), err
	}
	st, err := fg.client.ChatStream(ctx, req)
	if err != nil {
		return "", err
	}
	for {
		ev, err := st.Recv()
		if err != nil {
			return "", fmt.Errorf("stream ended without its final event: %w", err)
		}
		if f := ev.GetFinal(); f != nil {
			if f.GetFinishReason() == "error" {
				return "", errors.New("stream failed: " + f.GetError())
			}
			if _, err := st.Recv(); err != io.EOF {
				return "", fmt.Errorf("after the final event: %v, want EOF", err)
			}
			return f.GetProvider(), nil
		}
	}
}

func httpPost(ctx context.Context, hc *http.Client, url, key string, body map[string]any) (*http.Response, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	return hc.Do(req)
}

func (fg *fileGateway) baseURL() string {
	if fg.https {
		return "https://" + fg.httpAddr
	}
	return "http://" + fg.httpAddr
}

func restCall(ctx context.Context, fg *fileGateway, hc *http.Client, key, model string, stream bool) (string, error) {
	path := "/api/v1/chat"
	if stream {
		path += ":stream"
	}
	resp, err := httpPost(ctx, hc, fg.baseURL()+path, key, map[string]any{
		"model": model, "max_tokens": 12, "messages": []map[string]string{{"role": "user", "content": "hello there"}}})
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %d %s", path, resp.StatusCode, body)
	}
	if !stream {
		var v struct{ Provider string }
		err := json.Unmarshal(body, &v)
		return v.Provider, err
	}
	lines := strings.Split(strings.TrimSpace(string(body)), "\n")
	var ev struct {
		Result struct {
			Final *struct {
				FinishReason string `json:"finish_reason"`
				Provider     string
			}
		}
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &ev); err != nil || ev.Result.Final == nil || ev.Result.Final.FinishReason == "error" {
		return "", fmt.Errorf("%s: last line %q, want a final event (%v)", path, lines[len(lines)-1], err)
	}
	return ev.Result.Final.Provider, nil
}

func openaiCall(ctx context.Context, fg *fileGateway, hc *http.Client, key, model string, stream bool) (string, error) {
	resp, err := httpPost(ctx, hc, fg.baseURL()+"/v1/chat/completions", key, map[string]any{
		"model": model, "max_tokens": 12, "stream": stream, "messages": []map[string]string{{"role": "user", "content": "hello there"}}})
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	provider := resp.Header.Get("X-Llmgateway-Provider")
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		return "", fmt.Errorf("/v1/chat/completions: %d %s", resp.StatusCode, body)
	}
	if !stream {
		var v struct {
			Choices []struct{ Message struct{ Content string } }
		}
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || len(v.Choices) != 1 || v.Choices[0].Message.Content == "" {
			return "", fmt.Errorf("/v1/chat/completions: body %+v (%v)", v, err)
		}
		return provider, nil
	}
	sc := bufio.NewScanner(resp.Body)
	done := false
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "event: error") || strings.Contains(line, `"error"`) {
			return "", fmt.Errorf("/v1/chat/completions stream: %s", line)
		}
		done = done || line == "data: [DONE]"
	}
	if err := sc.Err(); err != nil || !done {
		return "", fmt.Errorf("/v1/chat/completions stream ended without [DONE] (%v)", err)
	}
	return provider, nil
}

var surfaceCalls = []struct {
	name string
	call surfaceCall
}{
	{"grpc", grpcCall},
	{"rest", restCall},
	{"openai", openaiCall},
}

// reloadConfig is the config of TestReloadUnderLoad at version v: the
// model's deployment moves from provider to provider, a provider and a
// model come and go, and the keys' rpm changes.
func reloadConfig(v int, load, probe apiKey, probeRPM int) string {
	var b strings.Builder
	b.WriteString(`
server: {drain_timeout: 10s, max_request_bytes: 65536}
providers:
  - {name: sim-a, type: simulator, simulator: {tokens_per_second: 400}}
  - {name: sim-b, type: simulator, simulator: {tokens_per_second: 400}}
`)
	if v%2 == 0 || v%3 == 2 {
		b.WriteString("  - {name: sim-c, type: simulator, simulator: {tokens_per_second: 400}}\n")
	}
	if v == 0 {
		b.WriteString("  - {name: sim-slow, type: simulator, simulator: {tokens_per_second: 20}}\n")
	}
	fmt.Fprintf(&b, "models:\n  - name: gpt-4.1\n    deployments: [{provider: %s}]\n    pricing: {input_per_mtok: 2, output_per_mtok: 8}\n",
		[]string{"sim-a", "sim-b", "sim-c"}[v%3])
	if v == 0 {
		b.WriteString("  - name: slow-model\n    deployments: [{provider: sim-slow}]\n")
	}
	b.WriteString("keys:\n")
	b.WriteString(load.entry(fmt.Sprintf("rpm: %d", 1000000+v)))
	b.WriteString(probe.entry(fmt.Sprintf("rpm: %d", probeRPM)))
	return b.String()
}

// TestReloadUnderLoad rewrites the config file several times while
// unary and streaming requests run on every surface: none is lost, each
// config takes effect, and a stream that started before the first reload,
// on a provider the reload removed, finishes on the config it started
// with.
func TestReloadUnderLoad(t *testing.T) {
	load, probe := newKey(t, "load"), newKey(t, "probe")
	const versions = 5
	fg := serveFile(t, reloadConfig(0, load, probe, 1000), serveOpts{watch: true})

	// The long stream: slow-model streams 20 tokens a second.
	mt := int32(40)
	long, err := fg.client.ChatStream(withKey(tctx(t), load.key), &pb.ChatRequest{Model: "slow-model", MaxTokens: &mt,
		Metadata: map[string]string{"simulator.reply": strings.Repeat("word ", 60)},
		Messages: []*pb.Message{{Role: "user", Content: "a long answer"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := long.Recv(); err != nil {
		t.Fatal(err)
	}

	var (
		stop     = make(chan struct{})
		wg       sync.WaitGroup
		mu       sync.Mutex
		failures []string
		served   = map[string]int{} // surface/kind -> requests
		total    atomic.Int64
	)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	defer hc.CloseIdleConnections()
	for _, s := range surfaceCalls {
		for _, stream := range []bool{false, true} {
			name := fmt.Sprintf("%s/stream=%v", s.name, stream)
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
					_, err := s.call(ctx, fg, hc, load.key, "gpt-4.1", stream)
					cancel()
					mu.Lock()
					if err != nil {
						failures = append(failures, name+": "+err.Error())
					} else {
						served[name]++
					}
					mu.Unlock()
					total.Add(1)
				}
			})
		}
	}

	for v := 1; v <= versions; v++ {
		// Let some load run on each config.
		for start := total.Load(); total.Load() < start+12; {
			time.Sleep(5 * time.Millisecond)
		}
		probeRPM := 1000
		if v == versions {
			probeRPM = 1
		}
		fg.rewrite(t, reloadConfig(v, load, probe, probeRPM), v%2 == 1)
		fg.waitReloads(t, uint64(v))
	}
	for start := total.Load(); total.Load() < start+12; {
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	wg.Wait()

	if len(failures) > 0 {
		t.Errorf("%d of %d requests failed during reloads; first: %s", len(failures), total.Load(), strings.Join(failures[:min(5, len(failures))], "\n"))
	}
	for _, s := range surfaceCalls {
		for _, stream := range []bool{false, true} {
			if name := fmt.Sprintf("%s/stream=%v", s.name, stream); served[name] == 0 {
				t.Errorf("no %s request served", name)
			}
		}
	}

	// The long stream, whose provider left the config at the first reload,
	// finished on its own config.
	var final *pb.ChatStreamFinal
	for {
		ev, err := long.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the stream in flight across reloads failed: %v", err)
		}
		if f := ev.GetFinal(); f != nil {
			final = f
		}
	}
	if final == nil || final.GetFinishReason() != "stop" && final.GetFinishReason() != "length" || final.GetProvider() != "sim-slow" {
		t.Errorf("the stream in flight across reloads ended with %v, want a complete answer from sim-slow", final)
	}

	// The last config is in effect: its deployment, its model list and
	// the probe key's rpm of 1.
	for _, s := range surfaceCalls {
		provider, err := s.call(tctx(t), fg, hc, load.key, "gpt-4.1", false)
		if want := []string{"sim-a", "sim-b", "sim-c"}[versions%3]; err != nil || provider != want {
			t.Errorf("%s: provider %q, %v after the last reload; want %s", s.name, provider, err, want)
		}
	}
	if _, err := grpcCall(tctx(t), fg, hc, load.key, "slow-model", false); status.Code(err) != codes.NotFound {
		t.Errorf("slow-model after it left the config: %v, want NotFound", err)
	}
	if _, err := grpcCall(tctx(t), fg, hc, probe.key, "gpt-4.1", false); err != nil {
		t.Fatalf("probe key, first request: %v", err)
	}
	if _, err := grpcCall(tctx(t), fg, hc, probe.key, "gpt-4.1", false); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("probe key over its reloaded rpm of 1: %v, want ResourceExhausted", err)
	}
	if st := fg.gw.ReloadStats(); st.Succeeded != versions || st.LastSuccess.IsZero() || len(st.NotApplied) != 0 {
		t.Errorf("ReloadStats() = %+v, want %d reloads applied, all of them", st, versions)
	}
}

// TestReloadRefusesBadConfig keeps the config in effect when the new one
// does not load, validate or build, and counts and logs each refusal.
func TestReloadRefusesBadConfig(t *testing.T) {
	good := doorBase
	fg := serveFile(t, good, serveOpts{})
	tests := []struct {
		name    string
		give    string // the file's new content; "" removes it
		wantErr string
	}{
		{"syntax error", "providers: [", "invalid YAML"},
		{"unknown key", good + "colour: blue\n", `unknown key "colour"`},
		{"deployment on an unknown provider", strings.Replace(good, "deployments: [{provider: sim-a}]", "deployments: [{provider: nope}]", 1), "nope"},
		{"bad key hash", good + "keys:\n  - {id: k1, secret_sha256: abc}\n", "secret_sha256"},
		{"empty file", "", "empty"},
		{"no file", "-", "no such file"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.give == "-" {
				if err := os.Remove(fg.path); err != nil {
					t.Fatal(err)
				}
			} else {
				fg.rewrite(t, tt.give, true)
			}
			err := fg.gw.ReloadFrom("test", fg.load)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ReloadFrom() = %v, want an error containing %q", err, tt.wantErr)
			}
			st := fg.gw.ReloadStats()
			if st.Failed != uint64(i+1) || st.Succeeded != 0 || !strings.Contains(st.LastError, tt.wantErr) || st.LastFailure.IsZero() {
				t.Errorf("ReloadStats() = %+v, want %d failures, the last naming %q", st, i+1, tt.wantErr)
			}
			// The old config still serves: its models and its providers.
			resp, err := fg.client.Chat(tctx(t), &pb.ChatRequest{Model: "deepseek-chat", Messages: []*pb.Message{{Role: "user", Content: "hi"}}})
			if err != nil || resp.GetProvider() != "sim-a" {
				t.Errorf("Chat() after a refused reload = %v, %v; want sim-a on the old config", resp, err)
			}
		})
	}
	if n := strings.Count(fg.logs.String(), "config reload refused"); n != len(tests) {
		t.Errorf("log has %d refusals, want %d", n, len(tests))
	}
	// A good file applies again.
	fg.rewrite(t, strings.Replace(good, "name: deepseek-v3.2", "name: deepseek-v4", 1), true)
	if err := fg.gw.ReloadFrom("test", fg.load); err != nil {
		t.Fatal(err)
	}
	if _, err := fg.client.Chat(tctx(t), &pb.ChatRequest{Model: "deepseek-v4", Messages: []*pb.Message{{Role: "user", Content: "hi"}}}); err != nil {
		t.Errorf("Chat(deepseek-v4) after a good reload = %v", err)
	}
}

// TestWatchRefusesBadFile: a bad file seen by the watcher is refused and
// counted; the next good one applies.
func TestWatchRefusesBadFile(t *testing.T) {
	fg := serveFile(t, doorBase, serveOpts{watch: true})
	fg.rewrite(t, doorBase+"colour: blue\n", true)
	deadline := time.Now().Add(10 * time.Second)
	for fg.gw.ReloadStats().Failed == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the watcher never refused the bad file: %+v", fg.gw.ReloadStats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := fg.client.Chat(tctx(t), &pb.ChatRequest{Model: "gpt-4.1", Messages: []*pb.Message{{Role: "user", Content: "hi"}}}); err != nil {
		t.Errorf("Chat() on the old config = %v", err)
	}
	fg.rewrite(t, strings.Replace(doorBase, "name: deepseek-v3.2", "name: deepseek-v4", 1), false)
	fg.waitReloads(t, 1)
	if st := fg.gw.ReloadStats(); st.Failed != 1 {
		t.Errorf("ReloadStats() = %+v, want the one failure", st)
	}
}

// breakerConfig has a provider that always fails, which the breaker
// isolates, and a second model whose deployment the reload may change.
const breakerConfig = `
server: {drain_timeout: 5s}
providers:
  - {name: flaky, type: simulator, simulator: {error_rate: 1}}
  - {name: steady, type: simulator}
models:
  - name: m
    deployments: [{provider: flaky}, {provider: steady, priority: 1}]
  - name: other
    deployments: [{provider: steady, model: %s}]
routing:
  breaker: {consecutive_failures: 2, open_for: 1m, max_open_for: 1m}
`

func depHealth(r *routing.Router, provider, model string) (routing.DeploymentHealth, bool) {
	for _, h := range r.Health() {
		if h.Key.Provider == provider && h.Key.Model == model {
			return h, true
		}
	}
	return routing.DeploymentHealth{}, false
}

// TestReloadKeepsRoutingState: the breaker of an unchanged deployment
// stays open across a reload, and its latency window stays filled; a
// deployment the reload changed starts afresh.
func TestReloadKeepsRoutingState(t *testing.T) {
	fg := serveFile(t, fmt.Sprintf(breakerConfig, "up-1"), serveOpts{})
	for range 4 {
		resp, err := fg.client.Chat(tctx(t), &pb.ChatRequest{Model: "m", Messages: []*pb.Message{{Role: "user", Content: "hi"}}})
		if err != nil || resp.GetProvider() != "steady" {
			t.Fatalf("Chat(m) = %v, %v; want steady after flaky fails", resp, err)
		}
		if _, err := fg.client.Chat(tctx(t), &pb.ChatRequest{Model: "other", Messages: []*pb.Message{{Role: "user", Content: "hi"}}}); err != nil {
			t.Fatal(err)
		}
	}
	before := fg.gw.gen.Load().router
	h, _ := depHealth(before, "flaky", "m")
	if h.Breaker != routing.BreakerOpen {
		t.Fatalf("flaky breaker = %v before the reload, want open", h.Breaker)
	}
	if h, _ := depHealth(before, "steady", "m"); h.UnaryP95 == 0 {
		t.Fatalf("steady has no latency window before the reload: %+v", h)
	}

	// The reload changes "other"'s upstream model and the flaky
	// provider's settings, not the deployments of m.
	next := strings.Replace(fmt.Sprintf(breakerConfig, "up-2"), "{error_rate: 1}", "{error_rate: 1, seed: 9}", 1)
	fg.rewrite(t, next, true)
	if err := fg.gw.ReloadFrom("test", fg.load); err != nil {
		t.Fatal(err)
	}
	after := fg.gw.gen.Load().router
	if after == before {
		t.Fatal("the reload kept the old router")
	}
	if got, _ := depHealth(after, "flaky", "m"); got.Breaker != routing.BreakerOpen || got.Trips != h.Trips || !got.OpenUntil.Equal(h.OpenUntil) {
		t.Errorf("flaky after the reload = %+v, want its open breaker kept (%+v)", got, h)
	}
	if got, _ := depHealth(after, "steady", "m"); got.UnaryP95 == 0 {
		t.Errorf("steady after the reload = %+v, want its latency window kept", got)
	}
	for _, hh := range after.Health() {
		if hh.Key.Model == "other" && (hh.Key.UpstreamModel != "up-2" || hh.UnaryP95 != 0) {
			t.Errorf("the changed deployment %+v, want a fresh window on up-2", hh)
		}
	}
	// The open breaker still spares flaky: m answers from steady with a
	// skipped attempt, not a failed one.
	resp, err := fg.client.Chat(tctx(t), &pb.ChatRequest{Model: "m", Messages: []*pb.Message{{Role: "user", Content: "hi"}}})
	if err != nil {
		t.Fatal(err)
	}
	if a := resp.GetRoute().GetAttempts(); len(a) < 2 || a[0].GetProvider() != "flaky" || a[0].GetOutcome() != string(routing.OutcomeSkipped) || resp.GetProvider() != "steady" {
		t.Errorf("route after the reload = %v, want flaky skipped by its breaker", resp.GetRoute())
	}
}

// TestReloadReadiness: with no usable provider the gateway is not ready,
// on /readyz and in gRPC health, until a reload brings one.
func TestReloadReadiness(t *testing.T) {
	const noKey = `
providers: [{name: oa, type: openai, api_key_env: TEST_NO_SUCH_KEY}]
models: [{name: m, deployments: [{provider: oa}]}]
`
	fg := serveFile(t, noKey, serveOpts{})
	check := func(want healthpb.HealthCheckResponse_ServingStatus, wantReady int) {
		t.Helper()
		hc := healthpb.NewHealthClient(fg.conn)
		for _, svc := range []string{"", "llmgateway.v1.LLMGatewayService"} {
			resp, err := hc.Check(tctx(t), &healthpb.HealthCheckRequest{Service: svc})
			if err != nil || resp.GetStatus() != want {
				t.Errorf("health Check(%q) = %v, %v; want %v", svc, resp.GetStatus(), err, want)
			}
		}
		resp, err := http.Get("http://" + fg.httpAddr + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != wantReady {
			t.Errorf("GET /readyz = %d, want %d", resp.StatusCode, wantReady)
		}
	}
	check(healthpb.HealthCheckResponse_NOT_SERVING, 503)
	fg.rewrite(t, strings.Replace(noKey, "providers: [{name: oa, type: openai, api_key_env: TEST_NO_SUCH_KEY}]",
		"providers: [{name: oa, type: openai, api_key_env: TEST_NO_SUCH_KEY}, {name: sim, type: simulator}]", 1), true)
	if err := fg.gw.ReloadFrom("test", fg.load); err != nil {
		t.Fatal(err)
	}
	check(healthpb.HealthCheckResponse_SERVING, 200)
	fg.rewrite(t, noKey, true)
	if err := fg.gw.ReloadFrom("test", fg.load); err != nil {
		t.Fatal(err)
	}
	check(healthpb.HealthCheckResponse_NOT_SERVING, 503)
}

// TestReloadRestartOnlySettings applies what it can and names what needs
// a restart; max_in_flight and drain_timeout apply at once.
func TestReloadRestartOnlySettings(t *testing.T) {
	fg := serveFile(t, doorBase, serveOpts{})
	next := strings.Replace(doorBase, "drain_timeout: 5s", "drain_timeout: 7s\n  grpc_addr: \"127.0.0.1:1\"\n  max_in_flight: 3\n  keepalive: {min_time: 1m}\n  tls: {cert_file: a.crt, key_file: a.key}", 1) +
		"ledger: {queue_size: 10}\n"
	fg.rewrite(t, next, true)
	if err := fg.gw.ReloadFrom("test", fg.load); err != nil {
		t.Fatal(err)
	}
	st := fg.gw.ReloadStats()
	want := []string{"server.grpc_addr", "server.keepalive", "server.tls (on or off)", "ledger"}
	if strings.Join(st.NotApplied, ",") != strings.Join(want, ",") {
		t.Errorf("NotApplied = %v, want %v", st.NotApplied, want)
	}
	if !strings.Contains(fg.logs.String(), "config changes that need a restart were not applied") {
		t.Error("the log does not say which changes were not applied")
	}
	if fg.gw.shed.Max() != 3 || time.Duration(fg.gw.drain.Load()) != 7*time.Second {
		t.Errorf("max_in_flight %d, drain %v after the reload; want 3 and 7s", fg.gw.shed.Max(), time.Duration(fg.gw.drain.Load()))
	}
	// Still plain text, on the same listener.
	if _, err := fg.client.Chat(tctx(t), &pb.ChatRequest{Model: "gpt-4.1", Messages: []*pb.Message{{Role: "user", Content: "hi"}}}); err != nil {
		t.Errorf("Chat() after the reload = %v", err)
	}
}

// TestNewCannotReload: a gateway built from a router has no config to
// reload.
func TestNewCannotReload(t *testing.T) {
	cat, err := routing.NewCatalog([]routing.Model{{Name: "m", Deployments: []routing.Deployment{{Provider: "p", UpstreamModel: "m", Weight: 1}}}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := routing.New(cat, map[string]routing.Provider{"p": disabled{name: "p", why: "test"}})
	if err != nil {
		t.Fatal(err)
	}
	g := New(r)
	if err := g.Reload(&config.Config{}); !errors.Is(err, ErrNotReloadable) {
		t.Errorf("Reload() = %v, want ErrNotReloadable", err)
	}
	if st := g.ReloadStats(); st.Succeeded+st.Failed != 0 || st.LastError != "" {
		t.Errorf("ReloadStats() = %+v, want zero", st)
	}
}

// connTracker is an OpenAI-compatible upstream that records the state of
// each of its connections.
type connTracker struct {
	srv    *http.Server
	url    string
	mu     sync.Mutex
	states map[net.Conn]http.ConnState
	// release lets the first call for upstream model "held" answer, once
	// closed: with a 503, so that the gateway retries it.
	release chan struct{}
	held    atomic.Int32
}

func newConnTracker(t *testing.T) *connTracker {
	t.Helper()
	ct := &connTracker{states: map[net.Conn]http.ConnState{}, release: make(chan struct{})}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Model  string
			Stream bool
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		if req.Model == "held" && ct.held.Add(1) == 1 {
			select {
			case <-ct.release:
			case <-r.Context().Done():
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"error":{"message":"overloaded","type":"server_error"}}`)
			return
		}
		if !req.Stream {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"id":"c1","object":"chat.completion","model":"up","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		for i := range 10 {
			fmt.Fprintf(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"up\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tok%d \"}}]}\n\n", i)
			fl.Flush()
		}
		io.WriteString(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"up\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":10,\"total_tokens\":11}}\n\ndata: [DONE]\n\n")
	})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ct.url = "http://" + lis.Addr().String() + "/v1"
	ct.srv = &http.Server{Handler: h, ConnState: func(c net.Conn, s http.ConnState) {
		ct.mu.Lock()
		defer ct.mu.Unlock()
		ct.states[c] = s
	}}
	go ct.srv.Serve(lis)
	t.Cleanup(func() { ct.srv.Close() })
	return ct
}

// count returns how many connections are in state s.
func (ct *connTracker) count(s http.ConnState) int {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	n := 0
	for _, st := range ct.states {
		if st == s {
			n++
		}
	}
	return n
}

func (ct *connTracker) waitCount(t *testing.T, s http.ConnState, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for ct.count(s) != n {
		if time.Now().After(deadline) {
			t.Fatalf("upstream %s has %d connections %v, want %d", ct.url, ct.count(s), s, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestReloadClosesReplacedProviders: a reload closes the idle upstream
// connections of the providers it replaced, at once and again when their
// last call ends (here a call that started before the reload and retried
// on the replaced provider after it), and keeps those of unchanged
// providers warm.
func TestReloadClosesReplacedProviders(t *testing.T) {
	replaced, kept := newConnTracker(t), newConnTracker(t)
	yaml := func(timeout string) string {
		return fmt.Sprintf(`
server: {drain_timeout: 5s}
providers:
  - {name: up, type: openai, base_url: %q, api_key_env: UP_KEY, timeout: %s}
  - {name: keep, type: openai, base_url: %q, api_key_env: UP_KEY}
models:
  - name: m
    deployments: [{provider: up, model: up}]
  - name: h
    deployments: [{provider: up, model: held}]
  - name: k
    deployments: [{provider: keep, model: up}]
`, replaced.url, timeout, kept.url)
	}
	lookup := func(name string) (string, bool) { return "sk-test", name == "UP_KEY" }
	fg := serveFile(t, yaml("5s"), serveOpts{lookup: lookup})
	hc := &http.Client{}
	if _, err := grpcCall(tctx(t), fg, hc, "", "k", false); err != nil {
		t.Fatal(err)
	}
	kept.waitCount(t, http.StateIdle, 1)
	// On the provider the reload replaces: a call held in flight through
	// the reload on one connection, and an idle connection beside it.
	held := make(chan error, 1)
	go func() {
		_, err := grpcCall(tctx(t), fg, hc, "", "h", false)
		held <- err
	}()
	replaced.waitCount(t, http.StateActive, 1)
	if _, err := grpcCall(tctx(t), fg, hc, "", "m", false); err != nil {
		t.Fatal(err)
	}
	replaced.waitCount(t, http.StateIdle, 1)

	fg.rewrite(t, yaml("6s"), true)
	if err := fg.gw.ReloadFrom("test", fg.load); err != nil {
		t.Fatal(err)
	}
	replaced.waitCount(t, http.StateClosed, 1) // the idle one, at once
	if n := replaced.count(http.StateActive); n != 1 {
		t.Fatalf("the held call's connection is %d active, want 1", n)
	}
	close(replaced.release)
	if err := <-held; err != nil {
		t.Fatalf("the call in flight through the reload: %v", err)
	}
	if n := replaced.held.Load(); n != 2 {
		t.Fatalf("the held call reached the replaced provider %d times, want 2 (a retry)", n)
	}
	// Every connection of the replaced provider is closed, the last once
	// the held call's retry ended.
	for _, st := range []http.ConnState{http.StateNew, http.StateActive, http.StateIdle} {
		replaced.waitCount(t, st, 0)
	}
	// Streams still work on the new provider.
	if _, err := grpcCall(tctx(t), fg, hc, "", "m", true); err != nil {
		t.Fatal(err)
	}
	if n := kept.count(http.StateClosed); n != 0 {
		t.Errorf("the unchanged provider lost %d connections, want its connection kept", n)
	}
	if _, err := grpcCall(tctx(t), fg, hc, "", "k", false); err != nil {
		t.Fatal(err)
	}
	if n := kept.count(http.StateNew) + kept.count(http.StateClosed); n != 0 || len(kept.states) != 1 {
		t.Errorf("the unchanged provider opened a new connection after the reload (%d connections)", len(kept.states))
	}
}

// TestWatchFollowsSymlinkSwap: a Kubernetes ConfigMap volume updates its
// files by pointing the ..data symlink at a new directory; the watcher
// sees it through the config file's own symlink.
func TestWatchFollowsSymlinkSwap(t *testing.T) {
	dir := t.TempDir()
	version := func(name, yaml string) {
		t.Helper()
		if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name, "config.yaml"), []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		// The atomic writer: a new symlink renamed over ..data.
		if err := os.Symlink(name, filepath.Join(dir, "..data_tmp")); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	version("..2026_01_01_00_00_00.1", doorBase)
	path := filepath.Join(dir, "config.yaml")
	if err := os.Symlink(filepath.Join("..data", "config.yaml"), path); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	gw, err := FromConfig(cfg, slog.New(slog.NewJSONHandler(logs, nil)), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(tctx(t))
	watched := make(chan error, 1)
	go func() {
		watched <- gw.WatchConfig(ctx, path, func() (*config.Config, error) { return config.Load(path) }, 20*time.Millisecond)
	}()
	defer func() {
		cancel()
		if err := <-watched; err != nil {
			t.Errorf("WatchConfig() = %v", err)
		}
	}()
	waitLog(t, logs, "watching the config file")
	version("..2026_01_01_00_05_00.2", strings.Replace(doorBase, "name: deepseek-v3.2", "name: deepseek-v4", 1))
	if err := os.RemoveAll(filepath.Join(dir, "..2026_01_01_00_00_00.1")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for gw.ReloadStats().Succeeded == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the symlink swap was never reloaded: %+v", gw.ReloadStats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, ok := gw.gen.Load().router.Catalog().Resolve("deepseek-v4"); !ok {
		t.Error("the reloaded config does not have deepseek-v4")
	}
}
