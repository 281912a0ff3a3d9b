package openaiapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strconv"
	"strings"

	"google.golang.org/protobuf/types/known/structpb"

	llmgatewayv1 "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
)

// chatRequest is the part of OpenAI's Chat Completions request body that the
// gateway honours, plus the fields it must reject rather than ignore.
// Fields that need per-element error paths stay raw and are decoded one
// element at a time. Other fields OpenAI accepts (presence_penalty, seed,
// response_format, logprobs, ...) are ignored, so that SDKs that send them
// keep working.
type chatRequest struct {
	Model               string            `json:"model"`
	Messages            []json.RawMessage `json:"messages"`
	MaxTokens           *int64            `json:"max_tokens"`
	MaxCompletionTokens *int64            `json:"max_completion_tokens"`
	Temperature         *float64          `json:"temperature"`
	TopP                *float64          `json:"top_p"`
	Stop                json.RawMessage   `json:"stop"`
	Tools               []json.RawMessage `json:"tools"`
	ToolChoice          json.RawMessage   `json:"tool_choice"`
	User                string            `json:"user"`
	SafetyIdentifier    string            `json:"safety_identifier"`
	Metadata            map[string]string `json:"metadata"`
	N                   *int64            `json:"n"`
	Stream              *bool             `json:"stream"`
	StreamOptions       *struct {
		IncludeUsage *bool `json:"include_usage"`
	} `json:"stream_options"`
	Functions    json.RawMessage `json:"functions"`
	FunctionCall json.RawMessage `json:"function_call"`
}

type chatMessage struct {
	Role         string            `json:"role"`
	Content      json.RawMessage   `json:"content"`
	Name         string            `json:"name"`
	ToolCalls    []json.RawMessage `json:"tool_calls"`
	ToolCallID   string            `json:"tool_call_id"`
	FunctionCall json.RawMessage   `json:"function_call"`
}

type contentPart struct {
	Type    string  `json:"type"`
	Text    *string `json:"text"`
	Refusal *string `json:"refusal"`
}

type toolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function *struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type toolDef struct {
	Type     string `json:"type"`
	Function *struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
		Strict      *bool           `json:"strict"`
	} `json:"function"`
}

type toolChoiceObject struct {
	Type     string `json:"type"`
	Function *struct {
		Name string `json:"name"`
	} `json:"function"`
}

// parsedChat is a decoded chat completion request.
type parsedChat struct {
	req          *llmgatewayv1.ChatRequest
	stream       bool
	includeUsage bool
}

// parseChat decodes an OpenAI Chat Completions request body and translates
// it to a ChatRequest. It checks only what the translation needs; the
// gateway validates the rest (model, roles, ranges) and names the field.
func parseChat(body []byte) (*parsedChat, *apiError) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, invalid("", "the request body is empty; send a JSON object with model and messages")
	}
	var in chatRequest
	if err := unmarshal(body, "", &in); err != nil {
		return nil, err
	}
	if !isNull(in.Functions) {
		return nil, invalid("functions", "the legacy functions parameter is not supported; use tools")
	}
	if !isNull(in.FunctionCall) {
		return nil, invalid("function_call", "the legacy function_call parameter is not supported; use tool_choice")
	}
	if in.N != nil && *in.N != 1 {
		return nil, invalid("n", "only n=1 is supported, got "+strconv.FormatInt(*in.N, 10))
	}

	out := &llmgatewayv1.ChatRequest{
		Model:       in.Model,
		Temperature: in.Temperature,
		TopP:        in.TopP,
		User:        in.User,
		Metadata:    in.Metadata,
	}
	if out.User == "" {
		out.User = in.SafetyIdentifier
	}
	switch {
	case in.MaxCompletionTokens != nil:
		n, err := int32Field("max_completion_tokens", *in.MaxCompletionTokens)
		if err != nil {
			return nil, err
		}
		out.MaxTokens = &n
	case in.MaxTokens != nil:
		n, err := int32Field("max_tokens", *in.MaxTokens)
		if err != nil {
			return nil, err
		}
		out.MaxTokens = &n
	}

	var err *apiError
	if out.Messages, err = parseMessages(in.Messages); err != nil {
		return nil, err
	}
	if out.Stop, err = parseStop(in.Stop); err != nil {
		return nil, err
	}
	if out.Tools, err = parseTools(in.Tools); err != nil {
		return nil, err
	}
	if out.ToolChoice, err = parseToolChoice(in.ToolChoice); err != nil {
		return nil, err
	}

	p := &parsedChat{req: out, stream: in.Stream != nil && *in.Stream}
	if p.stream && in.StreamOptions != nil && in.StreamOptions.IncludeUsage != nil {
		p.includeUsage = *in.StreamOptions.IncludeUsage
	}
	return p, nil
}

