package gemini

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/llmgateway/llmgateway/llm"
	"github.com/llmgateway/llmgateway/providers/internal/sse"
	"github.com/llmgateway/llmgateway/providers/internal/upstream"
)

// errStreamClosed is the cause of a stream's cancellation by Close.
var errStreamClosed = errors.New("stream closed")

// stream reads GenerateContentResponse events from an SSE body
// (streamGenerateContent?alt=sse). Gemini sends no end marker: the body
// ends after the chunk with the finish reason.
//
// Recv must be called from one goroutine at a time; Close may be called
// from any goroutine, at any time, more than once.
type stream struct {
	provider string
	ctx      context.Context
	cancel   context.CancelCauseFunc
	body     io.ReadCloser
	events   *sse.Reader

	releaseOnce sync.Once
	closed      atomic.Bool

	// The fields below belong to Recv.
	err  error // terminal: io.EOF or the failure
	dec  decoder
	wire generateResponse // decoding target, reused
}

var _ llm.Stream = (*stream)(nil)

func (c *Client) newStream(ctx context.Context, cancel context.CancelCauseFunc, body io.ReadCloser) *stream {
	return &stream{
		provider: c.name,
		ctx:      ctx,
		cancel:   cancel,
		body:     body,
		events:   sse.NewReader(body, sse.WithMaxEventSize(c.opts.maxEventBytes)),
		dec:      decoder{provider: c.name, status: http.StatusOK},
	}
}

// Recv returns the next chunk, io.EOF after the last, or an
// *llm.UpstreamError.
//
// Gemini reports running usage totals on its chunks; the last reported is
// returned once, in a chunk of its own after the chunk with the finish
// reason, when the body ends. A body that ends before any chunk with a
// finish reason (or a prompt block) is a KindConnection error.
func (s *stream) Recv() (llm.Chunk, error) {
	if s.err != nil {
		return llm.Chunk{}, s.err
	}
	if s.closed.Load() {
		return s.fail(&llm.UpstreamError{Provider: s.provider, Kind: llm.KindCanceled, Err: errStreamClosed})
	}
	for {
		ev, err := s.events.Next()
		if err != nil {
			return s.endOnReadError(err)
		}
		data := bytes.TrimSpace(ev.Data)
		if len(data) == 0 {
			continue
		}
		c, ok, err := s.decode(data)
		if err != nil {
			return s.fail(err)
		}
		if ok {
			return c, nil
		}
	}
}

// decode maps one event; ok is false when it carries nothing to return.
func (s *stream) decode(data []byte) (llm.Chunk, bool, error) {
	w := &s.wire
	cands := w.Candidates
	clear(cands[:cap(cands)])
	*w = generateResponse{Candidates: cands[:0]}
	if err := json.Unmarshal(data, w); err != nil {
		return llm.Chunk{}, false, &llm.UpstreamError{
			Provider:   s.provider,
			Kind:       llm.KindMalformed,
			StatusCode: http.StatusOK,
			Retryable:  llm.KindMalformed.Retryable(),
			Message:    "decoding stream chunk",
			Err:        err,
		}
	}
	return s.dec.chunk(w)
}

// end finishes the stream normally: it returns the usage chunk if usage
// was reported, and io.EOF from then on.
func (s *stream) end() (llm.Chunk, error) {
	s.err = io.EOF
	s.release(nil)
	if s.dec.hasUsage {
		s.dec.hasUsage = false
		u := s.dec.usage
		return llm.Chunk{Usage: &u, Model: s.dec.model}, nil
	}
	return llm.Chunk{}, io.EOF
}

