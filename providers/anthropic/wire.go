package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode"

	"github.com/llmgateway/llmgateway/llm"
	"github.com/llmgateway/llmgateway/providers/internal/upstream"
)

// The request body of POST /v1/messages.

type messagesRequest struct {
	Model         string          `json:"model"`
	MaxTokens     int             `json:"max_tokens"`
	System        string          `json:"system,omitempty"`
	Messages      []wireMessage   `json:"messages"`
	StopSequences []string        `json:"stop_sequences,omitempty"`
	Temperature   *float64        `json:"temperature,omitempty"`
	TopP          *float64        `json:"top_p,omitempty"`
	Tools         []wireTool      `json:"tools,omitempty"`
	ToolChoice    *wireToolChoice `json:"tool_choice,omitempty"`
	Metadata      *wireMetadata   `json:"metadata,omitempty"`
	Stream        bool            `json:"stream,omitempty"`
}

type wireMessage struct {
	Role    string         `json:"role"`
	Content []contentBlock `json:"content"`
}

// contentBlock is a text, tool_use or tool_result block of a request
// message; each kind sets only its own fields.
type contentBlock struct {
	Type string `json:"type"`
	// Text is a text block's text, never empty (the API rejects empty
	// text blocks).
	Text string `json:"text,omitempty"`
	// ID, Name and Input are a tool_use block's.
	ID    string          `json:"id,omitempty"`
	Name  string          `json:"name,omitempty"`
	Input json.RawMessage `json:"input,omitempty"`
	// ToolUseID and Content are a tool_result block's; Content is left
	// out when the tool returned nothing.
	ToolUseID string `json:"tool_use_id,omitempty"`
	Content   string `json:"content,omitempty"`
}

const (
	blockText       = "text"
	blockToolUse    = "tool_use"
	blockToolResult = "tool_result"
)

