package server

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/proto"

	pb "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
	"github.com/llmgateway/llmgateway/llm"
	"github.com/llmgateway/llmgateway/routing"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// scripted is a routing.Provider whose answer is fixed by the test.
type scripted struct {
	err    error
	chunks []llm.Chunk
	endErr error
}

func (s *scripted) Chat(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	if s.err != nil {
		return nil, s.err
	}
	return llm.Collect(&chunkStream{chunks: s.chunks})
}

func (s *scripted) ChatStream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	if s.err != nil {
		return nil, s.err
	}
	return &chunkStream{chunks: append([]llm.Chunk(nil), s.chunks...), endErr: s.endErr}, nil
}

type chunkStream struct {
	chunks []llm.Chunk
	endErr error
}

func (c *chunkStream) Recv() (llm.Chunk, error) {
	if len(c.chunks) == 0 {
		if c.endErr != nil {
			return llm.Chunk{}, c.endErr
		}
		return llm.Chunk{}, io.EOF
	}
	ch := c.chunks[0]
	c.chunks = c.chunks[1:]
	return ch, nil
}
func (c *chunkStream) Close() error { return nil }

var okChunks = []llm.Chunk{
	{Content: "Hello"},
	{Content: ", world"},
	{FinishReason: llm.FinishStop},
	{Usage: &llm.Usage{PromptTokens: 2000, CompletionTokens: 100, CachedTokens: 1000}},
}

