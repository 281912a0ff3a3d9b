package gemini

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

// The request body of generateContent and streamGenerateContent.

type generateRequest struct {
	Contents          []content         `json:"contents"`
	SystemInstruction *content          `json:"systemInstruction,omitempty"`
	Tools             []tool            `json:"tools,omitempty"`
	ToolConfig        *toolConfig       `json:"toolConfig,omitempty"`
	GenerationConfig  *generationConfig `json:"generationConfig,omitempty"`
}

// content is a turn of the conversation, sent and received.
type content struct {
	Role  string `json:"role,omitempty"`
	Parts []part `json:"parts"`
}

// part is one part of a content. Only text and function call and response
// parts are sent; received parts of other kinds (inline data, executable
// code) are ignored.
type part struct {
	Text string `json:"text,omitempty"`
	// Thought marks a part of the model's thinking, which is not part of
	// the answer.
	Thought          bool              `json:"thought,omitempty"`
	FunctionCall     *functionCall     `json:"functionCall,omitempty"`
	FunctionResponse *functionResponse `json:"functionResponse,omitempty"`
	ThoughtSignature string            `json:"thoughtSignature,omitempty"`
}

type functionCall struct {
	// ID is given by recent Gemini versions only.
	ID   string          `json:"id,omitempty"`
	Name string          `json:"name"`
	Args json.RawMessage `json:"args,omitempty"`
}

type functionResponse struct {
	Name     string          `json:"name"`
	Response json.RawMessage `json:"response"`
}

type tool struct {
	FunctionDeclarations []functionDeclaration `json:"functionDeclarations"`
}

type functionDeclaration struct {
	Name                 string          `json:"name"`
	Description          string          `json:"description,omitempty"`
	Parameters           json.RawMessage `json:"parameters,omitempty"`
	ParametersJSONSchema json.RawMessage `json:"parametersJsonSchema,omitempty"`
}

type toolConfig struct {
	FunctionCallingConfig functionCallingConfig `json:"functionCallingConfig"`
}

type functionCallingConfig struct {
	Mode                 string   `json:"mode"`
	AllowedFunctionNames []string `json:"allowedFunctionNames,omitempty"`
}

type generationConfig struct {
	MaxOutputTokens int      `json:"maxOutputTokens,omitempty"`
	Temperature     *float64 `json:"temperature,omitempty"`
	TopP            *float64 `json:"topP,omitempty"`
	StopSequences   []string `json:"stopSequences,omitempty"`
}

// The response body, which is also the data of each streamed event.

type generateResponse struct {
	Candidates     []candidate     `json:"candidates"`
	PromptFeedback *promptFeedback `json:"promptFeedback"`
	UsageMetadata  *usageMetadata  `json:"usageMetadata"`
	ModelVersion   string          `json:"modelVersion"`
	ResponseID     string          `json:"responseId"`
	Error          *wireError      `json:"error"`
}

type candidate struct {
	Content      content `json:"content"`
	FinishReason string  `json:"finishReason"`
	Index        int     `json:"index"`
}

type promptFeedback struct {
	BlockReason string `json:"blockReason"`
}

type usageMetadata struct {
	PromptTokenCount        int64 `json:"promptTokenCount"`
	CandidatesTokenCount    int64 `json:"candidatesTokenCount"`
	CachedContentTokenCount int64 `json:"cachedContentTokenCount"`
	ThoughtsTokenCount      int64 `json:"thoughtsTokenCount"`
	ToolUsePromptTokenCount int64 `json:"toolUsePromptTokenCount"`
}

// toLLM converts Gemini's token counts to the llm.Usage convention.
// promptTokenCount already includes cachedContentTokenCount, and
// candidatesTokenCount excludes thoughtsTokenCount (Gemini's
// totalTokenCount is the sum of prompt, tool-use prompt, candidates and
// thoughts), so:
//
//	PromptTokens     = promptTokenCount + toolUsePromptTokenCount
//	CachedTokens     = cachedContentTokenCount
//	CompletionTokens = candidatesTokenCount + thoughtsTokenCount
//	ReasoningTokens  = thoughtsTokenCount
func (u *usageMetadata) toLLM() llm.Usage {
	return llm.Usage{
		PromptTokens:     u.PromptTokenCount + u.ToolUsePromptTokenCount,
		CompletionTokens: u.CandidatesTokenCount + u.ThoughtsTokenCount,
		CachedTokens:     u.CachedContentTokenCount,
		ReasoningTokens:  u.ThoughtsTokenCount,
	}
}