type wireTool struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"input_schema"`
}

type wireToolChoice struct {
	Type string `json:"type"`
	Name string `json:"name,omitempty"`
}

type wireMetadata struct {
	UserID string `json:"user_id"`
}

// emptyObjectSchema is the input schema of a tool that declares no
// parameters: the API requires one, of type object.
const emptyObjectSchema = `{"type":"object"}`

// emptyObject is the input of a tool call made without arguments.
const emptyObject = `{}`

// maxTemperature is the highest temperature the Messages API accepts.
const maxTemperature = 1.0

// buildRequest maps req to the wire request, checking what the upstream
// would otherwise reject with a less helpful message.
//
// The mapping:
//   - system and developer messages, wherever they are, are joined with a
//     blank line into the top-level system prompt;
//   - user and assistant messages become messages of content blocks: text
//     (left out when empty) and, for the assistant, one tool_use block per
//     tool call, its input the parsed Arguments ("" is {});
//   - tool messages become tool_result blocks of a user message;
//   - consecutive messages of the same role are merged into one, since the
//     API requires user and assistant turns to alternate, with tool_result
//     blocks placed before the text of the merged user message, as the API
//     requires; messages left with no blocks (an empty assistant turn) are
//     dropped;
//   - a final assistant message (a prefill the model continues) loses its
//     trailing whitespace, which the API rejects;
//   - Temperature above 1, the API's maximum, is sent as 1 (the gateway
//     accepts OpenAI's range of 0 to 2);
//   - Message.Name, Tool.Strict and Request.Metadata have no counterpart
//     and are not sent; User is sent as metadata.user_id.
//
// Arguments that are not a JSON object give an *llm.UpstreamError of kind
// KindBadRequest; other invalid requests give a plain error.
func (c *Client) buildRequest(req *llm.Request, stream bool) (*messagesRequest, error) {
	if err := upstream.CheckRequest(req); err != nil {
		return nil, err
	}
	out := &messagesRequest{
		Model:     req.Model,
		MaxTokens: req.MaxTokens,
		TopP:      req.TopP,
		Stream:    stream,
	}
	if out.MaxTokens == 0 {
		out.MaxTokens = c.maxTokens
	}
	if t := req.Temperature; t != nil {
		if math.IsNaN(*t) || *t < 0 {
			return nil, fmt.Errorf("request Temperature is %v, want 0 to %v", *t, maxTemperature)
		}
		out.Temperature = t
		if *t > maxTemperature {
			clamped := maxTemperature
			out.Temperature = &clamped
		}
	}
	if err := mapMessages(req.Messages, out); err != nil {
		return nil, err
	}
	out.StopSequences = req.Stop
	if hasEmpty(req.Stop) {
		out.StopSequences = make([]string, 0, len(req.Stop))
		for _, s := range req.Stop {
			if s != "" {
				out.StopSequences = append(out.StopSequences, s)
			}
		}
	}
	if req.User != "" {
		out.Metadata = &wireMetadata{UserID: req.User}
	}
	if err := mapTools(req, out); err != nil {
		return nil, err
	}
	return out, nil
}

func hasEmpty(ss []string) bool {
	for _, s := range ss {
		if s == "" {
			return true
		}
	}
	return false
}

// mapMessages sets out.System and out.Messages from msgs.
func mapMessages(msgs []llm.Message, out *messagesRequest) error {
	var system strings.Builder
	out.Messages = make([]wireMessage, 0, len(msgs))
	for i := range msgs {
		m := &msgs[i]
		if len(m.ToolCalls) > 0 && m.Role != llm.RoleAssistant {
			return fmt.Errorf("request message %d: %s message has tool calls; only assistant messages may", i, m.Role)
		}
		switch m.Role {
		case "":
			return fmt.Errorf("request message %d: message has no role", i)
		case llm.RoleSystem, llm.RoleDeveloper:
			if m.Content != "" {
				if system.Len() > 0 {
					system.WriteString("\n\n")
				}
				system.WriteString(m.Content)
			}
		case llm.RoleUser:
			if m.Content != "" {
				appendBlock(&out.Messages, "user", contentBlock{Type: blockText, Text: m.Content})
			}
		case llm.RoleTool:
			if m.ToolCallID == "" {
				return fmt.Errorf("request message %d: tool message has no ToolCallID", i)
			}
			appendBlock(&out.Messages, "user", contentBlock{Type: blockToolResult, ToolUseID: m.ToolCallID, Content: m.Content})
		case llm.RoleAssistant:
			if m.Content != "" {
				appendBlock(&out.Messages, "assistant", contentBlock{Type: blockText, Text: m.Content})
			}
			for j := range m.ToolCalls {
				tc := &m.ToolCalls[j]
				if tc.ID == "" {
					return fmt.Errorf("request message %d: tool call %d has no ID", i, j)
				}
				if tc.Name == "" {
					return fmt.Errorf("request message %d: tool call %d has no name", i, j)
				}
				input, err := toolInput(tc.Arguments)
				if err != nil {
					return &llm.UpstreamError{
						Kind:    llm.KindBadRequest,
						Message: fmt.Sprintf("request message %d: tool call %d (%s %s): %v", i, j, tc.Name, tc.ID, err),
					}
				}
				appendBlock(&out.Messages, "assistant", contentBlock{Type: blockToolUse, ID: tc.ID, Name: tc.Name, Input: input})
			}
		default:
			return fmt.Errorf("request message %d: role %q is unknown, want system, developer, user, assistant or tool", i, m.Role)
		}
	}
	out.System = system.String()
	trimPrefill(&out.Messages)
	if len(out.Messages) == 0 {
		return errors.New("request has no user or assistant message with content; add a user message")
	}
	return nil
}

// appendBlock adds b to the last message if it has role, or else to a new
// message. In a user message, tool_result blocks go before any text.
func appendBlock(msgs *[]wireMessage, role string, b contentBlock) {
	ms := *msgs
	if len(ms) == 0 || ms[len(ms)-1].Role != role {
		*msgs = append(ms, wireMessage{Role: role, Content: []contentBlock{b}})
		return
	}
	last := &ms[len(ms)-1]
	if b.Type != blockToolResult {
		last.Content = append(last.Content, b)
		return
	}
	at := 0
	for at < len(last.Content) && last.Content[at].Type == blockToolResult {
		at++
	}
	last.Content = append(last.Content, contentBlock{})
	copy(last.Content[at+1:], last.Content[at:])
	last.Content[at] = b
}

// trimPrefill removes the trailing whitespace of a final assistant
// message's text, dropping a text block or the message left empty.
func trimPrefill(msgs *[]wireMessage) {
	ms := *msgs
	if len(ms) == 0 || ms[len(ms)-1].Role != "assistant" {
		return
	}
	last := &ms[len(ms)-1]
	n := len(last.Content)
	if b := &last.Content[n-1]; b.Type == blockText {
		b.Text = strings.TrimRightFunc(b.Text, unicode.IsSpace)
		if b.Text == "" {
			last.Content = last.Content[:n-1]
		}
	}
	if len(last.Content) == 0 {
		*msgs = ms[:len(ms)-1]
	}
}

// toolInput parses tool call arguments: a JSON object, or "" for none.
func toolInput(args string) (json.RawMessage, error) {
	trimmed := strings.TrimSpace(args)
	if trimmed == "" {
		return json.RawMessage(emptyObject), nil
	}
	if trimmed[0] != '{' || !json.Valid([]byte(trimmed)) {
		return nil, fmt.Errorf("arguments are not a JSON object: %.64q", args)
	}
	return json.RawMessage(trimmed), nil
}

// mapTools sets out.Tools and out.ToolChoice from req.
func mapTools(req *llm.Request, out *messagesRequest) error {
	if len(req.Tools) > 0 {
		out.Tools = make([]wireTool, len(req.Tools))
		for i := range req.Tools {
			t := &req.Tools[i]
			if t.Name == "" {
				return fmt.Errorf("request tool %d has no name", i)
			}
			schema := bytes.TrimSpace(t.Parameters)
			switch {
			case len(schema) == 0 || bytes.Equal(schema, []byte("null")):
				schema = json.RawMessage(emptyObjectSchema)
			case !json.Valid(schema):
				return fmt.Errorf("request tool %q: parameters are not valid JSON", t.Name)
			case schema[0] != '{':
				return fmt.Errorf("request tool %q: parameters are not a JSON Schema object", t.Name)
			}
			out.Tools[i] = wireTool{Name: t.Name, Description: t.Description, InputSchema: schema}
		}
	}
	tc := req.ToolChoice
	if tc == nil {
		return nil
	}
	switch tc.Mode {
	case llm.ToolChoiceAuto, llm.ToolChoiceNone:
		if len(req.Tools) == 0 {
			return nil // the same as no tool choice, which the API requires without tools
		}
		out.ToolChoice = &wireToolChoice{Type: string(tc.Mode)}
	case llm.ToolChoiceRequired:
		if len(req.Tools) == 0 {
			return errors.New("request tool choice is required but the request has no tools")
		}
		out.ToolChoice = &wireToolChoice{Type: "any"}
	case llm.ToolChoiceFunction:
		if tc.Name == "" {
			return errors.New("request tool choice is a function but names none")
		}
		found := false
		for i := range req.Tools {
			if req.Tools[i].Name == tc.Name {
				found = true
				break
			}
		}
		if !found {
			return fmt.Errorf("request tool choice names %q, which is not one of the request's tools", tc.Name)
		}
		out.ToolChoice = &wireToolChoice{Type: "tool", Name: tc.Name}
	default:
		return fmt.Errorf("request tool choice mode %q is unknown, want auto, none, required or function", tc.Mode)
	}
	return nil
}

// The response body, also the message of a stream's message_start event.

type messagesResponse struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	Role       string          `json:"role"`
	Model      string          `json:"model"`
	Content    []responseBlock `json:"content"`
	StopReason string          `json:"stop_reason"`
	Usage      wireUsage       `json:"usage"`
	// Error and RequestID are set when the body is an error
	// ({"type":"error","error":{...},"request_id":...}).
	Error     *wireError `json:"error"`
	RequestID string     `json:"request_id"`
}

// responseBlock is a content block of a response. Only text and tool_use
// blocks are read; thinking, redacted_thinking and server tool blocks are
// skipped.
type responseBlock struct {
	Type  string          `json:"type"`
	Text  string          `json:"text"`
	ID    string          `json:"id"`
	Name  string          `json:"name"`
	Input json.RawMessage `json:"input"`
}

// wireUsage is Anthropic's token usage. The fields are pointers so that a
// stream's message_delta, which may carry only some of them, updates only
// those it carries.
type wireUsage struct {
	InputTokens              *int64 `json:"input_tokens"`
	OutputTokens             *int64 `json:"output_tokens"`
	CacheCreationInputTokens *int64 `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     *int64 `json:"cache_read_input_tokens"`
}

