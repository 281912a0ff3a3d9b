package app

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	pb "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
)

// fakeUpstreams serves, on one loopback server, each provider family's
// documented endpoint with a minimal documented answer, and records the
// auth header each received.
func fakeUpstreams(t *testing.T) (*httptest.Server, func() map[string]string) {
	t.Helper()
	var mu sync.Mutex
	auth := map[string]string{}
	record := func(family, value string) {
		mu.Lock()
		auth[family] = value
		mu.Unlock()
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /openai/v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		record("openai", r.Header.Get("Authorization"))
		io.WriteString(w, `{"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4.1-2025-04-14","choices":[{"index":0,"message":{"role":"assistant","content":"hello from openai"},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}}`)
	})
	mux.HandleFunc("POST /anthropic/v1/messages", func(w http.ResponseWriter, r *http.Request) {
		record("anthropic", r.Header.Get("x-api-key")+"|"+r.Header.Get("anthropic-version"))
		io.WriteString(w, `{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"hello from anthropic"}],"stop_reason":"end_turn","usage":{"input_tokens":6,"cache_read_input_tokens":4,"output_tokens":5}}`)
	})
	mux.HandleFunc("POST /gemini/v1beta/models/gemini-2.5-flash:generateContent", func(w http.ResponseWriter, r *http.Request) {
		record("gemini", r.Header.Get("x-goog-api-key"))
		io.WriteString(w, `{"candidates":[{"content":{"role":"model","parts":[{"text":"hello from gemini"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":5,"totalTokenCount":15},"modelVersion":"gemini-2.5-flash"}`)
	})
	mux.HandleFunc("POST /azure/openai/deployments/my-gpt41/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		record("azure", r.Header.Get("api-key")+"|"+r.URL.Query().Get("api-version"))
		io.WriteString(w, `{"id":"chatcmpl-2","object":"chat.completion","model":"gpt-4.1","choices":[{"index":0,"message":{"role":"assistant","content":"hello from azure"},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}}`)
	})
	mux.HandleFunc("POST /cohere/v2/chat", func(w http.ResponseWriter, r *http.Request) {
		record("cohere", r.Header.Get("Authorization"))
		io.WriteString(w, `{"id":"c-1","finish_reason":"COMPLETE","message":{"role":"assistant","content":[{"type":"text","text":"hello from cohere"}]},"usage":{"billed_units":{"input_tokens":10,"output_tokens":5},"tokens":{"input_tokens":10,"output_tokens":5}}}`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, func() map[string]string {
		mu.Lock()
		defer mu.Unlock()
		out := map[string]string{}
		for k, v := range auth {
			out[k] = v
		}
		return out
	}
}

// TestEveryProviderTypeFromConfig wires one provider of each type from a
// config that follows the documented base_url conventions, and checks that
// the same request gives the same shape of answer through each.
func TestEveryProviderTypeFromConfig(t *testing.T) {
	srv, auth := fakeUpstreams(t)
	for _, k := range []string{"OPENAI_KEY", "ANTHROPIC_KEY", "GEMINI_KEY", "AZURE_KEY", "COHERE_KEY"} {
		t.Setenv(k, strings.ToLower(k))
	}
	r := start(t, fmt.Sprintf(`
providers:
  - {name: openai, type: openai, base_url: %[1]s/openai/v1, api_key_env: OPENAI_KEY}
  - {name: anthropic, type: anthropic, base_url: %[1]s/anthropic, api_key_env: ANTHROPIC_KEY}
  - {name: gemini, type: gemini, base_url: %[1]s/gemini, api_key_env: GEMINI_KEY}
  - {name: azure, type: azure, base_url: %[1]s/azure, api_version: "2024-10-21", api_key_env: AZURE_KEY}
  - {name: cohere, type: cohere, base_url: %[1]s/cohere, api_key_env: COHERE_KEY}
models:
  - {name: via-openai, deployments: [{provider: openai, model: gpt-4.1}]}
  - {name: via-anthropic, deployments: [{provider: anthropic, model: claude-sonnet-4-5}]}
  - {name: via-gemini, deployments: [{provider: gemini, model: gemini-2.5-flash}]}
  - {name: via-azure, deployments: [{provider: azure, model: my-gpt41}]}
  - {name: via-cohere, deployments: [{provider: cohere, model: command-a-03-2025}]}
`, srv.URL))
	for _, p := range []string{"openai", "anthropic", "gemini", "azure", "cohere"} {
		t.Run(p, func(t *testing.T) {
			resp, err := r.client.Chat(tctx(t), &pb.ChatRequest{Model: "via-" + p, Messages: []*pb.Message{
				{Role: "system", Content: "Be brief."}, {Role: "user", Content: "hello"}}})
			if err != nil {
				t.Fatal(err)
			}
			if resp.GetMessage().GetContent() != "hello from "+p || resp.GetFinishReason() != "stop" || resp.GetProvider() != p {
				t.Errorf("Chat() = %q (%s) from %s", resp.GetMessage().GetContent(), resp.GetFinishReason(), resp.GetProvider())
			}
			if u := resp.GetUsage(); u.GetPromptTokens() != 10 || u.GetCompletionTokens() != 5 || u.GetTotalTokens() != 15 {
				t.Errorf("usage = %v, want 10 + 5", u)
			}
		})
	}
	want := map[string]string{
		"openai":    "Bearer openai_key",
		"anthropic": "anthropic_key|2023-06-01",
		"gemini":    "gemini_key",
		"azure":     "azure_key|2024-10-21",
		"cohere":    "Bearer cohere_key",
	}
	got := auth()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s upstream got auth %q, want %q", k, got[k], v)
		}
	}
}