// maxStopSequences is how many stop sequences Gemini accepts.
const maxStopSequences = 5

// maxFunctionNameLen is the longest function name Gemini accepts.
const maxFunctionNameLen = 64

// buildRequest maps req to the wire request, checking what the upstream
// would otherwise reject with a less helpful message.
func (c *Client) buildRequest(req *llm.Request) (*generateRequest, error) {
	if len(req.Messages) == 0 {
		return nil, errors.New("request has no messages")
	}
	if req.MaxTokens < 0 {
		return nil, fmt.Errorf("request MaxTokens is %d, want 0 (the default) or more", req.MaxTokens)
	}
	if len(req.Stop) > maxStopSequences {
		return nil, fmt.Errorf("request has %d stop sequences; Gemini accepts at most %d", len(req.Stop), maxStopSequences)
	}
	out := &generateRequest{}
	maxTokens := req.MaxTokens
	if maxTokens == 0 {
		maxTokens = c.defaultMaxTokens
	}
	if maxTokens > 0 || req.Temperature != nil || req.TopP != nil || len(req.Stop) > 0 {
		out.GenerationConfig = &generationConfig{
			MaxOutputTokens: maxTokens,
			Temperature:     req.Temperature,
			TopP:            req.TopP,
			StopSequences:   req.Stop,
		}
	}
	if err := c.mapMessages(req.Messages, out); err != nil {
		return nil, err
	}
	if len(req.Tools) > 0 {
		decls := make([]functionDeclaration, len(req.Tools))
		for i := range req.Tools {
			if err := c.mapTool(&req.Tools[i], &decls[i]); err != nil {
				return nil, fmt.Errorf("request tool %d: %w", i, err)
			}
		}
		out.Tools = []tool{{FunctionDeclarations: decls}}
	}
	if tc := req.ToolChoice; tc != nil {
		cfg, err := mapToolChoice(tc, req.Tools)
		if err != nil {
			return nil, err
		}
		out.ToolConfig = cfg
	}
	return out, nil
}

// mapMessages fills the contents and system instruction of out.
func (c *Client) mapMessages(msgs []llm.Message, out *generateRequest) error {
	var system []string
	var names map[string]string // function names by call id, for tool messages
	out.Contents = make([]content, 0, len(msgs))
	for i := range msgs {
		m := &msgs[i]
		if len(m.ToolCalls) > 0 && m.Role != llm.RoleAssistant {
			return fmt.Errorf("request message %d: %s message has tool calls; only assistant messages may", i, m.Role)
		}
		var role string
		var p []part
		switch m.Role {
		case llm.RoleSystem, llm.RoleDeveloper:
			if m.Content != "" {
				system = append(system, m.Content)
			}
			continue
		case llm.RoleUser:
			role = "user"
			if m.Content != "" {
				p = []part{{Text: m.Content}}
			}
		case llm.RoleAssistant:
			role = "model"
			var err error
			if p, err = c.assistantParts(m); err != nil {
				return fmt.Errorf("request message %d: %w", i, err)
			}
			for _, tc := range m.ToolCalls {
				if names == nil {
					names = make(map[string]string)
				}
				names[tc.ID] = tc.Name
			}
		case llm.RoleTool:
			role = "user"
			fr, err := toolResponse(m, names)
			if err != nil {
				return fmt.Errorf("request message %d: %w", i, err)
			}
			p = []part{{FunctionResponse: fr}}
		case "":
			return fmt.Errorf("request message %d: message has no role", i)
		default:
			return fmt.Errorf("request message %d: role %q is unknown, want system, developer, user, assistant or tool", i, m.Role)
		}
		if len(p) == 0 {
			continue // Gemini rejects a content without parts
		}
		if n := len(out.Contents); n > 0 && out.Contents[n-1].Role == role {
			// Gemini wants user and model turns to alternate: parallel
			// tool results, or a user message after them, join one turn.
			out.Contents[n-1].Parts = append(out.Contents[n-1].Parts, p...)
			continue
		}
		out.Contents = append(out.Contents, content{Role: role, Parts: p})
	}
	if len(out.Contents) == 0 {
		return errors.New("request has no user or assistant message with content; Gemini needs at least one")
	}
	if len(system) > 0 {
		out.SystemInstruction = &content{Parts: []part{{Text: strings.Join(system, "\n\n")}}}
	}
	return nil
}

