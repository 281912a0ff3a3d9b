package load

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/llmgateway/llmgateway/bench/upstream"
	pb "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func TestPercentilesOf(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = ms(100 - i) // reversed: PercentilesOf sorts
	}
	tests := []struct {
		name string
		give []time.Duration
		want Percentiles
	}{
		{name: "empty", give: nil, want: Percentiles{}},
		{name: "one", give: []time.Duration{ms(7)}, want: Percentiles{P50: ms(7), P90: ms(7), P99: ms(7), P999: ms(7), Max: ms(7)}},
		{name: "1..100", give: hundred, want: Percentiles{P50: ms(50), P90: ms(90), P99: ms(99), P999: ms(100), Max: ms(100)}},
	}
	for _, tt := range tests {
		if got := PercentilesOf(tt.give); got != tt.want {
			t.Errorf("PercentilesOf(%s) = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestPercentilesSub(t *testing.T) {
	p := Percentiles{P50: ms(5), P90: ms(6), P99: ms(9), P999: ms(12), Max: ms(20)}
	q := Percentiles{P50: ms(1), P90: ms(2), P99: ms(3), P999: ms(4), Max: ms(25)}
	want := Percentiles{P50: ms(4), P90: ms(4), P99: ms(6), P999: ms(8), Max: ms(-5)}
	if got := p.Sub(q); got != want {
		t.Errorf("Sub = %+v, want %+v", got, want)
	}
}

func TestSummarize(t *testing.T) {
	samples := []Sample{
		{Latency: ms(10), TTFT: ms(1), TTLT: ms(9), Chunks: 5},
		{Latency: ms(20), TTFT: ms(2), TTLT: ms(14), Chunks: 4},
		{Latency: ms(30), Err: "HTTP 500"},
		{Latency: ms(1), Err: "HTTP 500"},
	}
	got := Summarize(samples, 2*time.Second)
	want := Summary{
		Sent: 4, OK: 2, Achieved: 2,
		Latency:   Percentiles{P50: ms(10), P90: ms(20), P99: ms(20), P999: ms(20), Max: ms(20)},
		TTFT:      Percentiles{P50: ms(1), P90: ms(2), P99: ms(2), P999: ms(2), Max: ms(2)},
		TTLT:      Percentiles{P50: ms(9), P90: ms(14), P99: ms(14), P999: ms(14), Max: ms(14)},
		MinChunks: 4,
		ChunkGap:  ms(4), // per-stream mean gaps 2ms and 4ms; the upper median
		Errors:    map[string]int{"HTTP 500": 2},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Summarize (-want +got):\n%s", diff)
	}
	if got.SuccessRate() != 0.5 {
		t.Errorf("SuccessRate = %v, want 0.5", got.SuccessRate())
	}
}

func TestPlanValidate(t *testing.T) {
	tests := []struct {
		give    Plan
		wantErr string
	}{
		{give: Plan{Rate: 0, Duration: time.Second}, wantErr: "rate is 0"},
		{give: Plan{Rate: 1, Duration: 0}, wantErr: "duration is 0s"},
		{give: Plan{Rate: 1, Duration: time.Second, Warmup: -1}, wantErr: "warm-up"},
		{give: Plan{Rate: 1, Duration: time.Second, MaxInFlight: -1}, wantErr: "max in flight"},
		{give: Plan{Rate: 1, Duration: time.Second, Count: -1}, wantErr: "count is -1"},
	}
	for _, tt := range tests {
		_, err := Run(testContext(t), tt.give, func(context.Context) Sample { return Sample{} })
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("Run(%+v) = %v, want an error containing %q", tt.give, err, tt.wantErr)
		}
	}
}

func TestRunPacesOpenLoop(t *testing.T) {
	// Every request takes longer than the interval between two: an open
	// loop still starts them on schedule.
	var calls atomic.Int64
	plan := Plan{Rate: 200, Warmup: 100 * time.Millisecond, Duration: 500 * time.Millisecond}
	samples, err := Run(testContext(t), plan, func(ctx context.Context) Sample {
		calls.Add(1)
		time.Sleep(50 * time.Millisecond)
		return Sample{Latency: 50 * time.Millisecond}
	})
	if err != nil {
		t.Fatalf("Run = %v", err)
	}
	// 100 measured and 20 warm-up requests; generous bounds for a loaded
	// machine.
	if n := len(samples); n < 80 || n > 105 {
		t.Errorf("Run kept %d samples, want about 100 (the measured interval only)", n)
	}
	if c := calls.Load(); c < int64(len(samples))+10 {
		t.Errorf("Run made %d calls for %d samples, want the warm-up's on top", c, len(samples))
	}
	for i := 1; i < len(samples); i++ {
		if samples[i].Start < samples[i-1].Start || samples[i].Start < 0 {
			t.Fatalf("samples out of order or before the measured interval at %d: %v after %v", i, samples[i].Start, samples[i-1].Start)
		}
	}
}

func TestRunCount(t *testing.T) {
	plan := Plan{Rate: 1000, Duration: time.Minute, Count: 25}
	samples, err := Run(testContext(t), plan, func(context.Context) Sample { return Sample{} })
	if err != nil || len(samples) != 25 {
		t.Errorf("Run with Count 25 = %d samples, %v; want 25 and no error", len(samples), err)
	}
}

func TestRunMaxInFlight(t *testing.T) {
	release := make(chan struct{})
	plan := Plan{Rate: 1000, Duration: 100 * time.Millisecond, MaxInFlight: 5}
	done := make(chan []Sample)
	go func() {
		s, _ := Run(testContext(t), plan, func(ctx context.Context) Sample {
			<-release
			return Sample{}
		})
		done <- s
	}()
	time.Sleep(200 * time.Millisecond)
	close(release)
	samples := <-done
	ok, refused := 0, 0
	for _, s := range samples {
		switch s.Err {
		case "":
			ok++
		case errInFlight:
			refused++
		}
	}
	if ok != 5 || refused == 0 {
		t.Errorf("Run = %d sent, %d refused; want 5 sent (the limit) and the rest refused", ok, refused)
	}
}

func TestHasContent(t *testing.T) {
	tests := []struct {
		give string
		want bool
	}{
		{give: `{"choices":[{"delta":{"content":"hi"}}]}`, want: true},
		{give: `{"choices":[{"delta":{"content": "hi"}}]}`, want: true},
		{give: `{"choices":[{"delta":{"role":"assistant","content":""}}]}`, want: false},
		{give: `{"choices":[{"delta":{"content":null}}]}`, want: false},
		{give: `{"choices":[],"usage":{"prompt_tokens":1}}`, want: false},
		{give: `{"x":{"content":""},"choices":[{"delta":{"content":"a"}}]}`, want: true},
	}
	for _, tt := range tests {
		if got := hasContent([]byte(tt.give)); got != tt.want {
			t.Errorf("hasContent(%s) = %v, want %v", tt.give, got, tt.want)
		}
	}
}

func newUpstream(t *testing.T, cfg upstream.Config) *httptest.Server {
	t.Helper()
	s, err := upstream.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv
}

func target(url string, stream bool) HTTPTarget {
	body := `{"model":"m","messages":[{"role":"user","content":"hi"}]`
	if stream {
		body += `,"stream":true,"stream_options":{"include_usage":true}`
	}
	return HTTPTarget{URL: url, Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(body + "}")}
}

func TestRunHTTPUnary(t *testing.T) {
	srv := newUpstream(t, upstream.Config{Chunks: 3})
	plan := Plan{Rate: 100, Warmup: 50 * time.Millisecond, Duration: 300 * time.Millisecond}
	samples, err := RunHTTPUnary(testContext(t), plan, target(srv.URL+"/v1/chat/completions", false), 5*time.Second)
	if err != nil {
		t.Fatalf("RunHTTPUnary = %v", err)
	}
	s := Summarize(samples, plan.Duration)
	if s.Sent < 20 || s.OK != s.Sent || s.Latency.P50 <= 0 {
		t.Errorf("RunHTTPUnary summary = %+v, want about 30 requests, all successful", s)
	}

	samples, err = RunHTTPUnary(testContext(t), plan, target(srv.URL+"/v1/nowhere", false), 5*time.Second)
	if err != nil {
		t.Fatalf("RunHTTPUnary = %v", err)
	}
	if s := Summarize(samples, plan.Duration); s.OK != 0 || s.Errors["HTTP 404"] != s.Sent {
		t.Errorf("RunHTTPUnary on a wrong path = %+v, want every request failed with HTTP 404", s)
	}
}

func TestHTTPStream(t *testing.T) {
	srv := newUpstream(t, upstream.Config{Chunks: 4, ChunkDelay: 5 * time.Millisecond})
	client := NewHTTPClient(5 * time.Second)
	defer client.CloseIdleConnections()
	s := HTTPStream(client, target(srv.URL+"/v1/chat/completions", true))(testContext(t))
	if s.Err != "" || s.Chunks != 4 || s.TTFT <= 0 || s.TTLT < s.TTFT+3*5*time.Millisecond || s.Latency < s.TTLT {
		t.Errorf("HTTPStream = %+v, want 4 chunks, TTFT > 0, TTLT at least 15ms later, latency after TTLT", s)
	}
}

func TestHTTPStreamFailures(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		wantErr string
	}{
		{name: "status", handler: func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", http.StatusTooManyRequests) }, wantErr: "HTTP 429"},
		{name: "no done", handler: func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n")
		}, wantErr: "without [DONE]"},
		{name: "no content", handler: func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "data: [DONE]\n\n") }, wantErr: "without content"},
		{name: "error event", handler: func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "data: {\"error\":{\"message\":\"cut\"}}\n\n")
		}, wantErr: "error event"},
		{name: "slow", handler: func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(time.Second):
			}
		}, wantErr: "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			client := NewHTTPClient(200 * time.Millisecond)
			defer client.CloseIdleConnections()
			s := HTTPStream(client, target(srv.URL, true))(testContext(t))
			if !strings.Contains(s.Err, tt.wantErr) {
				t.Errorf("HTTPStream = %+v, want an error containing %q", s, tt.wantErr)
			}
		})
	}
}

