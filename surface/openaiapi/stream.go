package openaiapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"

	llmgatewayv1 "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
)

var sseDone = []byte("data: [DONE]\n\n")

// chatStream answers a streamed chat completion as server-sent events.
//
// Nothing is written before the gateway's first event: until then a failure
// (authentication, limits, no upstream) is still answered with its HTTP
// status. After it, a failure becomes a final {"error":{...}} event without
// [DONE], which the OpenAI SDKs raise as an API error.
func (h *Handler) chatStream(ctx context.Context, w http.ResponseWriter, p *parsedChat) {
	// Cancelling on every return releases the gRPC stream, including when
	// the client stops reading and a write fails.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	stream, err := h.client.ChatStream(ctx, p.req)
	if err != nil {
		h.writeError(w, fromStatus(err))
		return
	}
	ev, err := stream.Recv()
	if hdr, herr := stream.Header(); herr == nil {
		copyMetadata(w.Header(), hdr)
	}
	if err != nil {
		copyMetadata(w.Header(), stream.Trailer())
		if errors.Is(err, io.EOF) {
			h.writeError(w, &apiError{
				status:  http.StatusBadGateway,
				Message: "the gateway ended the stream without a response",
				Type:    typeAPI,
			})
			return
		}
		h.writeError(w, fromStatus(err))
		return
	}

	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-cache")
	hd.Set("X-Accel-Buffering", "no") // tell nginx-style proxies not to buffer
	if m := ev.GetModel(); m != "" {
		hd.Set(headerModel, m)
	}
	// The route is known only at the end: it travels as HTTP trailers (and
	// in the llmgateway object of the finish chunk).
	hd.Set("Trailer", headerProvider+", "+headerCost+", "+headerAttempts)
	w.WriteHeader(http.StatusOK)

	enc := newChunkEncoder(h.completionID(ev.GetId()), ev.GetModel(), h.opts.now().Unix(), p.includeUsage, h.getChunkBuffer())
	defer func() { h.putChunkBuffer(enc.buf) }()
	sw := &sseWriter{w: w, rc: http.NewResponseController(w), h: h, enc: enc}
	if !sw.send(sw.enc.role()) {
		return
	}
	for {
		if d := ev.GetDelta(); d != nil {
			if b := sw.enc.delta(d); b != nil && !sw.send(b) {
				return
			}
		} else if f := ev.GetFinal(); f != nil {
			sw.final(f)
			return
		}
		if ev, err = stream.Recv(); err != nil {
			if ctx.Err() != nil {
				return // the client went away: there is no one to tell
			}
			if errors.Is(err, io.EOF) {
				sw.send(errorEvent(&apiError{
					Message: "the gateway ended the stream without a final message",
					Type:    typeAPI,
				}))
				return
			}
			sw.send(errorEvent(fromStatus(err)))
			return
		}
	}
}

// sseWriter writes server-sent events, flushing each as it is written.
type sseWriter struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	h   *Handler
	enc *chunkEncoder
	// noFlush is set once flushing turned out to be unsupported, so that
	// it is reported once.
	noFlush bool
}

// send writes and flushes b. It reports false when the client can no
// longer be written to.
func (s *sseWriter) send(b []byte) bool {
	return s.write(b) && s.flush()
}

func (s *sseWriter) write(b []byte) bool {
	if _, err := s.w.Write(b); err != nil {
		s.h.opts.logger.Debug("writing event stream", "error", err)
		return false
	}
	return true
}

func (s *sseWriter) flush() bool {
	if s.noFlush {
		return true
	}
	err := s.rc.Flush()
	switch {
	case err == nil:
		return true
	case errors.Is(err, http.ErrNotSupported):
		s.noFlush = true
		s.h.opts.logger.Warn("response writer cannot flush; events reach the client late", "error", err)
		return true
	}
	s.h.opts.logger.Debug("flushing event stream", "error", err)
	return false
}

// final ends the stream for the gateway's final message: the finish chunk,
// the usage chunk when asked for, and [DONE]; or an error event when the
// upstream failed mid-stream.
func (s *sseWriter) final(f *llmgatewayv1.ChatStreamFinal) {
	if f.GetFinishReason() == finishError {
		msg := f.GetError()
		if msg == "" {
			msg = "the upstream failed after the response had started"
		}
		s.send(errorEvent(&apiError{Message: msg, Type: typeAPI, Code: codeUpstreamError}))
		return
	}
	hd := s.w.Header()
	hd.Set(headerProvider, f.GetProvider())
	hd.Set(headerCost, string(appendFloat(nil, f.GetCostUsd())))
	hd.Set(headerAttempts, strconv.Itoa(len(f.GetRoute().GetAttempts())))

	if !s.write(s.enc.finish(f)) {
		return
	}
	if s.enc.includeUsage && !s.write(s.enc.usage(f.GetUsage())) {
		return
	}
	s.send(sseDone)
}

// errorEvent returns the event that reports e after the stream started.
func errorEvent(e *apiError) []byte {
	b := append([]byte("data: "), e.marshal()...)
	return append(b, '\n', '\n')
}