// assistantParts maps an assistant message: its text, then its tool calls
// as functionCall parts, the first of them carrying the thought signature.
func (c *Client) assistantParts(m *llm.Message) ([]part, error) {
	p := make([]part, 0, 1+len(m.ToolCalls))
	if m.Content != "" {
		p = append(p, part{Text: m.Content})
	}
	for j := range m.ToolCalls {
		tc := &m.ToolCalls[j]
		if tc.Name == "" {
			return nil, fmt.Errorf("tool call %d has no name", j)
		}
		args, err := callArgs(tc.Arguments)
		if err != nil {
			return nil, fmt.Errorf("tool call %d (%s): %w", j, tc.Name, err)
		}
		fp := part{FunctionCall: &functionCall{Name: tc.Name, Args: args}}
		if j == 0 {
			fp.ThoughtSignature = c.opts.thoughtSignature
		}
		p = append(p, fp)
	}
	return p, nil
}

// callArgs returns a tool call's arguments as the JSON object Gemini wants.
func callArgs(s string) (json.RawMessage, error) {
	b := bytes.TrimSpace([]byte(s))
	if len(b) == 0 {
		return json.RawMessage("{}"), nil
	}
	if !json.Valid(b) {
		return nil, fmt.Errorf("arguments %.40q are not valid JSON", s)
	}
	if b[0] != '{' {
		return nil, fmt.Errorf("arguments %.40q are not a JSON object", s)
	}
	return b, nil
}

// toolResponse maps a tool message. The function's name is that of the
// call it answers (names maps the ids of the calls made so far, the latest
// call of an id winning), or else the message's Name.
func toolResponse(m *llm.Message, names map[string]string) (*functionResponse, error) {
	if m.ToolCallID == "" {
		return nil, errors.New("tool message has no ToolCallID")
	}
	name := names[m.ToolCallID]
	if name == "" {
		name = m.Name
	}
	if name == "" {
		return nil, fmt.Errorf("tool message answers call %q, which no earlier assistant message made; Gemini needs the function's name", m.ToolCallID)
	}
	return &functionResponse{Name: name, Response: resultObject(m.Content)}, nil
}

// resultObject wraps a tool's output as {"result": value}: the output
// itself when it is JSON, else the output as a string.
func resultObject(s string) json.RawMessage {
	var buf bytes.Buffer
	buf.Grow(len(s) + 16)
	buf.WriteString(`{"result":`)
	trimmed := bytes.TrimSpace([]byte(s))
	if len(trimmed) > 0 && json.Valid(trimmed) {
		// Compact cannot fail on valid JSON.
		_ = json.Compact(&buf, trimmed)
	} else {
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(s) // encoding a string cannot fail
		buf.Truncate(buf.Len() - 1)
	}
	buf.WriteByte('}')
	return buf.Bytes()
}

