package routing

import (
	"context"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/llmgateway/llmgateway/llm"
)

type attemptKey struct{}

// eventLog is an Observer that records what it is told, one line per
// event, and marks each attempt's context with its number.
type eventLog struct {
	mu     sync.Mutex
	events []string
	n      int
}

var _ Observer = (*eventLog)(nil)

func (l *eventLog) add(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, fmt.Sprintf(format, args...))
}

func (l *eventLog) Events() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.events...)
}

func (l *eventLog) AttemptStarted(ctx context.Context, s AttemptStart) context.Context {
	l.mu.Lock()
	l.n++
	n := l.n
	l.mu.Unlock()
	l.add("start %d %s %s stream=%v", n, s.Key.Provider, s.Cause, s.Stream)
	return context.WithValue(ctx, attemptKey{}, n)
}

func (l *eventLog) AttemptFinished(ctx context.Context, a *Attempt, u *llm.Usage) {
	usage := "none"
	if u != nil {
		usage = fmt.Sprintf("%d/%d", u.PromptTokens, u.CompletionTokens)
	}
	l.add("end %v %s %s usage=%s", ctx.Value(attemptKey{}), a.Provider, a.Outcome, usage)
}

func (l *eventLog) BreakerChanged(k Key, from, to BreakerState) {
	l.add("breaker %s %s->%s", k.Provider, from, to)
}

// ctxProvider answers every call and records the attempt number its
// context carries.
type ctxProvider struct {
	mu   sync.Mutex
	seen []any
}

func (p *ctxProvider) record(ctx context.Context) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen = append(p.seen, ctx.Value(attemptKey{}))
}

func (p *ctxProvider) Chat(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	p.record(ctx)
	return &llm.Response{Message: llm.Message{Role: llm.RoleAssistant, Content: "hi"}, Usage: llm.Usage{PromptTokens: 3, CompletionTokens: 1}}, nil
}

func (p *ctxProvider) ChatStream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	p.record(ctx)
	return &scriptStream{p: &scriptProvider{}, ctx: ctx, chunks: []llm.Chunk{{Content: "hi"}}}, nil
}

func TestObserverUnary(t *testing.T) {
	tests := []struct {
		name   string
		a, b   reply
		oneDep bool
		policy RetryPolicy
		want   []string
	}{
		{
			name: "first attempt answers",
			want: []string{"start 1 a first stream=false", "end 1 a ok usage=100/10"},
		},
		{
			name: "failover to the next deployment",
			a:    reply{err: serverErr("a")},
			want: []string{
				"start 1 a first stream=false", "end 1 a error usage=none",
				"start 2 b failover stream=false", "end 2 b ok usage=100/10",
			},
		},
		{
			name: "retry after a back-off", oneDep: true,
			a:      reply{err: serverErr("a")},
			policy: RetryPolicy{MaxAttempts: 2, Backoff: time.Millisecond},
			want: []string{
				"start 1 a first stream=false", "end 1 a error usage=none",
				"start 2 a retry stream=false", "end 2 a error usage=none",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := &eventLog{}
			a := &scriptProvider{name: "a", def: tt.a}
			b := &scriptProvider{name: "b", def: tt.b}
			deps := []Deployment{{Provider: "a", UpstreamModel: "a", Weight: 1}, {Provider: "b", UpstreamModel: "b", Weight: 1, Priority: 1}}
			if tt.oneDep {
				deps = deps[:1]
			}
			opts := []Option{WithObserver(log), WithBreaker(BreakerPolicy{}), WithSleep((&recorder{}).sleep)}
			if tt.policy.MaxAttempts > 0 {
				opts = append(opts, WithRetry(tt.policy))
			}
			r := newTestRouter(t, deps, map[string]Provider{"a": a, "b": b}, opts...)
			_, _ = r.Chat(testCtx(t), "gpt-4.1", hello())
			if diff := cmp.Diff(tt.want, log.Events()); diff != "" {
				t.Errorf("observed events (-want +got):\n%s", diff)
			}
		})
	}
}

