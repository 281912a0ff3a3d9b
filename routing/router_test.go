package routing

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/llmgateway/llmgateway/llm"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeProvider answers from a script: each call pops the next error (nil
// means success with text), recording the upstream model it was asked for.
type fakeProvider struct {
	name string
	mu   sync.Mutex
	errs []error
	seen []string
	text string
}

func (f *fakeProvider) next(req *llm.Request) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seen = append(f.seen, req.Model)
	if len(f.errs) == 0 {
		return nil
	}
	err := f.errs[0]
	f.errs = f.errs[1:]
	return err
}

func (f *fakeProvider) Chat(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	if err := f.next(req); err != nil {
		return nil, err
	}
	return &llm.Response{Model: req.Model, Message: llm.Message{Role: llm.RoleAssistant, Content: f.text},
		FinishReason: llm.FinishStop, Usage: llm.Usage{PromptTokens: 1000, CompletionTokens: 500}}, nil
}

func (f *fakeProvider) ChatStream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	if err := f.next(req); err != nil {
		return nil, err
	}
	u := llm.Usage{PromptTokens: 1000, CompletionTokens: 500}
	return &sliceStream{chunks: []llm.Chunk{{Content: f.text}, {FinishReason: llm.FinishStop, Usage: &u}}}, nil
}

type sliceStream struct {
	chunks []llm.Chunk
	endErr error
	closed bool
}

func (s *sliceStream) Recv() (llm.Chunk, error) {
	if len(s.chunks) == 0 {
		if s.endErr != nil {
			return llm.Chunk{}, s.endErr
		}
		return llm.Chunk{}, io.EOF
	}
	c := s.chunks[0]
	s.chunks = s.chunks[1:]
	return c, nil
}

func (s *sliceStream) Close() error { s.closed = true; return nil }

func upErr(p string, kind llm.ErrorKind, status int) error {
	return &llm.UpstreamError{Provider: p, Kind: kind, StatusCode: status, Retryable: kind.Retryable()}
}

func newTestRouter(t *testing.T, deps []Deployment, providers map[string]Provider, opts ...Option) *Router {
	t.Helper()
	cat, err := NewCatalog([]Model{{
		Name: "gpt-4.1", Aliases: []string{"gpt-4"}, Deployments: deps,
		Pricing: llm.Pricing{InputPerMTok: 2, OutputPerMTok: 8},
	}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(cat, providers, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestChatFailover(t *testing.T) {
	tests := []struct {
		name         string
		errsA        []error
		wantProvider string
		wantOutcomes []Outcome
		wantErr      bool
	}{
		{name: "healthy primary", wantProvider: "a", wantOutcomes: []Outcome{OutcomeOK}},
		{name: "5xx fails over", errsA: []error{upErr("a", llm.KindServer, 500)}, wantProvider: "b", wantOutcomes: []Outcome{OutcomeError, OutcomeOK}},
		{name: "429 fails over", errsA: []error{upErr("a", llm.KindRateLimited, 429)}, wantProvider: "b", wantOutcomes: []Outcome{OutcomeError, OutcomeOK}},
		{name: "auth fails over", errsA: []error{upErr("a", llm.KindAuth, 401)}, wantProvider: "b", wantOutcomes: []Outcome{OutcomeError, OutcomeOK}},
		{name: "bad request does not", errsA: []error{upErr("a", llm.KindBadRequest, 400)}, wantOutcomes: []Outcome{OutcomeError}, wantErr: true},
		{name: "context length does not", errsA: []error{upErr("a", llm.KindContextLength, 400)}, wantOutcomes: []Outcome{OutcomeError}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &fakeProvider{name: "a", errs: tt.errsA, text: "from a"}
			b := &fakeProvider{name: "b", text: "from b"}
			r := newTestRouter(t, []Deployment{
				{Provider: "a", UpstreamModel: "up-a", Weight: 1, Priority: 0},
				{Provider: "b", UpstreamModel: "up-b", Weight: 1, Priority: 1},
			}, map[string]Provider{"a": a, "b": b})
			res, err := r.Chat(testCtx(t), "gpt-4", &llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}}})
			var outcomes []Outcome
			var atts []Attempt
			if err != nil {
				var nr *NoRouteError
				if !errors.As(err, &nr) {
					t.Fatalf("Chat() error = %v, want *NoRouteError", err)
				}
				atts = nr.Attempts
			} else {
				atts = res.Route.Attempts
			}
			for _, a := range atts {
				outcomes = append(outcomes, a.Outcome)
			}
			if (err != nil) != tt.wantErr {
				t.Fatalf("Chat() error = %v, wantErr %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.wantOutcomes, outcomes); diff != "" {
				t.Errorf("outcomes (-want +got):\n%s", diff)
			}
			if err != nil {
				return
			}
			if res.Deployment.Provider != tt.wantProvider {
				t.Errorf("Chat() provider = %q, want %q", res.Deployment.Provider, tt.wantProvider)
			}
			if res.Route.Resolved != "gpt-4.1" || res.Route.Requested != "gpt-4" {
				t.Errorf("route = %+v, want gpt-4 resolved to gpt-4.1", res.Route)
			}
			// 1000 input × $2/M + 500 output × $8/M.
			if want := 0.002 + 0.004; res.Cost != want {
				t.Errorf("Cost = %v, want %v", res.Cost, want)
			}
		})
	}
}

func TestChatSendsUpstreamModel(t *testing.T) {
	a := &fakeProvider{name: "a"}
	r := newTestRouter(t, []Deployment{{Provider: "a", UpstreamModel: "gpt-4.1-2025-04-14", Weight: 1}}, map[string]Provider{"a": a})
	req := &llm.Request{Model: "ignored", Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}}}
	if _, err := r.Chat(testCtx(t), "gpt-4.1", req); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"gpt-4.1-2025-04-14"}, a.seen); diff != "" {
		t.Errorf("upstream models (-want +got):\n%s", diff)
	}
	if req.Model != "ignored" {
		t.Errorf("caller's request was modified: Model = %q", req.Model)
	}
}

