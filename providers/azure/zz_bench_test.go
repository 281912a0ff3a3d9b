package azure

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/llmgateway/llmgateway/llm"
)

// BenchmarkChatRoundTrip is one Azure OpenAI call over loopback HTTP:
// deployment URL and api-key header, encoding, the exchange and decoding.
// The server answers with canned bytes, so the time and allocations are
// the client's.
func BenchmarkChatRoundTrip(b *testing.B) {
	const body = `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Your order 1234 arrives tomorrow."},"finish_reason":"stop"}],"usage":{"prompt_tokens":42,"completion_tokens":8,"total_tokens":50}}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	}))
	b.Cleanup(srv.Close)
	c, err := New(Config{Name: "azure-bench", Endpoint: srv.URL, APIVersion: "2024-10-21", APIKey: "k"}, WithHTTPClient(srv.Client()))
	if err != nil {
		b.Fatal(err)
	}
	req := &llm.Request{
		Model: "my-deployment",
		Messages: []llm.Message{
			{Role: llm.RoleSystem, Content: "You are a customer service agent for an online shop."},
			{Role: llm.RoleUser, Content: "Where is my order 1234?"},
		},
		MaxTokens: 256,
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		resp, err := c.Chat(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		if resp.Usage.CompletionTokens != 8 {
			b.Fatalf("usage = %+v, want 8 completion tokens", resp.Usage)
		}
	}
}
