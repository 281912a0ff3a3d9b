package load

import (
	"context"
	"errors"
	"io"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
)

// GRPCUnary returns a Doer that calls Chat with req and md, each call
// bounded by timeout. A call succeeds when the answer has content.
func GRPCUnary(client pb.LLMGatewayServiceClient, req *pb.ChatRequest, md metadata.MD, timeout time.Duration) Doer {
	return func(ctx context.Context) Sample {
		ctx, cancel := context.WithTimeout(metadata.NewOutgoingContext(ctx, md), timeout)
		defer cancel()
		began := time.Now()
		resp, err := client.Chat(ctx, req)
		s := Sample{Latency: time.Since(began)}
		switch {
		case err != nil:
			s.Err = grpcError(err)
		case resp.GetMessage().GetContent() == "":
			s.Err = "answer without content"
		}
		return s
	}
}

// GRPCStream returns a Doer that calls ChatStream with req and md, each
// call bounded by timeout. A call succeeds when it has at least one delta
// with content and a final event whose finish reason is not "error".
func GRPCStream(client pb.LLMGatewayServiceClient, req *pb.ChatRequest, md metadata.MD, timeout time.Duration) Doer {
	return func(ctx context.Context) Sample {
		ctx, cancel := context.WithTimeout(metadata.NewOutgoingContext(ctx, md), timeout)
		defer cancel()
		began := time.Now()
		var s Sample
		err := grpcStream(ctx, client, req, began, &s)
		s.Latency = time.Since(began)
		if err != nil {
			s.Err = grpcError(err)
		}
		return s
	}
}

func grpcStream(ctx context.Context, client pb.LLMGatewayServiceClient, req *pb.ChatRequest, began time.Time, s *Sample) error {
	st, err := client.ChatStream(ctx, req)
	if err != nil {
		return err
	}
	final := false
	for {
		ev, err := st.Recv()
		if err == io.EOF {
			switch {
			case !final:
				return errors.New("stream ended without a final event")
			case s.Chunks == 0:
				return errors.New("stream without content")
			}
			return nil
		}
		if err != nil {
			return err
		}
		if d := ev.GetDelta(); d != nil && d.GetContent() != "" {
			at := time.Since(began)
			if s.Chunks == 0 {
				s.TTFT = at
			}
			s.TTLT = at
			s.Chunks++
		}
		if f := ev.GetFinal(); f != nil {
			if f.GetFinishReason() == "error" {
				return errors.New("final event with finish reason error")
			}
			final = true
		}
	}
}

// grpcError is a stable message for a failed call: its status code, or
// the error text when it has none.
func grpcError(err error) string {
	if st, ok := status.FromError(err); ok {
		return "gRPC " + st.Code().String()
	}
	return errorText(err)
}