// endOnReadError handles the end of the event stream.
func (s *stream) endOnReadError(err error) (llm.Chunk, error) {
	if s.closed.Load() {
		return s.fail(&llm.UpstreamError{Provider: s.provider, Kind: llm.KindCanceled, Err: errStreamClosed})
	}
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		if s.dec.finished {
			// The answer is complete; a cut after it loses at most a
			// later usage update.
			return s.end()
		}
		return s.fail(&llm.UpstreamError{
			Provider:  s.provider,
			Kind:      llm.KindConnection,
			Retryable: true,
			Message:   "stream ended before a finish reason",
			Err:       err,
		})
	case errors.Is(err, sse.ErrTooLarge):
		return s.fail(&llm.UpstreamError{
			Provider:   s.provider,
			Kind:       llm.KindMalformed,
			StatusCode: http.StatusOK,
			Retryable:  llm.KindMalformed.Retryable(),
			Err:        err,
		})
	}
	return s.fail(upstream.FromTransportError(s.ctx, s.provider, err))
}

// fail ends the stream with err.
func (s *stream) fail(err error) (llm.Chunk, error) {
	s.err = err
	s.release(nil)
	return llm.Chunk{}, err
}

// release cancels the upstream request and closes the body, once.
func (s *stream) release(cause error) {
	s.releaseOnce.Do(func() {
		s.cancel(cause)
		s.body.Close()
	})
}

// Close cancels the upstream request and releases the connection. A Recv
// blocked in another goroutine returns a KindCanceled error.
func (s *stream) Close() error {
	s.closed.Store(true)
	s.release(errStreamClosed)
	return nil
}

// replayJSON handles a streamed request answered with a JSON body: an
// error object, or the whole answer as a JSON array of chunks (what
// streamGenerateContent returns without alt=sse) or as one object. The
// answer is replayed as a stream; the body has been read in full, so a
// missing finish reason is taken as a normal stop.
func (c *Client) replayJSON(ctx context.Context, resp *http.Response) (llm.Stream, error) {
	var raw json.RawMessage
	if err := upstream.ReadJSON(ctx, c.name, resp, c.opts.maxResponseBytes, &raw); err != nil {
		return nil, err
	}
	var objs []generateResponse
	if raw = bytes.TrimSpace(raw); len(raw) > 0 && raw[0] == '[' {
		if err := json.Unmarshal(raw, &objs); err != nil {
			return nil, c.malformed(resp.StatusCode, err)
		}
	} else {
		objs = make([]generateResponse, 1)
		if err := json.Unmarshal(raw, &objs[0]); err != nil {
			return nil, c.malformed(resp.StatusCode, err)
		}
	}
	d := decoder{provider: c.name, status: resp.StatusCode}
	var chunks []llm.Chunk
	for i := range objs {
		ch, ok, err := d.chunk(&objs[i])
		if err != nil {
			return nil, err
		}
		if ok {
			chunks = append(chunks, ch)
		}
	}
	if !d.finished {
		if len(chunks) == 0 {
			return nil, &llm.UpstreamError{
				Provider:   c.name,
				Kind:       llm.KindMalformed,
				StatusCode: resp.StatusCode,
				Retryable:  llm.KindMalformed.Retryable(),
				Message:    "response has no candidates and no prompt block reason",
			}
		}
		chunks = append(chunks, llm.Chunk{FinishReason: finishReason("STOP", d.calls > 0), Model: d.model})
	}
	if d.hasUsage {
		u := d.usage
		chunks = append(chunks, llm.Chunk{Usage: &u, Model: d.model})
	}
	return &replayStream{chunks: chunks}, nil
}

// malformed returns the error for a body that is JSON but not the
// expected shape.
func (c *Client) malformed(status int, err error) *llm.UpstreamError {
	return &llm.UpstreamError{
		Provider:   c.name,
		Kind:       llm.KindMalformed,
		StatusCode: status,
		Retryable:  llm.KindMalformed.Retryable(),
		Message:    "decoding response body",
		Err:        err,
	}
}

// replayStream replays chunks decoded from a JSON body.
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

// Close does nothing: the body was read and released before the first
// Recv.
func (s *replayStream) Close() error { return nil }
