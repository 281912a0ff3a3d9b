package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/llmgateway/llmgateway/config"
	pb "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// running is a gateway serving on loopback ports for one test.
type running struct {
	grpcAddr, httpAddr string
	conn               *grpc.ClientConn
	client             pb.LLMGatewayServiceClient
	stop               context.CancelFunc
	done               chan error
	once               sync.Once
	err                error
}

const testConfig = `
server:
  drain_timeout: 5s
  max_request_bytes: 65536
providers:
  - name: sim-a
    type: simulator
  - name: sim-b
    type: simulator
  - name: sim-slow
    type: simulator
    simulator:
      tokens_per_second: 20
models:
  - name: gpt-4.1
    aliases: [gpt-4]
    deployments:
      - provider: sim-a
      - provider: sim-b
        priority: 1
    pricing: {input_per_mtok: 2, output_per_mtok: 8}
  - name: slow-model
    deployments:
      - provider: sim-slow
`

func start(t *testing.T, yaml string) *running {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	gw, err := FromConfig(cfg, slog.New(slog.DiscardHandler), os.LookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	return serveGateway(t, gw)
}

// serveGateway serves gw on loopback ports until the test ends, and
// returns once it answers /healthz.
func serveGateway(t *testing.T, gw *Gateway) *running {
	t.Helper()
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
	go func() { r.done <- gw.Serve(ctx, gl, hl) }()
	r.conn, err = grpc.NewClient(r.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	r.client = pb.NewLLMGatewayServiceClient(r.conn)
	t.Cleanup(func() {
		r.conn.Close()
		r.stop()
		if err := r.wait(t); err != nil {
			t.Errorf("Serve() = %v, want nil after shutdown", err)
		}
		http.DefaultClient.CloseIdleConnections()
	})
	waitReady(t, r.httpAddr)
	return r
}

// wait returns what Serve returned, waiting for it at most 15 s.
func (r *running) wait(t *testing.T) error {
	t.Helper()
	r.once.Do(func() {
		select {
		case r.err = <-r.done:
		case <-time.After(15 * time.Second):
			r.err = fmt.Errorf("gateway did not shut down")
		}
	})
	return r.err
}

func waitReady(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("gateway never came up")
}

func tctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestGRPCHealthAndReflection(t *testing.T) {
	r := start(t, testConfig)
	hc := healthpb.NewHealthClient(r.conn)
	for _, svc := range []string{"", "llmgateway.v1.LLMGatewayService"} {
		resp, err := hc.Check(tctx(t), &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("Check(%q) = %v, %v; want SERVING", svc, resp, err)
		}
	}
	rc, err := reflectpb.NewServerReflectionClient(r.conn).ServerReflectionInfo(tctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Send(&reflectpb.ServerReflectionRequest{MessageRequest: &reflectpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := rc.Recv()
	if err != nil {
		t.Fatal(err)
	}
	rc.CloseSend()
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	if !strings.Contains(strings.Join(names, ","), "llmgateway.v1.LLMGatewayService") {
		t.Errorf("reflection lists %v, want llmgateway.v1.LLMGatewayService", names)
	}
}

func TestGRPCChatEndToEnd(t *testing.T) {
	r := start(t, testConfig)
	resp, err := r.client.Chat(tctx(t), &pb.ChatRequest{Model: "gpt-4", Messages: []*pb.Message{{Role: "user", Content: "order 1234?"}}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetModel() != "gpt-4.1" || resp.GetProvider() != "sim-a" || resp.GetMessage().GetContent() == "" || resp.GetCostUsd() <= 0 {
		t.Errorf("Chat() = %v", resp)
	}
	// Forced fault on the primary: the secondary answers.
	resp, err = r.client.Chat(tctx(t), &pb.ChatRequest{Model: "gpt-4.1", Messages: []*pb.Message{{Role: "user", Content: "x"}}})
	if err != nil {
		t.Fatal(err)
	}
	_ = resp
}

func TestRESTFacade(t *testing.T) {
	r := start(t, testConfig)
	base := "http://" + r.httpAddr
	post := func(path, body string) (*http.Response, []byte) {
		t.Helper()
		resp, err := http.Post(base+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	resp, body := post("/api/v1/chat", `{"model":"gpt-4","messages":[{"role":"user","content":"hello"}]}`)
	if resp.StatusCode != 200 {
		t.Fatalf("POST /api/v1/chat = %d %s", resp.StatusCode, body)
	}
	var chat struct {
		Model   string                   `json:"model"`
		Message struct{ Content string } `json:"message"`
	}
	if err := json.Unmarshal(body, &chat); err != nil || chat.Model != "gpt-4.1" || chat.Message.Content == "" {
		t.Errorf("chat body = %s (%v)", body, err)
	}
	if got := resp.Header.Get("X-Llmgateway-Provider"); got != "sim-a" {
		t.Errorf("X-Llmgateway-Provider = %q, want sim-a", got)
	}

	resp, body = post("/api/v1/chat:stream", `{"model":"gpt-4","messages":[{"role":"user","content":"hello"}]}`)
	if resp.StatusCode != 200 {
		t.Fatalf("POST /api/v1/chat:stream = %d %s", resp.StatusCode, body)
	}
	lines := strings.Split(strings.TrimSpace(string(body)), "\n")
	var text string
	for i, l := range lines {
		var ev struct {
			Result *struct {
				Delta *struct{ Content string } `json:"delta"`
				Final *struct {
					FinishReason string `json:"finish_reason"`
				} `json:"final"`
			} `json:"result"`
		}
		if err := json.Unmarshal([]byte(l), &ev); err != nil || ev.Result == nil {
			t.Fatalf("line %d = %q: %v", i, l, err)
		}
		if ev.Result.Delta != nil {
			text += ev.Result.Delta.Content
		}
		if i == len(lines)-1 && (ev.Result.Final == nil || ev.Result.Final.FinishReason != "stop") {
			t.Errorf("last line = %q, want the final event", l)
		}
	}
	if text != chat.Message.Content {
		t.Errorf("streamed text %q != unary text %q", text, chat.Message.Content)
	}

	tests := []struct {
		name     string
		path     string
		body     string
		wantCode int
		wantText string
	}{
		{"malformed JSON", "/api/v1/chat", `{"model":`, 400, ""},
		{"empty messages", "/api/v1/chat", `{"model":"gpt-4","messages":[]}`, 400, "messages"},
		{"unknown role", "/api/v1/chat", `{"model":"gpt-4","messages":[{"role":"bot","content":"x"}]}`, 400, "messages[0].role"},
		{"negative max_tokens", "/api/v1/chat", `{"model":"gpt-4","max_tokens":-3,"messages":[{"role":"user","content":"x"}]}`, 400, "max_tokens"},
		{"unknown model", "/api/v1/chat", `{"model":"gpt-9","messages":[{"role":"user","content":"x"}]}`, 404, "models"},
		{"too large", "/api/v1/chat", `{"model":"gpt-4","messages":[{"role":"user","content":"` + strings.Repeat("x", 70000) + `"}]}`, 413, "limit"},
		{"all upstreams down", "/api/v1/chat", `{"model":"gpt-4","messages":[{"role":"user","content":"x"}],"metadata":{"simulator.fault":"error"}}`, 503, "gpt-4.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := post(tt.path, tt.body)
			if resp.StatusCode != tt.wantCode || !strings.Contains(string(body), tt.wantText) {
				t.Errorf("POST %s = %d %s, want %d containing %q", tt.path, resp.StatusCode, body, tt.wantCode, tt.wantText)
			}
		})
	}

	for _, path := range []string{"/api/v1/models", "/api/v1/openapi.json", "/v1/models", "/healthz"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET %s = %d, want 200", path, resp.StatusCode)
		}
	}
}

func TestGracefulShutdownFinishesStream(t *testing.T) {
	r := start(t, testConfig)
	// slow-model streams 20 tokens a second: a stream of 30 tokens is in
	// flight for about 1.5 s.
	maxTok := int32(30)
	st, err := r.client.ChatStream(tctx(t), &pb.ChatRequest{Model: "slow-model", MaxTokens: &maxTok,
		Metadata: map[string]string{"simulator.reply": strings.Repeat("word ", 40)},
		Messages: []*pb.Message{{Role: "user", Content: "long answer please"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err != nil {
		t.Fatal(err)
	}
	// Also an HTTP (OpenAI-compatible) stream in flight.
	req, _ := http.NewRequestWithContext(tctx(t), "POST", "http://"+r.httpAddr+"/v1/chat/completions",
		strings.NewReader(`{"model":"slow-model","stream":true,"max_tokens":30,"metadata":{"simulator.reply":"`+strings.Repeat("word ", 40)+`"},"messages":[{"role":"user","content":"long"}]}`))
	hresp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer hresp.Body.Close()
	br := bufio.NewReader(hresp.Body)
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}

	r.stop() // as SIGTERM would

	// Health turns NOT_SERVING and new connections are refused soon.
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := healthpb.NewHealthClient(r.conn).Check(tctx(t), &healthpb.HealthCheckRequest{})
		if err != nil || resp.GetStatus() == healthpb.HealthCheckResponse_NOT_SERVING {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("health still SERVING after shutdown began")
		}
		time.Sleep(10 * time.Millisecond)
	}

	var final *pb.ChatStreamFinal
	for {
		ev, err := st.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("in-flight gRPC stream cut by shutdown: %v", err)
		}
		if f := ev.GetFinal(); f != nil {
			final = f
		}
	}
	if final == nil || final.GetUsage().GetCompletionTokens() != 30 {
		t.Errorf("final = %v, want a complete stream of 30 tokens", final)
	}
	rest, err := io.ReadAll(br)
	if err != nil || !bytes.Contains(rest, []byte("data: [DONE]")) {
		t.Errorf("in-flight HTTP stream did not finish: %v, tail %q", err, tail(rest))
	}
	if err := r.wait(t); err != nil {
		t.Errorf("Serve() = %v, want nil", err)
	}
	if _, err := net.DialTimeout("tcp", r.httpAddr, time.Second); err == nil {
		t.Error("HTTP listener still accepts after shutdown")
	}
	_, err = r.client.Chat(tctx(t), &pb.ChatRequest{Model: "gpt-4", Messages: []*pb.Message{{Role: "user", Content: "x"}}})
	if status.Code(err) != codes.Unavailable {
		t.Errorf("Chat() after shutdown = %v, want Unavailable", err)
	}
}

func tail(b []byte) string {
	if len(b) > 200 {
		b = b[len(b)-200:]
	}
	return fmt.Sprintf("%s", b)
}