func int32Field(name string, v int64) (int32, *apiError) {
	switch {
	case v > math.MaxInt32:
		return 0, invalid(name, "must be at most "+strconv.Itoa(math.MaxInt32)+", got "+strconv.FormatInt(v, 10))
	case v < 0:
		return 0, invalid(name, "must not be negative, got "+strconv.FormatInt(v, 10))
	}
	return int32(v), nil
}

func parseMessages(raw []json.RawMessage) ([]*llmgatewayv1.Message, *apiError) {
	if len(raw) == 0 {
		return nil, nil
	}
	out := make([]*llmgatewayv1.Message, len(raw))
	for i, r := range raw {
		path := "messages[" + strconv.Itoa(i) + "]"
		if !isObject(r) {
			return nil, invalid(path, "must be an object with role and content")
		}
		var m chatMessage
		if err := unmarshal(r, path, &m); err != nil {
			return nil, err
		}
		if m.Role == "function" {
			return nil, invalid(path+".role", `the legacy "function" role is not supported; use "tool" with tool_call_id`)
		}
		if !isNull(m.FunctionCall) {
			return nil, invalid(path+".function_call", "the legacy function_call is not supported; use tool_calls")
		}
		content, err := parseContent(m.Content, path+".content")
		if err != nil {
			return nil, err
		}
		msg := &llmgatewayv1.Message{
			Role:       m.Role,
			Content:    content,
			Name:       m.Name,
			ToolCallId: m.ToolCallID,
		}
		if len(m.ToolCalls) > 0 {
			msg.ToolCalls = make([]*llmgatewayv1.ToolCall, len(m.ToolCalls))
			for j, rc := range m.ToolCalls {
				if msg.ToolCalls[j], err = parseToolCall(rc, path+".tool_calls["+strconv.Itoa(j)+"]"); err != nil {
					return nil, err
				}
			}
		}
		out[i] = msg
	}
	return out, nil
}

// parseContent reads a message's content: a string, null, or an array of
// content parts whose text parts are concatenated. Refusal parts, which
// only assistant messages carry, count as text.
func parseContent(raw json.RawMessage, path string) (string, *apiError) {
	raw = bytes.TrimSpace(raw)
	if isNull(raw) {
		return "", nil
	}
	switch raw[0] {
	case '"':
		var s string
		if err := unmarshal(raw, path, &s); err != nil {
			return "", err
		}
		return s, nil
	case '[':
		var parts []json.RawMessage
		if err := unmarshal(raw, path, &parts); err != nil {
			return "", err
		}
		var sb strings.Builder
		for k, rp := range parts {
			pp := path + "[" + strconv.Itoa(k) + "]"
			if !isObject(rp) {
				return "", invalid(pp, `must be a content part object such as {"type":"text","text":"..."}`)
			}
			var part contentPart
			if err := unmarshal(rp, pp, &part); err != nil {
				return "", err
			}
			switch part.Type {
			case "text":
				if part.Text == nil {
					return "", invalid(pp+".text", "is required for a text part")
				}
				sb.WriteString(*part.Text)
			case "refusal":
				if part.Refusal == nil {
					return "", invalid(pp+".refusal", "is required for a refusal part")
				}
				sb.WriteString(*part.Refusal)
			case "":
				return "", invalid(pp+".type", `is required; only "text" parts are supported`)
			default:
				return "", invalid(pp+".type", strconv.Quote(part.Type)+` is not supported; only "text" parts are`)
			}
		}
		return sb.String(), nil
	}
	return "", invalid(path, "must be a string, an array of content parts or null")
}

func parseToolCall(raw json.RawMessage, path string) (*llmgatewayv1.ToolCall, *apiError) {
	if !isObject(raw) {
		return nil, invalid(path, `must be an object {"id","type":"function","function":{"name","arguments"}}`)
	}
	var tc toolCall
	if err := unmarshal(raw, path, &tc); err != nil {
		return nil, err
	}
	if tc.Type != "" && tc.Type != "function" {
		return nil, invalid(path+".type", strconv.Quote(tc.Type)+` is not supported; only "function" tool calls are`)
	}
	if tc.Function == nil {
		return nil, invalid(path+".function", "is required")
	}
	return &llmgatewayv1.ToolCall{
		Id:   tc.ID,
		Type: "function",
		Function: &llmgatewayv1.FunctionCall{
			Name:      tc.Function.Name,
			Arguments: tc.Function.Arguments,
		},
	}, nil
}

func parseStop(raw json.RawMessage) ([]string, *apiError) {
	raw = bytes.TrimSpace(raw)
	if isNull(raw) {
		return nil, nil
	}
	switch raw[0] {
	case '"':
		var s string
		if err := unmarshal(raw, "stop", &s); err != nil {
			return nil, err
		}
		return []string{s}, nil
	case '[':
		var ss []string
		if err := unmarshal(raw, "stop", &ss); err != nil {
			return nil, err
		}
		if len(ss) == 0 {
			return nil, nil
		}
		return ss, nil
	}
	return nil, invalid("stop", "must be a string, an array of strings or null")
}