func startServer(t *testing.T, providers map[string]routing.Provider) pb.LLMGatewayServiceClient {
	t.Helper()
	var deps []routing.Deployment
	for i, name := range []string{"primary", "secondary"} {
		if _, ok := providers[name]; ok {
			deps = append(deps, routing.Deployment{Provider: name, UpstreamModel: "up-" + name, Weight: 1, Priority: i})
		}
	}
	cat, err := routing.NewCatalog([]routing.Model{{
		Name: "gpt-4.1", Aliases: []string{"gpt-4"}, Deployments: deps,
		Pricing: llm.Pricing{InputPerMTok: 2, OutputPerMTok: 8, CachedInputPerMTok: 0.5},
	}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := routing.New(cat, providers)
	if err != nil {
		t.Fatal(err)
	}
	lis := bufconn.Listen(1 << 20)
	gs := grpc.NewServer()
	pb.RegisterLLMGatewayServiceServer(gs, New(r))
	go gs.Serve(lis)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		gs.Stop()
	})
	return pb.NewLLMGatewayServiceClient(conn)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func userMsg(s string) []*pb.Message { return []*pb.Message{{Role: "user", Content: s}} }

func TestChat(t *testing.T) {
	c := startServer(t, map[string]routing.Provider{"primary": &scripted{chunks: okChunks}})
	resp, err := c.Chat(ctxT(t), &pb.ChatRequest{Model: "gpt-4", Messages: userMsg("hi")})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetMessage().GetContent() != "Hello, world" || resp.GetFinishReason() != "stop" {
		t.Errorf("Chat() = %q (%s), want Hello, world (stop)", resp.GetMessage().GetContent(), resp.GetFinishReason())
	}
	if resp.GetModel() != "gpt-4.1" || resp.GetProvider() != "primary" || resp.GetUpstreamModel() != "up-primary" {
		t.Errorf("Chat() model/provider = %s/%s/%s", resp.GetModel(), resp.GetProvider(), resp.GetUpstreamModel())
	}
	// 1000 plain input × $2 + 1000 cached × $0.5 + 100 output × $8, per million.
	if want := (1000*2.0 + 1000*0.5 + 100*8.0) / 1e6; resp.GetCostUsd() != want {
		t.Errorf("CostUsd = %v, want %v", resp.GetCostUsd(), want)
	}
	if u := resp.GetUsage(); u.GetTotalTokens() != 2100 || u.GetCachedTokens() != 1000 {
		t.Errorf("Usage = %v", u)
	}
	if len(resp.GetRoute().GetAttempts()) != 1 || !strings.HasPrefix(resp.GetId(), "chatcmpl-") {
		t.Errorf("route/id = %v / %q", resp.GetRoute(), resp.GetId())
	}
}

func TestChatStream(t *testing.T) {
	c := startServer(t, map[string]routing.Provider{
		"primary":   &scripted{err: &llm.UpstreamError{Provider: "primary", Kind: llm.KindServer, StatusCode: 502, Retryable: true}},
		"secondary": &scripted{chunks: okChunks},
	})
	st, err := c.ChatStream(ctxT(t), &pb.ChatRequest{Model: "gpt-4.1", Messages: userMsg("hi")})
	if err != nil {
		t.Fatal(err)
	}
	var text string
	var final *pb.ChatStreamFinal
	for {
		ev, err := st.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if final != nil {
			t.Fatal("event after the final one")
		}
		text += ev.GetDelta().GetContent()
		if f := ev.GetFinal(); f != nil {
			final = f
		}
	}
	if text != "Hello, world" || final == nil {
		t.Fatalf("stream text = %q, final = %v", text, final)
	}
	if final.GetProvider() != "secondary" || final.GetFinishReason() != "stop" || final.GetUsage().GetTotalTokens() != 2100 {
		t.Errorf("final = %v", final)
	}
	if atts := final.GetRoute().GetAttempts(); len(atts) != 2 || atts[0].GetOutcome() != "error" || atts[0].GetStatusCode() != 502 {
		t.Errorf("route attempts = %v", atts)
	}
}

func TestChatStreamFailsAfterFirstDelta(t *testing.T) {
	c := startServer(t, map[string]routing.Provider{
		"primary":   &scripted{chunks: okChunks[:1], endErr: &llm.UpstreamError{Provider: "primary", Kind: llm.KindConnection, Retryable: true, Message: "secret upstream detail"}},
		"secondary": &scripted{chunks: okChunks},
	})
	st, err := c.ChatStream(ctxT(t), &pb.ChatRequest{Model: "gpt-4.1", Messages: userMsg("hi")})
	if err != nil {
		t.Fatal(err)
	}
	var events []*pb.ChatStreamResponse
	for {
		ev, err := st.Recv()
		if err != nil {
			if status.Code(err) != codes.Unavailable {
				t.Errorf("stream ended with %v, want Unavailable", err)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("status leaks the upstream message: %v", err)
			}
			break
		}
		events = append(events, ev)
	}
	if len(events) != 2 || events[0].GetDelta().GetContent() != "Hello" {
		t.Fatalf("events = %v, want one delta and a final", events)
	}
	f := events[1].GetFinal()
	if f.GetFinishReason() != "error" || f.GetUsage().GetCompletionTokens() == 0 || f.GetError() == "" {
		t.Errorf("final = %v, want finish_reason error with usage so far", f)
	}
}

func TestBadInput(t *testing.T) {
	c := startServer(t, map[string]routing.Provider{"primary": &scripted{chunks: okChunks}})
	neg := int32(-5)
	temp := 3.0
	tests := []struct {
		name      string
		give      *pb.ChatRequest
		wantCode  codes.Code
		wantField string
	}{
		{"no model", &pb.ChatRequest{Messages: userMsg("hi")}, codes.InvalidArgument, "model"},
		{"no messages", &pb.ChatRequest{Model: "gpt-4.1"}, codes.InvalidArgument, "messages"},
		{"unknown role", &pb.ChatRequest{Model: "gpt-4.1", Messages: []*pb.Message{{Role: "wizard", Content: "x"}}}, codes.InvalidArgument, "messages[0].role"},
		{"negative max_tokens", &pb.ChatRequest{Model: "gpt-4.1", Messages: userMsg("hi"), MaxTokens: &neg}, codes.InvalidArgument, "max_tokens"},
		{"temperature range", &pb.ChatRequest{Model: "gpt-4.1", Messages: userMsg("hi"), Temperature: &temp}, codes.InvalidArgument, "temperature"},
		{"tool message without id", &pb.ChatRequest{Model: "gpt-4.1", Messages: []*pb.Message{{Role: "tool", Content: "42"}}}, codes.InvalidArgument, "messages[0].tool_call_id"},
		{"bad tool name", &pb.ChatRequest{Model: "gpt-4.1", Messages: userMsg("hi"), Tools: []*pb.Tool{{Function: &pb.FunctionDefinition{Name: "has space"}}}}, codes.InvalidArgument, "tools[0].function.name"},
		{"tool choice of unknown function", &pb.ChatRequest{Model: "gpt-4.1", Messages: userMsg("hi"), ToolChoice: &pb.ToolChoice{Mode: "function", FunctionName: "nope"}}, codes.InvalidArgument, "tool_choice.function_name"},
		{"unknown model", &pb.ChatRequest{Model: "gpt-9", Messages: userMsg("hi")}, codes.NotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Chat(ctxT(t), tt.give)
			st := status.Convert(err)
			if st.Code() != tt.wantCode {
				t.Fatalf("Chat() code = %v (%v), want %v", st.Code(), err, tt.wantCode)
			}
			if tt.wantCode == codes.NotFound && !strings.Contains(st.Message(), "ListModels") {
				t.Errorf("NotFound message %q does not say how to list models", st.Message())
			}
			if tt.wantField == "" {
				return
			}
			var fields []string
			for _, d := range st.Details() {
				if br, ok := d.(*errdetails.BadRequest); ok {
					for _, v := range br.GetFieldViolations() {
						fields = append(fields, v.GetField())
					}
				}
			}
			found := false
			for _, f := range fields {
				found = found || f == tt.wantField
			}
			if !found || !strings.Contains(st.Message(), tt.wantField) {
				t.Errorf("violations = %v, message %q; want field %q", fields, st.Message(), tt.wantField)
			}
		})
	}
}

