package cohere

import (
	"bytes"
	"encoding/json"

	"github.com/llmgateway/llmgateway/llm"
	"github.com/llmgateway/llmgateway/providers/internal/sse"
	"github.com/llmgateway/llmgateway/providers/internal/upstream"
)

// doneMarker is an OpenAI-style end marker that proxies in front of Cohere
// sometimes add after message-end; it carries nothing.
var doneMarker = []byte("[DONE]")

// The event types of a v2 chat stream.
const (
	eventMessageStart  = "message-start"
	eventContentStart  = "content-start"
	eventContentDelta  = "content-delta"
	eventContentEnd    = "content-end"
	eventToolPlanDelta = "tool-plan-delta"
	eventToolCallStart = "tool-call-start"
	eventToolCallDelta = "tool-call-delta"
	eventToolCallEnd   = "tool-call-end"
	eventCitationStart = "citation-start"
	eventCitationEnd   = "citation-end"
	eventMessageEnd    = "message-end"
	eventDebug         = "debug"
	eventError         = "error"
)

// The JSON data of the events the stream uses. Every event carries its
// type, which the SSE event field repeats; each type is decoded into a
// struct of its own, in one pass, since message-start sends content and
// tool_calls as lists where the content and tool events send objects.

// typeProbe finds the type of an event whose SSE event field did not name
// a known type, and the text of an untyped error object.
type typeProbe struct {
	Type    looseString `json:"type"`
	Message looseString `json:"message"`
}

// contentEvent is a content-start ({type, text}) or content-delta ({text},
// or {thinking} in a reasoning block).
type contentEvent struct {
	// Index is the position of the content block; -1 when absent.
	Index int `json:"index"`
	Delta struct {
		Message struct {
			Content struct {
				Type string `json:"type"`
				Text string `json:"text"`
			} `json:"content"`
		} `json:"message"`
	} `json:"delta"`
}

// toolEvent is a tool-call-start ({id, type, function:{name, arguments}})
// or tool-call-delta ({function:{arguments}}).
type toolEvent struct {
	// Index is the ordinal of the tool call; -1 when absent.
	Index int `json:"index"`
	Delta struct {
		Message struct {
			ToolCalls deltaToolCalls `json:"tool_calls"`
		} `json:"message"`
	} `json:"delta"`
}

// endEvent is message-end.
type endEvent struct {
	Delta struct {
		FinishReason string     `json:"finish_reason"`
		Usage        *wireUsage `json:"usage"`
		// Error describes a failed generation (finish reason ERROR).
		Error string `json:"error"`
	} `json:"delta"`
}

// errorEvent is an error sent in the stream.
type errorEvent struct {
	ID      looseString `json:"id"`
	Message looseString `json:"message"`
}

// deltaToolCalls is delta.message.tool_calls: one object in tool-call-*
// events; a list is accepted too.
type deltaToolCalls []toolCallFragment

type toolCallFragment struct {
	ID       string       `json:"id"`
	Function wireFunction `json:"function"`
}

func (t *deltaToolCalls) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) > 0 && b[0] == '{':
		var f toolCallFragment
		if err := json.Unmarshal(b, &f); err != nil {
			return err
		}
		*t = append((*t)[:0], f)
	case len(b) > 0 && b[0] == '[':
		var fs []toolCallFragment
		if err := json.Unmarshal(b, &fs); err != nil {
			return err
		}
		*t = fs
	}
	return nil
}

// looseString is a JSON string; any other value decodes as "".
type looseString string

func (s *looseString) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || b[0] != '"' {
		return nil
	}
	var v string
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = looseString(v)
	return nil
}

// stream reads the events of a v2 chat stream from an SSE body.
//
// Recv must be called from one goroutine at a time; Close may be called
// from any goroutine, at any time, more than once.
type stream struct {
	upstream.EventStream

	provider string

	// The fields below belong to Recv.
	tools    []toolSlot
	curTool  int   // ordinal of the tool call last started; -1 before any
	thinking []int // indices of content blocks holding reasoning, not text
	content  contentEvent
	tool     toolEvent
}