// merge sets the fields of u that v carries.
func (u *wireUsage) merge(v *wireUsage) {
	set := func(dst **int64, src *int64) {
		if src != nil {
			n := *src
			*dst = &n
		}
	}
	set(&u.InputTokens, v.InputTokens)
	set(&u.OutputTokens, v.OutputTokens)
	set(&u.CacheCreationInputTokens, v.CacheCreationInputTokens)
	set(&u.CacheReadInputTokens, v.CacheReadInputTokens)
}

func (u *wireUsage) isZero() bool {
	return u.InputTokens == nil && u.OutputTokens == nil && u.CacheCreationInputTokens == nil && u.CacheReadInputTokens == nil
}

// toLLM converts to the llm.Usage convention. Anthropic's input_tokens
// counts only the input after the last cache breakpoint: it excludes the
// tokens read from the cache (cache_read_input_tokens) and those written
// to it (cache_creation_input_tokens). So
//
//	PromptTokens     = input_tokens + cache_read_input_tokens + cache_creation_input_tokens
//	CachedTokens     = cache_read_input_tokens
//	CacheWriteTokens = cache_creation_input_tokens
//	CompletionTokens = output_tokens (which includes any thinking)
//
// Anthropic does not report thinking tokens apart, so ReasoningTokens is 0.
func (u *wireUsage) toLLM() llm.Usage {
	v := func(p *int64) int64 {
		if p == nil {
			return 0
		}
		return *p
	}
	in, read, write := v(u.InputTokens), v(u.CacheReadInputTokens), v(u.CacheCreationInputTokens)
	return llm.Usage{
		PromptTokens:     in + read + write,
		CompletionTokens: v(u.OutputTokens),
		CachedTokens:     read,
		CacheWriteTokens: write,
	}
}