func TestUpstreamErrorsToStatus(t *testing.T) {
	tests := []struct {
		name string
		give error
		want codes.Code
	}{
		{"all down", &llm.UpstreamError{Kind: llm.KindServer, StatusCode: 500, Retryable: true, Message: "key sk-secret at https://internal"}, codes.Unavailable},
		{"rate limited", &llm.UpstreamError{Kind: llm.KindRateLimited, StatusCode: 429, Retryable: true, RetryAfter: 7 * time.Second}, codes.ResourceExhausted},
		{"context length", &llm.UpstreamError{Kind: llm.KindContextLength, StatusCode: 400}, codes.InvalidArgument},
		{"our bad request", &llm.UpstreamError{Kind: llm.KindBadRequest, StatusCode: 400}, codes.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := startServer(t, map[string]routing.Provider{"primary": &scripted{err: tt.give}})
			_, err := c.Chat(ctxT(t), &pb.ChatRequest{Model: "gpt-4.1", Messages: userMsg("hi")})
			st := status.Convert(err)
			if st.Code() != tt.want {
				t.Fatalf("code = %v (%v), want %v", st.Code(), err, tt.want)
			}
			if strings.Contains(st.Message(), "secret") || strings.Contains(st.Message(), "https://") {
				t.Errorf("message leaks upstream details: %q", st.Message())
			}
			if tt.want == codes.Unavailable && !strings.Contains(st.Message(), "gpt-4.1") {
				t.Errorf("message %q does not name the model", st.Message())
			}
			if tt.want == codes.ResourceExhausted {
				var ri *errdetails.RetryInfo
				for _, d := range st.Details() {
					if r, ok := d.(*errdetails.RetryInfo); ok {
						ri = r
					}
				}
				if ri.GetRetryDelay().AsDuration() != 7*time.Second {
					t.Errorf("RetryInfo = %v, want 7s", ri)
				}
			}
		})
	}
}

func TestListModels(t *testing.T) {
	c := startServer(t, map[string]routing.Provider{"primary": &scripted{}, "secondary": &scripted{}})
	resp, err := c.ListModels(ctxT(t), &pb.ListModelsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	want := &pb.ListModelsResponse{Models: []*pb.ModelInfo{{
		Name: "gpt-4.1", Aliases: []string{"gpt-4"}, Providers: []string{"primary", "secondary"},
		Pricing: &pb.Pricing{InputPerMtok: 2, OutputPerMtok: 8, CachedInputPerMtok: 0.5},
	}}}
	if !proto.Equal(resp, want) {
		t.Errorf("ListModels() = %v, want %v", resp, want)
	}
}

// TestRouterFunc checks that each call routes with the router the
// RouterFunc returns for it, as a config reload needs.
func TestRouterFunc(t *testing.T) {
	newRouter := func(model, provider string) *routing.Router {
		cat, err := routing.NewCatalog([]routing.Model{{Name: model, Deployments: []routing.Deployment{{Provider: provider, UpstreamModel: "up", Weight: 1}}}})
		if err != nil {
			t.Fatal(err)
		}
		r, err := routing.New(cat, map[string]routing.Provider{provider: &scripted{chunks: okChunks}})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	routers := map[string]*routing.Router{"old": newRouter("model-old", "prov-old"), "new": newRouter("model-new", "prov-new")}
	pick := func(ctx context.Context) *routing.Router {
		md, _ := metadata.FromIncomingContext(ctx)
		if v := md.Get("x-generation"); len(v) == 1 && routers[v[0]] != nil {
			return routers[v[0]]
		}
		return routers["old"]
	}
	lis := bufconn.Listen(1 << 20)
	gs := grpc.NewServer()
	pb.RegisterLLMGatewayServiceServer(gs, New(nil, WithRouterFunc(pick)))
	go gs.Serve(lis)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		gs.Stop()
	})
	c := pb.NewLLMGatewayServiceClient(conn)
	tests := []struct {
		give         string // the generation the call asks for
		model        string
		wantProvider string
		wantCode     codes.Code
	}{
		{"old", "model-old", "prov-old", codes.OK},
		{"new", "model-new", "prov-new", codes.OK},
		{"new", "model-old", "", codes.NotFound},
	}
	for _, tt := range tests {
		ctx := metadata.AppendToOutgoingContext(ctxT(t), "x-generation", tt.give)
		resp, err := c.Chat(ctx, &pb.ChatRequest{Model: tt.model, Messages: userMsg("hi")})
		if status.Code(err) != tt.wantCode || resp.GetProvider() != tt.wantProvider {
			t.Errorf("Chat(%s, %s) = %v, %v; want provider %q, code %v", tt.give, tt.model, resp.GetProvider(), err, tt.wantProvider, tt.wantCode)
		}
		list, err := c.ListModels(ctx, &pb.ListModelsRequest{})
		if err != nil || len(list.GetModels()) != 1 || list.GetModels()[0].GetName() != "model-"+tt.give {
			t.Errorf("ListModels(%s) = %v, %v; want model-%s only", tt.give, list, err, tt.give)
		}
	}
}
