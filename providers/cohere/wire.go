package cohere

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/llmgateway/llmgateway/llm"
	"github.com/llmgateway/llmgateway/providers/internal/upstream"
)

// The request body of POST /v2/chat.

type chatRequest struct {
	Model         string        `json:"model"`
	Messages      []chatMessage `json:"messages"`
	Tools         []chatTool    `json:"tools,omitempty"`
	StrictTools   bool          `json:"strict_tools,omitempty"`
	ToolChoice    string        `json:"tool_choice,omitempty"`
	MaxTokens     int           `json:"max_tokens,omitempty"`
	Temperature   *float64      `json:"temperature,omitempty"`
	P             *float64      `json:"p,omitempty"`
	StopSequences []string      `json:"stop_sequences,omitempty"`
	// Stream is required by the API, so it is always sent.
	Stream bool `json:"stream"`
}

type chatMessage struct {
	Role string `json:"role"`
	// Content is a string for every role. It is nil (left out) only for an
	// assistant message that makes tool calls and says nothing; Cohere
	// makes an assistant's content optional and the other roles' required.
	Content    *string        `json:"content,omitempty"`
	ToolCalls  []wireToolCall `json:"tool_calls,omitempty"`
	ToolCallID string         `json:"tool_call_id,omitempty"`
}

type wireToolCall struct {
	ID       string       `json:"id"`
	Type     string       `json:"type"`
	Function wireFunction `json:"function"`
}

type wireFunction struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

type chatTool struct {
	Type     string       `json:"type"`
	Function toolFunction `json:"function"`
}

type toolFunction struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Parameters is required by the API.
	Parameters json.RawMessage `json:"parameters"`
}

// emptyParameters is the schema sent for a tool that takes no arguments,
// since Cohere requires parameters.
var emptyParameters = json.RawMessage(`{"type":"object","properties":{}}`)

// The tool_choice values. Cohere has no value for "auto" (it is the
// default, so tool_choice is left out) and none naming a function.
const (
	toolChoiceRequired = "REQUIRED"
	toolChoiceNone     = "NONE"
)

// maxStopSequences is how many stop sequences Cohere accepts.
const maxStopSequences = 5

// Cohere's documented range for p (nucleus sampling).
const (
	minP = 0.01
	maxP = 0.99
)

// The response body, and the streamed events.

type chatResponse struct {
	ID           string `json:"id"`
	FinishReason string `json:"finish_reason"`
	// Message is the assistant's message: an object. In an error body sent
	// with HTTP 200 it is the error text instead, so it is decoded in two
	// steps.
	Message json.RawMessage `json:"message"`
	Usage   *wireUsage      `json:"usage"`
}

type respMessage struct {
	Content   contentText    `json:"content"`
	ToolCalls []wireToolCall `json:"tool_calls"`
}

// contentText is the text of a message's content: the concatenation of its
// text items. Items of other types (a reasoning model's "thinking") are
// left out. A plain string is accepted too.
type contentText string

func (t *contentText) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) > 0 && b[0] == '[':
		var items []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}
		if err := json.Unmarshal(b, &items); err != nil {
			return err
		}
		var sb strings.Builder
		for _, it := range items {
			if it.Type == "text" {
				sb.WriteString(it.Text)
			}
		}
		*t = contentText(sb.String())
		return nil
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = contentText(s)
		return nil
	case bytes.Equal(b, []byte("null")):
		*t = ""
		return nil
	}
	return fmt.Errorf("content is %.20s, want an array of content items", b)
}

// wireUsage is Cohere's usage object. tokens counts what the model
// processed, billed_units what Cohere charges for: billed_units leaves out
// the tokens Cohere adds itself (its prompt template, special tokens).
type wireUsage struct {
	BilledUnits  *tokenPair `json:"billed_units"`
	Tokens       *tokenPair `json:"tokens"`
	CachedTokens count      `json:"cached_tokens"`
}

type tokenPair struct {
	InputTokens  count `json:"input_tokens"`
	OutputTokens count `json:"output_tokens"`
}

// toLLM converts the usage to the gateway's convention:
//
//	PromptTokens     = tokens.input_tokens  (all input tokens processed,
//	                   the cached ones included)
//	CompletionTokens = tokens.output_tokens
//	CachedTokens     = cached_tokens, at most PromptTokens
//
// tokens is used when present because llm.Usage counts tokens processed,
// not tokens billed; billed_units is the fallback for responses that carry
// only it. Cohere reports no cache writes or reasoning tokens apart, so
// those stay 0 (reasoning tokens are inside CompletionTokens).
func (u *wireUsage) toLLM() llm.Usage {
	p := u.Tokens
	if p == nil {
		p = u.BilledUnits
	}
	var out llm.Usage
	if p != nil {
		out.PromptTokens = int64(p.InputTokens)
		out.CompletionTokens = int64(p.OutputTokens)
	}
	out.CachedTokens = min(int64(u.CachedTokens), out.PromptTokens)
	return out
}

// count is a token count, which Cohere's schema types as a double.
type count int64