// finishReason maps an Anthropic stop reason to the gateway's; "" when
// none was given.
func finishReason(s string) llm.FinishReason {
	switch s {
	case "":
		return ""
	case "end_turn", "stop_sequence", "pause_turn":
		return llm.FinishStop
	case "max_tokens", "model_context_window_exceeded":
		return llm.FinishLength
	case "tool_use":
		return llm.FinishToolCalls
	case "refusal":
		return llm.FinishContentFilter
	}
	return llm.FinishStop
}

// defaultFinish is the finish reason of a response that gave none.
func defaultFinish(toolCalls bool) llm.FinishReason {
	if toolCalls {
		return llm.FinishToolCalls
	}
	return llm.FinishStop
}

// toResponse maps a unary response body.
func (c *Client) toResponse(w *messagesResponse, status int, requestID string) (*llm.Response, error) {
	if w.Type == "error" || (w.Error != nil && w.Type == "") {
		e := w.Error
		if e == nil {
			e = &wireError{}
		}
		e.RequestID = w.RequestID
		if e.RequestID == "" {
			e.RequestID = requestID
		}
		return nil, upstreamErrorFromObject(c.name, e, status)
	}
	if w.Type != "message" && (w.Type != "" || w.Role != "assistant") {
		return nil, upstream.Malformed(c.name, status, withRequestID(fmt.Sprintf("response is not a message (type %q, role %q)", w.Type, w.Role), requestID), nil)
	}
	msg := llm.Message{Role: llm.RoleAssistant}
	var text strings.Builder
	for i := range w.Content {
		b := &w.Content[i]
		switch b.Type {
		case blockText:
			text.WriteString(b.Text)
		case blockToolUse:
			msg.ToolCalls = append(msg.ToolCalls, llm.ToolCall{ID: b.ID, Name: b.Name, Arguments: inputText(b.Input)})
		}
	}
	msg.Content = text.String()
	fr := finishReason(w.StopReason)
	if fr == "" {
		fr = defaultFinish(len(msg.ToolCalls) > 0)
	}
	return &llm.Response{ID: w.ID, Model: w.Model, Message: msg, FinishReason: fr, Usage: w.Usage.toLLM()}, nil
}

// inputText returns a tool_use block's input as compact JSON text, "{}"
// when it is absent or null.
func inputText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return emptyObject
	}
	var buf bytes.Buffer
	buf.Grow(len(raw))
	if json.Compact(&buf, raw) != nil {
		return string(raw)
	}
	return buf.String()
}

