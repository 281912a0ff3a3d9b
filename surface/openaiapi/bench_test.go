package openaiapi

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	llmgatewayv1 "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
)

// memClient is an in-process LLMGatewayServiceClient, so that benchmarks
// measure the translation path rather than the network.
type memClient struct {
	// The embedded interface stands for the methods the benchmarks do not
	// call; calling one panics.
	llmgatewayv1.LLMGatewayServiceClient
	resp   *llmgatewayv1.ChatResponse
	events []*llmgatewayv1.ChatStreamResponse
}

func (c *memClient) Chat(context.Context, *llmgatewayv1.ChatRequest, ...grpc.CallOption) (*llmgatewayv1.ChatResponse, error) {
	return c.resp, nil
}

func (c *memClient) ChatStream(ctx context.Context, _ *llmgatewayv1.ChatRequest, _ ...grpc.CallOption) (grpc.ServerStreamingClient[llmgatewayv1.ChatStreamResponse], error) {
	return &memStream{ctx: ctx, events: c.events}, nil
}

func (c *memClient) ListModels(context.Context, *llmgatewayv1.ListModelsRequest, ...grpc.CallOption) (*llmgatewayv1.ListModelsResponse, error) {
	return &llmgatewayv1.ListModelsResponse{}, nil
}

type memStream struct {
	grpc.ClientStream // nil: only the methods below are called
	ctx               context.Context
	events            []*llmgatewayv1.ChatStreamResponse
	next              int
}

func (s *memStream) Recv() (*llmgatewayv1.ChatStreamResponse, error) {
	if s.next == len(s.events) {
		return nil, io.EOF
	}
	s.next++
	return s.events[s.next-1], nil
}

func (s *memStream) Header() (metadata.MD, error) { return nil, nil }
func (s *memStream) Trailer() metadata.MD         { return nil }

// discardWriter is a flushable http.ResponseWriter that counts and drops
// what it is given.
type discardWriter struct {
	header http.Header
	n      int
	status int
}

func (w *discardWriter) Header() http.Header         { return w.header }
func (w *discardWriter) WriteHeader(status int)      { w.status = status }
func (w *discardWriter) Write(b []byte) (int, error) { w.n += len(b); return len(b), nil }
func (w *discardWriter) Flush()                      {}

// rewindBody is a request body that can be read again.
type rewindBody struct{ bytes.Reader }

func (*rewindBody) Close() error { return nil }

const benchRequest = `{"model":"gpt-4o","messages":[` +
	`{"role":"system","content":"You are a helpful assistant. Answer briefly."},` +
	`{"role":"user","content":"What is the capital of Norway, and what is the weather like there in spring?"}],` +
	`"max_tokens":256,"temperature":0.3,"user":"u-1","tools":[{"type":"function","function":{"name":"get_weather",` +
	`"parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}]`

func runHandler(b *testing.B, h *Handler, body string, wantStatus int) int {
	b.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, "http://gw/v1/chat/completions", nil)
	if err != nil {
		b.Fatal(err)
	}
	rb := &rewindBody{}
	w := &discardWriter{header: make(http.Header)}
	var n int
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rb.Reset([]byte(body))
		req.Body = rb
		clear(w.header)
		w.n, w.status = 0, 0
		h.ServeHTTP(w, req)
		if w.status != wantStatus {
			b.Fatalf("status = %d, want %d", w.status, wantStatus)
		}
		n = w.n
	}
	return n
}

func BenchmarkChatUnary(b *testing.B) {
	h := New(&memClient{resp: &llmgatewayv1.ChatResponse{
		Id: "r-1", Model: "gpt-4o", Provider: "openai",
		Message:      &llmgatewayv1.Message{Role: "assistant", Content: strings.Repeat("Oslo is the capital. ", 20)},
		FinishReason: "stop",
		Usage:        &llmgatewayv1.Usage{PromptTokens: 40, CompletionTokens: 120, TotalTokens: 160},
		CostUsd:      0.0012,
		Route:        testRoute(),
	}})
	n := runHandler(b, h, benchRequest+`}`, http.StatusOK)
	b.SetBytes(int64(n))
}