func (n *count) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		*n = 0
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("token count %.20s is not a number", b)
	}
	if f < 0 || f > math.MaxInt64/2 || math.IsNaN(f) {
		return fmt.Errorf("token count %v is out of range", f)
	}
	*n = count(math.Round(f))
	return nil
}

// errorBody is Cohere's error body: {"id","message"}, or {"data"} for some
// statuses.
type errorBody struct {
	ID      string `json:"id"`
	Message string `json:"message"`
	Data    string `json:"data"`
}

// describe formats the error for logs.
func (e *errorBody) describe() string {
	msg := strings.TrimSpace(e.Message)
	if msg == "" {
		msg = strings.TrimSpace(e.Data)
	}
	if msg != "" && e.ID != "" {
		msg += " (id=" + e.ID + ")"
	}
	return msg
}

// errorMessage extracts the message of an error response body; "" when the
// body is not Cohere's error shape.
func errorMessage(b []byte) string {
	var e errorBody
	if json.Unmarshal(b, &e) != nil {
		return ""
	}
	return e.describe()
}

// errorKindForMessage classifies an error that came without an HTTP error
// status (in a stream, or a unary body with HTTP 200) from its message.
func errorKindForMessage(msg string) llm.ErrorKind {
	lower := strings.ToLower(msg)
	switch {
	case upstream.IsContextLengthMessage(msg) || mentionsContextWindow(msg):
		return llm.KindContextLength
	case strings.Contains(lower, "too many requests") || strings.Contains(lower, "rate limit"):
		return llm.KindRateLimited
	case strings.Contains(lower, "overloaded") || strings.Contains(lower, "unavailable"):
		return llm.KindOverloaded
	case strings.Contains(lower, "timeout") || strings.Contains(lower, "timed out"):
		return llm.KindTimeout
	}
	return llm.KindServer
}

// errorWithoutStatus builds the error for an error message received with
// HTTP 200.
func errorWithoutStatus(provider, msg string) *llm.UpstreamError {
	return upstream.KindError(provider, errorKindForMessage(msg), 200, msg)
}

// finishReason maps a Cohere finish reason to the gateway's. An unknown
// reason is a normal stop.
func finishReason(s string) llm.FinishReason {
	switch s {
	case "":
		return ""
	case "COMPLETE", "STOP_SEQUENCE":
		return llm.FinishStop
	case "MAX_TOKENS":
		return llm.FinishLength
	case "TOOL_CALL":
		return llm.FinishToolCalls
	case "ERROR", "TIMEOUT":
		return llm.FinishError
	}
	return llm.FinishStop
}

// buildRequest maps req to the wire request, checking what the upstream
// would otherwise reject with a less helpful message.
//
// Fields Cohere has no counterpart for are left out: Message.Name,
// Request.User and Request.Metadata. Tool.Strict maps to the request-wide
// strict_tools, set when every tool asks for strictness. TopP is clamped
// into Cohere's range for p, [0.01, 0.99], so that the common top_p of 1
// (no nucleus cut) is the closest value Cohere accepts rather than an
// error.
func buildRequest(req *llm.Request, stream bool) (*chatRequest, error) {
	if err := upstream.CheckRequest(req); err != nil {
		return nil, err
	}
	if t := req.Temperature; t != nil && (*t < 0 || math.IsNaN(*t) || math.IsInf(*t, 0)) {
		return nil, fmt.Errorf("request Temperature is %v, want 0 or more", *t)
	}
	if len(req.Stop) > maxStopSequences {
		return nil, fmt.Errorf("request has %d stop sequences; Cohere accepts at most %d", len(req.Stop), maxStopSequences)
	}
	out := &chatRequest{
		Model:         req.Model,
		MaxTokens:     req.MaxTokens,
		Temperature:   req.Temperature,
		StopSequences: req.Stop,
		Stream:        stream,
	}
	if tp := req.TopP; tp != nil {
		if *tp < 0 || *tp > 1 || math.IsNaN(*tp) {
			return nil, fmt.Errorf("request TopP is %v, want a value from 0 to 1", *tp)
		}
		p := min(max(*tp, minP), maxP)
		out.P = &p
	}
	out.Messages = make([]chatMessage, len(req.Messages))
	for i := range req.Messages {
		if err := mapMessage(&req.Messages[i], &out.Messages[i]); err != nil {
			return nil, fmt.Errorf("request message %d: %w", i, err)
		}
	}
	tools, err := mapTools(req.Tools)
	if err != nil {
		return nil, err
	}
	out.Tools = tools
	if len(req.Tools) > 0 {
		out.StrictTools = true
		for _, t := range req.Tools {
			if t.Strict == nil || !*t.Strict {
				out.StrictTools = false
				break
			}
		}
	}
	if err := applyToolChoice(req, out); err != nil {
		return nil, err
	}
	return out, nil
}

