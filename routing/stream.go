package routing

import (
	"context"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/llmgateway/llmgateway/llm"
)

// Stream is a routed streamed response: one deployment's stream, already
// past its first content. It is not safe for concurrent Recv calls; Close
// may be called from any goroutine.
type Stream struct {
	up           llm.Stream
	cancel       func()
	cancelFlight context.CancelFunc
	stopTimer    func() bool
	model        *Model
	dep          Deployment
	st           *depState
	r            *Router
	ctx          context.Context // the caller's
	req          *llm.Request
	route        Route
	att          int // the answering attempt in route
	pending      []llm.Chunk
	tk           ticket
	judge        atomic.Bool // the stream's end is still to be recorded in its breaker

	start      time.Time
	firstToken time.Duration
	hedgeCost  float64
	text       int64 // estimated tokens of content relayed so far
	usage      *llm.Usage
	finish     llm.FinishReason
	err        error
	done       bool
	closeOnce  sync.Once

	// octx is the answering attempt's context from the observers, set
	// once the stream is handed to the caller; observed reports that they
	// were told the attempt is over. obsMu orders end against a Close
	// from another goroutine.
	octx     context.Context
	obsMu    sync.Mutex
	observed bool
}

// Recv returns the next chunk, io.EOF after the last, or the error that
// ended the stream.
func (s *Stream) Recv() (llm.Chunk, error) {
	if s.done {
		if s.err != nil {
			return llm.Chunk{}, s.err
		}
		return llm.Chunk{}, io.EOF
	}
	var c llm.Chunk
	if len(s.pending) > 0 {
		c = s.pending[0]
		s.pending = s.pending[1:]
	} else {
		var err error
		c, err = s.up.Recv()
		if err != nil {
			s.end(err)
			if err == io.EOF {
				return llm.Chunk{}, io.EOF
			}
			return llm.Chunk{}, err
		}
	}
	s.text += llm.EstimateTokens(c.Content)
	for _, tc := range c.ToolCalls {
		s.text += llm.EstimateTokens(tc.Name) + llm.EstimateTokens(tc.Arguments)
	}
	if c.Usage != nil {
		u := *c.Usage
		s.usage = &u
	}
	if c.FinishReason != "" {
		s.finish = c.FinishReason
	}
	return c, nil
}

// end records how the stream ended. A failure after the first token that
// the upstream caused counts against the deployment's breaker; reaching
// the end counts for it.
func (s *Stream) end(err error) {
	s.done = true
	now := s.r.opts.now()
	s.obsMu.Lock()
	last := &s.route.Attempts[s.att]
	last.Latency = now.Sub(s.start)
	v := verdictSuccess
	if err != io.EOF {
		s.err = err
		callerDone := s.ctx.Err() != nil
		last.Outcome = OutcomeError
		if ue, ok := llm.AsUpstream(err); ok {
			last.Error = ue.Summary()
			last.Kind = ue.Kind
			last.StatusCode = ue.StatusCode
			if ue.Kind == llm.KindCanceled || callerDone {
				last.Outcome = OutcomeCanceled
			}
		} else {
			last.Error = "stream ended: " + err.Error()
		}
		v = verdictOf(err, callerDone)
		s.r.opts.logger.Warn("upstream stream failed after first token",
			"provider", s.dep.Provider, "model", s.model.Name, "error", err)
	}
	s.observedLocked(last, s.usage)
	s.obsMu.Unlock()
	s.judged(now, v)
	s.Close()
}

// observedLocked tells the observers, once, that the answering attempt is
// over. s.obsMu is held.
func (s *Stream) observedLocked(a *Attempt, u *llm.Usage) {
	if s.octx == nil || s.observed {
		return
	}
	s.observed = true
	s.r.attemptFinished(s.octx, a, u)
}

// judged records the stream's verdict in its deployment's breaker, once.
func (s *Stream) judged(now time.Time, v verdict) {
	if !s.judge.CompareAndSwap(true, false) {
		return
	}
	s.r.logTransition(s.st.key, s.st.breaker.record(now, &s.r.opts.breaker, s.tk, v))
}

// Close ends the stream and cancels the upstream request. A stream the
// caller closes before its end counts as a success for the deployment: it
// was answering.
func (s *Stream) Close() error {
	s.closeOnce.Do(func() {
		now := s.r.opts.now()
		s.obsMu.Lock()
		if s.octx != nil && !s.observed {
			// Closed before its end: the attempt lasted until now. The
			// usage, if any, is Recv's to read.
			a := s.route.Attempts[s.att]
			a.Latency = now.Sub(s.start)
			s.observedLocked(&a, nil)
		}
		s.obsMu.Unlock()
		s.judged(now, verdictSuccess)
		s.up.Close()
		s.cancel()
		if s.cancelFlight != nil {
			s.cancelFlight()
		}
		s.stopTimer()
	})
	return nil
}

// Model returns the model answering.
func (s *Stream) Model() *Model { return s.model }

// Deployment returns the deployment answering.
func (s *Stream) Deployment() Deployment { return s.dep }

// Route returns the route so far; after the stream ended it is final.
func (s *Stream) Route() Route { return s.route }

// FirstToken returns the time from the start of the answering attempt to
// its first content.
func (s *Stream) FirstToken() time.Duration { return s.firstToken }

// Usage returns the usage the upstream reported, or, when the stream ended
// before it did, an estimate from the request and the content relayed so
// far (estimated is then true).
func (s *Stream) Usage() (u llm.Usage, estimated bool) {
	if s.usage != nil {
		return *s.usage, false
	}
	return llm.Usage{PromptTokens: llm.EstimatePromptTokens(s.req), CompletionTokens: s.text}, true
}

// Cost returns what the request cost in US dollars: the price of Usage
// plus HedgeCost.
func (s *Stream) Cost() float64 {
	u, _ := s.Usage()
	return s.model.Pricing.Cost(u) + s.hedgeCost
}

// HedgeCost returns the estimated price of the attempts that lost a hedge
// race, included in Cost.
func (s *Stream) HedgeCost() float64 { return s.hedgeCost }
