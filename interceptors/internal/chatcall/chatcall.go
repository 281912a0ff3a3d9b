package chatcall

import (
	"context"
	"errors"
	"sync"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
	"github.com/llmgateway/llmgateway/llm"
	"github.com/llmgateway/llmgateway/surface/httperr"
)

// Full method names of the chat RPCs and the service.
const (
	Service          = "llmgateway.v1.LLMGatewayService"
	MethodChat       = "/" + Service + "/Chat"
	MethodChatStream = "/" + Service + "/ChatStream"
	MethodListModels = "/" + Service + "/ListModels"
	MethodGetUsage   = "/" + Service + "/GetUsage"
)

// Outcome is how an admitted chat call ended.
type Outcome struct {
	// Err is the error the call ended with; nil on success.
	Err error
	// Answered reports whether a response (unary) or a final event
	// (stream) was produced; Usage, CostUSD, Provider and Attempts are
	// set only then. A stream that failed after content can be both
	// answered and failed.
	Answered bool
	Usage    llm.Usage
	CostUSD  float64
	Provider string
	Attempts int
	// Model is the gateway model that answered, when known (a stream
	// names it on every event, even before its end).
	Model string
	// UpstreamModel is the answering deployment's model name at its
	// provider, as configured; set with Provider.
	UpstreamModel string
	// StreamedTokens estimates the completion tokens streamed before the
	// stream ended without a final event (cancelled or cut).
	StreamedTokens int64
	// FirstContent is when the first streamed content was sent; zero when
	// none was (and for unary calls).
	FirstContent time.Time
}

// Admit decides whether a chat call may go ahead. On refusal it returns
// the status error the caller gets. Otherwise it returns done, which is
// called exactly once with the call's outcome (done may be nil when
// nothing needs settling).
type Admit func(ctx context.Context, req *pb.ChatRequest, stream bool) (done func(Outcome), err error)

// IsChat reports whether fullMethod is Chat or ChatStream.
func IsChat(fullMethod string) bool {
	return fullMethod == MethodChat || fullMethod == MethodChatStream
}

// ErrAborted is the outcome of a handler that panicked.
var ErrAborted = status.Error(codes.Internal, "internal error")

// UnaryServerInterceptor runs admit on Chat calls; other methods pass.
func UnaryServerInterceptor(admit Admit) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		creq, ok := req.(*pb.ChatRequest)
		if !ok || info.FullMethod != MethodChat {
			return handler(ctx, req)
		}
		done, err := admit(ctx, creq, false)
		if err != nil {
			return nil, err
		}
		if done == nil {
			return handler(ctx, req)
		}
		finished := false
		defer func() {
			if !finished { // the handler panicked
				done(Outcome{Err: ErrAborted})
			}
		}()
		resp, err := handler(ctx, req)
		finished = true
		done(UnaryOutcome(resp, err))
		return resp, err
	}
}

// UnaryOutcome is the outcome of a Chat call whose handler returned resp
// and err.
func UnaryOutcome(resp any, err error) Outcome {
	out := Outcome{Err: err}
	r, ok := resp.(*pb.ChatResponse)
	if err != nil || !ok || r == nil {
		return out
	}
	out.Answered = true
	out.Usage = FromPB(r.GetUsage())
	out.CostUSD = r.GetCostUsd()
	out.Provider = r.GetProvider()
	out.Model = r.GetModel()
	out.Attempts = len(r.GetRoute().GetAttempts())
	out.UpstreamModel = answering(r.GetRoute(), out.Provider)
	return out
}

// answering returns the configured upstream model of the attempt on
// provider that answered: the last one tried there.
func answering(r *pb.Route, provider string) string {
	atts := r.GetAttempts()
	for i := len(atts) - 1; i >= 0; i-- {
		if a := atts[i]; a.GetProvider() == provider && a.GetOutcome() != "skipped" {
			return a.GetUpstreamModel()
		}
	}
	return ""
}

// FromPB converts the contract's usage to the domain's.
func FromPB(u *pb.Usage) llm.Usage {
	return llm.Usage{
		PromptTokens:     int64(u.GetPromptTokens()),
		CompletionTokens: int64(u.GetCompletionTokens()),
		CachedTokens:     int64(u.GetCachedTokens()),
		ReasoningTokens:  int64(u.GetReasoningTokens()),
		CacheWriteTokens: int64(u.GetCacheWriteTokens()),
	}
}

// StreamServerInterceptor runs admit on ChatStream calls, when the handler
// receives the request; other methods pass.
func StreamServerInterceptor(admit Admit) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if info.FullMethod != MethodChatStream {
			return handler(srv, ss)
		}
		w := &stream{ServerStream: ss, admit: admit}
		finished := false
		defer func() {
			if !finished {
				w.finish(ErrAborted)
			}
		}()
		err := handler(srv, w)
		finished = true
		w.finish(err)
		return err
	}
}

// stream wraps a ChatStream's server stream: it admits the call on the
// first received message and watches the events sent.
type stream struct {
	grpc.ServerStream
	admit Admit

	mu       sync.Mutex // Send and Recv may run on different goroutines
	admitted bool
	done     func(Outcome)
	out      Outcome
	streamed int64
}