// fakeGateway answers Chat and ChatStream like the gateway, checking the
// caller's key.
type fakeGateway struct {
	pb.UnimplementedLLMGatewayServiceServer
}

func (fakeGateway) authorized(ctx context.Context) error {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get("authorization"); len(v) != 1 || v[0] != "Bearer sk-test" {
		return status.Error(codes.Unauthenticated, "no key")
	}
	return nil
}

func (f fakeGateway) Chat(ctx context.Context, req *pb.ChatRequest) (*pb.ChatResponse, error) {
	if err := f.authorized(ctx); err != nil {
		return nil, err
	}
	return &pb.ChatResponse{Message: &pb.Message{Role: "assistant", Content: "hello"}, FinishReason: "stop"}, nil
}

func (f fakeGateway) ChatStream(req *pb.ChatRequest, st grpc.ServerStreamingServer[pb.ChatStreamResponse]) error {
	if err := f.authorized(st.Context()); err != nil {
		return err
	}
	for _, c := range []string{"a", "b", "c"} {
		if err := st.Send(&pb.ChatStreamResponse{Event: &pb.ChatStreamResponse_Delta{Delta: &pb.ChatDelta{Content: c}}}); err != nil {
			return err
		}
	}
	return st.Send(&pb.ChatStreamResponse{Event: &pb.ChatStreamResponse_Final{Final: &pb.ChatStreamFinal{FinishReason: "stop"}}})
}

