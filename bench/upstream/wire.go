package upstream

import (
	"strconv"

	"github.com/llmgateway/llmgateway/internal/jsonw"
	"github.com/llmgateway/llmgateway/llm"
)

// chunkEvent writes the chat.completion.chunk events of one stream.
type chunkEvent struct {
	id      string
	created int64
	model   string
}

// appendHead appends the start of an event, up to the choices.
func (e *chunkEvent) appendHead(b []byte) []byte {
	b = append(b, `data: {"id":`...)
	b = appendString(b, e.id)
	b = append(b, `,"object":"chat.completion.chunk","created":`...)
	b = strconv.AppendInt(b, e.created, 10)
	b = append(b, `,"model":`...)
	return appendString(b, e.model)
}

// appendDelta appends the event of one content chunk; the first one also
// carries the assistant role.
func (e *chunkEvent) appendDelta(b []byte, first bool, content string) []byte {
	b = e.appendHead(b)
	b = append(b, `,"choices":[{"index":0,"delta":{`...)
	if first {
		b = append(b, `"role":"assistant",`...)
	}
	b = append(b, `"content":`...)
	b = appendString(b, content)
	return append(b, "},\"logprobs\":null,\"finish_reason\":null}]}\n\n"...)
}

// appendFinish appends the event with the finish reason and an empty
// delta.
func (e *chunkEvent) appendFinish(b []byte, first bool, reason llm.FinishReason) []byte {
	b = e.appendHead(b)
	b = append(b, `,"choices":[{"index":0,"delta":{`...)
	if first {
		b = append(b, `"role":"assistant","content":""`...)
	}
	b = append(b, `},"logprobs":null,"finish_reason":`...)
	b = appendString(b, string(reason))
	return append(b, "}]}\n\n"...)
}

// appendUsage appends the usage event of stream_options.include_usage:
// no choices, and the usage of the whole answer.
func (e *chunkEvent) appendUsage(b []byte, u *llm.Usage) []byte {
	b = e.appendHead(b)
	b = append(b, `,"choices":[],"usage":`...)
	b = appendUsage(b, u)
	return append(b, "}\n\n"...)
}

func appendUsage(b []byte, u *llm.Usage) []byte {
	b = append(b, `{"prompt_tokens":`...)
	b = strconv.AppendInt(b, u.PromptTokens, 10)
	b = append(b, `,"completion_tokens":`...)
	b = strconv.AppendInt(b, u.CompletionTokens, 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, u.PromptTokens+u.CompletionTokens, 10)
	return append(b, '}')
}

// appendString appends s to b as a JSON string (see jsonw.AppendString).
func appendString(b []byte, s string) []byte { return jsonw.AppendString(b, s) }
