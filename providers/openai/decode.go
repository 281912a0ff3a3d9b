package openai

import (
	"encoding/json"
	"strings"

	"github.com/llmgateway/llmgateway/internal/jsonr"
	"github.com/llmgateway/llmgateway/providers/internal/upstream"
)

// The unary response body is decoded by hand: encoding/json's reflection
// and its second pass into textContent.UnmarshalJSON cost several times
// more than the reading itself. The decoder below reads the shapes
// OpenAI-compatible servers send; on anything else it gives up, and the
// body is decoded again with encoding/json, so that the result, or the
// error, is always the one json.Unmarshal gives.

var _ upstream.JSONDecoder = (*chatResponse)(nil)

// jsonReader is a jsonr.Reader with this package's decoders as methods.
type jsonReader struct{ jsonr.Reader }

// DecodeJSON decodes a unary response body into w, as json.Unmarshal
// would.
func (w *chatResponse) DecodeJSON(b []byte) error {
	var r jsonReader
	r.Reset(b)
	if r.chatResponse(w) && r.End() {
		return nil
	}
	*w = chatResponse{}
	return json.Unmarshal(b, w)
}

// Bits of the members seen, for once.
const (
	seen0 uint32 = 1 << iota
	seen1
	seen2
	seen3
	seen4
)

func (r *jsonReader) chatResponse(w *chatResponse) bool {
	if !r.Open('{') {
		return false
	}
	var seen uint32
	for i := 0; r.More('}', i); i++ {
		switch k := r.Key(); string(k) {
		case "id":
			if r.Once(&seen, seen0) {
				w.ID = r.StrOrNull()
			}
		case "model":
			if r.Once(&seen, seen1) {
				w.Model = r.StrOrNull()
			}
		case "choices":
			if r.Once(&seen, seen2) && !r.Null() {
				w.Choices = r.choices()
			}
		case "usage":
			if r.Once(&seen, seen3) && !r.Null() {
				w.Usage = new(wireUsage)
				r.usage(w.Usage)
			}
		case "error":
			// An error object with a 2xx status is rare: encoding/json
			// reads it.
			if r.Once(&seen, seen4) && !r.Null() {
				r.Fail()
			}
		default:
			r.Unknown(k, "id", "model", "choices", "usage", "error")
		}
	}
	return !r.Failed()
}

func (r *jsonReader) choices() []chatChoice {
	if !r.Open('[') {
		return nil
	}
	out := make([]chatChoice, 0, 1)
	for i := 0; r.More(']', i); i++ {
		out = append(out, chatChoice{})
		r.choice(&out[i])
	}
	return out
}

func (r *jsonReader) choice(c *chatChoice) {
	if !r.Open('{') {
		return
	}
	var seen uint32
	for i := 0; r.More('}', i); i++ {
		switch k := r.Key(); string(k) {
		case "index":
			if r.Once(&seen, seen0) && !r.Null() {
				c.Index = r.Int()
			}
		case "message":
			if r.Once(&seen, seen1) && !r.Null() {
				r.message(&c.Message)
			}
		case "finish_reason":
			if r.Once(&seen, seen2) {
				c.FinishReason = r.finishReason()
			}
		default:
			r.Unknown(k, "index", "message", "finish_reason")
		}
	}
}

// finishReason reads a finish reason, or null, without allocating for
// the common ones.
func (r *jsonReader) finishReason() string {
	if r.Null() {
		return ""
	}
	switch b := r.StrBytes(); string(b) {
	case "stop":
		return "stop"
	case "length":
		return "length"
	case "tool_calls":
		return "tool_calls"
	default:
		return string(b)
	}
}

func (r *jsonReader) message(m *respMessage) {
	if !r.Open('{') {
		return
	}
	var seen uint32
	for i := 0; r.More('}', i); i++ {
		switch k := r.Key(); string(k) {
		case "content":
			if r.Once(&seen, seen0) {
				m.Content = r.content()
			}
		case "refusal":
			if r.Once(&seen, seen1) {
				m.Refusal = r.StrOrNull()
			}
		case "tool_calls":
			if r.Once(&seen, seen2) && !r.Null() {
				m.ToolCalls = r.toolCalls()
			}
		case "function_call":
			if r.Once(&seen, seen3) && !r.Null() {
				m.FunctionCall = new(wireFunction)
				r.function(m.FunctionCall)
			}
		default:
			r.Unknown(k, "content", "refusal", "tool_calls", "function_call")
		}
	}
}

