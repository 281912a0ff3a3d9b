package app

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"

	pb "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
)

// echoService answers Chat with the request's model and streams one delta
// per message, then fails with the status named by the model when it
// starts with "fail:", or returns a plain error for "plain".
type echoService struct {
	pb.UnimplementedLLMGatewayServiceServer
}

func (echoService) Chat(ctx context.Context, req *pb.ChatRequest) (*pb.ChatResponse, error) {
	if err := grpc.SetHeader(ctx, metadata.Pairs("x-method", grpc.ServerTransportStreamFromContext(ctx).Method())); err != nil {
		return nil, err
	}
	if err := grpc.SetTrailer(ctx, metadata.Pairs("x-cost", "0.5")); err != nil {
		return nil, err
	}
	switch req.GetModel() {
	case "fail":
		return nil, status.Error(codes.ResourceExhausted, "over the limit")
	case "plain":
		return nil, errors.New("plain failure")
	case "deadline":
		<-ctx.Done()
		return nil, ctx.Err()
	}
	md, _ := metadata.FromIncomingContext(ctx)
	return &pb.ChatResponse{Id: "resp-1", Model: req.GetModel() + "/" + firstOf(md["authorization"])}, nil
}

func (echoService) ChatStream(req *pb.ChatRequest, ss grpc.ServerStreamingServer[pb.ChatStreamResponse]) error {
	if err := ss.SetHeader(metadata.Pairs("x-model", req.GetModel())); err != nil {
		return err
	}
	for _, m := range req.GetMessages() {
		if err := ss.Send(&pb.ChatStreamResponse{Model: req.GetModel(), Event: &pb.ChatStreamResponse_Delta{Delta: &pb.ChatDelta{Content: m.GetContent()}}}); err != nil {
			return err
		}
	}
	ss.SetTrailer(metadata.Pairs("x-done", "yes"))
	if req.GetModel() == "fail" {
		return status.Error(codes.Unavailable, "upstream gone")
	}
	if req.GetModel() == "hang" {
		<-ss.Context().Done()
		return ss.Context().Err()
	}
	return nil
}

func firstOf(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

// recordingStats records the stats events of one side.
type recordingStats struct {
	mu     sync.Mutex
	events []string
}

func (r *recordingStats) TagRPC(ctx context.Context, info *stats.RPCTagInfo) context.Context {
	r.add("tag " + info.FullMethodName)
	return ctx
}

func (r *recordingStats) HandleRPC(_ context.Context, s stats.RPCStats) {
	switch s := s.(type) {
	case *stats.Begin:
		r.add("begin")
	case *stats.End:
		r.add("end " + status.Code(s.Error).String())
	}
}

func (r *recordingStats) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}
func (r *recordingStats) HandleConn(context.Context, stats.ConnStats) {}

func (r *recordingStats) add(e string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recordingStats) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.events...)
}

// newTestInproc returns a channel to echoService through one unary and one
// stream interceptor that record the methods they saw.
func newTestInproc(client, server stats.Handler) (*inproc, *[]string) {
	var (
		mu   sync.Mutex
		seen []string
	)
	note := func(m string) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, m)
	}
	unary := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		note("unary " + info.FullMethod)
		return h(ctx, req)
	}
	stream := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		note("stream " + info.FullMethod)
		return h(srv, ss)
	}
	return newInproc(&pb.LLMGatewayService_ServiceDesc, echoService{}, unary, stream, client, server), &seen
}

func TestInprocUnary(t *testing.T) {
	cs, ss := &recordingStats{}, &recordingStats{}
	ch, seen := newTestInproc(cs, ss)
	c := pb.NewLLMGatewayServiceClient(ch)
	ctx := metadata.AppendToOutgoingContext(tctx(t), "Authorization", "Bearer sk-1")
	var header, trailer metadata.MD
	resp, err := c.Chat(ctx, &pb.ChatRequest{Model: "m"}, grpc.Header(&header), grpc.Trailer(&trailer))
	if err != nil {
		t.Fatalf("Chat() = %v", err)
	}
	if diff := cmp.Diff(&pb.ChatResponse{Id: "resp-1", Model: "m/Bearer sk-1"}, resp, protocmp.Transform()); diff != "" {
		t.Errorf("Chat() response (-want +got):\n%s", diff)
	}
	if got := header.Get("x-method"); len(got) != 1 || got[0] != "/llmgateway.v1.LLMGatewayService/Chat" {
		t.Errorf("header x-method = %v, want the full method", got)
	}
	if got := trailer.Get("x-cost"); len(got) != 1 || got[0] != "0.5" {
		t.Errorf("trailer x-cost = %v, want [0.5]", got)
	}
	if want := []string{"unary /llmgateway.v1.LLMGatewayService/Chat"}; !cmp.Equal(*seen, want) {
		t.Errorf("interceptors saw %v, want %v", *seen, want)
	}
	for side, r := range map[string]*recordingStats{"client": cs, "server": ss} {
		if got, want := r.get(), []string{"tag /llmgateway.v1.LLMGatewayService/Chat", "begin", "end OK"}; !cmp.Equal(got, want) {
			t.Errorf("%s stats = %v, want %v", side, got, want)
		}
	}

	tests := []struct {
		give string
		want codes.Code
	}{
		{"fail", codes.ResourceExhausted},
		{"plain", codes.Unknown},
	}
	for _, tt := range tests {
		if _, err := c.Chat(ctx, &pb.ChatRequest{Model: tt.give}); status.Code(err) != tt.want {
			t.Errorf("Chat(%s) = %v, want %v", tt.give, err, tt.want)
		}
	}
	dctx, cancel := context.WithTimeout(ctx, 0)
	defer cancel()
	if _, err := c.Chat(dctx, &pb.ChatRequest{Model: "deadline"}); status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("Chat() past its deadline = %v, want DeadlineExceeded", err)
	}
	if _, err := c.ListModels(ctx, &pb.ListModelsRequest{}); status.Code(err) != codes.Unimplemented {
		t.Errorf("ListModels() on a service without it = %v, want Unimplemented", err)
	}
	if err := ch.Invoke(ctx, "/no.Such/Method", &pb.ChatRequest{}, &pb.ChatResponse{}); status.Code(err) != codes.Unimplemented {
		t.Errorf("Invoke(unknown method) = %v, want Unimplemented", err)
	}
	if err := ch.Invoke(ctx, pb.LLMGatewayService_Chat_FullMethodName, &pb.ChatRequest{Model: "m"}, &pb.ListModelsResponse{}); status.Code(err) != codes.Internal {
		t.Errorf("Invoke(into a message of another type) = %v, want Internal", err)
	}
}

