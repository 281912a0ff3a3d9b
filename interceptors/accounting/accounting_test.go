package accounting

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
	"github.com/llmgateway/llmgateway/interceptors/auth"
	"github.com/llmgateway/llmgateway/interceptors/internal/calltest"
	"github.com/llmgateway/llmgateway/interceptors/internal/chatcall"
	"github.com/llmgateway/llmgateway/interceptors/requestid"
	"github.com/llmgateway/llmgateway/ledger"
	"github.com/llmgateway/llmgateway/llm"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type recorder struct {
	mu      sync.Mutex
	records []ledger.Record
}

func (r *recorder) Record(rec ledger.Record) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, rec)
	return true
}

// clock advances by a second each time it is read.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Second)
	return c.now
}

func newAccountant(rec *recorder) *Accountant {
	clk := &clock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	return New(rec,
		WithResolver(func(m string) (string, bool) {
			if m == "gpt-4" {
				return "gpt-4.1", true
			}
			return "", false
		}),
		WithPricing(func(string) (llm.Pricing, bool) { return llm.Pricing{InputPerMTok: 2, OutputPerMTok: 8}, true }),
		WithClock(clk.Now))
}

func callCtx(surface string) context.Context {
	ctx := context.Background()
	if surface != "" {
		ctx = metadata.NewIncomingContext(ctx, metadata.Pairs(SurfaceHeader, surface))
	}
	ctx = requestid.NewContext(ctx, "req-1")
	return auth.NewContext(ctx, &auth.Key{ID: "cs_bot", Labels: map[string]string{"team": "cs"}})
}

func TestUnary(t *testing.T) {
	tests := []struct {
		name    string
		surface string
		handler func(context.Context, any) (any, error)
		want    ledger.Record
	}{
		{"answered over REST", "rest", func(context.Context, any) (any, error) {
			return calltest.Response("gpt-4.1", "openai", 10, 5, 0.25), nil
		}, ledger.Record{Surface: "rest", Model: "gpt-4.1", Provider: "openai", Attempts: 1,
			Usage: llm.Usage{PromptTokens: 10, CompletionTokens: 5}, CostUSD: 0.25, Status: "OK"}},
		{"refused over OpenAI", "openai", func(context.Context, any) (any, error) {
			return nil, status.Error(codes.ResourceExhausted, "rpm")
		}, ledger.Record{Surface: "openai", Model: "gpt-4.1", Status: "ResourceExhausted"}},
		{"cancelled over gRPC", "", func(context.Context, any) (any, error) {
			return nil, context.Canceled
		}, ledger.Record{Surface: "grpc", Model: "gpt-4.1", Status: "Canceled"}},
		{"spoofed surface", "mainframe", func(context.Context, any) (any, error) {
			return nil, status.Error(codes.Internal, "x")
		}, ledger.Record{Surface: "grpc", Model: "gpt-4.1", Status: "Internal"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			_, _ = newAccountant(rec).UnaryServerInterceptor()(callCtx(tt.surface), calltest.Request("gpt-4", "hi", 0), calltest.ChatInfo, tt.handler)
			if len(rec.records) != 1 {
				t.Fatalf("%d records, want 1", len(rec.records))
			}
			got := rec.records[0]
			want := tt.want
			want.Time, want.RequestID, want.KeyID, want.Labels = time.Date(2025, 1, 1, 0, 0, 1, 0, time.UTC), "req-1", "cs_bot", map[string]string{"team": "cs"}
			want.Method, want.RequestedModel, want.Latency = "chat", "gpt-4", time.Second
			if got.Time != want.Time || got.RequestID != want.RequestID || got.KeyID != want.KeyID || got.Labels["team"] != "cs" ||
				got.Surface != want.Surface || got.Method != want.Method || got.RequestedModel != want.RequestedModel ||
				got.Model != want.Model || got.Provider != want.Provider || got.Attempts != want.Attempts || got.Usage != want.Usage ||
				got.CostUSD != want.CostUSD || got.Latency != want.Latency || got.Status != want.Status || got.Estimated {
				t.Errorf("record = %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestStream(t *testing.T) {
	rec := &recorder{}
	a := newAccountant(rec)
	text := strings.Repeat("abcd", 25) // 25 tokens
	ss := &calltest.Stream{Ctx: callCtx(""), Req: calltest.Request("gpt-4", "hi", 0)}
	_ = a.StreamServerInterceptor()(nil, ss, calltest.StreamInfo, calltest.StreamHandler(
		[]*pb.ChatStreamResponse{calltest.Delta("gpt-4.1", text)}, status.Error(codes.Canceled, "gone")))
	ss = &calltest.Stream{Ctx: callCtx("openai"), Req: calltest.Request("gpt-4", "hi", 0)}
	_ = a.StreamServerInterceptor()(nil, ss, calltest.StreamInfo, calltest.StreamHandler(
		[]*pb.ChatStreamResponse{calltest.Delta("gpt-4.1", "hi"), calltest.Final("gpt-4.1", "openai", 3, 1, 0.01)}, nil))
	if len(rec.records) != 2 {
		t.Fatalf("%d records, want 2", len(rec.records))
	}
	cut, whole := rec.records[0], rec.records[1]
	prompt := chatcall.EstimatePromptTokens(calltest.Request("gpt-4", "hi", 0))
	wantCost := llm.Pricing{InputPerMTok: 2, OutputPerMTok: 8}.Cost(llm.Usage{PromptTokens: prompt, CompletionTokens: 25})
	if cut.Method != "chat_stream" || cut.Status != "Canceled" || !cut.Estimated || cut.Usage.CompletionTokens != 25 ||
		cut.CostUSD != wantCost || cut.TTFT <= 0 || cut.Model != "gpt-4.1" {
		t.Errorf("cut stream record = %+v, want an estimate of 25 tokens at $%v", cut, wantCost)
	}
	if whole.Status != "OK" || whole.Estimated || whole.Usage.Total() != 4 || whole.CostUSD != 0.01 || whole.Provider != "openai" || whole.Surface != "openai" {
		t.Errorf("stream record = %+v", whole)
	}
}
