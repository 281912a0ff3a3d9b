package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/llmgateway/llmgateway/llm"
	"github.com/llmgateway/llmgateway/providers/internal/upstream"
)

// The request body of POST /chat/completions.

type chatRequest struct {
	Model         string         `json:"model,omitempty"`
	Messages      []chatMessage  `json:"messages"`
	MaxTokens     int            `json:"max_tokens,omitempty"`
	Temperature   *float64       `json:"temperature,omitempty"`
	TopP          *float64       `json:"top_p,omitempty"`
	Stop          []string       `json:"stop,omitempty"`
	Tools         []chatTool     `json:"tools,omitempty"`
	ToolChoice    *toolChoice    `json:"tool_choice,omitempty"`
	User          string         `json:"user,omitempty"`
	Stream        bool           `json:"stream,omitempty"`
	StreamOptions *streamOptions `json:"stream_options,omitempty"`
}

type chatMessage struct {
	Role string `json:"role"`
	// Content is null only for an assistant message that makes tool calls
	// and says nothing.
	Content    *string        `json:"content"`
	Name       string         `json:"name,omitempty"`
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
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// toolChoice encodes as "auto", "none", "required" or
// {"type":"function","function":{"name":...}}.
type toolChoice struct {
	mode llm.ToolChoiceMode
	name string
}

// MarshalJSON is the encoding of appendJSON (encode.go), which the
// request body uses, for callers of encoding/json.
func (t toolChoice) MarshalJSON() ([]byte, error) {
	return t.appendJSON(nil), nil
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// The response body, and the streamed chunks.

type chatResponse struct {
	ID      string       `json:"id"`
	Model   string       `json:"model"`
	Choices []chatChoice `json:"choices"`
	Usage   *wireUsage   `json:"usage"`
	Error   *wireError   `json:"error"`
}

type chatChoice struct {
	Index        int         `json:"index"`
	Message      respMessage `json:"message"`
	FinishReason string      `json:"finish_reason"`
}

type respMessage struct {
	Content      textContent    `json:"content"`
	Refusal      string         `json:"refusal"`
	ToolCalls    []wireToolCall `json:"tool_calls"`
	FunctionCall *wireFunction  `json:"function_call"`
}

// chatChunk is a streamed chunk whose content is a string, as OpenAI sends
// it; chunkOf[textContent] also accepts content as an array of parts. The
// stream decodes into the first and falls back to the second, which costs
// more, only when the content is not a string.
type chatChunk = chunkOf[string]

type chunkOf[T ~string] struct {
	Model   string           `json:"model"`
	Choices []chunkChoice[T] `json:"choices"`
	Usage   *wireUsage       `json:"usage"`
	Error   *wireError       `json:"error"`
}

type chunkChoice[T ~string] struct {
	Index        int           `json:"index"`
	Delta        chunkDelta[T] `json:"delta"`
	FinishReason string        `json:"finish_reason"`
}

type chunkDelta[T ~string] struct {
	Content      T               `json:"content"`
	Refusal      string          `json:"refusal"`
	ToolCalls    []toolCallDelta `json:"tool_calls"`
	FunctionCall *wireFunction   `json:"function_call"`
}

// toStringContent converts a chunk decoded with content parts.
func toStringContent(w *chunkOf[textContent]) chatChunk {
	out := chatChunk{Model: w.Model, Usage: w.Usage, Error: w.Error}
	for _, ch := range w.Choices {
		out.Choices = append(out.Choices, chunkChoice[string]{
			Index: ch.Index,
			Delta: chunkDelta[string]{
				Content:      string(ch.Delta.Content),
				Refusal:      ch.Delta.Refusal,
				ToolCalls:    ch.Delta.ToolCalls,
				FunctionCall: ch.Delta.FunctionCall,
			},
			FinishReason: ch.FinishReason,
		})
	}
	return out
}

type toolCallDelta struct {
	// Index is nil when a server leaves it out (old Ollama versions).
	Index    *int         `json:"index"`
	ID       string       `json:"id"`
	Function wireFunction `json:"function"`
}

type wireUsage struct {
	PromptTokens        int64 `json:"prompt_tokens"`
	CompletionTokens    int64 `json:"completion_tokens"`
	PromptTokensDetails struct {
		CachedTokens int64 `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
	CompletionTokensDetails struct {
		ReasoningTokens int64 `json:"reasoning_tokens"`
	} `json:"completion_tokens_details"`
	// PromptCacheHitTokens is DeepSeek's count of cached prompt tokens.
	PromptCacheHitTokens int64 `json:"prompt_cache_hit_tokens"`
}

func (u *wireUsage) toLLM() llm.Usage {
	cached := u.PromptTokensDetails.CachedTokens
	if cached == 0 {
		cached = u.PromptCacheHitTokens
	}
	return llm.Usage{
		PromptTokens:     u.PromptTokens,
		CompletionTokens: u.CompletionTokens,
		CachedTokens:     cached,
		ReasoningTokens:  u.CompletionTokensDetails.ReasoningTokens,
	}
}

// textContent is message content: a string, null, or (from some
// OpenAI-compatible servers) an array of parts whose text parts are joined.
type textContent string

func (t *textContent) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = textContent(s)
		return nil
	case bytes.Equal(b, []byte("null")):
		*t = ""
		return nil
	case len(b) > 0 && b[0] == '[':
		var parts []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}
		if err := json.Unmarshal(b, &parts); err != nil {
			return err
		}
		var sb strings.Builder
		for _, p := range parts {
			if p.Type == "text" || p.Type == "output_text" {
				sb.WriteString(p.Text)
			}
		}
		*t = textContent(sb.String())
		return nil
	}
	return fmt.Errorf("content is %.20s, want a string, null or an array of parts", b)
}

// wireError is the error object of an OpenAI error body, also sent inside
// a stream by OpenAI-compatible servers.
type wireError struct {
	Message string `json:"message"`
	Type    string `json:"type"`
	// Code is a string ("context_length_exceeded"), a number (vLLM sends
	// the HTTP status) or null.
	Code json.RawMessage `json:"code"`
}

func (e *wireError) code() string {
	return rawString(e.Code)
}

// describe formats the error for logs.
func (e *wireError) describe() string {
	return upstream.Describe(e.Message, "type", e.Type, "code", e.code())
}

// rawString returns a JSON string's value, a number's text, or "" for
// null, absence or anything else.
func rawString(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return ""
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
		return ""
	}
	if _, err := strconv.ParseFloat(string(raw), 64); err == nil {
		return string(raw)
	}
	return ""
}

// errorBody is every error body shape seen from OpenAI-compatible servers:
// {"error":{"message","type","code"}} (OpenAI), {"error":"text"} (Ollama),
// {"object":"error","message","type","code"} (vLLM) and {"detail":...}
// (FastAPI-based servers).
type errorBody struct {
	Error   json.RawMessage `json:"error"`
	Message string          `json:"message"`
	Type    string          `json:"type"`
	Code    json.RawMessage `json:"code"`
	Detail  json.RawMessage `json:"detail"`
}

// parseErrorBody extracts the error object from an error response body. It
// returns nil when the body is none of the known shapes.
func parseErrorBody(b []byte) *wireError {
	var body errorBody
	if json.Unmarshal(b, &body) != nil {
		return nil
	}
	raw := bytes.TrimSpace(body.Error)
	switch {
	case len(raw) > 0 && raw[0] == '{':
		var e wireError
		if json.Unmarshal(raw, &e) == nil {
			return &e
		}
	case len(raw) > 0 && raw[0] == '"':
		return &wireError{Message: rawString(raw)}
	}
	if body.Message != "" {
		return &wireError{Message: body.Message, Type: body.Type, Code: body.Code}
	}
	if d := bytes.TrimSpace(body.Detail); len(d) > 0 && !bytes.Equal(d, []byte("null")) {
		if s := rawString(d); s != "" {
			return &wireError{Message: s}
		}
		return &wireError{Message: string(d)}
	}
	return nil
}

// refineKind adjusts the kind of an upstream error from the error object's
// code and type, where they say more than the HTTP status.
func refineKind(ue *llm.UpstreamError, e *wireError) {
	if e == nil {
		return
	}
	switch strings.ToLower(e.code()) {
	case "content_filter", "content_policy_violation":
		ue.Kind, ue.Retryable = llm.KindContentFilter, false
	case "context_length_exceeded":
		ue.Kind, ue.Retryable = llm.KindContextLength, false
	}
}

// streamErrorKind classifies an error object received with HTTP 200, in a
// stream or a unary body, where no status says what went wrong.
func streamErrorKind(e *wireError) llm.ErrorKind {
	code := strings.ToLower(e.code())
	if n, err := strconv.Atoi(code); err == nil && n >= 400 && n <= 599 {
		kind, _ := llm.KindForStatus(n)
		if kind == llm.KindBadRequest && upstream.IsContextLengthMessage(e.Message) {
			return llm.KindContextLength
		}
		return kind
	}
	switch code {
	case "content_filter", "content_policy_violation":
		return llm.KindContentFilter
	case "context_length_exceeded":
		return llm.KindContextLength
	case "rate_limit_exceeded", "insufficient_quota", "too_many_requests":
		return llm.KindRateLimited
	}
	switch strings.ToLower(e.Type) {
	case "rate_limit_error", "rate_limit_exceeded":
		return llm.KindRateLimited
	case "overloaded_error", "overloaded", "service_unavailable":
		return llm.KindOverloaded
	case "timeout", "timeout_error":
		return llm.KindTimeout
	}
	if upstream.IsContextLengthMessage(e.Message) {
		return llm.KindContextLength
	}
	return llm.KindServer
}

// upstreamErrorFromObject builds the error for an error object that came
// with HTTP 200.
func upstreamErrorFromObject(provider string, e *wireError, status int) *llm.UpstreamError {
	return upstream.KindError(provider, streamErrorKind(e), status, e.describe())
}

// finishReason maps an OpenAI finish reason to the gateway's.
func finishReason(s string) llm.FinishReason {
	switch s {
	case "":
		return ""
	case "stop":
		return llm.FinishStop
	case "length", "max_tokens":
		return llm.FinishLength
	case "tool_calls", "function_call":
		return llm.FinishToolCalls
	case "content_filter":
		return llm.FinishContentFilter
	case "error":
		return llm.FinishError
	}
	return llm.FinishStop
}

// buildRequest maps req to the wire request, checking what the upstream
// would otherwise reject with a less helpful message.
func (c *Client) buildRequest(req *llm.Request, stream bool) (*chatRequest, error) {
	if err := upstream.CheckRequest(req); err != nil {
		return nil, err
	}
	out := &chatRequest{
		MaxTokens:   req.MaxTokens,
		Temperature: req.Temperature,
		TopP:        req.TopP,
		Stop:        req.Stop,
		User:        req.User,
	}
	if !c.opts.omitModel {
		out.Model = req.Model
	}
	out.Messages = make([]chatMessage, len(req.Messages))
	for i := range req.Messages {
		m := &req.Messages[i]
		if err := mapMessage(m, &out.Messages[i]); err != nil {
			return nil, fmt.Errorf("request message %d: %w", i, err)
		}
	}
	if len(req.Tools) > 0 {
		out.Tools = make([]chatTool, len(req.Tools))
		for i, t := range req.Tools {
			if t.Name == "" {
				return nil, fmt.Errorf("request tool %d has no name", i)
			}
			if len(t.Parameters) > 0 && !json.Valid(t.Parameters) {
				return nil, fmt.Errorf("request tool %q: parameters are not valid JSON", t.Name)
			}
			out.Tools[i] = chatTool{Type: "function", Function: toolFunction{
				Name:        t.Name,
				Description: t.Description,
				Parameters:  t.Parameters,
				Strict:      t.Strict,
			}}
		}
	}
	if tc := req.ToolChoice; tc != nil {
		switch tc.Mode {
		case llm.ToolChoiceAuto, llm.ToolChoiceNone, llm.ToolChoiceRequired:
		case llm.ToolChoiceFunction:
			if tc.Name == "" {
				return nil, errors.New("request tool choice is a function but names none")
			}
		default:
			return nil, fmt.Errorf("request tool choice mode %q is unknown, want auto, none, required or function", tc.Mode)
		}
		out.ToolChoice = &toolChoice{mode: tc.Mode, name: tc.Name}
	}
	if stream {
		out.Stream = true
		out.StreamOptions = &streamOptions{IncludeUsage: true}
	}
	return out, nil
}

func mapMessage(m *llm.Message, out *chatMessage) error {
	if m.Role == "" {
		return errors.New("message has no role")
	}
	*out = chatMessage{Role: string(m.Role), Content: &m.Content, Name: m.Name}
	switch m.Role {
	case llm.RoleTool:
		if m.ToolCallID == "" {
			return errors.New("tool message has no ToolCallID")
		}
		out.ToolCallID = m.ToolCallID
	case llm.RoleAssistant:
		if len(m.ToolCalls) > 0 {
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
					args = "{}" // servers parse the arguments; an empty string is not JSON
				}
				out.ToolCalls[j] = wireToolCall{ID: tc.ID, Type: "function", Function: wireFunction{Name: tc.Name, Arguments: args}}
			}
			if m.Content == "" {
				out.Content = nil
			}
		}
	}
	if len(m.ToolCalls) > 0 && m.Role != llm.RoleAssistant {
		return fmt.Errorf("%s message has tool calls; only assistant messages may", m.Role)
	}
	return nil
}

// toResponse maps a unary response body.
func (c *Client) toResponse(w *chatResponse, status int) (*llm.Response, error) {
	if w.Error != nil && len(w.Choices) == 0 {
		return nil, upstreamErrorFromObject(c.name, w.Error, status)
	}
	var choice *chatChoice
	for i := range w.Choices {
		if w.Choices[i].Index == 0 {
			choice = &w.Choices[i]
			break
		}
	}
	if choice == nil {
		return nil, upstream.Malformed(c.name, status, "response has no choices", nil)
	}
	msg := llm.Message{Role: llm.RoleAssistant, Content: string(choice.Message.Content)}
	if msg.Content == "" {
		msg.Content = choice.Message.Refusal
	}
	for _, tc := range choice.Message.ToolCalls {
		msg.ToolCalls = append(msg.ToolCalls, llm.ToolCall{ID: tc.ID, Name: tc.Function.Name, Arguments: tc.Function.Arguments})
	}
	if fc := choice.Message.FunctionCall; fc != nil && len(msg.ToolCalls) == 0 {
		msg.ToolCalls = []llm.ToolCall{{Name: fc.Name, Arguments: fc.Arguments}}
	}
	fr := finishReason(choice.FinishReason)
	if fr == "" {
		fr = llm.FinishStop
		if len(msg.ToolCalls) > 0 {
			fr = llm.FinishToolCalls
		}
	}
	resp := &llm.Response{ID: w.ID, Model: w.Model, Message: msg, FinishReason: fr}
	if w.Usage != nil {
		resp.Usage = w.Usage.toLLM()
	}
	return resp, nil
}
