package observe

import (
	"cmp"
	"context"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
	"github.com/llmgateway/llmgateway/interceptors/accounting"
	"github.com/llmgateway/llmgateway/interceptors/auth"
	"github.com/llmgateway/llmgateway/interceptors/internal/chatcall"
	"github.com/llmgateway/llmgateway/llm"
	"github.com/llmgateway/llmgateway/surface/httperr"
)

// Call is one chat call as the gateway saw it.
type Call struct {
	// Surface is where the call came in: "grpc", "rest" or "openai".
	Surface string
	// Stream reports a ChatStream call.
	Stream bool
	// Key is the caller's key; nil when the gateway runs open.
	Key *auth.Key
	// Start is when the call started.
	Start time.Time

	// Requested is the model as the caller named it; "" until the
	// request was read (a stream that ended before it sent one).
	Requested string
	// RequestModel is the model or virtual model Requested names, by its
	// canonical name; "" when it names none.
	RequestModel string

	// The rest is set when the call ends.

	// Code is the status the call ended with.
	Code codes.Code
	// Err is the error the call ended with; nil on success.
	Err error
	// Reason and Limit are the ErrorInfo reason (like RATE_LIMITED or
	// BUDGET_EXCEEDED) and its "limit" metadata (like rpm or daily_usd)
	// of a ResourceExhausted refusal; "" otherwise.
	Reason, Limit string
	// Model is the model that answered (a stream names it with its first
	// content), and Provider and UpstreamModel the deployment (known once
	// a response or a stream's final event was sent); "" when unknown.
	Model, Provider, UpstreamModel string
	// Answered reports that a response or a stream's final event was
	// sent: Usage and CostUSD are the upstream's. Otherwise, for a stream
	// cut before its end, they are estimates of what was streamed (the
	// prompt estimated from the request, the price from WithPricing), and
	// Estimated is set.
	Answered  bool
	Usage     llm.Usage
	CostUSD   float64
	Estimated bool
	// Attempts counts the upstream attempts routing made.
	Attempts int
	// Latency is the call's duration; TTFT is the time to its first
	// streamed content, 0 when none was streamed.
	Latency time.Duration
	TTFT    time.Duration
}

// Observer is told of chat calls. Its methods run on the call's
// goroutine, on the request path: they must be quick and must not block.
type Observer interface {
	// Begin is called as a chat call starts, before its request is read
	// for a stream; the context it returns is the call's from then on.
	Begin(ctx context.Context, c *Call) context.Context
	// End is called exactly once per Begin, with the context Begin
	// returned, when the call has ended and c is complete.
	End(ctx context.Context, c *Call)
}

type options struct {
	resolve func(string) (string, bool)
	price   func(string) (llm.Pricing, bool)
	now     func() time.Time
}

// Option configures the interceptors.
type Option func(*options)

// WithResolver sets how a requested model name becomes Call.RequestModel:
// the canonical name of a model, alias or virtual model, false for an
// unknown name. Default: every name is unknown.
func WithResolver(resolve func(model string) (canonical string, ok bool)) Option {
	return func(o *options) { o.resolve = resolve }
}

// WithPricing prices the estimated usage of streams cut before their end,
// as the usage ledger does. Default: such streams cost 0.
func WithPricing(price func(model string) (llm.Pricing, bool)) Option {
	return func(o *options) { o.price = price }
}

// WithClock sets the clock. Default: time.Now.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// Interceptor reports chat calls to an Observer. Create it with New.
type Interceptor struct {
	obs  Observer
	opts options
}

// New returns an Interceptor reporting to obs.
func New(obs Observer, opts ...Option) *Interceptor {
	o := options{
		resolve: func(string) (string, bool) { return "", false },
		price:   func(string) (llm.Pricing, bool) { return llm.Pricing{}, false },
		now:     time.Now,
	}
	for _, opt := range opts {
		opt(&o)
	}
	return &Interceptor{obs: obs, opts: o}
}

// begin starts c's observation.
func (i *Interceptor) begin(ctx context.Context, stream bool) (context.Context, *Call) {
	c := &Call{Surface: accounting.Surface(ctx), Stream: stream, Start: i.opts.now()}
	if k, ok := auth.FromContext(ctx); ok {
		c.Key = k
	}
	return i.obs.Begin(ctx, c), c
}

