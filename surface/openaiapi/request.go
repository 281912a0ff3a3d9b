package openaiapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/structpb"

	llmgatewayv1 "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
	"github.com/llmgateway/llmgateway/internal/jsonr"
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
	if p, ok := parseChatFast(body); ok {
		return p, nil
	}
	return parseChatJSON(body)
}

// parseChatJSON is parseChat with encoding/json: the reference that
// parseChatFast must match, and the only path that reports errors.
func parseChatJSON(body []byte) (*parsedChat, *apiError) {
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

// parseChatFast is parseChat for a valid request, in one pass of a
// jsonReader instead of encoding/json's reflection and the second pass
// into every raw member. It reports false for anything else: a body that
// is not valid JSON, a value of the wrong type, anything parseChat
// rejects, or anything the reader leaves alone (see jsonReader). parseChat
// then reads the body as it always has, so that every error and every
// result stays what it was; what parseChatFast accepts, it must read
// exactly as parseChat does.
func parseChatFast(body []byte) (*parsedChat, bool) {
	var r jsonReader
	r.Reset(body)
	p := r.chatRequest()
	if !r.End() {
		return nil, false
	}
	return p, true
}

// jsonReader is a jsonr.Reader with this package's decoders as methods.
type jsonReader struct{ jsonr.Reader }

// chatRequestFields are chatRequest's member names, for jsonReader.unknown.
var chatRequestFields = [...]string{
	"model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "stop", "tools",
	"tool_choice", "user", "safety_identifier", "metadata", "n", "stream", "stream_options", "functions", "function_call",
}

func (r *jsonReader) chatRequest() *parsedChat {
	if !r.Open('{') {
		return nil
	}
	out := &llmgatewayv1.ChatRequest{}
	var (
		seen                 uint32
		maxTokens, maxCompl  *int64
		user, safetyID       string
		stream, includeUsage bool
	)
	for i := 0; r.More('}', i); i++ {
		k := r.Key()
		// bit is the member's bit in seen, its index in chatRequestFields.
		bit := -1
		for j, f := range chatRequestFields {
			if string(k) == f {
				bit = j
				break
			}
		}
		if bit < 0 {
			r.Unknown(k, chatRequestFields[:]...)
			continue
		}
		if !r.Once(&seen, 1<<bit) || r.Null() {
			continue
		}
		switch bit {
		case 0: // model
			out.Model = r.Str()
		case 1: // messages
			out.Messages = r.messages()
		case 2: // max_tokens
			n := r.Int64()
			maxTokens = &n
		case 3: // max_completion_tokens
			n := r.Int64()
			maxCompl = &n
		case 4: // temperature
			f := r.Float64()
			out.Temperature = &f
		case 5: // top_p
			f := r.Float64()
			out.TopP = &f
		case 6: // stop
			out.Stop = r.stop()
		case 7: // tools
			out.Tools = r.tools()
		case 8: // tool_choice
			out.ToolChoice = r.toolChoice()
		case 9: // user
			user = r.Str()
		case 10: // safety_identifier
			safetyID = r.Str()
		case 11: // metadata
			out.Metadata = r.metadata()
		case 12: // n: only 1 is accepted
			if r.Int64() != 1 {
				r.Fail()
			}
		case 13: // stream
			stream = r.Bool()
		case 14: // stream_options
			includeUsage = r.streamOptions()
		default: // functions, function_call: only null is accepted
			r.Fail()
		}
	}
	out.User = user
	if user == "" {
		out.User = safetyID
	}
	switch {
	case maxCompl != nil:
		out.MaxTokens = r.tokenLimit(*maxCompl)
	case maxTokens != nil:
		out.MaxTokens = r.tokenLimit(*maxTokens)
	}
	if r.Failed() {
		return nil
	}
	return &parsedChat{req: out, stream: stream, includeUsage: stream && includeUsage}
}

// tokenLimit returns a max-tokens value as int32Field accepts it, failing the
// reader where int32Field fails.
func (r *jsonReader) tokenLimit(v int64) *int32 {
	if v < 0 || v > math.MaxInt32 {
		r.Fail()
		return nil
	}
	n := int32(v)
	return &n
}

func (r *jsonReader) streamOptions() (includeUsage bool) {
	if !r.Open('{') {
		return false
	}
	var seen uint32
	for i := 0; r.More('}', i); i++ {
		k := r.Key()
		if string(k) != "include_usage" {
			r.Unknown(k, "include_usage")
			continue
		}
		if r.Once(&seen, 1) && !r.Null() {
			includeUsage = r.Bool()
		}
	}
	return includeUsage
}

func (r *jsonReader) metadata() map[string]string {
	if !r.Open('{') {
		return nil
	}
	m := make(map[string]string)
	for i := 0; r.More('}', i); i++ {
		k := r.Key()
		if !utf8.Valid(k) {
			r.Fail() // encoding/json would replace the invalid bytes
			return nil
		}
		m[string(k)] = r.Str()
	}
	return m
}

func (r *jsonReader) stop() []string {
	if r.Peek() == '"' {
		return []string{r.Str()}
	}
	if !r.Open('[') {
		return nil
	}
	var ss []string
	for i := 0; r.More(']', i); i++ {
		ss = append(ss, r.Str())
	}
	return ss
}

func (r *jsonReader) messages() []*llmgatewayv1.Message {
	if !r.Open('[') {
		return nil
	}
	var out []*llmgatewayv1.Message
	for i := 0; r.More(']', i); i++ {
		if m := r.message(); m != nil {
			out = append(out, m)
		}
	}
	return out
}

func (r *jsonReader) message() *llmgatewayv1.Message {
	if !r.Open('{') {
		return nil
	}
	m := &llmgatewayv1.Message{}
	var seen uint32
	for i := 0; r.More('}', i); i++ {
		var bit uint32
		switch k := r.Key(); string(k) {
		case "role":
			bit = 1 << 0
		case "content":
			bit = 1 << 1
		case "name":
			bit = 1 << 2
		case "tool_calls":
			bit = 1 << 3
		case "tool_call_id":
			bit = 1 << 4
		case "function_call":
			bit = 1 << 5
		default:
			r.Unknown(k, "role", "content", "name", "tool_calls", "tool_call_id", "function_call")
			continue
		}
		if !r.Once(&seen, bit) || r.Null() {
			continue
		}
		switch bit {
		case 1 << 0:
			m.Role = r.Str()
			if m.Role == "function" {
				r.Fail()
			}
		case 1 << 1:
			m.Content = r.content()
		case 1 << 2:
			m.Name = r.Str()
		case 1 << 3:
			m.ToolCalls = r.toolCalls()
		case 1 << 4:
			m.ToolCallId = r.Str()
		default: // function_call: only null is accepted
			r.Fail()
		}
	}
	return m
}

// content reads a message's content as parseContent does; null is read by
// the caller.
func (r *jsonReader) content() string {
	if r.Peek() == '"' {
		return r.Str()
	}
	if !r.Open('[') {
		return ""
	}
	var sb strings.Builder
	for i := 0; r.More(']', i); i++ {
		if !r.Open('{') {
			return ""
		}
		var seen uint32
		var typ string
		var text, refusal []byte
		var hasText, hasRefusal bool
		for j := 0; r.More('}', j); j++ {
			switch k := r.Key(); string(k) {
			case "type":
				if r.Once(&seen, 1) && !r.Null() {
					typ = r.Str()
				}
			case "text":
				if r.Once(&seen, 2) && !r.Null() {
					text, hasText = append(text[:0], r.StrBytes()...), true
				}
			case "refusal":
				if r.Once(&seen, 4) && !r.Null() {
					refusal, hasRefusal = append(refusal[:0], r.StrBytes()...), true
				}
			default:
				r.Unknown(k, "type", "text", "refusal")
			}
		}
		switch {
		case typ == "text" && hasText:
			sb.Write(text)
		case typ == "refusal" && hasRefusal:
			sb.Write(refusal)
		default:
			r.Fail()
		}
	}
	return sb.String()
}

func (r *jsonReader) toolCalls() []*llmgatewayv1.ToolCall {
	if !r.Open('[') {
		return nil
	}
	var out []*llmgatewayv1.ToolCall
	for i := 0; r.More(']', i); i++ {
		if !r.Open('{') {
			return nil
		}
		var seen uint32
		var id, typ string
		var fn *llmgatewayv1.FunctionCall
		for j := 0; r.More('}', j); j++ {
			switch k := r.Key(); string(k) {
			case "id":
				if r.Once(&seen, 1) && !r.Null() {
					id = r.Str()
				}
			case "type":
				if r.Once(&seen, 2) && !r.Null() {
					typ = r.Str()
				}
			case "function":
				if r.Once(&seen, 4) && !r.Null() {
					fn = r.functionCall()
				}
			default:
				r.Unknown(k, "id", "type", "function")
			}
		}
		if typ != "" && typ != "function" || fn == nil {
			r.Fail()
			return nil
		}
		out = append(out, &llmgatewayv1.ToolCall{Id: id, Type: "function", Function: fn})
	}
	return out
}

func (r *jsonReader) functionCall() *llmgatewayv1.FunctionCall {
	if !r.Open('{') {
		return nil
	}
	fn := &llmgatewayv1.FunctionCall{}
	var seen uint32
	for i := 0; r.More('}', i); i++ {
		switch k := r.Key(); string(k) {
		case "name":
			if r.Once(&seen, 1) && !r.Null() {
				fn.Name = r.Str()
			}
		case "arguments":
			if r.Once(&seen, 2) && !r.Null() {
				fn.Arguments = r.Str()
			}
		default:
			r.Unknown(k, "name", "arguments")
		}
	}
	return fn
}

func (r *jsonReader) tools() []*llmgatewayv1.Tool {
	if !r.Open('[') {
		return nil
	}
	var out []*llmgatewayv1.Tool
	for i := 0; r.More(']', i); i++ {
		if !r.Open('{') {
			return nil
		}
		var seen uint32
		var typ string
		var def *llmgatewayv1.FunctionDefinition
		for j := 0; r.More('}', j); j++ {
			switch k := r.Key(); string(k) {
			case "type":
				if r.Once(&seen, 1) && !r.Null() {
					typ = r.Str()
				}
			case "function":
				if r.Once(&seen, 2) && !r.Null() {
					def = r.functionDefinition()
				}
			default:
				r.Unknown(k, "type", "function")
			}
		}
		if typ != "" && typ != "function" || def == nil {
			r.Fail()
			return nil
		}
		out = append(out, &llmgatewayv1.Tool{Type: "function", Function: def})
	}
	return out
}

func (r *jsonReader) functionDefinition() *llmgatewayv1.FunctionDefinition {
	if !r.Open('{') {
		return nil
	}
	def := &llmgatewayv1.FunctionDefinition{}
	var seen uint32
	for i := 0; r.More('}', i); i++ {
		switch k := r.Key(); string(k) {
		case "name":
			if r.Once(&seen, 1) && !r.Null() {
				def.Name = r.Str()
			}
		case "description":
			if r.Once(&seen, 2) && !r.Null() {
				def.Description = r.Str()
			}
		case "parameters":
			if r.Once(&seen, 4) && !r.Null() {
				def.Parameters = r.protoStruct(0)
			}
		case "strict":
			if r.Once(&seen, 8) && !r.Null() {
				b := r.Bool()
				def.Strict = &b
			}
		default:
			r.Unknown(k, "name", "description", "parameters", "strict")
		}
	}
	return def
}

// protoStruct reads an object as structpb.NewStruct converts what
// encoding/json decodes into a map[string]any: numbers as float64, later
// members replacing earlier ones of the same name.
func (r *jsonReader) protoStruct(depth int) *structpb.Struct {
	if depth >= jsonr.MaxDepth || !r.Open('{') {
		r.Fail()
		return nil
	}
	s := &structpb.Struct{Fields: make(map[string]*structpb.Value)}
	for i := 0; r.More('}', i); i++ {
		k := r.Key()
		if !utf8.Valid(k) {
			r.Fail() // encoding/json would replace the invalid bytes
			return nil
		}
		s.Fields[string(k)] = r.protoValue(depth + 1)
	}
	return s
}

func (r *jsonReader) protoValue(depth int) *structpb.Value {
	switch r.Peek() {
	case '{':
		return structpb.NewStructValue(r.protoStruct(depth))
	case '[':
		if depth >= jsonr.MaxDepth {
			r.Fail()
			return nil
		}
		r.Open('[')
		l := &structpb.ListValue{Values: []*structpb.Value{}}
		for i := 0; r.More(']', i); i++ {
			l.Values = append(l.Values, r.protoValue(depth+1))
		}
		return structpb.NewListValue(l)
	case '"':
		return structpb.NewStringValue(r.Str())
	case 't', 'f':
		return structpb.NewBoolValue(r.Bool())
	case 'n':
		r.Literal("null")
		return structpb.NewNullValue()
	}
	return structpb.NewNumberValue(r.Float64())
}

func (r *jsonReader) toolChoice() *llmgatewayv1.ToolChoice {
	if r.Peek() == '"' {
		switch s := r.StrBytes(); string(s) {
		case "auto":
			return &llmgatewayv1.ToolChoice{Mode: "auto"}
		case "none":
			return &llmgatewayv1.ToolChoice{Mode: "none"}
		case "required":
			return &llmgatewayv1.ToolChoice{Mode: "required"}
		}
		r.Fail()
		return nil
	}
	if !r.Open('{') {
		return nil
	}
	var seen uint32
	var typ, name string
	for i := 0; r.More('}', i); i++ {
		switch k := r.Key(); string(k) {
		case "type":
			if r.Once(&seen, 1) && !r.Null() {
				typ = r.Str()
			}
		case "function":
			if r.Once(&seen, 2) && !r.Null() {
				name = r.functionName()
			}
		default:
			r.Unknown(k, "type", "function")
		}
	}
	if typ != "function" || name == "" {
		r.Fail()
		return nil
	}
	return &llmgatewayv1.ToolChoice{Mode: "function", FunctionName: name}
}

// functionName reads tool_choice's {"name":...} object.
func (r *jsonReader) functionName() string {
	if !r.Open('{') {
		return ""
	}
	var seen uint32
	var name string
	for i := 0; r.More('}', i); i++ {
		k := r.Key()
		if string(k) != "name" {
			r.Unknown(k, "name")
			continue
		}
		if r.Once(&seen, 1) && !r.Null() {
			name = r.Str()
		}
	}
	return name
}
