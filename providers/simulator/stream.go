package simulator

import (
	"context"
	"errors"
	"io"

	"github.com/llmgateway/llmgateway/llm"
)

// errClosed is the cancellation cause of a stream its caller closed.
var errClosed = errors.New("stream closed")

// stream sends a reply one token per chunk. It generates each chunk in
// Recv, waiting on a timer that stops when the request's context ends or
// the stream is closed, so it needs no goroutine of its own.
type stream struct {
	p      *Provider
	ctx    context.Context // the request's, cancelled by Close
	cancel context.CancelCauseFunc
	model  string
	c      *call

	// Recv's state; Recv is not called concurrently with itself.
	sent int   // tokens sent
	pos  int   // offset of the next token in the text or arguments
	err  error // io.EOF or the error that ended the stream
}

func newStream(ctx context.Context, p *Provider, model string, c *call) *stream {
	sctx, cancel := context.WithCancelCause(ctx)
	return &stream{p: p, ctx: sctx, cancel: cancel, model: model, c: c}
}

// Recv returns the next token, after the first-token latency for the first
// and the token interval for the others; then a chunk with the finish
// reason and usage; then io.EOF. When the request's context ends or the
// stream is closed, it returns promptly with llm.KindTimeout or
// llm.KindCanceled; a simulated cut returns llm.KindConnection. After an
// error it keeps returning that error.
func (s *stream) Recv() (llm.Chunk, error) {
	if s.err != nil {
		return llm.Chunk{}, s.err
	}
	if err := s.ctx.Err(); err != nil {
		return llm.Chunk{}, s.end(s.ctxError(err))
	}
	r := &s.c.reply
	if s.sent == s.c.cutAt {
		if err := s.wait(); err != nil {
			return llm.Chunk{}, s.end(err)
		}
		return llm.Chunk{}, s.end(s.p.cutError(s.c))
	}
	if s.sent < r.tokens {
		if err := s.wait(); err != nil {
			return llm.Chunk{}, s.end(err)
		}
		return s.next(r), nil
	}
	if r.tokens == 0 {
		// An empty reply: the end itself is the first event.
		if err := s.wait(); err != nil {
			return llm.Chunk{}, s.end(err)
		}
	}
	usage := r.usage
	s.end(io.EOF)
	return llm.Chunk{FinishReason: r.finish, Usage: &usage, Model: s.model}, nil
}

// next returns the chunk of the next token.
func (s *stream) next(r *reply) llm.Chunk {
	ch := llm.Chunk{Model: s.model}
	switch {
	case r.call == nil:
		end := nextToken(r.text, s.pos)
		ch.Content = r.text[s.pos:end]
		s.pos = end
	case s.sent == 0:
		ch.ToolCalls = []llm.ToolCallDelta{{Index: 0, ID: r.call.ID, Name: r.call.Name}}
	default:
		end := nextArgToken(r.call.Arguments, s.pos)
		ch.ToolCalls = []llm.ToolCallDelta{{Index: 0, Arguments: r.call.Arguments[s.pos:end]}}
		s.pos = end
	}
	s.sent++
	return ch
}

// wait waits for the next event: the first-token latency, then the token
// interval.
func (s *stream) wait() error {
	d := s.c.interval
	if s.sent == 0 {
		d = s.c.latency
	}
	if err := s.p.sleep(s.ctx, d); err != nil {
		return s.ctxError(err)
	}
	return nil
}

// ctxError is the error of a stream whose context ended with err.
func (s *stream) ctxError(err error) error {
	if context.Cause(s.ctx) == errClosed {
		return &llm.UpstreamError{
			Provider: s.p.name,
			Kind:     llm.KindCanceled,
			Message:  "stream closed by the caller",
			Err:      context.Canceled,
		}
	}
	return s.p.waitError(err, "context ended while streaming")
}

// end records the error that ends the stream, releases its context and
// returns err.
func (s *stream) end(err error) error {
	s.err = err
	s.cancel(errClosed)
	return err
}

// Close stops the stream: a Recv waiting for a token returns at once. It is
// safe to call at any time, more than once, and concurrently with Recv.
func (s *stream) Close() error {
	s.cancel(errClosed)
	return nil
}