// wireError is the error object of an Anthropic error body
// ({"type":"error","error":{"type":...,"message":...},"request_id":...}),
// also sent as a stream's error event.
type wireError struct {
	Type      string `json:"type"`
	Message   string `json:"message"`
	RequestID string `json:"-"`
}

// describe formats the error for logs.
func (e *wireError) describe() string {
	return upstream.Describe(e.Message, "type", e.Type, "request_id", e.RequestID)
}

// withRequestID appends the upstream's request id to a log message.
func withRequestID(msg, id string) string {
	if id == "" {
		return msg
	}
	if msg == "" {
		return "request_id=" + id
	}
	return msg + " [request_id=" + id + "]"
}

// errorBody is an error response body: Anthropic's {"type":"error",
// "error":{...},"request_id":...}, and the {"error":"text"} and
// {"message":"text"} bodies some proxies send.
type errorBody struct {
	Error     json.RawMessage `json:"error"`
	Message   string          `json:"message"`
	RequestID string          `json:"request_id"`
}

// parseErrorBody extracts the error object from an error body or a stream
// error event. It returns nil when the body is none of the known shapes.
func parseErrorBody(b []byte) *wireError {
	var body errorBody
	if json.Unmarshal(b, &body) != nil {
		return nil
	}
	raw := bytes.TrimSpace(body.Error)
	var e *wireError
	switch {
	case len(raw) > 0 && raw[0] == '{':
		var obj wireError
		if json.Unmarshal(raw, &obj) == nil {
			e = &obj
		}
	case len(raw) > 0 && raw[0] == '"':
		var s string
		if json.Unmarshal(raw, &s) == nil && s != "" {
			e = &wireError{Message: s}
		}
	}
	if e == nil && body.Message != "" {
		e = &wireError{Message: body.Message}
	}
	if e == nil {
		return nil
	}
	e.RequestID = body.RequestID
	return e
}

// isContextLength reports whether an error message says the request does
// not fit the model's context window: upstream's shared phrases, and
// Anthropic's "input length and `max_tokens` exceed context limit".
func isContextLength(msg string) bool {
	return upstream.IsContextLengthMessage(msg) || strings.Contains(strings.ToLower(msg), "exceed context limit")
}

// refineKind adjusts the kind of an HTTP error from the error type and
// message, where they say more than the status.
func refineKind(ue *llm.UpstreamError, e *wireError) {
	if e == nil {
		return
	}
	switch e.Type {
	case "overloaded_error":
		ue.Kind, ue.Retryable = llm.KindOverloaded, true
	case "rate_limit_error":
		ue.Kind, ue.Retryable = llm.KindRateLimited, true
	case "timeout_error":
		ue.Kind, ue.Retryable = llm.KindTimeout, true
	case "request_too_large":
		ue.Kind, ue.Retryable = llm.KindContextLength, false
	}
	if ue.Kind == llm.KindBadRequest && isContextLength(e.Message) {
		ue.Kind, ue.Retryable = llm.KindContextLength, false
	}
}

// errorKind classifies an error object received with HTTP 200, in a
// stream's error event or a unary body, where no status says what went
// wrong.
func errorKind(e *wireError) llm.ErrorKind {
	switch e.Type {
	case "overloaded_error":
		return llm.KindOverloaded
	case "rate_limit_error":
		return llm.KindRateLimited
	case "api_error":
		return llm.KindServer
	case "timeout_error":
		return llm.KindTimeout
	case "request_too_large":
		return llm.KindContextLength
	case "authentication_error", "permission_error", "billing_error":
		return llm.KindAuth
	case "not_found_error":
		return llm.KindNotFound
	case "invalid_request_error":
		if isContextLength(e.Message) {
			return llm.KindContextLength
		}
		return llm.KindBadRequest
	}
	if isContextLength(e.Message) {
		return llm.KindContextLength
	}
	return llm.KindServer
}

// upstreamErrorFromObject builds the error for an error object that came
// with HTTP 200.
func upstreamErrorFromObject(provider string, e *wireError, status int) *llm.UpstreamError {
	return upstream.KindError(provider, errorKind(e), status, e.describe())
}