func TestInprocStream(t *testing.T) {
	cs, ss := &recordingStats{}, &recordingStats{}
	ch, seen := newTestInproc(cs, ss)
	c := pb.NewLLMGatewayServiceClient(ch)
	ctx := tctx(t)
	var msgs []*pb.Message
	var want []string
	for _, s := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r", "s", "t"} {
		msgs = append(msgs, &pb.Message{Role: "user", Content: s})
		want = append(want, s)
	}
	for _, tt := range []struct {
		model string
		want  codes.Code
	}{{"ok", codes.OK}, {"fail", codes.Unavailable}} {
		stream, err := c.ChatStream(ctx, &pb.ChatRequest{Model: tt.model, Messages: msgs})
		if err != nil {
			t.Fatalf("ChatStream(%s) = %v", tt.model, err)
		}
		hdr, err := stream.Header()
		if err != nil || len(hdr.Get("x-model")) != 1 || hdr.Get("x-model")[0] != tt.model {
			t.Errorf("ChatStream(%s).Header() = %v, %v; want x-model", tt.model, hdr, err)
		}
		var got []string
		for {
			ev, err := stream.Recv()
			if err != nil {
				if tt.want == codes.OK && !errors.Is(err, io.EOF) || tt.want != codes.OK && status.Code(err) != tt.want {
					t.Errorf("ChatStream(%s) ended with %v, want %v", tt.model, err, tt.want)
				}
				break
			}
			got = append(got, ev.GetDelta().GetContent())
		}
		if !cmp.Equal(got, want) {
			t.Errorf("ChatStream(%s) deltas = %v, want %v in order", tt.model, got, want)
		}
		if tr := stream.Trailer(); len(tr.Get("x-done")) != 1 {
			t.Errorf("ChatStream(%s).Trailer() = %v, want x-done", tt.model, tr)
		}
	}
	if err := ch.wait(ctx); err != nil {
		t.Errorf("wait() = %v, want every handler returned", err)
	}
	if want := []string{"stream /llmgateway.v1.LLMGatewayService/ChatStream", "stream /llmgateway.v1.LLMGatewayService/ChatStream"}; !cmp.Equal(*seen, want) {
		t.Errorf("interceptors saw %v, want %v", *seen, want)
	}
	wantStats := []string{"tag /llmgateway.v1.LLMGatewayService/ChatStream", "begin", "end OK",
		"tag /llmgateway.v1.LLMGatewayService/ChatStream", "begin", "end Unavailable"}
	if got := ss.get(); !cmp.Equal(got, wantStats) {
		t.Errorf("server stats = %v, want %v", got, wantStats)
	}

	// A caller that goes away ends the handler, and wait sees it end.
	hctx, cancel := context.WithCancel(ctx)
	stream, err := c.ChatStream(hctx, &pb.ChatRequest{Model: "hang", Messages: msgs[:1]})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatalf("first Recv() = %v", err)
	}
	cancel()
	if _, err := stream.Recv(); status.Code(err) != codes.Canceled {
		t.Errorf("Recv() after cancel = %v, want Canceled", err)
	}
	if err := ch.wait(ctx); err != nil {
		t.Errorf("wait() after cancel = %v, want the handler returned", err)
	}

	// Only server streams are carried; a second request is refused.
	if _, err := ch.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true}, "/no.Such/Method"); status.Code(err) != codes.Unimplemented {
		t.Errorf("NewStream(unknown method) = %v, want Unimplemented", err)
	}
	s2, err := ch.NewStream(ctx, &pb.LLMGatewayService_ServiceDesc.Streams[0], pb.LLMGatewayService_ChatStream_FullMethodName)
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.SendMsg(&pb.ChatRequest{Model: "ok"}); err != nil {
		t.Errorf("first SendMsg() = %v", err)
	}
	if err := s2.SendMsg(&pb.ChatRequest{Model: "ok"}); status.Code(err) != codes.Internal {
		t.Errorf("second SendMsg() = %v, want Internal", err)
	}
	_ = s2.CloseSend()
	for {
		if err := s2.RecvMsg(&pb.ChatStreamResponse{}); err != nil {
			break
		}
	}
}