// content reads message content as textContent.UnmarshalJSON does: a
// string, null, or an array of parts whose text parts are joined.
func (r *jsonReader) content() textContent {
	switch r.Peek() {
	case 'n':
		r.Null()
		return ""
	case '"':
		return textContent(r.Str())
	case '[':
	default:
		r.Fail()
		return ""
	}
	r.Open('[')
	var sb strings.Builder
	for i := 0; r.More(']', i); i++ {
		if !r.Open('{') {
			break
		}
		var seen uint32
		var text bool
		var value []byte
		for j := 0; r.More('}', j); j++ {
			switch k := r.Key(); string(k) {
			case "type":
				if r.Once(&seen, seen0) && !r.Null() {
					t := r.StrBytes()
					text = string(t) == "text" || string(t) == "output_text"
				}
			case "text":
				if r.Once(&seen, seen1) && !r.Null() {
					// Copied out of the scratch buffer that the type's
					// value may reuse.
					value = append(value[:0], r.StrBytes()...)
				}
			default:
				r.Unknown(k, "type", "text")
			}
		}
		if text {
			sb.Write(value)
		}
	}
	return textContent(sb.String())
}

func (r *jsonReader) toolCalls() []wireToolCall {
	if !r.Open('[') {
		return nil
	}
	out := []wireToolCall{} // as encoding/json gives for []
	for i := 0; r.More(']', i); i++ {
		out = append(out, wireToolCall{})
		tc := &out[i]
		if !r.Open('{') {
			break
		}
		var seen uint32
		for j := 0; r.More('}', j); j++ {
			switch k := r.Key(); string(k) {
			case "id":
				if r.Once(&seen, seen0) {
					tc.ID = r.StrOrNull()
				}
			case "type":
				if r.Once(&seen, seen1) && !r.Null() {
					if b := r.StrBytes(); string(b) == "function" {
						tc.Type = "function"
					} else {
						tc.Type = string(b)
					}
				}
			case "function":
				if r.Once(&seen, seen2) && !r.Null() {
					r.function(&tc.Function)
				}
			default:
				r.Unknown(k, "id", "type", "function")
			}
		}
	}
	return out
}

func (r *jsonReader) function(f *wireFunction) {
	if !r.Open('{') {
		return
	}
	var seen uint32
	for i := 0; r.More('}', i); i++ {
		switch k := r.Key(); string(k) {
		case "name":
			if r.Once(&seen, seen0) {
				f.Name = r.StrOrNull()
			}
		case "arguments":
			if r.Once(&seen, seen1) {
				f.Arguments = r.StrOrNull()
			}
		default:
			r.Unknown(k, "name", "arguments")
		}
	}
}

func (r *jsonReader) usage(u *wireUsage) {
	if !r.Open('{') {
		return
	}
	var seen uint32
	for i := 0; r.More('}', i); i++ {
		switch k := r.Key(); string(k) {
		case "prompt_tokens":
			if r.Once(&seen, seen0) && !r.Null() {
				u.PromptTokens = r.Int64()
			}
		case "completion_tokens":
			if r.Once(&seen, seen1) && !r.Null() {
				u.CompletionTokens = r.Int64()
			}
		case "prompt_tokens_details":
			if r.Once(&seen, seen2) && !r.Null() {
				u.PromptTokensDetails.CachedTokens = r.countMember("cached_tokens")
			}
		case "completion_tokens_details":
			if r.Once(&seen, seen3) && !r.Null() {
				u.CompletionTokensDetails.ReasoningTokens = r.countMember("reasoning_tokens")
			}
		case "prompt_cache_hit_tokens":
			if r.Once(&seen, seen4) && !r.Null() {
				u.PromptCacheHitTokens = r.Int64()
			}
		default:
			r.Unknown(k, "prompt_tokens", "completion_tokens", "prompt_tokens_details", "completion_tokens_details", "prompt_cache_hit_tokens")
		}
	}
}