func TestUnknownModel(t *testing.T) {
	r := newTestRouter(t, []Deployment{{Provider: "a", UpstreamModel: "x", Weight: 1}}, map[string]Provider{"a": &fakeProvider{}})
	_, err := r.Chat(testCtx(t), "gpt-5-nonexistent", &llm.Request{})
	var um *UnknownModelError
	if !errors.As(err, &um) || um.Name != "gpt-5-nonexistent" {
		t.Fatalf("Chat() error = %v, want UnknownModelError", err)
	}
}

func TestWeightedSpread(t *testing.T) {
	a, b := &fakeProvider{name: "a"}, &fakeProvider{name: "b"}
	r := newTestRouter(t, []Deployment{
		{Provider: "a", UpstreamModel: "a", Weight: 3},
		{Provider: "b", UpstreamModel: "b", Weight: 1},
	}, map[string]Provider{"a": a, "b": b})
	got := map[string]int{}
	for i := 0; i < 8; i++ {
		res, err := r.Chat(testCtx(t), "gpt-4.1", &llm.Request{})
		if err != nil {
			t.Fatal(err)
		}
		got[res.Deployment.Provider]++
	}
	if want := map[string]int{"a": 6, "b": 2}; !cmp.Equal(got, want) {
		t.Errorf("spread = %v, want %v", got, want)
	}
}

func TestRateLimitedEverywhere(t *testing.T) {
	rl := func(p string, d time.Duration) error {
		return &llm.UpstreamError{Provider: p, Kind: llm.KindRateLimited, StatusCode: 429, Retryable: true, RetryAfter: d}
	}
	a := &fakeProvider{errs: []error{rl("a", 3*time.Second)}}
	b := &fakeProvider{errs: []error{rl("b", 2*time.Second)}}
	clock := newFakeClock()
	r := newTestRouter(t, []Deployment{
		{Provider: "a", UpstreamModel: "a", Weight: 1},
		{Provider: "b", UpstreamModel: "b", Weight: 1, Priority: 1},
	}, map[string]Provider{"a": a, "b": b},
		WithClock(clock.Now), WithSleep(func(context.Context, time.Duration) error { return nil }),
		WithRetry(RetryPolicy{MaxAttempts: 5, Backoff: time.Millisecond, MaxRetryAfter: time.Second}))
	_, err := r.Chat(testCtx(t), "gpt-4.1", &llm.Request{})
	var nr *NoRouteError
	if !errors.As(err, &nr) {
		t.Fatalf("Chat() error = %v, want NoRouteError", err)
	}
	wait, ok := nr.RateLimited()
	if !ok || wait != 2*time.Second {
		t.Errorf("RateLimited() = %v, %v, want 2s, true", wait, ok)
	}
	// Both were tried once; then both cooled down, the first for 2 s,
	// over the policy's 1 s, so the router did not wait for it.
	var outcomes []Outcome
	for _, a := range nr.Attempts {
		outcomes = append(outcomes, a.Outcome)
	}
	if want := []Outcome{OutcomeError, OutcomeError}; !cmp.Equal(outcomes, want) {
		t.Errorf("outcomes = %v, want %v", outcomes, want)
	}
}