// mapTool maps a tool to a function declaration.
func (c *Client) mapTool(t *llm.Tool, out *functionDeclaration) error {
	if t.Name == "" {
		return errors.New("tool has no name")
	}
	if !validFunctionName(t.Name) {
		return fmt.Errorf("tool name %q is not one Gemini accepts: start with a letter or underscore, then up to %d letters, digits, underscores, dots, colons or dashes", t.Name, maxFunctionNameLen)
	}
	*out = functionDeclaration{Name: t.Name, Description: t.Description}
	params := bytes.TrimSpace(t.Parameters)
	if len(params) == 0 || bytes.Equal(params, []byte("null")) {
		return nil
	}
	if !json.Valid(params) {
		return fmt.Errorf("tool %q: parameters are not valid JSON", t.Name)
	}
	if c.opts.jsonSchemaParams {
		out.ParametersJSONSchema = params
		return nil
	}
	schema, err := c.schemas.convert(params)
	if err != nil {
		return fmt.Errorf("tool %q: parameters: %w", t.Name, err)
	}
	out.Parameters = schema
	return nil
}

// validFunctionName reports whether Gemini accepts s as a function name.
func validFunctionName(s string) bool {
	if s == "" || len(s) > maxFunctionNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
		case i > 0 && (c >= '0' && c <= '9' || c == '.' || c == ':' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// mapToolChoice maps a tool choice to Gemini's function calling mode:
// auto AUTO, none NONE, required ANY, and a named function ANY restricted
// to it.
func mapToolChoice(tc *llm.ToolChoice, tools []llm.Tool) (*toolConfig, error) {
	cfg := &toolConfig{}
	switch tc.Mode {
	case llm.ToolChoiceAuto:
		cfg.FunctionCallingConfig.Mode = "AUTO"
	case llm.ToolChoiceNone:
		cfg.FunctionCallingConfig.Mode = "NONE"
	case llm.ToolChoiceRequired:
		cfg.FunctionCallingConfig.Mode = "ANY"
	case llm.ToolChoiceFunction:
		if tc.Name == "" {
			return nil, errors.New("request tool choice is a function but names none")
		}
		found := false
		for i := range tools {
			if tools[i].Name == tc.Name {
				found = true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("request tool choice names function %q, which is not among the request's tools", tc.Name)
		}
		cfg.FunctionCallingConfig.Mode = "ANY"
		cfg.FunctionCallingConfig.AllowedFunctionNames = []string{tc.Name}
	default:
		return nil, fmt.Errorf("request tool choice mode %q is unknown, want auto, none, required or function", tc.Mode)
	}
	if len(tools) == 0 {
		if tc.Mode == llm.ToolChoiceRequired {
			return nil, errors.New("request tool choice is required but the request has no tools")
		}
		return nil, nil // auto or none without tools: nothing to configure
	}
	return cfg, nil
}

// finishReason maps a Gemini finish reason to the gateway's; calls says
// whether the response made function calls.
func finishReason(s string, calls bool) llm.FinishReason {
	switch s {
	case "":
		return ""
	case "MAX_TOKENS":
		return llm.FinishLength
	case "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII",
		"IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION":
		return llm.FinishContentFilter
	case "MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL", "TOO_MANY_TOOL_CALLS":
		return llm.FinishError
	}
	// STOP, and the reasons that do not say the answer is incomplete or
	// refused (LANGUAGE, OTHER, FINISH_REASON_UNSPECIFIED, ...).
	if calls {
		return llm.FinishToolCalls
	}
	return llm.FinishStop
}

// decoder maps GenerateContentResponse objects (a unary response, or the
// chunks of a stream in order) to chunks, numbering function calls across
// the stream so that a collected stream equals the unary response.
type decoder struct {
	provider string
	status   int
	calls    int  // function calls seen
	finished bool // a finish reason (or a prompt block) was seen
	hasUsage bool
	usage    llm.Usage // the last usage reported, if hasUsage
	model    string
	id       string // the response id, for function call ids
}

// chunk maps one response object; ok is false when it carries nothing to
// return. An error object gives an *llm.UpstreamError.
func (d *decoder) chunk(w *generateResponse) (c llm.Chunk, ok bool, err error) {
	if w.Error != nil {
		return c, false, errorFromObject(d.provider, w.Error, d.status)
	}
	if w.UsageMetadata != nil {
		d.usage, d.hasUsage = w.UsageMetadata.toLLM(), true
	}
	if w.ModelVersion != "" && w.ModelVersion != d.model {
		d.model = w.ModelVersion
	}
	if d.id == "" && w.ResponseID != "" {
		d.id = w.ResponseID
	}
	c.Model = d.model
	cand := firstCandidate(w.Candidates)
	if cand == nil {
		if w.PromptFeedback != nil && w.PromptFeedback.BlockReason != "" {
			// The prompt was blocked: no candidate will come.
			c.FinishReason = llm.FinishContentFilter
			d.finished = true
			return c, true, nil
		}
		return c, false, nil
	}
	for i := range cand.Content.Parts {
		p := &cand.Content.Parts[i]
		switch {
		case p.Thought:
			// Thinking is not part of the answer.
		case p.FunctionCall != nil:
			c.ToolCalls = append(c.ToolCalls, llm.ToolCallDelta{
				Index:     d.calls,
				ID:        d.callID(p.FunctionCall.ID),
				Name:      p.FunctionCall.Name,
				Arguments: compactArgs(p.FunctionCall.Args),
			})
			d.calls++
		case c.Content == "":
			c.Content = p.Text
		default:
			c.Content += p.Text
		}
	}
	if fr := finishReason(cand.FinishReason, d.calls > 0); fr != "" {
		c.FinishReason = fr
		d.finished = true
	}
	return c, c.HasContent() || c.FinishReason != "", nil
}

// firstCandidate returns the candidate with index 0 (the only one the
// adapter asks for), or nil.
func firstCandidate(cs []candidate) *candidate {
	for i := range cs {
		if cs[i].Index == 0 {
			return &cs[i]
		}
	}
	return nil
}

// callID returns the id of the next function call: Gemini's own, or one
// made from the response id and the call's position, the same in a unary
// response and a stream.
func (d *decoder) callID(given string) string {
	if given != "" {
		return given
	}
	n := strconv.Itoa(d.calls)
	if d.id == "" {
		return "call_" + n
	}
	var b strings.Builder
	b.Grow(len("call__") + len(d.id) + len(n))
	b.WriteString("call_")
	kept := 0
	for i := 0; i < len(d.id) && kept < 32; i++ {
		if ch := d.id[i]; ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '_' || ch == '-' {
			b.WriteByte(ch)
			kept++
		}
	}
	b.WriteByte('_')
	b.WriteString(n)
	return b.String()
}

// compactArgs returns a function call's arguments as compact JSON text, so
// that unary (indented) and streamed (compact) answers give the same text;
// "{}" when there are none.
func compactArgs(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "{}"
	}
	var buf bytes.Buffer
	buf.Grow(len(raw))
	if json.Compact(&buf, raw) != nil {
		return string(raw)
	}
	return buf.String()
}

// toResponse maps a unary response body.
func (c *Client) toResponse(w *generateResponse, status int) (*llm.Response, error) {
	d := decoder{provider: c.name, status: status}
	ch, _, err := d.chunk(w)
	if err != nil {
		return nil, err
	}
	if !d.finished && firstCandidate(w.Candidates) == nil {
		return nil, upstream.Malformed(c.name, status, "response has no candidates and no prompt block reason", nil)
	}
	return responseFromChunk(&ch, &d, w.ResponseID), nil
}

// responseFromChunk builds a response from the single chunk a complete
// answer maps to.
func responseFromChunk(ch *llm.Chunk, d *decoder, id string) *llm.Response {
	resp := &llm.Response{
		ID:           id,
		Model:        d.model,
		Message:      llm.Message{Role: llm.RoleAssistant, Content: ch.Content},
		FinishReason: ch.FinishReason,
	}
	for _, tc := range ch.ToolCalls {
		resp.Message.ToolCalls = append(resp.Message.ToolCalls, llm.ToolCall{ID: tc.ID, Name: tc.Name, Arguments: tc.Arguments})
	}
	if resp.FinishReason == "" {
		resp.FinishReason = finishReason("STOP", len(resp.Message.ToolCalls) > 0)
	}
	resp.Usage = d.usage
	return resp
}