// toolSlot maps Cohere's index of a tool call to the gateway's ordinal.
type toolSlot struct {
	raw, ord int
	id       string
}

var (
	_ llm.Stream       = (*stream)(nil)
	_ upstream.Decoder = (*stream)(nil)
)

func (c *Client) newStream(o upstream.Opened) *stream {
	s := &stream{provider: c.name, curTool: -1}
	o.Start(&s.EventStream)
	return s
}

// Recv returns the next chunk, io.EOF after the last, or an
// *llm.UpstreamError.
//
// Text comes from content-delta events (reasoning blocks are left out, as
// in Chat), tool calls from tool-call-start (id, name and any initial
// arguments) and tool-call-delta (argument fragments). message-end gives
// the last chunk, with the finish reason and the usage together, after
// which the stream ends. A body that ends before message-end is a
// KindConnection error.
func (s *stream) Recv() (llm.Chunk, error) {
	return s.NextChunk(s)
}

// Decode maps one event; ok is false when it carries nothing to return.
// message-end ends the stream.
func (s *stream) Decode(ev sse.Event) (llm.Chunk, bool, error) {
	data := bytes.TrimSpace(ev.Data)
	if len(data) == 0 || bytes.Equal(data, doneMarker) {
		return llm.Chunk{}, false, nil
	}
	c, ok, end, err := s.decode(ev.Name, data)
	if end {
		s.Finish()
	}
	return c, ok, err
}

// decode maps one event. ok is false when the event carries nothing to
// return; end is true for message-end.
func (s *stream) decode(name string, data []byte) (c llm.Chunk, ok, end bool, err error) {
	typ := name
	if !knownEvent(name) {
		var p typeProbe
		if err := json.Unmarshal(data, &p); err != nil {
			return c, false, false, upstream.Malformed(s.provider, 200, "decoding stream event", err)
		}
		typ = string(p.Type)
		if typ == "" {
			typ = name
		}
		if typ == "" && p.Message != "" {
			// An error object ({"message"}) from the API or a proxy.
			return c, false, false, errorWithoutStatus(s.provider, string(p.Message))
		}
	}
	bad := func(err error) (llm.Chunk, bool, bool, error) {
		return llm.Chunk{}, false, false, upstream.Malformed(s.provider, 200, "decoding stream event", err)
	}
	switch typ {
	case eventContentStart, eventContentDelta:
		w := &s.content
		*w = contentEvent{Index: -1}
		if err := json.Unmarshal(data, w); err != nil {
			return bad(err)
		}
		if typ == eventContentStart && w.Delta.Message.Content.Type == "thinking" {
			s.thinking = append(s.thinking, w.Index)
			return c, false, false, nil
		}
		if s.isThinking(w.Index) {
			return c, false, false, nil
		}
		c.Content = w.Delta.Message.Content.Text
	case eventToolCallStart, eventToolCallDelta:
		w := &s.tool
		calls := w.Delta.Message.ToolCalls
		clear(calls[:cap(calls)])
		*w = toolEvent{Index: -1}
		w.Delta.Message.ToolCalls = calls[:0]
		if err := json.Unmarshal(data, w); err != nil {
			return bad(err)
		}
		if typ == eventToolCallStart {
			raw := max(w.Index, 0)
			for j, f := range w.Delta.Message.ToolCalls {
				ord := s.startTool(raw+j, f.ID)
				c.ToolCalls = append(c.ToolCalls, llm.ToolCallDelta{Index: ord, ID: f.ID, Name: f.Function.Name, Arguments: f.Function.Arguments})
			}
			break
		}
		for _, f := range w.Delta.Message.ToolCalls {
			if f.Function.Arguments == "" {
				continue
			}
			ord := s.curTool
			if w.Index >= 0 {
				ord = s.toolFor(w.Index)
			}
			if ord < 0 {
				return llm.Chunk{}, false, false, upstream.Malformed(s.provider, 200, "tool-call-delta before any tool-call-start", nil)
			}
			c.ToolCalls = append(c.ToolCalls, llm.ToolCallDelta{Index: ord, Arguments: f.Function.Arguments})
		}
	case eventMessageEnd:
		var w endEvent
		if err := json.Unmarshal(data, &w); err != nil {
			return bad(err)
		}
		c.FinishReason = finishReason(w.Delta.FinishReason)
		if c.FinishReason == "" {
			c.FinishReason = llm.FinishStop
			if len(s.tools) > 0 {
				c.FinishReason = llm.FinishToolCalls
			}
		}
		if w.Delta.Usage != nil {
			u := w.Delta.Usage.toLLM()
			c.Usage = &u
		}
		return c, true, true, nil
	case eventError:
		var w errorEvent
		if err := json.Unmarshal(data, &w); err != nil {
			return c, false, false, errorWithoutStatus(s.provider, upstream.Snippet(data))
		}
		e := errorBody{ID: string(w.ID), Message: string(w.Message)}
		msg := e.describe()
		if msg == "" {
			msg = upstream.Snippet(data)
		}
		return c, false, false, errorWithoutStatus(s.provider, msg)
	default:
		// message-start, content-end, tool-plan-delta, tool-call-end,
		// citation-start, citation-end and debug carry nothing for the
		// gateway: the tool plan is the model's reasoning about tools, and
		// citations refer to documents the gateway does not send. Unknown
		// types are skipped too, so that new events do not break streams.
	}
	return c, c.HasContent(), false, nil
}