// countMember reads an object and returns its member name, an integer,
// skipping the others.
func (r *jsonReader) countMember(name string) int64 {
	if !r.Open('{') {
		return 0
	}
	var n int64
	var seen uint32
	for i := 0; r.More('}', i); i++ {
		k := r.Key()
		if string(k) != name {
			r.Unknown(k, name)
			continue
		}
		if r.Once(&seen, seen0) && !r.Null() {
			n = r.Int64()
		}
	}
	return n
}

// chatChunk reads a streamed chunk whose content is a string (or null)
// into w, whose Choices it reuses; it reports whether it read the whole
// chunk. Anything else (content as an array of parts, an error object)
// is left to encoding/json.
func (r *jsonReader) chatChunk(w *chatChunk) bool {
	if !r.Open('{') {
		return false
	}
	var seen uint32
	for i := 0; r.More('}', i); i++ {
		switch k := r.Key(); string(k) {
		case "model":
			if r.Once(&seen, seen0) {
				w.Model = r.StrOrNull()
			}
		case "choices":
			if r.Once(&seen, seen1) && !r.Null() {
				w.Choices = r.chunkChoices(w.Choices[:0])
			}
		case "usage":
			if r.Once(&seen, seen2) && !r.Null() {
				w.Usage = new(wireUsage)
				r.usage(w.Usage)
			}
		case "error":
			if r.Once(&seen, seen3) && !r.Null() {
				r.Fail()
			}
		default:
			r.Unknown(k, "model", "choices", "usage", "error")
		}
	}
	return !r.Failed()
}

func (r *jsonReader) chunkChoices(out []chunkChoice[string]) []chunkChoice[string] {
	if !r.Open('[') {
		return out
	}
	if out == nil {
		out = []chunkChoice[string]{} // as encoding/json gives for []
	}
	for i := 0; r.More(']', i); i++ {
		out = append(out, chunkChoice[string]{})
		c := &out[i]
		if !r.Open('{') {
			break
		}
		var seen uint32
		for j := 0; r.More('}', j); j++ {
			switch k := r.Key(); string(k) {
			case "index":
				if r.Once(&seen, seen0) && !r.Null() {
					c.Index = r.Int()
				}
			case "delta":
				if r.Once(&seen, seen1) && !r.Null() {
					r.chunkDelta(&c.Delta)
				}
			case "finish_reason":
				if r.Once(&seen, seen2) {
					c.FinishReason = r.finishReason()
				}
			default:
				r.Unknown(k, "index", "delta", "finish_reason")
			}
		}
	}
	return out
}

func (r *jsonReader) chunkDelta(d *chunkDelta[string]) {
	if !r.Open('{') {
		return
	}
	var seen uint32
	for i := 0; r.More('}', i); i++ {
		switch k := r.Key(); string(k) {
		case "content":
			if r.Once(&seen, seen0) {
				// A string or null; an array of parts fails the reader,
				// and encoding/json reads it.
				d.Content = r.StrOrNull()
			}
		case "refusal":
			if r.Once(&seen, seen1) {
				d.Refusal = r.StrOrNull()
			}
		case "tool_calls":
			if r.Once(&seen, seen2) && !r.Null() {
				d.ToolCalls = r.toolCallDeltas()
			}
		case "function_call":
			if r.Once(&seen, seen3) && !r.Null() {
				d.FunctionCall = new(wireFunction)
				r.function(d.FunctionCall)
			}
		default:
			r.Unknown(k, "content", "refusal", "tool_calls", "function_call")
		}
	}
}

func (r *jsonReader) toolCallDeltas() []toolCallDelta {
	if !r.Open('[') {
		return nil
	}
	out := []toolCallDelta{} // as encoding/json gives for []
	for i := 0; r.More(']', i); i++ {
		out = append(out, toolCallDelta{})
		tc := &out[i]
		if !r.Open('{') {
			break
		}
		var seen uint32
		for j := 0; r.More('}', j); j++ {
			switch k := r.Key(); string(k) {
			case "index":
				if r.Once(&seen, seen0) && !r.Null() {
					n := r.Int()
					tc.Index = &n
				}
			case "id":
				if r.Once(&seen, seen1) {
					tc.ID = r.StrOrNull()
				}
			case "function":
				if r.Once(&seen, seen2) && !r.Null() {
					r.function(&tc.Function)
				}
			default:
				r.Unknown(k, "index", "id", "function")
			}
		}
	}
	return out
}