func BenchmarkChatStream(b *testing.B) {
	const deltas = 100
	events := make([]*llmgatewayv1.ChatStreamResponse, 0, deltas+1)
	for range deltas {
		events = append(events, deltaEvent(" token"))
	}
	events = append(events, finalEvent(testFinal("stop")))
	h := New(&memClient{events: events})
	n := runHandler(b, h, benchRequest+`,"stream":true,"stream_options":{"include_usage":true}}`, http.StatusOK)
	b.SetBytes(int64(n))
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(events)), "ns/event")
}

func BenchmarkChunkDelta(b *testing.B) {
	enc := newChunkEncoder("chatcmpl-abc", "gpt-4o", 1700000000, true, make([]byte, 0, 1024))
	text := deltaEvent(" token").GetDelta()
	tool := deltaEvent("", &llmgatewayv1.ToolCallDelta{Index: 0, Arguments: `{"city":"Os`}).GetDelta()
	enc.delta(tool) // the call's first fragment
	b.ReportAllocs()
	for b.Loop() {
		enc.delta(text)
		enc.delta(tool)
	}
}

func TestChunkEncoderDoesNotAllocate(t *testing.T) {
	enc := newChunkEncoder("chatcmpl-abc", "gpt-4o", 1700000000, true, make([]byte, 0, 1024))
	text := deltaEvent(" tok\"en\n").GetDelta()
	tool := deltaEvent("", &llmgatewayv1.ToolCallDelta{Index: 0, Arguments: `{"city":"Os`}).GetDelta()
	enc.delta(tool)
	if got := testing.AllocsPerRun(100, func() {
		enc.delta(text)
		enc.delta(tool)
	}); got != 0 {
		t.Errorf("chunkEncoder.delta allocations per run = %v, want 0", got)
	}
}

// benchAgentRequest is an agent turn as the OpenAI SDKs send it: a system
// prompt, a tool round trip in the history, two tools and a few
// sampling settings.
const benchAgentRequest = `{"messages":[` +
	`{"role":"system","content":"You are a customer service agent for an online shop. Be brief and friendly, and use the tools to look orders up."},` +
	`{"role":"user","content":"Where is my order 1234? It was due yesterday."},` +
	`{"role":"assistant","content":null,"tool_calls":[{"id":"call_Xk2r9TqL0mZ4vB7nW1yH3sJd","type":"function","function":{"name":"get_order","arguments":"{\"order_id\":\"1234\"}"}}]},` +
	`{"role":"tool","tool_call_id":"call_Xk2r9TqL0mZ4vB7nW1yH3sJd","content":"{\"status\":\"shipped\",\"eta\":\"2025-05-02\"}"},` +
	`{"role":"user","content":[{"type":"text","text":"Can you send it to my office instead?"}]}],` +
	`"model":"gpt-4o-mini","max_completion_tokens":256,"temperature":0.3,"user":"u-1234","stream":false,` +
	`"tools":[{"type":"function","function":{"name":"get_order","description":"Look an order up by id","parameters":{"type":"object","properties":{"order_id":{"type":"string"}},"required":["order_id"],"additionalProperties":false},"strict":true}},` +
	`{"type":"function","function":{"name":"change_address","description":"Change the delivery address of an order","parameters":{"type":"object","properties":{"order_id":{"type":"string"},"address":{"type":"string"}},"required":["order_id","address"]}}}],` +
	`"tool_choice":"auto"}`

// BenchmarkParseChat measures decoding and translating a request body.
func BenchmarkParseChat(b *testing.B) {
	for _, bb := range []struct {
		name, body string
	}{
		{"short", `{"messages":[{"role":"system","content":"You are a helpful assistant. Answer briefly."},{"role":"user","content":"What is the capital of Norway?"}],"model":"gpt-4o-mini","max_tokens":256,"temperature":0.3}`},
		{"tool", benchRequest + `}`},
		{"agent", benchAgentRequest},
	} {
		b.Run(bb.name, func(b *testing.B) {
			body := []byte(bb.body)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := parseChat(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
