package upstream

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The upstream's own cost per request, without the network: what every
// point of the benchmark pays on the llmsim side, direct or through a
// gateway.

func benchServe(b *testing.B, body string) {
	s, err := New(Config{Chunks: 16})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(body))
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("HTTP %d: %s", w.Code, w.Body)
		}
	}
}

func BenchmarkUnary(b *testing.B) {
	benchServe(b, `{"model":"bench-model","messages":[{"role":"system","content":"You are a customer service agent."},{"role":"user","content":"Where is my order 1234?"}],"max_tokens":256}`)
}

// BenchmarkStream is per stream of 16 chunks, a finish, usage and [DONE].
func BenchmarkStream(b *testing.B) {
	benchServe(b, `{"model":"bench-model","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"system","content":"You are a customer service agent."},{"role":"user","content":"Where is my order 1234?"}],"max_tokens":256}`)
}
