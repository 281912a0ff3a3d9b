package anthropic

import (
	"bytes"
	"encoding/json"

	"github.com/llmgateway/llmgateway/llm"
	"github.com/llmgateway/llmgateway/providers/internal/sse"
	"github.com/llmgateway/llmgateway/providers/internal/upstream"
)

// The event types of a streamed Messages response.
const (
	evMessageStart      = "message_start"
	evContentBlockStart = "content_block_start"
	evContentBlockDelta = "content_block_delta"
	evContentBlockStop  = "content_block_stop"
	evMessageDelta      = "message_delta"
	evMessageStop       = "message_stop"
	evPing              = "ping"
	evError             = "error"
)

// streamEvent is the data of any stream event; each type sets its own
// fields.
type streamEvent struct {
	Type string `json:"type"`
	// Message is message_start's message, with the model and the input
	// usage.
	Message *messagesResponse `json:"message"`
	// Index is the content block of content_block_*.
	Index int `json:"index"`
	// ContentBlock is content_block_start's block.
	ContentBlock *responseBlock `json:"content_block"`
	// Delta is content_block_delta's delta (text_delta, input_json_delta,
	// thinking_delta, ...) or message_delta's (stop_reason).
	Delta streamDelta `json:"delta"`
	// Usage is message_delta's cumulative usage.
	Usage *wireUsage `json:"usage"`
	// Error and RequestID are the error event's.
	Error     *wireError `json:"error"`
	RequestID string     `json:"request_id"`
}

type streamDelta struct {
	Type        string `json:"type"`
	Text        string `json:"text"`
	PartialJSON string `json:"partial_json"`
	StopReason  string `json:"stop_reason"`
}

// blockState is what the stream tracks of one content block.
type blockState struct {
	index int
	// tool is the tool-call ordinal of a tool_use block (the llm
	// ToolCallDelta index), -1 for other blocks.
	tool int
	// argsSent is set once a non-empty arguments fragment was sent.
	argsSent bool
	// input is content_block_start's input, sent as the arguments when
	// no fragment follows.
	input json.RawMessage
}

// stream reads the named events of a streamed Messages response.
//
// Recv must be called from one goroutine at a time; Close may be called
// from any goroutine, at any time, more than once.
type stream struct {
	upstream.EventStream

	provider  string
	requestID string

	// The fields below belong to Recv.
	model      string
	stopReason string
	usage      wireUsage
	blocks     []blockState
	tools      int         // tool_use blocks seen
	wire       streamEvent // decoding target, reused
}

var (
	_ llm.Stream       = (*stream)(nil)
	_ upstream.Decoder = (*stream)(nil)
)

func (c *Client) newStream(o upstream.Opened, requestID string) *stream {
	s := &stream{provider: c.name, requestID: requestID}
	o.Start(&s.EventStream)
	return s
}

// Recv returns the next chunk, io.EOF after the last, or an
// *llm.UpstreamError.
//
// Text deltas become Content; a tool_use block becomes a ToolCallDelta
// with its ID and Name, then one per input_json_delta fragment, indexed by
// the tool call's ordinal among the response's tool calls. The finish
// reason and the usage come together in the last chunk, at message_stop.
// Thinking blocks, pings and unknown event types are skipped. A stream
// that ends before message_stop fails with KindConnection; an error event
// fails with the kind its error type names.
func (s *stream) Recv() (llm.Chunk, error) {
	return s.NextChunk(s)
}

