package calltest

import (
	"context"
	"io"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	pb "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
	"github.com/llmgateway/llmgateway/interceptors/internal/chatcall"
)

// The call infos of the chat methods.
var (
	ChatInfo   = &grpc.UnaryServerInfo{FullMethod: chatcall.MethodChat}
	StreamInfo = &grpc.StreamServerInfo{FullMethod: chatcall.MethodChatStream, IsServerStream: true}
)

// Stream is a grpc.ServerStream that delivers Req once and records what
// is sent.
type Stream struct {
	Ctx context.Context
	Req *pb.ChatRequest

	mu     sync.Mutex
	recvd  bool
	Sent   []*pb.ChatStreamResponse
	Header metadata.MD
}

var _ grpc.ServerStream = (*Stream)(nil)

// Context implements grpc.ServerStream.
func (s *Stream) Context() context.Context { return s.Ctx }

// RecvMsg implements grpc.ServerStream: the request once, then io.EOF.
func (s *Stream) RecvMsg(m any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.recvd {
		return io.EOF
	}
	s.recvd = true
	proto.Merge(m.(proto.Message), s.Req)
	return nil
}

// SendMsg implements grpc.ServerStream.
func (s *Stream) SendMsg(m any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Sent = append(s.Sent, m.(*pb.ChatStreamResponse))
	return nil
}

// SetHeader implements grpc.ServerStream.
func (s *Stream) SetHeader(md metadata.MD) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Header = metadata.Join(s.Header, md)
	return nil
}

// SendHeader implements grpc.ServerStream.
func (s *Stream) SendHeader(md metadata.MD) error { return s.SetHeader(md) }

// SetTrailer implements grpc.ServerStream.
func (s *Stream) SetTrailer(metadata.MD) {}

// StreamHandler returns a ChatStream handler that receives the request,
// sends events and returns err.
func StreamHandler(events []*pb.ChatStreamResponse, err error) grpc.StreamHandler {
	return func(_ any, ss grpc.ServerStream) error {
		req := new(pb.ChatRequest)
		if rerr := ss.RecvMsg(req); rerr != nil {
			return rerr
		}
		for _, ev := range events {
			if serr := ss.SendMsg(ev); serr != nil {
				return serr
			}
		}
		return err
	}
}

// Delta is a stream event with text.
func Delta(model, text string) *pb.ChatStreamResponse {
	return &pb.ChatStreamResponse{Model: model, Event: &pb.ChatStreamResponse_Delta{Delta: &pb.ChatDelta{Content: text}}}
}

// Final is a stream's final event.
func Final(model, provider string, prompt, completion int32, cost float64) *pb.ChatStreamResponse {
	return &pb.ChatStreamResponse{Model: model, Event: &pb.ChatStreamResponse_Final{Final: &pb.ChatStreamFinal{
		FinishReason: "stop",
		Usage:        &pb.Usage{PromptTokens: prompt, CompletionTokens: completion, TotalTokens: prompt + completion},
		CostUsd:      cost,
		Provider:     provider,
		Route:        &pb.Route{Attempts: []*pb.RouteAttempt{{Provider: provider, Outcome: "ok"}}},
	}}}
}

// Response is a unary chat response.
func Response(model, provider string, prompt, completion int32, cost float64) *pb.ChatResponse {
	return &pb.ChatResponse{
		Model:    model,
		Provider: provider,
		Usage:    &pb.Usage{PromptTokens: prompt, CompletionTokens: completion, TotalTokens: prompt + completion},
		CostUsd:  cost,
		Route:    &pb.Route{Attempts: []*pb.RouteAttempt{{Provider: provider, Outcome: "ok"}}},
	}
}

// Request is a chat request for model with one user message and
// maxTokens (none when 0).
func Request(model, content string, maxTokens int32) *pb.ChatRequest {
	r := &pb.ChatRequest{Model: model, Messages: []*pb.Message{{Role: "user", Content: content}}}
	if maxTokens > 0 {
		r.MaxTokens = &maxTokens
	}
	return r
}
