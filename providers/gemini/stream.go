package gemini

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/llmgateway/llmgateway/llm"
	"github.com/llmgateway/llmgateway/providers/internal/sse"
	"github.com/llmgateway/llmgateway/providers/internal/upstream"
)

// stream reads GenerateContentResponse events from an SSE body
// (streamGenerateContent?alt=sse). Gemini sends no end marker: the body
// ends after the chunk with the finish reason.
//
// Recv must be called from one goroutine at a time; Close may be called
// from any goroutine, at any time, more than once.
type stream struct {
	upstream.EventStream

	provider string

	// The fields below belong to Recv.
	dec  decoder
	wire generateResponse // decoding target, reused
}

var (
	_ llm.Stream       = (*stream)(nil)
	_ upstream.Decoder = (*stream)(nil)
)

func (c *Client) newStream(o upstream.Opened) *stream {
	s := &stream{provider: c.name, dec: decoder{provider: c.name, status: http.StatusOK}}
	o.Start(&s.EventStream)
	return s
}

// Recv returns the next chunk, io.EOF after the last, or an
// *llm.UpstreamError.
//
// Gemini reports running usage totals on its chunks; the last reported is
// returned once, in a chunk of its own after the chunk with the finish
// reason, when the body ends. A body that ends before any chunk with a
// finish reason (or a prompt block) is a KindConnection error.
func (s *stream) Recv() (llm.Chunk, error) {
	return s.NextChunk(s)
}

// Decode maps one event; ok is false when it carries nothing to return.
func (s *stream) Decode(ev sse.Event) (llm.Chunk, bool, error) {
	data := bytes.TrimSpace(ev.Data)
	if len(data) == 0 {
		return llm.Chunk{}, false, nil
	}
	w := &s.wire
	cands := w.Candidates
	clear(cands[:cap(cands)])
	*w = generateResponse{Candidates: cands[:0]}
	if err := json.Unmarshal(data, w); err != nil {
		return llm.Chunk{}, false, upstream.Malformed(s.provider, http.StatusOK, "decoding stream chunk", err)
	}
	return s.dec.chunk(w)
}

// end finishes the stream normally: it returns the usage chunk if usage
// was reported, and io.EOF from then on.
func (s *stream) end() (llm.Chunk, error) {
	s.Finish()
	if s.dec.hasUsage {
		s.dec.hasUsage = false
		u := s.dec.usage
		return llm.Chunk{Usage: &u, Model: s.dec.model}, nil
	}
	return llm.Chunk{}, io.EOF
}

// EndOfEvents handles the end of the event stream.
func (s *stream) EndOfEvents(err error) (llm.Chunk, error) {
	if s.dec.finished && !s.Closed() && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
		// The answer is complete; a cut after it loses at most a later
		// usage update.
		return s.end()
	}
	return llm.Chunk{}, s.Fail(s.ReadError(err, "stream ended before a finish reason", ""))
}

// replayJSON handles a streamed request answered with a JSON body: an
// error object, or the whole answer as a JSON array of chunks (what
// streamGenerateContent returns without alt=sse) or as one object. The
// answer is replayed as a stream; the body has been read in full, so a
// missing finish reason is taken as a normal stop.
func (c *Client) replayJSON(o upstream.Opened) (llm.Stream, error) {
	var raw json.RawMessage
	if err := o.ReadJSON(&raw); err != nil {
		return nil, err
	}
	resp := o.Response
	var objs []generateResponse
	if raw = bytes.TrimSpace(raw); len(raw) > 0 && raw[0] == '[' {
		if err := json.Unmarshal(raw, &objs); err != nil {
			return nil, upstream.Malformed(c.name, resp.StatusCode, "decoding response body", err)
		}
	} else {
		objs = make([]generateResponse, 1)
		if err := json.Unmarshal(raw, &objs[0]); err != nil {
			return nil, upstream.Malformed(c.name, resp.StatusCode, "decoding response body", err)
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
			return nil, upstream.Malformed(c.name, resp.StatusCode, "response has no candidates and no prompt block reason", nil)
		}
		chunks = append(chunks, llm.Chunk{FinishReason: finishReason("STOP", d.calls > 0), Model: d.model})
	}
	if d.hasUsage {
		u := d.usage
		chunks = append(chunks, llm.Chunk{Usage: &u, Model: d.model})
	}
	return upstream.Replay(chunks...), nil
}