// Decode handles one event; ok is false when it carries nothing to return.
func (s *stream) Decode(ev sse.Event) (c llm.Chunk, ok bool, err error) {
	name, data := ev.Name, bytes.TrimSpace(ev.Data)
	if len(data) == 0 {
		return c, false, nil
	}
	w := &s.wire
	*w = streamEvent{}
	if err := json.Unmarshal(data, w); err != nil {
		if name == evError {
			return c, false, upstreamErrorFromObject(s.provider, &wireError{Message: string(data), RequestID: s.requestID}, 200)
		}
		return c, false, upstream.Malformed(s.provider, 200, withRequestID("decoding "+eventName(name)+" event", s.requestID), err)
	}
	typ := w.Type
	if typ == "" {
		typ = name
	}
	switch typ {
	case evMessageStart:
		if m := w.Message; m != nil {
			s.model = m.Model
			s.usage.merge(&m.Usage)
		}
	case evContentBlockStart:
		if w.ContentBlock == nil {
			break
		}
		b := w.ContentBlock
		st := blockState{index: w.Index, tool: -1}
		switch b.Type {
		case blockToolUse:
			st.tool = s.tools
			st.input = b.Input
			s.tools++
			c.ToolCalls = []llm.ToolCallDelta{{Index: st.tool, ID: b.ID, Name: b.Name}}
		case blockText:
			c.Content = b.Text
		}
		s.blocks = append(s.blocks, st)
	case evContentBlockDelta:
		switch w.Delta.Type {
		case "text_delta":
			c.Content = w.Delta.Text
		case "input_json_delta":
			if b := s.block(w.Index); b != nil && b.tool >= 0 && w.Delta.PartialJSON != "" {
				b.argsSent = true
				c.ToolCalls = []llm.ToolCallDelta{{Index: b.tool, Arguments: w.Delta.PartialJSON}}
			}
		}
		// thinking_delta, signature_delta, citations_delta and deltas of
		// server tool blocks carry nothing the gateway returns.
	case evContentBlockStop:
		if b := s.block(w.Index); b != nil {
			c.ToolCalls = s.pendingArgs(nil, b)
		}
	case evMessageDelta:
		if w.Delta.StopReason != "" {
			s.stopReason = w.Delta.StopReason
		}
		if w.Usage != nil {
			s.usage.merge(w.Usage)
		}
	case evMessageStop:
		return s.finish(), true, nil
	case evError:
		e := w.Error
		if e == nil {
			e = &wireError{Message: string(data)}
		}
		e.RequestID = w.RequestID
		if e.RequestID == "" {
			e.RequestID = s.requestID
		}
		return c, false, upstreamErrorFromObject(s.provider, e, 200)
	}
	// ping and event types added after this adapter was written are
	// skipped.
	if !c.HasContent() {
		return c, false, nil
	}
	c.Model = s.model
	return c, true, nil
}

// eventName names an event for messages.
func eventName(name string) string {
	if name == "" {
		return "unnamed"
	}
	return name
}

// block returns the state of the content block with index i, nil if none
// was started.
func (s *stream) block(i int) *blockState {
	for j := len(s.blocks) - 1; j >= 0; j-- {
		if s.blocks[j].index == i {
			return &s.blocks[j]
		}
	}
	return nil
}

// pendingArgs appends the arguments of tool block b to dst if no fragment
// brought them (a call without arguments streams none), so that the
// assembled call has the same arguments as the unary response.
func (s *stream) pendingArgs(dst []llm.ToolCallDelta, b *blockState) []llm.ToolCallDelta {
	if b.tool < 0 || b.argsSent {
		return dst
	}
	b.argsSent = true
	return append(dst, llm.ToolCallDelta{Index: b.tool, Arguments: inputText(b.input)})
}

// finish ends the stream at message_stop: it returns the chunk with the
// finish reason and the usage, and io.EOF from then on.
func (s *stream) finish() llm.Chunk {
	s.Finish()
	var calls []llm.ToolCallDelta
	for i := range s.blocks {
		calls = s.pendingArgs(calls, &s.blocks[i])
	}
	fr := finishReason(s.stopReason)
	if fr == "" {
		fr = defaultFinish(s.tools > 0)
	}
	u := s.usage.toLLM()
	return llm.Chunk{ToolCalls: calls, FinishReason: fr, Usage: &u, Model: s.model}
}

// EndOfEvents handles the end of the event stream before message_stop.
func (s *stream) EndOfEvents(err error) (llm.Chunk, error) {
	return llm.Chunk{}, s.Fail(s.ReadError(err, withRequestID("stream ended before message_stop", s.requestID), withRequestID("", s.requestID)))
}

// replay replays a unary response, for proxies that answer a streamed
// request with a JSON body: a chunk with the content, if there is any,
// then one with the finish reason and the usage.
func replay(r *llm.Response) llm.Stream {
	c := llm.Chunk{Content: r.Message.Content, Model: r.Model, ToolCalls: upstream.ToolCallDeltas(r.Message.ToolCalls)}
	u := r.Usage
	end := llm.Chunk{FinishReason: r.FinishReason, Usage: &u, Model: r.Model}
	if !c.HasContent() {
		return upstream.Replay(end)
	}
	return upstream.Replay(c, end)
}
