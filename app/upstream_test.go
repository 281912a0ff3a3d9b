package app

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
)

// slowSSE is an OpenAI-compatible upstream that streams one chunk every
// 50 ms until the request is cancelled, and reports the cancellation.
func slowSSE(t *testing.T) (*httptest.Server, chan struct{}) {
	t.Helper()
	cancelled := make(chan struct{}, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		for i := 0; ; i++ {
			fmt.Fprintf(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"up\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tok%d \"}}]}\n\n", i)
			fl.Flush()
			select {
			case <-r.Context().Done():
				cancelled <- struct{}{}
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv, cancelled
}

func upstreamConfig(baseURL string) string {
	return fmt.Sprintf(`
server: {drain_timeout: 5s}
providers:
  - name: up
    type: openai
    base_url: %s
    api_key_env: TEST_UPSTREAM_KEY
    timeout: 5s
models:
  - name: gpt-4.1
    deployments: [{provider: up, model: up}]
`, baseURL)
}

func startWithKey(t *testing.T, yaml string) *running {
	t.Helper()
	t.Setenv("TEST_UPSTREAM_KEY", "sk-upstream-secret")
	return start(t, yaml)
}

func TestClientDisconnectCancelsUpstream(t *testing.T) {
	srv, cancelled := slowSSE(t)
	r := startWithKey(t, upstreamConfig(srv.URL+"/v1"))

	t.Run("OpenAI surface", func(t *testing.T) {
		ctx, cancel := context.WithCancel(tctx(t))
		req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+r.httpAddr+"/v1/chat/completions",
			strings.NewReader(`{"model":"gpt-4.1","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 256)
		if _, err := resp.Body.Read(buf); err != nil {
			t.Fatal(err)
		}
		cancel()
		resp.Body.Close()
		select {
		case <-cancelled:
		case <-time.After(10 * time.Second):
			t.Fatal("upstream request not cancelled after the HTTP client went away")
		}
	})
	t.Run("gRPC", func(t *testing.T) {
		ctx, cancel := context.WithCancel(tctx(t))
		st, err := r.client.ChatStream(ctx, &pb.ChatRequest{Model: "gpt-4.1", Messages: []*pb.Message{{Role: "user", Content: "hi"}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Recv(); err != nil {
			t.Fatal(err)
		}
		cancel()
		select {
		case <-cancelled:
		case <-time.After(10 * time.Second):
			t.Fatal("upstream request not cancelled after the gRPC client cancelled")
		}
	})
}

func TestUnreachableUpstreamIsUnavailableWithoutLeaks(t *testing.T) {
	// A port nobody listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	r := startWithKey(t, upstreamConfig("http://"+addr+"/v1"))
	_, err = r.client.Chat(tctx(t), &pb.ChatRequest{Model: "gpt-4.1", Messages: []*pb.Message{{Role: "user", Content: "hi"}}})
	st := status.Convert(err)
	if st.Code() != codes.Unavailable || !strings.Contains(st.Message(), "gpt-4.1") {
		t.Fatalf("Chat() = %v, want Unavailable naming the model", err)
	}
	for _, secret := range []string{addr, "sk-upstream-secret", "http://"} {
		if strings.Contains(st.Message(), secret) {
			t.Errorf("status message %q leaks %q", st.Message(), secret)
		}
	}
	resp, err := http.Post("http://"+r.httpAddr+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"gpt-4.1","messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || strings.Contains(string(body), addr) {
		t.Errorf("OpenAI surface = %d %s, want 503 without the upstream address", resp.StatusCode, body)
	}
}

func TestMissingAPIKeyDisablesProvider(t *testing.T) {
	// TEST_UPSTREAM_KEY unset: the provider is disabled, not fatal.
	r := start(t, upstreamConfig("http://127.0.0.1:1/v1"))
	resp, err := http.Get("http://" + r.httpAddr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "no provider usable") {
		t.Errorf("/readyz = %d %q, want 503 no provider usable", resp.StatusCode, body)
	}
	_, err = r.client.Chat(tctx(t), &pb.ChatRequest{Model: "gpt-4.1", Messages: []*pb.Message{{Role: "user", Content: "hi"}}})
	if status.Code(err) != codes.Unavailable {
		t.Errorf("Chat() = %v, want Unavailable", err)
	}
}