func parseTools(raw []json.RawMessage) ([]*llmgatewayv1.Tool, *apiError) {
	if len(raw) == 0 {
		return nil, nil
	}
	out := make([]*llmgatewayv1.Tool, len(raw))
	for i, r := range raw {
		path := "tools[" + strconv.Itoa(i) + "]"
		if !isObject(r) {
			return nil, invalid(path, `must be an object {"type":"function","function":{...}}`)
		}
		var t toolDef
		if err := unmarshal(r, path, &t); err != nil {
			return nil, err
		}
		if t.Type != "" && t.Type != "function" {
			return nil, invalid(path+".type", strconv.Quote(t.Type)+` is not supported; only "function" tools are`)
		}
		if t.Function == nil {
			return nil, invalid(path+".function", "is required")
		}
		def := &llmgatewayv1.FunctionDefinition{
			Name:        t.Function.Name,
			Description: t.Function.Description,
			Strict:      t.Function.Strict,
		}
		if params := bytes.TrimSpace(t.Function.Parameters); !isNull(params) {
			if !isObject(params) {
				return nil, invalid(path+".function.parameters", "must be a JSON Schema object")
			}
			var schema map[string]any
			if err := unmarshal(params, path+".function.parameters", &schema); err != nil {
				return nil, err
			}
			// encoding/json already replaced invalid UTF-8, the only input
			// NewStruct rejects.
			st, err := structpb.NewStruct(schema)
			if err != nil {
				return nil, invalid(path+".function.parameters", "must be a JSON Schema object: "+err.Error())
			}
			def.Parameters = st
		}
		out[i] = &llmgatewayv1.Tool{Type: "function", Function: def}
	}
	return out, nil
}

const toolChoiceHelp = `must be "auto", "none", "required" or {"type":"function","function":{"name":"..."}}`

func parseToolChoice(raw json.RawMessage) (*llmgatewayv1.ToolChoice, *apiError) {
	raw = bytes.TrimSpace(raw)
	if isNull(raw) {
		return nil, nil
	}
	switch raw[0] {
	case '"':
		var s string
		if err := unmarshal(raw, "tool_choice", &s); err != nil {
			return nil, err
		}
		switch s {
		case "auto", "none", "required":
			return &llmgatewayv1.ToolChoice{Mode: s}, nil
		}
		return nil, invalid("tool_choice", toolChoiceHelp+", got "+strconv.Quote(s))
	case '{':
		var o toolChoiceObject
		if err := unmarshal(raw, "tool_choice", &o); err != nil {
			return nil, err
		}
		if o.Type != "function" {
			return nil, invalid("tool_choice.type", toolChoiceHelp+`; type `+strconv.Quote(o.Type)+" is not supported")
		}
		if o.Function == nil || o.Function.Name == "" {
			return nil, invalid("tool_choice.function.name", "is required when type is \"function\"")
		}
		return &llmgatewayv1.ToolChoice{Mode: "function", FunctionName: o.Function.Name}, nil
	}
	return nil, invalid("tool_choice", toolChoiceHelp)
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

func isObject(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '{'
}

// unmarshal decodes raw into v, turning decoding errors into 400s that name
// the field (path is the JSON path of raw in the request body) or the
// position of a syntax error.
func unmarshal(raw []byte, path string, v any) *apiError {
	err := json.Unmarshal(raw, v)
	if err == nil {
		return nil
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		// se.Offset counts the bytes read, the offending one included.
		off := max(se.Offset-1, 0)
		line, col := position(raw, off)
		return invalid("", "the request body is not valid JSON: "+se.Error()+
			" (line "+strconv.Itoa(line)+", column "+strconv.Itoa(col)+", byte offset "+strconv.FormatInt(off, 10)+")")
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := joinPath(path, te.Field)
		if field == "" {
			return invalid("", "the request body must be a JSON object, got "+te.Value)
		}
		return invalid(field, "expected "+kindName(te.Type)+", got "+te.Value)
	}
	return invalid(path, err.Error())
}

func joinPath(prefix, field string) string {
	switch {
	case prefix == "":
		return field
	case field == "":
		return prefix
	}
	return prefix + "." + field
}

// position returns the 1-based line and column of the byte at offset off
// in b.
func position(b []byte, off int64) (line, col int) {
	if off > int64(len(b)) {
		off = int64(len(b))
	}
	line, col = 1, 1
	for _, c := range b[:off] {
		if c == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return line, col
}

func kindName(t reflect.Type) string {
	if t == nil {
		return "a different type"
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		if t == reflect.TypeFor[json.RawMessage]() {
			return "a JSON value"
		}
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return t.String()
}
