package accounting

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	pb "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
	"github.com/llmgateway/llmgateway/interceptors/auth"
	"github.com/llmgateway/llmgateway/interceptors/internal/chatcall"
	"github.com/llmgateway/llmgateway/interceptors/requestid"
	"github.com/llmgateway/llmgateway/ledger"
	"github.com/llmgateway/llmgateway/llm"
)

// SurfaceHeader is the metadata key by which the HTTP surfaces say they
// made a call: "rest" or "openai". Calls without it came over gRPC.
const SurfaceHeader = "x-llmgateway-surface"

// Recorder takes usage records without blocking; *ledger.Ledger is one.
type Recorder interface {
	Record(ledger.Record) bool
}

type options struct {
	resolve func(string) (string, bool)
	price   func(string) (llm.Pricing, bool)
	now     func() time.Time
}

// Option configures an Accountant.
type Option func(*options)

// WithResolver resolves the requested model to its canonical name for
// calls that no model answered. Default: the requested name is kept.
func WithResolver(resolve func(model string) (canonical string, ok bool)) Option {
	return func(o *options) { o.resolve = resolve }
}

// WithPricing prices the estimated usage of streams cut before their end.
// Default: such streams are recorded at cost 0.
func WithPricing(price func(model string) (llm.Pricing, bool)) Option {
	return func(o *options) { o.price = price }
}

// WithClock sets the clock. Default: time.Now.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// Accountant records chat calls. Create it with New.
type Accountant struct {
	rec  Recorder
	opts options
}

// New returns an Accountant that records to rec.
func New(rec Recorder, opts ...Option) *Accountant {
	o := options{
		resolve: func(string) (string, bool) { return "", false },
		price:   func(string) (llm.Pricing, bool) { return llm.Pricing{}, false },
		now:     time.Now,
	}
	for _, opt := range opts {
		opt(&o)
	}
	return &Accountant{rec: rec, opts: o}
}

// Surface returns the surface a call came in on: "rest", "openai" or
// "grpc".
func Surface(ctx context.Context) string {
	for _, v := range metadata.ValueFromIncomingContext(ctx, SurfaceHeader) {
		if v == "rest" || v == "openai" {
			return v
		}
	}
	return "grpc"
}

func (a *Accountant) admit(ctx context.Context, req *pb.ChatRequest, stream bool) (func(chatcall.Outcome), error) {
	start := a.opts.now()
	requestID, surface, requested := requestid.FromContext(ctx), Surface(ctx), req.GetModel()
	method := "chat"
	if stream {
		method = "chat_stream"
	}
	k, _ := auth.FromContext(ctx)
	// The record is built when the call ends, from what the closure
	// holds, so that it is not allocated apart from the closure.
	return func(out chatcall.Outcome) {
		r := ledger.Record{
			Time:           start,
			RequestID:      requestID,
			Surface:        surface,
			Method:         method,
			RequestedModel: requested,
		}
		if k != nil {
			r.KeyID, r.Labels = k.ID, k.Labels
		}
		r.Latency = a.opts.now().Sub(start)
		r.Status = chatcall.Code(out.Err).String()
		r.Model = out.Model
		if r.Model == "" {
			r.Model = r.RequestedModel
			if canonical, ok := a.opts.resolve(r.RequestedModel); ok {
				r.Model = canonical
			}
		}
		r.Provider, r.Attempts = out.Provider, out.Attempts
		if !out.FirstContent.IsZero() {
			r.TTFT = out.FirstContent.Sub(start)
		}
		switch {
		case out.Answered:
			r.Usage, r.CostUSD = out.Usage, out.CostUSD
		case out.StreamedTokens > 0:
			r.Usage = llm.Usage{PromptTokens: chatcall.EstimatePromptTokens(req), CompletionTokens: out.StreamedTokens}
			p, _ := a.opts.price(r.Model)
			r.CostUSD = p.Cost(r.Usage)
			r.Estimated = true
		}
		a.rec.Record(r)
	}, nil
}

// UnaryServerInterceptor records Chat calls.
func (a *Accountant) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return chatcall.UnaryServerInterceptor(a.admit)
}

// StreamServerInterceptor records ChatStream calls.
func (a *Accountant) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return chatcall.StreamServerInterceptor(a.admit)
}