func mapMessage(m *llm.Message, out *chatMessage) error {
	if len(m.ToolCalls) > 0 && m.Role != llm.RoleAssistant {
		return fmt.Errorf("%s message has tool calls; only assistant messages may", m.Role)
	}
	*out = chatMessage{Role: string(m.Role), Content: &m.Content}
	switch m.Role {
	case llm.RoleSystem, llm.RoleDeveloper:
		out.Role = "system"
	case llm.RoleUser:
	case llm.RoleTool:
		if m.ToolCallID == "" {
			return errors.New("tool message has no ToolCallID")
		}
		// A tool result is sent as a string, the simplest form Cohere
		// documents; the alternative is a list of text or document items.
		out.ToolCallID = m.ToolCallID
	case llm.RoleAssistant:
		if len(m.ToolCalls) == 0 {
			break
		}
		out.ToolCalls = make([]wireToolCall, len(m.ToolCalls))
		for j, tc := range m.ToolCalls {
			if tc.ID == "" {
				return fmt.Errorf("tool call %d has no ID", j)
			}
			if tc.Name == "" {
				return fmt.Errorf("tool call %d has no name", j)
			}
			args := tc.Arguments
			if args == "" {
				args = "{}" // Cohere parses the arguments; an empty string is not JSON
			}
			out.ToolCalls[j] = wireToolCall{ID: tc.ID, Type: "function", Function: wireFunction{Name: tc.Name, Arguments: args}}
		}
		if m.Content == "" {
			out.Content = nil
		}
	case "":
		return errors.New("message has no role")
	default:
		return fmt.Errorf("message role %q is unknown, want system, developer, user, assistant or tool", m.Role)
	}
	return nil
}

func mapTools(tools []llm.Tool) ([]chatTool, error) {
	if len(tools) == 0 {
		return nil, nil
	}
	out := make([]chatTool, len(tools))
	for i, t := range tools {
		if t.Name == "" {
			return nil, fmt.Errorf("request tool %d has no name", i)
		}
		params := t.Parameters
		if len(bytes.TrimSpace(params)) == 0 || bytes.Equal(bytes.TrimSpace(params), []byte("null")) {
			params = emptyParameters
		} else if !json.Valid(params) {
			return nil, fmt.Errorf("request tool %q: parameters are not valid JSON", t.Name)
		}
		out[i] = chatTool{Type: "function", Function: toolFunction{Name: t.Name, Description: t.Description, Parameters: params}}
	}
	return out, nil
}

// applyToolChoice sets tool_choice. Cohere knows only REQUIRED and NONE;
// "auto" is its default and is left out. A choice of one named function
// has no direct counterpart, so the request offers that function alone and
// requires a tool call: the model must call it.
func applyToolChoice(req *llm.Request, out *chatRequest) error {
	tc := req.ToolChoice
	if tc == nil {
		return nil
	}
	switch tc.Mode {
	case llm.ToolChoiceAuto:
	case llm.ToolChoiceNone:
		if len(out.Tools) > 0 {
			out.ToolChoice = toolChoiceNone
		}
	case llm.ToolChoiceRequired:
		if len(out.Tools) == 0 {
			return errors.New("request tool choice is required but the request has no tools")
		}
		out.ToolChoice = toolChoiceRequired
	case llm.ToolChoiceFunction:
		if tc.Name == "" {
			return errors.New("request tool choice is a function but names none")
		}
		i := -1
		for j := range out.Tools {
			if out.Tools[j].Function.Name == tc.Name {
				i = j
				break
			}
		}
		if i < 0 {
			return fmt.Errorf("request tool choice names %q, which is not among the request's tools", tc.Name)
		}
		out.Tools = []chatTool{out.Tools[i]}
		out.StrictTools = req.Tools[i].Strict != nil && *req.Tools[i].Strict
		out.ToolChoice = toolChoiceRequired
	default:
		return fmt.Errorf("request tool choice mode %q is unknown, want auto, none, required or function", tc.Mode)
	}
	return nil
}

// toResponse maps a unary response body.
func toResponse(provider string, w *chatResponse, status int) (*llm.Response, error) {
	raw := bytes.TrimSpace(w.Message)
	switch {
	case len(raw) > 0 && raw[0] == '"':
		// An error body ({"id","message"}) sent with a success status.
		var msg string
		if err := json.Unmarshal(raw, &msg); err != nil {
			return nil, upstream.Malformed(provider, status, "decoding response message", err)
		}
		e := errorBody{ID: w.ID, Message: msg}
		ue := errorWithoutStatus(provider, e.describe())
		ue.StatusCode = status
		return nil, ue
	case len(raw) == 0 || raw[0] != '{':
		return nil, upstream.Malformed(provider, status, "response has no message", nil)
	}
	var m respMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, upstream.Malformed(provider, status, "decoding response message", err)
	}
	msg := llm.Message{Role: llm.RoleAssistant, Content: string(m.Content)}
	for _, tc := range m.ToolCalls {
		msg.ToolCalls = append(msg.ToolCalls, llm.ToolCall{ID: tc.ID, Name: tc.Function.Name, Arguments: tc.Function.Arguments})
	}
	fr := finishReason(w.FinishReason)
	if fr == "" {
		fr = llm.FinishStop
		if len(msg.ToolCalls) > 0 {
			fr = llm.FinishToolCalls
		}
	}
	resp := &llm.Response{ID: w.ID, Message: msg, FinishReason: fr}
	if w.Usage != nil {
		resp.Usage = w.Usage.toLLM()
	}
	return resp, nil
}
