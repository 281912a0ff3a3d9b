package routing

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/llmgateway/llmgateway/llm"
)

// reply is what a scriptProvider does for one call: wait delay (or until
// the call's context ends), then fail with err or answer with text.
type reply struct {
	delay time.Duration
	err   error
	text  string
}

// scriptProvider answers each call with the next reply of its script, and
// with def once the script is used up. It counts calls, and calls whose
// context ended while they waited.
type scriptProvider struct {
	name string
	def  reply

	mu        sync.Mutex
	script    []reply
	calls     int
	cancelled int
	models    []string
}

func (p *scriptProvider) next(req *llm.Request) reply {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	p.models = append(p.models, req.Model)
	if len(p.script) == 0 {
		return p.def
	}
	r := p.script[0]
	p.script = p.script[1:]
	return r
}

func (p *scriptProvider) Calls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls
}

func (p *scriptProvider) Cancelled() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cancelled
}

// wait waits d or until ctx ends, returning the error a provider would.
func (p *scriptProvider) wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		p.mu.Lock()
		p.cancelled++
		p.mu.Unlock()
		return &llm.UpstreamError{Provider: p.name, Kind: llm.KindCanceled, Err: ctx.Err()}
	}
}

func (p *scriptProvider) text(r reply) string {
	if r.text != "" {
		return r.text
	}
	return "answer from " + p.name
}

func (p *scriptProvider) Chat(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	r := p.next(req)
	if err := p.wait(ctx, r.delay); err != nil {
		return nil, err
	}
	if r.err != nil {
		return nil, r.err
	}
	return &llm.Response{Model: req.Model, Message: llm.Message{Role: llm.RoleAssistant, Content: p.text(r)},
		FinishReason: llm.FinishStop, Usage: llm.Usage{PromptTokens: 100, CompletionTokens: 10}}, nil
}

// ChatStream returns a stream at once (an error after delay); the stream's
// first chunk comes after delay.
func (p *scriptProvider) ChatStream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	r := p.next(req)
	if r.err != nil {
		if err := p.wait(ctx, r.delay); err != nil {
			return nil, err
		}
		return nil, r.err
	}
	u := llm.Usage{PromptTokens: 100, CompletionTokens: 10}
	return &scriptStream{p: p, ctx: ctx, delay: r.delay,
		chunks: []llm.Chunk{{Content: p.text(r)}, {FinishReason: llm.FinishStop, Usage: &u}}}, nil
}

type scriptStream struct {
	p      *scriptProvider
	ctx    context.Context
	delay  time.Duration
	chunks []llm.Chunk
	mu     sync.Mutex
	closed bool
}

func (s *scriptStream) Recv() (llm.Chunk, error) {
	if s.delay > 0 {
		d := s.delay
		s.delay = 0
		if err := s.p.wait(s.ctx, d); err != nil {
			return llm.Chunk{}, err
		}
	}
	if len(s.chunks) == 0 {
		return llm.Chunk{}, io.EOF
	}
	c := s.chunks[0]
	s.chunks = s.chunks[1:]
	return c, nil
}

func (s *scriptStream) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}

func serverErr(p string) error {
	return &llm.UpstreamError{Provider: p, Kind: llm.KindServer, StatusCode: 500, Retryable: true}
}

// recorder is a SleepFunc that advances a fake clock and records waits.
type recorder struct {
	clock *fakeClock
	mu    sync.Mutex
	waits []time.Duration
}

func (r *recorder) sleep(ctx context.Context, d time.Duration) error {
	r.mu.Lock()
	r.waits = append(r.waits, d)
	r.mu.Unlock()
	if r.clock != nil {
		r.clock.Advance(d)
	}
	return ctx.Err()
}

func (r *recorder) Waits() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Duration(nil), r.waits...)
}

func hello() *llm.Request {
	return &llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "hello"}}}
}

func outcomes(atts []Attempt) []string {
	out := make([]string, len(atts))
	for i, a := range atts {
		out[i] = a.Provider + ":" + string(a.Outcome)
	}
	return out
}

// attemptsOf returns the attempts of a result or of a NoRouteError.
func attemptsOf(res *Result, err error) []Attempt {
	if res != nil {
		return res.Route.Attempts
	}
	if nr, ok := err.(*NoRouteError); ok {
		return nr.Attempts
	}
	return nil
}

// catalogOf builds a catalog of models, each served by its providers with
// priorities in their order.
func catalogOf(t testing.TB, spec map[string][]string) *Catalog {
	var models []Model
	for name, provs := range spec {
		m := Model{Name: name, Pricing: llm.Pricing{InputPerMTok: 1, OutputPerMTok: 2}}
		for i, p := range provs {
			m.Deployments = append(m.Deployments, Deployment{Provider: p, UpstreamModel: name + "@" + p, Weight: 1, Priority: i})
		}
		models = append(models, m)
	}
	c, err := NewCatalog(models)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func contextWithTimeout(t *testing.T, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(testCtx(t), d)
}
