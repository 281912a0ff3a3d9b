package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"math"
	"strconv"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
	"github.com/llmgateway/llmgateway/llm"
	"github.com/llmgateway/llmgateway/routing"
	"github.com/llmgateway/llmgateway/surface/httperr"
)

// Response header metadata keys set on every Chat and ChatStream call.
const (
	HeaderProvider = "x-llmgateway-provider"
	HeaderModel    = "x-llmgateway-model"
)

// Server implements pb.LLMGatewayServiceServer on a routing.Router.
type Server struct {
	pb.UnimplementedLLMGatewayServiceServer

	opts  options
	idPfx string
	idSeq atomic.Uint64
}

var _ pb.LLMGatewayServiceServer = (*Server)(nil)

type options struct {
	logger *slog.Logger
	now    func() time.Time
	usage  UsageReader // GetUsage; see usage.go
	whoami Caller
	router RouterFunc
}

var defaultOptions = options{
	logger: slog.New(slog.DiscardHandler),
	now:    time.Now,
}

// Option configures a Server.
type Option func(*options)

// WithLogger sets the logger. Default: discard.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithClock sets the clock for response timestamps. Default: time.Now.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// RouterFunc returns the router that serves the call in ctx. It must not
// block and must not return nil.
type RouterFunc func(ctx context.Context) *routing.Router

// WithRouterFunc makes every call ask route for its router instead of
// using the one given to New, so that a config reload can put a new router
// in place while calls in flight finish on the one they started with.
// Default: the router given to New, for every call.
func WithRouterFunc(route RouterFunc) Option { return func(o *options) { o.router = route } }

// New returns a Server that routes with r, or with the router that the
// WithRouterFunc option returns for each call (r may then be nil).
func New(r *routing.Router, opts ...Option) *Server {
	o := defaultOptions
	o.router = func(context.Context) *routing.Router { return r }
	for _, opt := range opts {
		opt(&o)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	return &Server{opts: o, idPfx: "chatcmpl-" + hex.EncodeToString(b[:])}
}

func (s *Server) newID() string {
	return s.idPfx + strconv.FormatUint(s.idSeq.Add(1), 36)
}

// Chat implements pb.LLMGatewayServiceServer.
func (s *Server) Chat(ctx context.Context, req *pb.ChatRequest) (*pb.ChatResponse, error) {
	lreq, err := toLLM(req)
	if err != nil {
		return nil, err
	}
	res, err := s.opts.router(ctx).Chat(ctx, req.GetModel(), lreq)
	if err != nil {
		return nil, toStatus(s.opts.logger, err)
	}
	_ = grpc.SetHeader(ctx, metadata.Pairs(HeaderProvider, res.Deployment.Provider, HeaderModel, res.Model.Name))
	return &pb.ChatResponse{
		Id:            s.newID(),
		Model:         res.Model.Name,
		Provider:      res.Deployment.Provider,
		UpstreamModel: upstreamModel(res.Response.Model, res.Deployment.UpstreamModel),
		Message:       messageToPB(&res.Response.Message),
		FinishReason:  finishReason(res.Response.FinishReason),
		Usage:         usageToPB(res.Response.Usage),
		CostUsd:       res.Cost,
		Route:         routeToPB(&res.Route),
		Created:       timestamppb.New(s.opts.now()),
	}, nil
}

// ChatStream implements pb.LLMGatewayServiceServer. A failure after the
// first delta ends the stream with a final event whose finish reason is
// "error" (carrying the usage so far), then an Unavailable status.
func (s *Server) ChatStream(req *pb.ChatRequest, ss grpc.ServerStreamingServer[pb.ChatStreamResponse]) error {
	ctx := ss.Context()
	lreq, err := toLLM(req)
	if err != nil {
		return err
	}
	st, err := s.opts.router(ctx).ChatStream(ctx, req.GetModel(), lreq)
	if err != nil {
		return toStatus(s.opts.logger, err)
	}
	defer st.Close()
	id, model := s.newID(), st.Model().Name
	dep := st.Deployment()
	_ = ss.SetHeader(metadata.Pairs(HeaderProvider, dep.Provider, HeaderModel, model))

	var (
		finish   llm.FinishReason
		upModel  string
		toolCall bool
	)
	for {
		c, err := st.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			if ctx.Err() != nil {
				return toStatus(s.opts.logger, ctx.Err())
			}
			final := s.final(st, llm.FinishError, upModel)
			final.Error = "the upstream failed after the stream started; the content above is incomplete"
			if ue, ok := llm.AsUpstream(err); ok {
				final.Error += " (" + ue.Summary() + ")"
			}
			if serr := ss.Send(&pb.ChatStreamResponse{Id: id, Model: model, Event: &pb.ChatStreamResponse_Final{Final: final}}); serr != nil {
				return serr
			}
			return httperr.New(codes.Unavailable, httperr.ReasonUpstreamError,
				"upstream "+dep.Provider+" failed mid-stream for model \""+model+"\"", map[string]string{"model": model})
		}
		if c.Model != "" {
			upModel = c.Model
		}
		if c.FinishReason != "" {
			finish = c.FinishReason
		}
		if !c.HasContent() {
			continue
		}
		d := &pb.ChatDelta{Content: c.Content}
		for _, tc := range c.ToolCalls {
			toolCall = true
			d.ToolCalls = append(d.ToolCalls, &pb.ToolCallDelta{Index: int32(tc.Index), Id: tc.ID, Name: tc.Name, Arguments: tc.Arguments})
		}
		if err := ss.Send(&pb.ChatStreamResponse{Id: id, Model: model, Event: &pb.ChatStreamResponse_Delta{Delta: d}}); err != nil {
			return err
		}
	}
	if finish == "" {
		finish = llm.FinishStop
		if toolCall {
			finish = llm.FinishToolCalls
		}
	}
	return ss.Send(&pb.ChatStreamResponse{Id: id, Model: model, Event: &pb.ChatStreamResponse_Final{Final: s.final(st, finish, upModel)}})
}

