package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/llmgateway/llmgateway/internal/jsonw"
	"github.com/llmgateway/llmgateway/llm"
	"github.com/llmgateway/llmgateway/providers/internal/upstream"
)

// The request body is encoded by hand: encoding/json's reflection was the
// largest JSON cost left on the unary path (3.5% of the gateway's CPU at
// 1,000 requests/s). AppendJSON writes what json.Marshal writes for
// chatRequest, field for field and with the same omitempty rules; the
// bytes may differ only in how strings escape control characters (\b,
// \f), and decode to the same value. A test holds the two to that.

var _ upstream.JSONAppender = (*chatRequest)(nil)

// AppendJSON appends r as JSON to b.
func (r *chatRequest) AppendJSON(b []byte) ([]byte, error) {
	b = append(b, '{')
	first := true
	key := func(name string) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, '"', ':')
	}
	if r.Model != "" {
		key("model")
		b = jsonw.AppendString(b, r.Model)
	}
	key("messages")
	if r.Messages == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range r.Messages {
			if i > 0 {
				b = append(b, ',')
			}
			b = r.Messages[i].appendJSON(b)
		}
		b = append(b, ']')
	}
	if r.MaxTokens != 0 {
		key("max_tokens")
		b = strconv.AppendInt(b, int64(r.MaxTokens), 10)
	}
	var err error
	if r.Temperature != nil {
		key("temperature")
		if b, err = appendFloat(b, *r.Temperature); err != nil {
			return nil, err
		}
	}
	if r.TopP != nil {
		key("top_p")
		if b, err = appendFloat(b, *r.TopP); err != nil {
			return nil, err
		}
	}
	if len(r.Stop) > 0 {
		key("stop")
		b = append(b, '[')
		for i, s := range r.Stop {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonw.AppendString(b, s)
		}
		b = append(b, ']')
	}
	if len(r.Tools) > 0 {
		key("tools")
		b = append(b, '[')
		for i := range r.Tools {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = r.Tools[i].appendJSON(b); err != nil {
				return nil, err
			}
		}
		b = append(b, ']')
	}
	if r.ToolChoice != nil {
		key("tool_choice")
		b = r.ToolChoice.appendJSON(b)
	}
	if r.User != "" {
		key("user")
		b = jsonw.AppendString(b, r.User)
	}
	if r.Stream {
		key("stream")
		b = append(b, "true"...)
	}
	if r.StreamOptions != nil {
		key("stream_options")
		b = append(b, `{"include_usage":`...)
		b = strconv.AppendBool(b, r.StreamOptions.IncludeUsage)
		b = append(b, '}')
	}
	return append(b, '}'), nil
}

func (m *chatMessage) appendJSON(b []byte) []byte {
	b = append(b, `{"role":`...)
	b = jsonw.AppendString(b, m.Role)
	b = append(b, `,"content":`...)
	if m.Content == nil {
		b = append(b, "null"...)
	} else {
		b = jsonw.AppendString(b, *m.Content)
	}
	if m.Name != "" {
		b = append(b, `,"name":`...)
		b = jsonw.AppendString(b, m.Name)
	}
	if len(m.ToolCalls) > 0 {
		b = append(b, `,"tool_calls":[`...)
		for i := range m.ToolCalls {
			if i > 0 {
				b = append(b, ',')
			}
			tc := &m.ToolCalls[i]
			b = append(b, `{"id":`...)
			b = jsonw.AppendString(b, tc.ID)
			b = append(b, `,"type":`...)
			b = jsonw.AppendString(b, tc.Type)
			b = append(b, `,"function":{"name":`...)
			b = jsonw.AppendString(b, tc.Function.Name)
			b = append(b, `,"arguments":`...)
			b = jsonw.AppendString(b, tc.Function.Arguments)
			b = append(b, '}', '}')
		}
		b = append(b, ']')
	}
	if m.ToolCallID != "" {
		b = append(b, `,"tool_call_id":`...)
		b = jsonw.AppendString(b, m.ToolCallID)
	}
	return append(b, '}')
}

func (t *chatTool) appendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"type":`...)
	b = jsonw.AppendString(b, t.Type)
	b = append(b, `,"function":{"name":`...)
	b = jsonw.AppendString(b, t.Function.Name)
	if t.Function.Description != "" {
		b = append(b, `,"description":`...)
		b = jsonw.AppendString(b, t.Function.Description)
	}
	if len(t.Function.Parameters) > 0 {
		b = append(b, `,"parameters":`...)
		// As encoding/json writes a json.RawMessage: compacted, after
		// checking that it is JSON.
		buf := bytes.NewBuffer(b)
		if err := json.Compact(buf, t.Function.Parameters); err != nil {
			return nil, fmt.Errorf("json: error calling MarshalJSON for type json.RawMessage: %w", err)
		}
		b = buf.Bytes()
	}
	if t.Function.Strict != nil {
		b = append(b, `,"strict":`...)
		b = strconv.AppendBool(b, *t.Function.Strict)
	}
	return append(b, '}', '}'), nil
}

func (t *toolChoice) appendJSON(b []byte) []byte {
	if t.mode == llm.ToolChoiceFunction {
		b = append(b, `{"type":"function","function":{"name":`...)
		b = jsonw.AppendString(b, t.name)
		return append(b, '}', '}')
	}
	return jsonw.AppendString(b, string(t.mode))
}

var errFloat = errors.New("json: unsupported value")

// appendFloat appends f as encoding/json writes a float64: the shortest
// decimal that reads back as f, in exponent form below 1e-6 and from
// 1e21 up, with a one-digit negative exponent written without padding.
func appendFloat(b []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("%w: %s", errFloat, strconv.FormatFloat(f, 'g', -1, 64))
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-07 -> e-7
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, nil
}
