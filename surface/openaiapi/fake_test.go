package openaiapi

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/test/bufconn"

	llmgatewayv1 "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testTimeout bounds every test's context. It is generous: the tests run
// on loaded machines, and a passing test never waits for it.
const testTimeout = 30 * time.Second

// fixedNow is the clock of handlers under test.
var fixedNow = time.Unix(1700000000, 0)

func withClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

func withIDs(newID func() string) Option { return func(o *options) { o.newID = newID } }

// testContext returns a context bounded by testTimeout.
func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// fakeGateway is an LLMGatewayServiceServer that records what it receives
// and answers with the functions it is given.
type fakeGateway struct {
	llmgatewayv1.UnimplementedLLMGatewayServiceServer

	chat   func(ctx context.Context, req *llmgatewayv1.ChatRequest) (*llmgatewayv1.ChatResponse, error)
	stream func(req *llmgatewayv1.ChatRequest, srv grpc.ServerStreamingServer[llmgatewayv1.ChatStreamResponse]) error
	models func(ctx context.Context) (*llmgatewayv1.ListModelsResponse, error)

	mu   sync.Mutex
	reqs []*llmgatewayv1.ChatRequest
	mds  []metadata.MD
}

func (f *fakeGateway) record(ctx context.Context, req *llmgatewayv1.ChatRequest) {
	md, _ := metadata.FromIncomingContext(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	if req != nil {
		f.reqs = append(f.reqs, req)
	}
	f.mds = append(f.mds, md)
}

// lastRequest returns the last chat request received.
func (f *fakeGateway) lastRequest(t testing.TB) *llmgatewayv1.ChatRequest {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reqs) == 0 {
		t.Fatal("the gateway received no chat request")
	}
	return f.reqs[len(f.reqs)-1]
}

// lastMetadata returns the incoming metadata of the last call.
func (f *fakeGateway) lastMetadata(t testing.TB) metadata.MD {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.mds) == 0 {
		t.Fatal("the gateway received no call")
	}
	return f.mds[len(f.mds)-1]
}

func (f *fakeGateway) Chat(ctx context.Context, req *llmgatewayv1.ChatRequest) (*llmgatewayv1.ChatResponse, error) {
	f.record(ctx, req)
	if f.chat == nil {
		return nil, errors.New("fake: no chat function")
	}
	return f.chat(ctx, req)
}

func (f *fakeGateway) ChatStream(req *llmgatewayv1.ChatRequest, srv grpc.ServerStreamingServer[llmgatewayv1.ChatStreamResponse]) error {
	f.record(srv.Context(), req)
	if f.stream == nil {
		return errors.New("fake: no stream function")
	}
	return f.stream(req, srv)
}

func (f *fakeGateway) ListModels(ctx context.Context, _ *llmgatewayv1.ListModelsRequest) (*llmgatewayv1.ListModelsResponse, error) {
	f.record(ctx, nil)
	if f.models == nil {
		return nil, errors.New("fake: no models function")
	}
	return f.models(ctx)
}

// sendAll returns a stream function that sends events in order.
func sendAll(events ...*llmgatewayv1.ChatStreamResponse) func(*llmgatewayv1.ChatRequest, grpc.ServerStreamingServer[llmgatewayv1.ChatStreamResponse]) error {
	return func(_ *llmgatewayv1.ChatRequest, srv grpc.ServerStreamingServer[llmgatewayv1.ChatStreamResponse]) error {
		for _, ev := range events {
			if err := srv.Send(ev); err != nil {
				return err
			}
		}
		return nil
	}
}

// harness is a fake gateway behind a real gRPC server on a bufconn
// listener, and a Handler behind a real HTTP server calling it.
type harness struct {
	fake *fakeGateway
	srv  *httptest.Server
	// baseURL is the OpenAI base URL, ending in /v1.
	baseURL string
}

func newHarness(t testing.TB, fake *fakeGateway, opts ...Option) *harness {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	gs := grpc.NewServer()
	llmgatewayv1.RegisterLLMGatewayServiceServer(gs, fake)
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = gs.Serve(lis)
	}()
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc.NewClient() = %v", err)
	}
	opts = append([]Option{withClock(func() time.Time { return fixedNow }), withIDs(func() string { return "generated" })}, opts...)
	hs := httptest.NewServer(New(llmgatewayv1.NewLLMGatewayServiceClient(conn), opts...))
	t.Cleanup(func() {
		hs.Close()
		_ = conn.Close()
		gs.Stop()
		<-served
	})
	return &harness{fake: fake, srv: hs, baseURL: hs.URL + "/v1"}
}

// do sends a request to the handler and returns the response with its
// body read.
func (hn *harness) do(t testing.TB, method, path, body string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(testContext(t), method, hn.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatalf("NewRequest() = %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := hn.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading %s %s: %v", method, path, err)
	}
	return resp, string(b)
}

// post sends a chat completion request.
func (hn *harness) post(t testing.TB, body string) (*http.Response, string) {
	t.Helper()
	return hn.do(t, http.MethodPost, "/v1/chat/completions", body, nil)
}