func (s *Server) final(st *routing.Stream, finish llm.FinishReason, upModel string) *pb.ChatStreamFinal {
	u, _ := st.Usage()
	route := st.Route()
	return &pb.ChatStreamFinal{
		FinishReason:  string(finish),
		Usage:         usageToPB(u),
		CostUsd:       st.Cost(),
		Route:         routeToPB(&route),
		Provider:      st.Deployment().Provider,
		UpstreamModel: upstreamModel(upModel, st.Deployment().UpstreamModel),
		Created:       timestamppb.New(s.opts.now()),
	}
}

// ListModels implements pb.LLMGatewayServiceServer.
func (s *Server) ListModels(ctx context.Context, _ *pb.ListModelsRequest) (*pb.ListModelsResponse, error) {
	r := s.opts.router(ctx)
	models := r.Catalog().Models()
	out := &pb.ListModelsResponse{Models: make([]*pb.ModelInfo, 0, len(models))}
	for _, m := range models {
		info := &pb.ModelInfo{
			Name:    m.Name,
			Aliases: m.Aliases,
			Pricing: &pb.Pricing{
				InputPerMtok:       m.Pricing.InputPerMTok,
				OutputPerMtok:      m.Pricing.OutputPerMTok,
				CachedInputPerMtok: m.Pricing.CachedInputPerMTok,
				CacheWritePerMtok:  m.Pricing.CacheWritePerMTok,
				ReasoningPerMtok:   m.Pricing.ReasoningPerMTok,
			},
		}
		seen := map[string]bool{}
		for _, d := range m.Deployments {
			if !seen[d.Provider] {
				seen[d.Provider] = true
				info.Providers = append(info.Providers, d.Provider)
			}
		}
		out.Models = append(out.Models, info)
	}
	for _, v := range r.VirtualModels() {
		out.Models = append(out.Models, &pb.ModelInfo{Name: v.Name, Virtual: true})
	}
	return out, nil
}

func upstreamModel(reported, configured string) string {
	if reported != "" {
		return reported
	}
	return configured
}

func finishReason(f llm.FinishReason) string {
	if f == "" {
		return string(llm.FinishStop)
	}
	return string(f)
}

func messageToPB(m *llm.Message) *pb.Message {
	out := &pb.Message{Role: string(llm.RoleAssistant), Content: m.Content}
	for _, tc := range m.ToolCalls {
		out.ToolCalls = append(out.ToolCalls, &pb.ToolCall{Id: tc.ID, Type: "function", Function: &pb.FunctionCall{Name: tc.Name, Arguments: tc.Arguments}})
	}
	return out
}

func usageToPB(u llm.Usage) *pb.Usage {
	return &pb.Usage{
		PromptTokens:     clamp32(u.PromptTokens),
		CompletionTokens: clamp32(u.CompletionTokens),
		TotalTokens:      clamp32(u.Total()),
		CachedTokens:     clamp32(u.CachedTokens),
		ReasoningTokens:  clamp32(u.ReasoningTokens),
		CacheWriteTokens: clamp32(u.CacheWriteTokens),
	}
}

func routeToPB(r *routing.Route) *pb.Route {
	out := &pb.Route{
		RequestedModel: r.Requested,
		ResolvedModel:  r.Resolved,
		Strategy:       r.Strategy,
		Tier:           r.Tier,
		Rule:           r.Rule,
		Attempts:       make([]*pb.RouteAttempt, len(r.Attempts)),
	}
	for i, a := range r.Attempts {
		out.Attempts[i] = &pb.RouteAttempt{
			Provider:      a.Provider,
			Model:         a.Model,
			UpstreamModel: a.UpstreamModel,
			Outcome:       string(a.Outcome),
			Latency:       durationpb.New(a.Latency),
			Reason:        a.Reason,
			Error:         a.Error,
			StatusCode:    int32(a.StatusCode),
		}
	}
	return out
}

// clamp32 narrows a token count of one response to the contract's int32;
// no real response comes near the bound.
func clamp32(n int64) int32 {
	if n > math.MaxInt32 {
		return math.MaxInt32
	}
	return int32(n)
}
