package shed

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/llmgateway/llmgateway/interceptors/internal/calltest"
	"github.com/llmgateway/llmgateway/surface/httperr"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// hold runs n unary calls through l that stay in flight until the
// returned function is called.
func hold(t *testing.T, l *Limiter, n int) (release func()) {
	t.Helper()
	unary := l.UnaryServerInterceptor()
	gate := make(chan struct{})
	var started, done sync.WaitGroup
	for range n {
		started.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			_, err := unary(context.Background(), nil, calltest.ChatInfo, func(context.Context, any) (any, error) {
				started.Done()
				<-gate
				return nil, nil
			})
			if err != nil {
				t.Errorf("held call refused: %v", err)
				started.Done()
			}
		}()
	}
	started.Wait()
	return func() {
		close(gate)
		done.Wait()
	}
}

func TestLimiter(t *testing.T) {
	tests := []struct {
		name     string
		max      int
		held     int
		method   string
		wantCode codes.Code
	}{
		{"under the cap", 3, 2, "/llmgateway.v1.LLMGatewayService/Chat", codes.OK},
		{"at the cap", 2, 2, "/llmgateway.v1.LLMGatewayService/Chat", codes.Unavailable},
		{"any method counts", 1, 1, "/llmgateway.v1.LLMGatewayService/ListModels", codes.Unavailable},
		{"health is exempt", 1, 1, "/grpc.health.v1.Health/Check", codes.OK},
		{"reflection is exempt", 1, 1, "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", codes.OK},
		{"no cap", 0, 5, "/llmgateway.v1.LLMGatewayService/Chat", codes.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := New(tt.max, WithRetryAfter(2*time.Second))
			release := hold(t, l, tt.held)
			defer release()
			called := false
			_, err := l.UnaryServerInterceptor()(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: tt.method},
				func(context.Context, any) (any, error) { called = true; return nil, nil })
			st := status.Convert(err)
			if st.Code() != tt.wantCode || called != (tt.wantCode == codes.OK) {
				t.Fatalf("call = %v (handler called %v), want %v", err, called, tt.wantCode)
			}
			if tt.wantCode == codes.OK {
				return
			}
			var retry time.Duration
			for _, d := range st.Details() {
				if ri, ok := d.(*errdetails.RetryInfo); ok {
					retry = ri.GetRetryDelay().AsDuration()
				}
			}
			if httperr.Reason(st) != httperr.ReasonOverloaded || retry != 2*time.Second {
				t.Errorf("refusal %v: reason %q, retry %v; want %s and 2s", st.Proto(), httperr.Reason(st), retry, httperr.ReasonOverloaded)
			}
			if l.Shed() != 1 || l.InFlight() != int64(tt.held) {
				t.Errorf("Shed() = %d, InFlight() = %d; want 1, %d", l.Shed(), l.InFlight(), tt.held)
			}
		})
	}
}

func TestStreamAndSetMax(t *testing.T) {
	l := New(1)
	stream := l.StreamServerInterceptor()
	ss := &calltest.Stream{Ctx: context.Background()}
	inner := make(chan error, 1)
	err := stream(nil, ss, calltest.StreamInfo, func(any, grpc.ServerStream) error {
		// The stream holds the only slot while its handler runs.
		inner <- stream(nil, ss, calltest.StreamInfo, func(any, grpc.ServerStream) error { return nil })
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := <-inner; status.Code(got) != codes.Unavailable {
		t.Errorf("second stream = %v, want Unavailable", got)
	}
	if l.InFlight() != 0 {
		t.Errorf("InFlight() = %d after the streams ended, want 0", l.InFlight())
	}

	release := hold(t, l, 1)
	defer release()
	l.SetMax(2)
	if l.Max() != 2 {
		t.Errorf("Max() = %d, want 2", l.Max())
	}
	r, err := l.Acquire()
	if err != nil {
		t.Fatalf("Acquire() under the raised cap = %v", err)
	}
	r()
	l.SetMax(1)
	if _, err := l.Acquire(); status.Code(err) != codes.Unavailable {
		t.Errorf("Acquire() over the lowered cap = %v, want Unavailable", err)
	}
}
