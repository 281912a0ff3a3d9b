package concurrency

import (
	"context"
	"strings"
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
	"github.com/llmgateway/llmgateway/interceptors/auth"
	"github.com/llmgateway/llmgateway/interceptors/internal/calltest"
	"github.com/llmgateway/llmgateway/state/memory"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestCap(t *testing.T) {
	store := memory.New()
	l := New(store)
	unary := l.UnaryServerInterceptor()
	ctx := auth.NewContext(context.Background(), &auth.Key{ID: "k", MaxConcurrent: 1})
	req := calltest.Request("m", "hi", 0)
	// While one call is in its handler, a second is refused.
	_, err := unary(ctx, req, calltest.ChatInfo, func(context.Context, any) (any, error) {
		if got := store.InFlight("conc:k"); got != 1 {
			t.Errorf("in flight during the call = %d, want 1", got)
		}
		_, err := unary(ctx, req, calltest.ChatInfo, func(context.Context, any) (any, error) { return nil, nil })
		st := status.Convert(err)
		if st.Code() != codes.ResourceExhausted || !strings.Contains(st.Message(), "max_concurrent") {
			t.Errorf("second call = %v, want ResourceExhausted naming max_concurrent", err)
		}
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := store.InFlight("conc:k"); got != 0 {
		t.Errorf("in flight after the call = %d, want 0", got)
	}
	// A panicking handler frees its slot too.
	func() {
		defer func() { _ = recover() }()
		_, _ = unary(ctx, req, calltest.ChatInfo, func(context.Context, any) (any, error) { panic("bug") })
	}()
	if got := store.InFlight("conc:k"); got != 0 {
		t.Errorf("in flight after a panic = %d, want 0", got)
	}
	// A stream holds its slot until it ends.
	ss := &calltest.Stream{Ctx: ctx, Req: req}
	err = l.StreamServerInterceptor()(nil, ss, calltest.StreamInfo, func(_ any, s grpc.ServerStream) error {
		if err := s.RecvMsg(new(pb.ChatRequest)); err != nil {
			return err
		}
		if got := store.InFlight("conc:k"); got != 1 {
			t.Errorf("in flight during the stream = %d, want 1", got)
		}
		return nil
	})
	if err != nil || store.InFlight("conc:k") != 0 {
		t.Errorf("stream = %v, in flight after it %d; want nil, 0", err, store.InFlight("conc:k"))
	}
	// Keys without a cap, and calls without a key, pass.
	free := auth.NewContext(context.Background(), &auth.Key{ID: "free"})
	for _, c := range []context.Context{free, context.Background()} {
		if _, err := unary(c, req, calltest.ChatInfo, func(context.Context, any) (any, error) { return nil, nil }); err != nil {
			t.Error(err)
		}
	}
}