// knownEvent reports whether name is one of the documented event types.
func knownEvent(name string) bool {
	switch name {
	case eventMessageStart, eventContentStart, eventContentDelta, eventContentEnd,
		eventToolPlanDelta, eventToolCallStart, eventToolCallDelta, eventToolCallEnd,
		eventCitationStart, eventCitationEnd, eventMessageEnd, eventDebug, eventError:
		return true
	}
	return false
}

func (s *stream) isThinking(index int) bool {
	for _, i := range s.thinking {
		if i == index {
			return true
		}
	}
	return false
}

// startTool returns the ordinal of the tool call that a tool-call-start
// with Cohere's index raw begins: a new one, unless raw was already started
// with the same id (or without one).
func (s *stream) startTool(raw int, id string) int {
	for i := range s.tools {
		t := &s.tools[i]
		if t.raw != raw {
			continue
		}
		if id != "" && t.id != "" && id != t.id {
			break // a new call reusing the index
		}
		if t.id == "" {
			t.id = id
		}
		s.curTool = t.ord
		return t.ord
	}
	ord := len(s.tools)
	for i := range s.tools {
		if s.tools[i].raw == raw {
			s.tools[i].raw = -1 - s.tools[i].raw // retire the old mapping
		}
	}
	s.tools = append(s.tools, toolSlot{raw: raw, ord: ord, id: id})
	s.curTool = ord
	return ord
}

// toolFor returns the ordinal of the tool call with Cohere's index raw, or
// the current call when raw was never started.
func (s *stream) toolFor(raw int) int {
	for _, t := range s.tools {
		if t.raw == raw {
			return t.ord
		}
	}
	return s.curTool
}

// EndOfEvents handles the end of the event stream before message-end.
func (s *stream) EndOfEvents(err error) (llm.Chunk, error) {
	if ctx := s.Context(); ctx.Err() != nil && !s.Closed() {
		return llm.Chunk{}, s.Fail(upstream.FromTransportError(ctx, s.provider, err))
	}
	return llm.Chunk{}, s.Fail(s.ReadError(err, "stream ended before message-end", ""))
}

// replay replays a unary response, for a server that answers a streamed
// request with a JSON body: one chunk with everything.
func replay(r *llm.Response) llm.Stream {
	u := r.Usage
	return upstream.Replay(llm.Chunk{
		Content:      r.Message.Content,
		ToolCalls:    upstream.ToolCallDeltas(r.Message.ToolCalls),
		FinishReason: r.FinishReason,
		Usage:        &u,
		Model:        r.Model,
	})
}
