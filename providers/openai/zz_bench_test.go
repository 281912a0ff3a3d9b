package openai

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/llmgateway/llmgateway/llm"
	"github.com/llmgateway/llmgateway/providers/internal/providertest"
)

// The benchmarks in this file cover a whole call of the adapter over
// loopback HTTP, the gateway's upstream leg: encoding, the HTTP exchange
// and decoding (the other benchmarks isolate encoding and stream
// decoding). The server answers with canned bytes, so nearly all of the
// time and every allocation is the client's.

const benchCompletion = `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Your order 1234 left our warehouse yesterday and arrives tomorrow.","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":42,"completion_tokens":16,"total_tokens":58}}`

// benchStreamBody is 16 content chunks, a finish chunk, a usage chunk and
// [DONE].
var benchStreamBody = func() string {
	var b strings.Builder
	for range 16 {
		b.WriteString(`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"token "},"logprobs":null,"finish_reason":null}]}` + "\n\n")
	}
	b.WriteString(`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}` + "\n\n")
	b.WriteString(`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":42,"completion_tokens":16,"total_tokens":58}}` + "\n\n")
	b.WriteString("data: [DONE]\n\n")
	return b.String()
}()

func benchServer(b *testing.B) *Client {
	b.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, benchStreamBody)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, benchCompletion)
	}))
	b.Cleanup(srv.Close)
	c, err := New(Config{Name: "bench", BaseURL: srv.URL + "/v1", APIKey: "sk-bench"}, WithHTTPClient(srv.Client()))
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func shortRequest() *llm.Request {
	return &llm.Request{
		Model: "gpt-4o-mini",
		Messages: []llm.Message{
			{Role: llm.RoleSystem, Content: "You are a customer service agent for an online shop."},
			{Role: llm.RoleUser, Content: "Where is my order 1234? It was due yesterday."},
		},
		MaxTokens: 256,
	}
}

func BenchmarkChatRoundTrip(b *testing.B) {
	c := benchServer(b)
	req := shortRequest()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		resp, err := c.Chat(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		if resp.Usage.CompletionTokens != 16 {
			b.Fatalf("usage = %+v, want 16 completion tokens", resp.Usage)
		}
	}
}

// BenchmarkChatStreamRoundTrip opens a stream and reads it to the end;
// ns/op is per stream of 16 chunks.
func BenchmarkChatStreamRoundTrip(b *testing.B) {
	c := benchServer(b)
	req := shortRequest()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		st, err := c.ChatStream(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		_, n, err := providertest.Drain(st)
		if err != nil {
			b.Fatal(err)
		}
		st.Close()
		if n != 16 {
			b.Fatalf("read %d content chunks, want 16", n)
		}
	}
}