// chunkEncoder encodes chat.completion.chunk events into one reused
// buffer; each method's result is valid until the next call.
type chunkEncoder struct {
	// head is every chunk's start: `data: {"id":...,"choices":[`.
	head         []byte
	includeUsage bool
	buf          []byte
	// started records the tool calls (by index) whose first fragment was
	// sent: id, type and name go only on a call's first fragment.
	started map[int32]struct{}
}

func newChunkEncoder(id, model string, created int64, includeUsage bool, buf []byte) *chunkEncoder {
	head := append([]byte(nil), `data: {"id":`...)
	head = appendString(head, id)
	head = append(head, `,"object":"chat.completion.chunk","created":`...)
	head = strconv.AppendInt(head, created, 10)
	head = append(head, `,"model":`...)
	head = appendString(head, model)
	head = append(head, `,"choices":[`...)
	return &chunkEncoder{head: head, includeUsage: includeUsage, buf: buf[:0]}
}

func (e *chunkEncoder) openChoice() {
	e.buf = append(e.buf[:0], e.head...)
	e.buf = append(e.buf, `{"index":0,"delta":`...)
}

// closeChoice ends the choice and the choices array; the caller ends the
// chunk with endChunk.
func (e *chunkEncoder) closeChoice(finish string) {
	e.buf = append(e.buf, `,"logprobs":null,"finish_reason":`...)
	if finish == "" {
		e.buf = append(e.buf, `null`...)
	} else {
		e.buf = appendString(e.buf, finish)
	}
	e.buf = append(e.buf, `}]`...)
	if e.includeUsage {
		e.buf = append(e.buf, `,"usage":null`...)
	}
}

func (e *chunkEncoder) endChunk() []byte {
	e.buf = append(e.buf, "}\n\n"...)
	return e.buf
}

// role returns the first chunk: the assistant role with empty content.
func (e *chunkEncoder) role() []byte {
	e.openChoice()
	e.buf = append(e.buf, `{"role":"assistant","content":""}`...)
	e.closeChoice("")
	return e.endChunk()
}

// delta returns the chunk for d, or nil when d carries nothing.
func (e *chunkEncoder) delta(d *llmgatewayv1.ChatDelta) []byte {
	calls := d.GetToolCalls()
	if d.GetContent() == "" && len(calls) == 0 {
		return nil
	}
	e.openChoice()
	e.buf = append(e.buf, '{')
	if d.GetContent() != "" {
		e.buf = append(e.buf, `"content":`...)
		e.buf = appendString(e.buf, d.GetContent())
		if len(calls) > 0 {
			e.buf = append(e.buf, ',')
		}
	}
	if len(calls) > 0 {
		e.buf = append(e.buf, `"tool_calls":[`...)
		for i, c := range calls {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			e.appendToolCall(c)
		}
		e.buf = append(e.buf, ']')
	}
	e.buf = append(e.buf, '}')
	e.closeChoice("")
	return e.endChunk()
}

func (e *chunkEncoder) appendToolCall(c *llmgatewayv1.ToolCallDelta) {
	e.buf = append(e.buf, `{"index":`...)
	e.buf = strconv.AppendInt(e.buf, int64(c.GetIndex()), 10)
	_, seen := e.started[c.GetIndex()]
	if !seen {
		if e.started == nil {
			e.started = make(map[int32]struct{}, 4)
		}
		e.started[c.GetIndex()] = struct{}{}
		if c.GetId() != "" {
			e.buf = append(e.buf, `,"id":`...)
			e.buf = appendString(e.buf, c.GetId())
		}
		e.buf = append(e.buf, `,"type":"function","function":{`...)
		if c.GetName() != "" {
			e.buf = append(e.buf, `"name":`...)
			e.buf = appendString(e.buf, c.GetName())
			e.buf = append(e.buf, ',')
		}
	} else {
		e.buf = append(e.buf, `,"function":{`...)
	}
	e.buf = append(e.buf, `"arguments":`...)
	e.buf = appendString(e.buf, c.GetArguments())
	e.buf = append(e.buf, `}}`...)
}

// finish returns the chunk with the finish reason and an empty delta. It
// also carries the llmgateway object with provider, cost and route.
func (e *chunkEncoder) finish(f *llmgatewayv1.ChatStreamFinal) []byte {
	e.openChoice()
	e.buf = append(e.buf, `{}`...)
	e.closeChoice(finishReason(f.GetFinishReason()))
	e.buf = append(e.buf, `,"llmgateway":`...)
	e.buf = appendGatewayInfo(e.buf, f.GetProvider(), f.GetCostUsd(), f.GetRoute())
	return e.endChunk()
}

// usage returns the chunk that reports usage: no choices, as OpenAI sends
// it when stream_options.include_usage is set.
func (e *chunkEncoder) usage(u *llmgatewayv1.Usage) []byte {
	e.buf = append(e.buf[:0], e.head...)
	e.buf = append(e.buf, `],"usage":`...)
	e.buf = appendUsage(e.buf, u)
	return e.endChunk()
}