func TestObserverHedge(t *testing.T) {
	log := &eventLog{}
	a := &scriptProvider{name: "a", def: reply{delay: 10 * time.Second}}
	b := &scriptProvider{name: "b"}
	r := hedgeRouter(t, a, b, HedgePolicy{Delay: 20 * time.Millisecond}, WithObserver(log))
	if _, err := r.Chat(testCtx(t), "m", hello()); err != nil {
		t.Fatalf("Chat() error = %v", err)
	}
	want := []string{
		"start 1 a first stream=false", "start 2 b hedge stream=false",
		"end 1 a hedge_lost usage=none", "end 2 b ok usage=100/10",
	}
	if diff := cmp.Diff(want, log.Events()); diff != "" {
		t.Errorf("observed events (-want +got):\n%s", diff)
	}
}

func TestObserverStream(t *testing.T) {
	tests := []struct {
		name  string
		a     reply
		read  bool // read the stream to its end before closing it
		want  []string
		wantN int
	}{
		{
			name: "the answering attempt ends with its stream", read: true,
			want: []string{"start 1 a first stream=true", "end 1 a ok usage=100/10"},
		},
		{
			name: "a stream closed early ends its attempt",
			want: []string{"start 1 a first stream=true", "end 1 a ok usage=none"},
		},
		{
			name: "a failure before the first token fails over", read: true,
			a: reply{err: serverErr("a")},
			want: []string{
				"start 1 a first stream=true", "end 1 a error usage=none",
				"start 2 b failover stream=true", "end 2 b ok usage=100/10",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := &eventLog{}
			a := &scriptProvider{name: "a", def: tt.a}
			b := &scriptProvider{name: "b"}
			deps := []Deployment{{Provider: "a", UpstreamModel: "a", Weight: 1}, {Provider: "b", UpstreamModel: "b", Weight: 1, Priority: 1}}
			r := newTestRouter(t, deps, map[string]Provider{"a": a, "b": b}, WithObserver(log), WithBreaker(BreakerPolicy{}))
			s, err := r.ChatStream(testCtx(t), "gpt-4.1", hello())
			if err != nil {
				t.Fatalf("ChatStream() error = %v", err)
			}
			if tt.read {
				for {
					if _, err := s.Recv(); err == io.EOF {
						break
					} else if err != nil {
						t.Fatalf("Recv() error = %v", err)
					}
				}
			}
			s.Close()
			s.Close()
			if diff := cmp.Diff(tt.want, log.Events()); diff != "" {
				t.Errorf("observed events (-want +got):\n%s", diff)
			}
		})
	}
}

func TestObserverBreakerAndContext(t *testing.T) {
	log := &eventLog{}
	p := &ctxProvider{}
	bad := &scriptProvider{name: "a", def: reply{err: serverErr("a")}}
	deps := []Deployment{{Provider: "a", UpstreamModel: "a", Weight: 1}, {Provider: "b", UpstreamModel: "b", Weight: 1, Priority: 1}}
	r := newTestRouter(t, deps, map[string]Provider{"a": bad, "b": p}, WithObserver(log),
		WithBreaker(BreakerPolicy{ConsecutiveFailures: 1, OpenFor: time.Minute}))
	if _, err := r.Chat(testCtx(t), "gpt-4.1", hello()); err != nil {
		t.Fatalf("Chat() error = %v", err)
	}
	want := []string{
		"start 1 a first stream=false", "end 1 a error usage=none", "breaker a closed->open",
		"start 2 b failover stream=false", "end 2 b ok usage=3/1",
	}
	if diff := cmp.Diff(want, log.Events()); diff != "" {
		t.Errorf("observed events (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]any{2}, p.seen); diff != "" {
		t.Errorf("provider saw attempt contexts (-want +got):\n%s", diff)
	}
}

func TestObserversInOrder(t *testing.T) {
	first, second := &eventLog{}, &eventLog{n: 10}
	p := &ctxProvider{}
	r := newTestRouter(t, []Deployment{{Provider: "b", UpstreamModel: "b", Weight: 1}}, map[string]Provider{"b": p},
		WithObserver(first), WithObserver(second))
	if _, err := r.Chat(testCtx(t), "gpt-4.1", hello()); err != nil {
		t.Fatalf("Chat() error = %v", err)
	}
	// The second observer's context wraps the first's: the provider, and
	// both observers at the end, see the attempt's context with both
	// marks, the second's shadowing the first's.
	if diff := cmp.Diff([]any{11}, p.seen); diff != "" {
		t.Errorf("provider saw (-want +got):\n%s", diff)
	}
	if got := first.Events(); len(got) != 2 || got[1] != "end 11 b ok usage=3/1" {
		t.Errorf("first observer events = %v", got)
	}
}
