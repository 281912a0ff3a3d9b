package upstream

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/llmgateway/llmgateway/llm"
	"github.com/llmgateway/llmgateway/providers/internal/sse"
)

// ErrStreamClosed is the cause of a stream's cancellation by Close: the
// KindCanceled error its Recv returns from then on wraps it.
var ErrStreamClosed = errors.New("stream closed")

// EventStream reads the server-sent events of a streamed answer and owns
// its attempt: the request's context, the body, and the first-event timer
// of a Caller with TimeoutFirstEvent. An adapter's llm.Stream embeds it,
// sets it up with Opened.Start, implements Decoder, and has Recv return
// NextChunk(itself).
//
// NextChunk, Fail, Finish and ReadError belong to Recv and must be called
// from one goroutine at a time; Close may be called from any goroutine, at
// any time, more than once.
type EventStream struct {
	provider string
	ctx      context.Context
	cancel   context.CancelCauseFunc
	timer    *time.Timer // nil unless the first event is awaited under a timeout
	body     io.ReadCloser
	events   *sse.Reader

	releaseOnce sync.Once
	closed      atomic.Bool

	// The fields below belong to Recv.
	err     error // terminal: io.EOF or the failure
	started bool  // an event was received
}

// Decoder maps the events of a provider's stream to chunks, for
// EventStream.NextChunk. An adapter's stream implements it.
type Decoder interface {
	// Decode maps one event. It returns ok false when the event carries
	// nothing to return, and an error that ends the stream when the event
	// is malformed or reports a failure. It may end the stream normally
	// with Finish, returning the last chunk, if any, with ok true.
	Decode(ev sse.Event) (c llm.Chunk, ok bool, err error)
	// EndOfEvents handles err, with which reading the next event failed
	// (see ReadError), and ends the stream: with a last chunk, or with
	// io.EOF or the error, which it passes to Fail.
	EndOfEvents(err error) (llm.Chunk, error)
}

// NextChunk returns the next chunk d makes of the events, io.EOF after
// the last, or the error that ended the stream: the error given to Fail
// or, once Close has been called, a KindCanceled error wrapping
// ErrStreamClosed. The first event stops the first-event timer. An
// adapter's Recv calls it with its stream as d.
func (s *EventStream) NextChunk(d Decoder) (llm.Chunk, error) {
	if s.err != nil {
		return llm.Chunk{}, s.err
	}
	if s.closed.Load() {
		return llm.Chunk{}, s.Fail(s.closedError())
	}
	for {
		ev, err := s.events.Next()
		if err != nil {
			return d.EndOfEvents(err)
		}
		if !s.started {
			s.start()
		}
		c, ok, err := d.Decode(ev)
		switch {
		case err != nil:
			return llm.Chunk{}, s.Fail(err)
		case ok:
			return c, nil
		case s.err != nil: // Decode ended the stream with nothing to return
			return llm.Chunk{}, s.err
		}
	}
}

// start notes that the first event came, and stops the first-event timer.
func (s *EventStream) start() {
	s.started = true
	if s.timer != nil {
		s.timer.Stop()
	}
}

// Fail ends the stream with err, releases the attempt and returns err.
func (s *EventStream) Fail(err error) error {
	s.err = err
	s.release(nil)
	return err
}

// Finish ends the stream normally (Err returns io.EOF from then on) and
// releases the attempt.
func (s *EventStream) Finish() {
	s.err = io.EOF
	s.release(nil)
}

// Closed reports whether Close has been called.
func (s *EventStream) Closed() bool { return s.closed.Load() }

// Context returns the attempt's context.
func (s *EventStream) Context() context.Context { return s.ctx }

// ReadError returns the error for err, with which reading the next event
// failed:
//
//   - after Close: KindCanceled, wrapping ErrStreamClosed;
//   - the body ended (io.EOF) or was cut (io.ErrUnexpectedEOF):
//     KindConnection, retryable, with eofMessage, for the adapter knows
//     what its stream still lacked;
//   - an event over the bound (sse.ErrTooLarge): KindMalformed with
//     tooLargeMessage;
//   - anything else: what FromTransportError makes of it, so that the
//     caller's cancellation or deadline is reported as such.
func (s *EventStream) ReadError(err error, eofMessage, tooLargeMessage string) *llm.UpstreamError {
	if s.closed.Load() {
		return s.closedError()
	}
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return &llm.UpstreamError{
			Provider:  s.provider,
			Kind:      llm.KindConnection,
			Retryable: true,
			Message:   eofMessage,
			Err:       err,
		}
	case errors.Is(err, sse.ErrTooLarge):
		return Malformed(s.provider, http.StatusOK, tooLargeMessage, err)
	}
	return FromTransportError(s.ctx, s.provider, err)
}

func (s *EventStream) closedError() *llm.UpstreamError {
	return &llm.UpstreamError{Provider: s.provider, Kind: llm.KindCanceled, Err: ErrStreamClosed}
}

// release stops the first-event timer, cancels the upstream request and
// closes the body, once.
func (s *EventStream) release(cause error) {
	s.releaseOnce.Do(func() {
		if s.timer != nil {
			s.timer.Stop()
		}
		s.cancel(cause)
		s.body.Close()
	})
}

// Close cancels the upstream request and releases the connection. A Recv
// blocked in another goroutine returns a KindCanceled error.
func (s *EventStream) Close() error {
	s.closed.Store(true)
	s.release(ErrStreamClosed)
	return nil
}

// Replay returns a stream of chunks, for an answer that was read whole,
// such as the JSON body an upstream sends to a streamed request. Its Close
// does nothing: the body was read and released before.
func Replay(chunks ...llm.Chunk) llm.Stream {
	return &replayStream{chunks: chunks}
}

type replayStream struct {
	chunks []llm.Chunk
	next   int
}

func (s *replayStream) Recv() (llm.Chunk, error) {
	if s.next >= len(s.chunks) {
		return llm.Chunk{}, io.EOF
	}
	s.next++
	return s.chunks[s.next-1], nil
}

func (s *replayStream) Close() error { return nil }

// ToolCallDeltas returns calls as the fragments that stream them whole, one
// per call, indexed in order; nil when there are none.
func ToolCallDeltas(calls []llm.ToolCall) []llm.ToolCallDelta {
	var ds []llm.ToolCallDelta
	for i, tc := range calls {
		ds = append(ds, llm.ToolCallDelta{Index: i, ID: tc.ID, Name: tc.Name, Arguments: tc.Arguments})
	}
	return ds
}
