package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"

	"github.com/llmgateway/llmgateway/llm"
	"github.com/llmgateway/llmgateway/providers/internal/sse"
	"github.com/llmgateway/llmgateway/providers/internal/upstream"
)

// doneMarker is the data of the event that ends an OpenAI stream.
var doneMarker = []byte("[DONE]")

// stream reads chat.completion.chunk events from an SSE body.
//
// Recv must be called from one goroutine at a time; Close may be called
// from any goroutine, at any time, more than once.
type stream struct {
	upstream.EventStream

	provider string

	// The fields below belong to Recv.
	finished bool // a finish reason was seen
	usage    *llm.Usage
	model    string
	tools    toolIndexer
	wire     chatChunk     // decoding target, reused
	rd       jsonReader    // reads chunks by hand; reused with its scratch buffer
	src      bytes.Reader  // the event data being decoded, for dec
	dec      *json.Decoder // reads src when rd gives up; made on first use
}

var (
	_ llm.Stream       = (*stream)(nil)
	_ upstream.Decoder = (*stream)(nil)
)

func (c *Client) newStream(o upstream.Opened) *stream {
	s := &stream{provider: c.name}
	o.Start(&s.EventStream)
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
	return s.NextChunk(s)
}

// Decode maps one event: a chat.completion.chunk, [DONE], or an error.
func (s *stream) Decode(ev sse.Event) (llm.Chunk, bool, error) {
	data := bytes.TrimSpace(ev.Data)
	if ev.Name == "error" {
		e := parseErrorBody(data)
		if e == nil {
			e = &wireError{Message: string(data)}
		}
		return llm.Chunk{}, false, upstreamErrorFromObject(s.provider, e, 200)
	}
	if len(data) == 0 {
		return llm.Chunk{}, false, nil
	}
	if bytes.Equal(data, doneMarker) {
		c, err := s.end()
		return c, err == nil, nil
	}
	return s.decode(data)
}

// decode maps one chunk; ok is false when it carries nothing to return.
func (s *stream) decode(data []byte) (c llm.Chunk, ok bool, err error) {
	if err := s.decodeWire(data); err != nil {
		return c, false, upstream.Malformed(s.provider, 200, "decoding stream chunk", err)
	}
	return s.mapChunk()
}

// decodeWire decodes a chunk into s.wire, reusing its choices: by hand
// when the reader takes the chunk, which it does for the chunks OpenAI
// sends, and otherwise with encoding/json, which gives the result or the
// error.
func (s *stream) decodeWire(data []byte) error {
	w := &s.wire
	choices := w.Choices
	clear(choices[:cap(choices)])
	*w = chatChunk{Choices: choices[:0]}
	s.rd.Reset(data)
	if s.rd.chatChunk(w) && s.rd.End() {
		return nil
	}
	clear(w.Choices[:cap(w.Choices)])
	*w = chatChunk{Choices: choices[:0]}
	return s.decodeSlow(data)
}

// decodeSlow decodes data into s.wire with encoding/json.
func (s *stream) decodeSlow(data []byte) error {
	w := &s.wire
	if s.dec == nil {
		s.dec = json.NewDecoder(&s.src)
	}
	s.src.Reset(data)
	err := s.dec.Decode(w)
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
	return err
}

// mapChunk maps the chunk decoded into s.wire; ok is false when it
// carries nothing to return.
func (s *stream) mapChunk() (c llm.Chunk, ok bool, err error) {
	w := &s.wire
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
	s.Finish()
	if s.usage != nil {
		u := s.usage
		s.usage = nil
		return llm.Chunk{Usage: u, Model: s.model}, nil
	}
	return llm.Chunk{}, io.EOF
}

// EndOfEvents handles the end of the event stream without [DONE].
func (s *stream) EndOfEvents(err error) (llm.Chunk, error) {
	if s.finished && !s.Closed() && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
		// Some servers end the body after the finish reason (and usage)
		// without sending [DONE].
		return s.end()
	}
	return llm.Chunk{}, s.Fail(s.ReadError(err, "stream ended before [DONE]", ""))
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

// replay replays a unary response, for servers that answer a streamed
// request with a JSON body: one chunk with the message and the finish
// reason, then one with the usage, if there was any.
func replay(r *llm.Response) llm.Stream {
	c := llm.Chunk{Content: r.Message.Content, FinishReason: r.FinishReason, Model: r.Model, ToolCalls: upstream.ToolCallDeltas(r.Message.ToolCalls)}
	if r.Usage == (llm.Usage{}) {
		return upstream.Replay(c)
	}
	u := r.Usage
	return upstream.Replay(c, llm.Chunk{Usage: &u, Model: r.Model})
}
