package chatcall_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
	"github.com/llmgateway/llmgateway/interceptors/internal/calltest"
	"github.com/llmgateway/llmgateway/interceptors/internal/chatcall"
	"github.com/llmgateway/llmgateway/llm"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder is an Admit that records the outcomes it is told.
type recorder struct {
	refuse   error
	admitted atomic.Int32
	outcomes []chatcall.Outcome
}

func (r *recorder) admit(_ context.Context, _ *pb.ChatRequest, _ bool) (func(chatcall.Outcome), error) {
	if r.refuse != nil {
		return nil, r.refuse
	}
	r.admitted.Add(1)
	return func(o chatcall.Outcome) { r.outcomes = append(r.outcomes, o) }, nil
}

func TestUnary(t *testing.T) {
	boom := status.Error(codes.Unavailable, "down")
	tests := []struct {
		name    string
		resp    any
		err     error
		panics  bool
		want    chatcall.Outcome
		wantErr codes.Code
	}{
		{"answered", calltest.Response("gpt-4.1", "openai", 10, 5, 0.25), nil, false,
			chatcall.Outcome{Answered: true, Usage: llm.Usage{PromptTokens: 10, CompletionTokens: 5}, CostUSD: 0.25, Provider: "openai", Model: "gpt-4.1", Attempts: 1}, codes.OK},
		{"failed", nil, boom, false, chatcall.Outcome{Err: boom}, codes.Unavailable},
		{"panicked", nil, nil, true, chatcall.Outcome{}, codes.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			icpt := chatcall.UnaryServerInterceptor(rec.admit)
			func() {
				defer func() {
					if p := recover(); (p != nil) != tt.panics {
						t.Errorf("panic = %v, want one: %v", p, tt.panics)
					}
				}()
				_, err := icpt(context.Background(), calltest.Request("gpt-4", "hi", 0), calltest.ChatInfo, func(context.Context, any) (any, error) {
					if tt.panics {
						panic("handler bug")
					}
					return tt.resp, tt.err
				})
				if status.Code(err) != tt.wantErr {
					t.Errorf("error = %v, want %v", err, tt.wantErr)
				}
			}()
			if len(rec.outcomes) != 1 {
				t.Fatalf("done called %d times, want once", len(rec.outcomes))
			}
			got := rec.outcomes[0]
			if tt.panics {
				if status.Code(got.Err) != codes.Internal {
					t.Errorf("outcome of a panic = %+v, want an Internal error", got)
				}
				return
			}
			if got.Answered != tt.want.Answered || got.Usage != tt.want.Usage || got.CostUSD != tt.want.CostUSD ||
				got.Provider != tt.want.Provider || got.Model != tt.want.Model || got.Attempts != tt.want.Attempts || !errors.Is(got.Err, tt.want.Err) {
				t.Errorf("outcome = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestUnaryPassesOtherMethodsAndRefusals(t *testing.T) {
	refusal := status.Error(codes.PermissionDenied, "no")
	rec := &recorder{refuse: refusal}
	icpt := chatcall.UnaryServerInterceptor(rec.admit)
	called := false
	h := func(context.Context, any) (any, error) { called = true; return nil, nil }
	if _, err := icpt(context.Background(), calltest.Request("m", "hi", 0), calltest.ChatInfo, h); !errors.Is(err, refusal) || called {
		t.Errorf("refused call: err %v, handler called %v; want the refusal and no call", err, called)
	}
	if _, err := icpt(context.Background(), &pb.ListModelsRequest{}, &grpc.UnaryServerInfo{FullMethod: chatcall.MethodListModels}, h); err != nil || !called {
		t.Errorf("ListModels: err %v, handler called %v; want it passed through", err, called)
	}
}

func TestStream(t *testing.T) {
	rec := &recorder{}
	icpt := chatcall.StreamServerInterceptor(rec.admit)
	ss := &calltest.Stream{Ctx: context.Background(), Req: calltest.Request("gpt-4", "hi", 0)}
	events := []*pb.ChatStreamResponse{
		calltest.Delta("gpt-4.1", "Hello there, "),
		calltest.Delta("gpt-4.1", "friend"),
		calltest.Final("gpt-4.1", "openai", 7, 4, 0.1),
	}
	if err := icpt(nil, ss, calltest.StreamInfo, calltest.StreamHandler(events, nil)); err != nil {
		t.Fatal(err)
	}
	if len(ss.Sent) != 3 || len(rec.outcomes) != 1 {
		t.Fatalf("sent %d events, %d outcomes; want 3 and 1", len(ss.Sent), len(rec.outcomes))
	}
	o := rec.outcomes[0]
	if !o.Answered || o.Usage.Total() != 11 || o.CostUSD != 0.1 || o.Model != "gpt-4.1" || o.FirstContent.IsZero() || o.StreamedTokens != 0 {
		t.Errorf("outcome = %+v", o)
	}

	// Cut before the final event: the streamed text is estimated.
	rec = &recorder{}
	icpt = chatcall.StreamServerInterceptor(rec.admit)
	ss = &calltest.Stream{Ctx: context.Background(), Req: calltest.Request("gpt-4", "hi", 0)}
	cut := status.Error(codes.Canceled, "gone")
	if err := icpt(nil, ss, calltest.StreamInfo, calltest.StreamHandler(events[:2], cut)); !errors.Is(err, cut) {
		t.Fatal(err)
	}
	if o := rec.outcomes[0]; o.Answered || o.StreamedTokens == 0 || !errors.Is(o.Err, cut) || o.Model != "gpt-4.1" {
		t.Errorf("outcome of a cut stream = %+v, want an estimate of what was streamed", o)
	}

	// Refused at admission: the refusal comes out of RecvMsg and nothing
	// is settled.
	refusal := status.Error(codes.ResourceExhausted, "slow down")
	rec = &recorder{refuse: refusal}
	icpt = chatcall.StreamServerInterceptor(rec.admit)
	ss = &calltest.Stream{Ctx: context.Background(), Req: calltest.Request("gpt-4", "hi", 0)}
	if err := icpt(nil, ss, calltest.StreamInfo, calltest.StreamHandler(events, nil)); !errors.Is(err, refusal) {
		t.Errorf("refused stream = %v, want the refusal", err)
	}
	if len(ss.Sent) != 0 || len(rec.outcomes) != 0 {
		t.Errorf("refused stream sent %d events and settled %d times", len(ss.Sent), len(rec.outcomes))
	}
}

func TestEstimatePromptTokens(t *testing.T) {
	req := calltest.Request("m", "hello world, how are you today?", 0)
	lreq := &llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "hello world, how are you today?"}}}
	if got, want := chatcall.EstimatePromptTokens(req), llm.EstimatePromptTokens(lreq); got != want {
		t.Errorf("EstimatePromptTokens = %d, want %d as llm estimates it", got, want)
	}
	prompt, completion := chatcall.EstimateTokens(req, 1024)
	if prompt <= 0 || completion != 1024 {
		t.Errorf("EstimateTokens without max_tokens = %d, %d; want the default completion", prompt, completion)
	}
	if _, completion := chatcall.EstimateTokens(calltest.Request("m", "x", 50), 1024); completion != 50 {
		t.Errorf("EstimateTokens with max_tokens 50 = %d", completion)
	}
}

func TestUpstreamModelOfTheAnsweringAttempt(t *testing.T) {
	route := &pb.Route{Attempts: []*pb.RouteAttempt{
		{Provider: "a", UpstreamModel: "a-1", Outcome: "error"},
		{Provider: "b", UpstreamModel: "b-2", Outcome: "skipped"},
		{Provider: "b", UpstreamModel: "b-1", Outcome: "ok"},
		{Provider: "c", UpstreamModel: "c-1", Outcome: "hedge_lost"},
	}}
	resp := calltest.Response("gpt-4.1", "b", 10, 5, 0.25)
	resp.Route = route
	rec := &recorder{}
	_, err := chatcall.UnaryServerInterceptor(rec.admit)(context.Background(), calltest.Request("gpt-4", "hi", 0), calltest.ChatInfo,
		func(context.Context, any) (any, error) { return resp, nil })
	if err != nil {
		t.Fatal(err)
	}
	if got := rec.outcomes[0].UpstreamModel; got != "b-1" {
		t.Errorf("unary UpstreamModel = %q, want b-1", got)
	}

	final := calltest.Final("gpt-4.1", "b", 7, 4, 0.1)
	final.GetFinal().Route = route
	rec = &recorder{}
	ss := &calltest.Stream{Ctx: context.Background(), Req: calltest.Request("gpt-4", "hi", 0)}
	if err := chatcall.StreamServerInterceptor(rec.admit)(nil, ss, calltest.StreamInfo,
		calltest.StreamHandler([]*pb.ChatStreamResponse{calltest.Delta("gpt-4.1", "hi"), final}, nil)); err != nil {
		t.Fatal(err)
	}
	if got := rec.outcomes[0].UpstreamModel; got != "b-1" {
		t.Errorf("stream UpstreamModel = %q, want b-1", got)
	}
}