// admit learns the request; it never refuses.
func (i *Interceptor) admit(c *Call) chatcall.Admit {
	return func(_ context.Context, req *pb.ChatRequest, _ bool) (func(chatcall.Outcome), error) {
		i.learn(c, req)
		return func(out chatcall.Outcome) { i.settle(c, req, out) }, nil
	}
}

// learn fills c from its request.
func (i *Interceptor) learn(c *Call, req *pb.ChatRequest) {
	c.Requested = req.GetModel()
	c.RequestModel, _ = i.opts.resolve(c.Requested)
}

// settle fills c from the outcome of the call of req.
func (i *Interceptor) settle(c *Call, req *pb.ChatRequest, out chatcall.Outcome) {
	c.Model, c.Provider, c.UpstreamModel = out.Model, out.Provider, out.UpstreamModel
	c.Answered, c.Attempts = out.Answered, out.Attempts
	switch {
	case out.Answered:
		c.Usage, c.CostUSD = out.Usage, out.CostUSD
	case out.StreamedTokens > 0:
		c.Usage = llm.Usage{PromptTokens: chatcall.EstimatePromptTokens(req), CompletionTokens: out.StreamedTokens}
		p, _ := i.opts.price(cmp.Or(c.Model, c.RequestModel))
		c.CostUSD = p.Cost(c.Usage)
		c.Estimated = true
	}
	if !out.FirstContent.IsZero() {
		c.TTFT = out.FirstContent.Sub(c.Start)
	}
}

// end completes c with err and reports it.
func (i *Interceptor) end(ctx context.Context, c *Call, err error) {
	c.Latency = i.opts.now().Sub(c.Start)
	c.Err = err
	c.Code = chatcall.Code(err)
	if c.Code == codes.ResourceExhausted {
		c.Reason, c.Limit = refusal(err)
	}
	i.obs.End(ctx, c)
}

// refusal returns the reason and limit of a gateway refusal.
func refusal(err error) (reason, limit string) {
	st, ok := status.FromError(err)
	if !ok {
		return "", ""
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == httperr.Domain {
			return info.GetReason(), info.GetMetadata()["limit"]
		}
	}
	return "", ""
}

// UnaryServerInterceptor observes Chat calls; other methods pass.
func (i *Interceptor) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		if info.FullMethod != chatcall.MethodChat {
			return handler(ctx, req)
		}
		ctx, c := i.begin(ctx, false)
		// What chatcall.UnaryServerInterceptor(i.admit(c)) does, without
		// making the interceptor and its closures on every call.
		creq, isChat := req.(*pb.ChatRequest)
		settled := !isChat
		defer func() {
			if p := recover(); p != nil {
				if !settled {
					i.settle(c, creq, chatcall.Outcome{Err: chatcall.ErrAborted})
				}
				i.end(ctx, c, status.Error(codes.Internal, "internal error"))
				panic(p)
			}
			i.end(ctx, c, err)
		}()
		if !isChat {
			return handler(ctx, req)
		}
		i.learn(c, creq)
		resp, err = handler(ctx, req)
		settled = true
		i.settle(c, creq, chatcall.UnaryOutcome(resp, err))
		return resp, err
	}
}

// StreamServerInterceptor observes ChatStream calls; other methods pass.
func (i *Interceptor) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
		if info.FullMethod != chatcall.MethodChatStream {
			return handler(srv, ss)
		}
		ctx, c := i.begin(ss.Context(), true)
		defer func() {
			if p := recover(); p != nil {
				i.end(ctx, c, status.Error(codes.Internal, "internal error"))
				panic(p)
			}
			i.end(ctx, c, err)
		}()
		return chatcall.StreamServerInterceptor(i.admit(c))(srv, &stream{ServerStream: ss, ctx: ctx}, info, handler)
	}
}

type stream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *stream) Context() context.Context { return s.ctx }

// Observers is an Observer that tells each of its members in turn: each
// Begin gets the context the one before returned, and every End the last
// one's.
type Observers []Observer

// Begin implements Observer.
func (os Observers) Begin(ctx context.Context, c *Call) context.Context {
	for _, o := range os {
		ctx = o.Begin(ctx, c)
	}
	return ctx
}

// End implements Observer.
func (os Observers) End(ctx context.Context, c *Call) {
	for _, o := range os {
		o.End(ctx, c)
	}
}