func TestStreamFailoverBeforeFirstToken(t *testing.T) {
	a := &fakeProvider{errs: []error{upErr("a", llm.KindOverloaded, 503)}}
	b := &fakeProvider{text: "hello from b"}
	r := newTestRouter(t, []Deployment{
		{Provider: "a", UpstreamModel: "a", Weight: 1},
		{Provider: "b", UpstreamModel: "b", Weight: 1, Priority: 1},
	}, map[string]Provider{"a": a, "b": b})
	s, err := r.ChatStream(testCtx(t), "gpt-4.1", &llm.Request{})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := llm.Collect(s)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Message.Content != "hello from b" || s.Deployment().Provider != "b" {
		t.Errorf("stream = %q from %q, want hello from b", resp.Message.Content, s.Deployment().Provider)
	}
	if u, est := s.Usage(); est || u.PromptTokens != 1000 {
		t.Errorf("Usage() = %+v, estimated %v; want reported usage", u, est)
	}
	if n := len(s.Route().Attempts); n != 2 {
		t.Errorf("attempts = %d, want 2", n)
	}
}

// errAfterFirst is a provider whose stream fails after its first chunk.
type errAfterFirst struct{ fakeProvider }

func (e *errAfterFirst) ChatStream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	return &sliceStream{chunks: []llm.Chunk{{Content: "partial "}}, endErr: upErr("a", llm.KindConnection, 0)}, nil
}

func TestStreamFailureAfterFirstTokenEndsStream(t *testing.T) {
	b := &fakeProvider{text: "from b"}
	r := newTestRouter(t, []Deployment{
		{Provider: "a", UpstreamModel: "a", Weight: 1},
		{Provider: "b", UpstreamModel: "b", Weight: 1, Priority: 1},
	}, map[string]Provider{"a": &errAfterFirst{}, "b": b})
	s, err := r.ChatStream(testCtx(t), "gpt-4.1", &llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "hello"}}})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := llm.Collect(s)
	if err == nil {
		t.Fatal("Collect() error = nil, want the mid-stream failure")
	}
	if resp.Message.Content != "partial " {
		t.Errorf("content = %q, want only the first upstream's %q", resp.Message.Content, "partial ")
	}
	if len(b.seen) != 0 {
		t.Errorf("second provider was called after the first token: %v", b.seen)
	}
	u, est := s.Usage()
	if !est || u.CompletionTokens == 0 || u.PromptTokens == 0 {
		t.Errorf("Usage() = %+v, %v; want an estimate of the usage so far", u, est)
	}
	if last := s.Route().Attempts[0]; last.Outcome != OutcomeError {
		t.Errorf("attempt outcome = %q, want error", last.Outcome)
	}
}

// slowStream blocks until its context ends.
type slowProvider struct{ fakeProvider }

func (p *slowProvider) ChatStream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	return &ctxStream{ctx: ctx}, nil
}

type ctxStream struct{ ctx context.Context }

func (s *ctxStream) Recv() (llm.Chunk, error) {
	<-s.ctx.Done()
	return llm.Chunk{}, &llm.UpstreamError{Provider: "slow", Kind: llm.KindCanceled, Err: s.ctx.Err()}
}
func (s *ctxStream) Close() error { return nil }

func TestStreamFirstTokenTimeoutFailsOver(t *testing.T) {
	b := &fakeProvider{text: "from b"}
	r := newTestRouter(t, []Deployment{
		{Provider: "slow", UpstreamModel: "a", Weight: 1, Timeout: 50 * time.Millisecond},
		{Provider: "b", UpstreamModel: "b", Weight: 1, Priority: 1},
	}, map[string]Provider{"slow": &slowProvider{}, "b": b})
	s, err := r.ChatStream(testCtx(t), "gpt-4.1", &llm.Request{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Deployment().Provider != "b" {
		t.Errorf("provider = %q, want b after the first timed out", s.Deployment().Provider)
	}
	if a := s.Route().Attempts[0]; a.Kind != llm.KindTimeout {
		t.Errorf("first attempt kind = %q, want timeout", a.Kind)
	}
}

func TestCallerCancelStopsFailover(t *testing.T) {
	b := &fakeProvider{text: "from b"}
	r := newTestRouter(t, []Deployment{
		{Provider: "slow", UpstreamModel: "a", Weight: 1},
		{Provider: "b", UpstreamModel: "b", Weight: 1, Priority: 1},
	}, map[string]Provider{"slow": &slowProvider{}, "b": b})
	ctx, cancel := context.WithTimeout(testCtx(t), 50*time.Millisecond)
	defer cancel()
	_, err := r.ChatStream(ctx, "gpt-4.1", &llm.Request{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ChatStream() error = %v, want the caller's deadline", err)
	}
	if len(b.seen) != 0 {
		t.Errorf("failed over after the caller's deadline: %v", b.seen)
	}
}

func TestCatalogRejectsDuplicateNames(t *testing.T) {
	_, err := NewCatalog([]Model{
		{Name: "a", Aliases: []string{"x"}, Deployments: []Deployment{{Provider: "p"}}},
		{Name: "b", Aliases: []string{"X"}, Deployments: []Deployment{{Provider: "p"}}},
	})
	if err == nil {
		t.Fatal("NewCatalog() error = nil, want duplicate alias error")
	}
}