func (s *stream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	req, ok := m.(*pb.ChatRequest)
	s.mu.Lock()
	first := !s.admitted
	s.admitted = true
	s.mu.Unlock()
	if !ok || !first {
		return nil
	}
	done, err := s.admit(context.WithValue(s.Context(), streamKey{}, s.ServerStream), req, true)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.done = done
	s.mu.Unlock()
	return nil
}

func (s *stream) SendMsg(m any) error {
	ev, ok := m.(*pb.ChatStreamResponse)
	if ok {
		s.observe(ev)
	}
	return s.ServerStream.SendMsg(m)
}

func (s *stream) observe(ev *pb.ChatStreamResponse) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ev.GetModel() != "" {
		s.out.Model = ev.GetModel()
	}
	if d := ev.GetDelta(); d != nil {
		if s.out.FirstContent.IsZero() {
			s.out.FirstContent = time.Now()
		}
		s.streamed += llm.EstimateTokens(d.GetContent())
		for _, tc := range d.GetToolCalls() {
			s.streamed += llm.EstimateTokens(tc.GetName()) + llm.EstimateTokens(tc.GetArguments())
		}
	}
	if f := ev.GetFinal(); f != nil {
		s.out.Answered = true
		s.out.Usage = FromPB(f.GetUsage())
		s.out.CostUSD = f.GetCostUsd()
		s.out.Provider = f.GetProvider()
		s.out.Attempts = len(f.GetRoute().GetAttempts())
		s.out.UpstreamModel = answering(f.GetRoute(), s.out.Provider)
	}
}

type streamKey struct{}

// SetHeader sets response header metadata of the call in ctx, which may
// be a unary call's or the context a stream's Admit got.
func SetHeader(ctx context.Context, md metadata.MD) {
	if ss, ok := ctx.Value(streamKey{}).(grpc.ServerStream); ok {
		_ = ss.SetHeader(md)
		return
	}
	_ = grpc.SetHeader(ctx, md)
}

// finish reports the outcome once, if the call was admitted.
func (s *stream) finish(err error) {
	s.mu.Lock()
	done := s.done
	s.done = nil
	out := s.out
	if !out.Answered {
		out.StreamedTokens = s.streamed
	}
	s.mu.Unlock()
	if done == nil {
		return
	}
	out.Err = err
	done(out)
}

// EstimatePromptTokens estimates the input tokens of req the way
// llm.EstimatePromptTokens does for the domain request, straight from the
// contract's messages.
func EstimatePromptTokens(req *pb.ChatRequest) int64 {
	const perMessage = 4
	var n int64
	for _, m := range req.GetMessages() {
		n += perMessage + llm.EstimateTokens(m.GetContent()) + llm.EstimateTokens(m.GetName())
		for _, tc := range m.GetToolCalls() {
			n += llm.EstimateTokens(tc.GetFunction().GetName()) + llm.EstimateTokens(tc.GetFunction().GetArguments())
		}
	}
	for _, t := range req.GetTools() {
		fn := t.GetFunction()
		n += llm.EstimateTokens(fn.GetName()) + llm.EstimateTokens(fn.GetDescription())
		if p := fn.GetParameters(); p != nil {
			// About four bytes of JSON schema per token; the wire size is
			// close to the JSON size and costs no encoding.
			n += int64(proto.Size(p)+3) / 4
		}
	}
	return n + 3
}

// EstimateTokens returns the tokens to reserve for req before it runs:
// its estimated prompt plus its max_tokens, or defaultMax when it sets
// none.
func EstimateTokens(req *pb.ChatRequest, defaultMax int64) (prompt, completion int64) {
	completion = defaultMax
	if req.MaxTokens != nil && req.GetMaxTokens() > 0 {
		completion = int64(req.GetMaxTokens())
	}
	return EstimatePromptTokens(req), completion
}

// StateError is the status for a failed shared-state operation: the
// caller's own cancellation or deadline as such, anything else (the state
// is unreachable and fails closed) as Unavailable.
func StateError(err error, what string) error {
	switch {
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "request cancelled by the client")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "the request's deadline passed while checking "+what)
	}
	return status.Error(codes.Unavailable, what+" cannot be checked right now (shared state unreachable); retry shortly")
}

// RateLimited is the status for a limit the caller hit: ResourceExhausted
// with an ErrorInfo (reason RATE_LIMITED, metadata limit) and a RetryInfo,
// which both HTTP surfaces turn into 429 and Retry-After.
func RateLimited(msg, limit string, retryAfter time.Duration) error {
	st := status.New(codes.ResourceExhausted, msg)
	retryAfter = max(retryAfter, time.Millisecond)
	if ds, err := st.WithDetails(
		&errdetails.ErrorInfo{Reason: httperr.ReasonRateLimited, Domain: httperr.Domain, Metadata: map[string]string{"limit": limit}},
		&errdetails.RetryInfo{RetryDelay: durationpb.New(retryAfter)},
	); err == nil {
		st = ds
	}
	return st.Err()
}

// Code returns the gRPC code of a call's error, reading context errors
// as the codes they stand for.
func Code(err error) codes.Code {
	if err == nil {
		return codes.OK
	}
	if st, ok := status.FromError(err); ok {
		return st.Code()
	}
	return status.FromContextError(err).Code()
}

// Detached returns a context for settling after the call: the call's
// values without its cancellation, since a client that went away must
// still be charged.
func Detached(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }
