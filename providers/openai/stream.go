package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"sync"
	"sync/atomic"

	"github.com/llmgateway/llmgateway/llm"
	"github.com/llmgateway/llmgateway/providers/internal/sse"
	"github.com/llmgateway/llmgateway/providers/internal/upstream"
)

// errStreamClosed is the cause of a stream's cancellation by Close.
var errStreamClosed = errors.New("stream closed")

// doneMarker is the data of the event that ends an OpenAI stream.
var doneMarker = []byte("[DONE]")

// stream reads chat.completion.chunk events from an SSE body.
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
	err      error // terminal: io.EOF or the failure
	finished bool  // a finish reason was seen
	usage    *llm.Usage
	model    string
	tools    toolIndexer
	wire     chatChunk     // decoding target, reused
	src      bytes.Reader  // the event data being decoded
	dec      *json.Decoder // reads src; reused so that decoding state is too
}

var _ llm.Stream = (*stream)(nil)

func (c *Client) newStream(ctx context.Context, cancel context.CancelCauseFunc, body io.ReadCloser) *stream {
	s := &stream{
		provider: c.name,
		ctx:      ctx,
		cancel:   cancel,
		body:     body,
		events:   sse.NewReader(body, sse.WithMaxEventSize(c.opts.maxEventBytes)),
	}
	s.dec = json.NewDecoder(&s.src)
	return s
}

// Recv returns the next chunk, io.EOF after the last, or an
// *llm.UpstreamError.
//
// The usage the upstream reports (in the final usage-only chunk that
// stream_options.include_usage asks for, or on any chunk by servers that
// send running totals) is returned once, in a chunk of its own after the
// chunk with the finish reason, when the stream ends. A stream without
// usage reports none.
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
		if ev.Name == "error" {
			e := parseErrorBody(data)
			if e == nil {
				e = &wireError{Message: string(data)}
			}
			return s.fail(upstreamErrorFromObject(s.provider, e, 200))
		}
		if len(data) == 0 {
			continue
		}
		if bytes.Equal(data, doneMarker) {
			return s.end()
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

// decode maps one chunk; ok is false when it carries nothing to return.
func (s *stream) decode(data []byte) (c llm.Chunk, ok bool, err error) {
	w := &s.wire
	choices := w.Choices
	clear(choices[:cap(choices)])
	*w = chatChunk{Choices: choices[:0]}
	s.src.Reset(data)
	err = s.dec.Decode(w)
	if err == nil && s.dec.More() {
		err = errors.New("data holds more than one JSON value")
	}
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		// Content as an array of parts, perhaps: decode again, accepting it.
		var parts chunkOf[textContent]
		if err = json.Unmarshal(data, &parts); err == nil {
			*w = toStringContent(&parts)
		}
	}
	if err != nil {
		return c, false, &llm.UpstreamError{
			Provider:   s.provider,
			Kind:       llm.KindMalformed,
			StatusCode: 200,
			Retryable:  llm.KindMalformed.Retryable(),
			Message:    "decoding stream chunk",
			Err:        err,
		}
	}
	if w.Error != nil {
		return c, false, upstreamErrorFromObject(s.provider, w.Error, 200)
	}
	if w.Usage != nil {
		u := w.Usage.toLLM()
		s.usage = &u
	}
	if w.Model != "" && w.Model != s.model {
		s.model = w.Model
	}
	for i := range w.Choices {
		ch := &w.Choices[i]
		if ch.Index != 0 {
			continue // only one choice is ever requested
		}
		d := &ch.Delta
		c.Content = string(d.Content)
		if c.Content == "" {
			c.Content = d.Refusal
		}
		for j := range d.ToolCalls {
			tc := &d.ToolCalls[j]
			if tc.ID == "" && tc.Function.Name == "" && tc.Function.Arguments == "" {
				continue
			}
			raw := j
			if tc.Index != nil {
				raw = *tc.Index
			}
			c.ToolCalls = append(c.ToolCalls, llm.ToolCallDelta{
				Index:     s.tools.slot(raw, tc.ID, tc.Function.Name),
				ID:        tc.ID,
				Name:      tc.Function.Name,
				Arguments: tc.Function.Arguments,
			})
		}
		if fc := d.FunctionCall; fc != nil && len(d.ToolCalls) == 0 && (fc.Name != "" || fc.Arguments != "") {
			c.ToolCalls = append(c.ToolCalls, llm.ToolCallDelta{
				Index:     s.tools.slot(0, "", fc.Name),
				Name:      fc.Name,
				Arguments: fc.Arguments,
			})
		}
		if fr := finishReason(ch.FinishReason); fr != "" {
			c.FinishReason = fr
			s.finished = true
		}
	}
	if !c.HasContent() && c.FinishReason == "" {
		return c, false, nil
	}
	c.Model = s.model
	return c, true, nil
}

// end finishes the stream normally: it returns the usage chunk if usage
// was reported, and io.EOF from then on.
func (s *stream) end() (llm.Chunk, error) {
	s.err = io.EOF
	s.release(nil)
	if s.usage != nil {
		u := s.usage
		s.usage = nil
		return llm.Chunk{Usage: u, Model: s.model}, nil
	}
	return llm.Chunk{}, io.EOF
}

// endOnReadError handles the end of the event stream without [DONE].
func (s *stream) endOnReadError(err error) (llm.Chunk, error) {
	if s.closed.Load() {
		return s.fail(&llm.UpstreamError{Provider: s.provider, Kind: llm.KindCanceled, Err: errStreamClosed})
	}
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		if s.finished {
			// Some servers end the body after the finish reason (and
			// usage) without sending [DONE].
			return s.end()
		}
		return s.fail(&llm.UpstreamError{
			Provider:  s.provider,
			Kind:      llm.KindConnection,
			Retryable: true,
			Message:   "stream ended before [DONE]",
			Err:       err,
		})
	case errors.Is(err, sse.ErrTooLarge):
		return s.fail(&llm.UpstreamError{
			Provider:   s.provider,
			Kind:       llm.KindMalformed,
			StatusCode: 200,
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

// toolIndexer assigns the gateway's tool call indices to streamed
// fragments. It passes OpenAI's indices through (renumbered densely in the
// order first seen), and gives a call its own index when a server reuses an
// index for a new call: Ollama numbers every parallel call 0, telling them
// apart only by id. A fragment starts a new call at a used index when it
// brings both a name and an id other than the one the index has.
type toolIndexer struct {
	cur []toolSlot // the slot each raw index currently maps to
	n   int        // slots handed out
}

type toolSlot struct {
	raw, slot int
	id        string
}

func (t *toolIndexer) slot(raw int, id, name string) int {
	for i := range t.cur {
		s := &t.cur[i]
		if s.raw != raw {
			continue
		}
		if id != "" && name != "" && s.id != "" && id != s.id {
			s.slot, s.id = t.n, id
			t.n++
		} else if s.id == "" {
			s.id = id
		}
		return s.slot
	}
	t.cur = append(t.cur, toolSlot{raw: raw, slot: t.n, id: id})
	t.n++
	return t.n - 1
}

// replayStream replays a unary response, for servers that answer a
// streamed request with a JSON body.
type replayStream struct {
	chunks []llm.Chunk
	next   int
}

func newReplayStream(r *llm.Response) *replayStream {
	c := llm.Chunk{Content: r.Message.Content, FinishReason: r.FinishReason, Model: r.Model}
	for i, tc := range r.Message.ToolCalls {
		c.ToolCalls = append(c.ToolCalls, llm.ToolCallDelta{Index: i, ID: tc.ID, Name: tc.Name, Arguments: tc.Arguments})
	}
	chunks := []llm.Chunk{c}
	if r.Usage != (llm.Usage{}) {
		u := r.Usage
		chunks = append(chunks, llm.Chunk{Usage: &u, Model: r.Model})
	}
	return &replayStream{chunks: chunks}
}

func (s *replayStream) Recv() (llm.Chunk, error) {
	if s.next >= len(s.chunks) {
		return llm.Chunk{}, io.EOF
	}
	s.next++
	return s.chunks[s.next-1], nil
}

func (s *replayStream) Close() error { return nil }