func TestGRPC(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	pb.RegisterLLMGatewayServiceServer(gs, fakeGateway{})
	go gs.Serve(lis)
	defer gs.Stop()
	conn, err := grpc.NewClient("passthrough:///"+lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := pb.NewLLMGatewayServiceClient(conn)
	req := &pb.ChatRequest{Model: "m", Messages: []*pb.Message{{Role: "user", Content: "hi"}}}
	key := metadata.Pairs("authorization", "Bearer sk-test")

	tests := []struct {
		name       string
		doer       Doer
		wantErr    string
		wantChunks int
	}{
		{name: "unary", doer: GRPCUnary(client, req, key, 5*time.Second)},
		{name: "unary without key", doer: GRPCUnary(client, req, nil, 5*time.Second), wantErr: "gRPC Unauthenticated"},
		{name: "stream", doer: GRPCStream(client, req, key, 5*time.Second), wantChunks: 3},
		{name: "stream without key", doer: GRPCStream(client, req, nil, 5*time.Second), wantErr: "gRPC Unauthenticated"},
	}
	for _, tt := range tests {
		s := tt.doer(testContext(t))
		if s.Err != tt.wantErr || s.Chunks != tt.wantChunks || s.Latency <= 0 {
			t.Errorf("%s = %+v, want error %q and %d chunks", tt.name, s, tt.wantErr, tt.wantChunks)
		}
	}
}

func TestErrorText(t *testing.T) {
	tests := []struct {
		give error
		want string
	}{
		{give: context.DeadlineExceeded, want: "timeout"},
		{give: context.Canceled, want: "canceled"},
		{give: errors.New(strings.Repeat("x", 200)), want: strings.Repeat("x", 160)},
	}
	for _, tt := range tests {
		if got := errorText(tt.give); got != tt.want {
			t.Errorf("errorText(%v) = %q, want %q", tt.give, got, tt.want)
		}
	}
}
