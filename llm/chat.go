package llm

import (
	"encoding/json"
	"io"
)

// Role is the author of a message.
type Role string

// The roles a message may have.
const (
	RoleSystem    Role = "system"
	RoleDeveloper Role = "developer"
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
	RoleTool      Role = "tool"
)

// Message is one turn of a conversation.
type Message struct {
	Role Role
	// Content is the text of the message.
	Content string
	// Name optionally names the participant.
	Name string
	// ToolCalls are the calls an assistant message makes.
	ToolCalls []ToolCall
	// ToolCallID is the call a tool message answers.
	ToolCallID string
}

// ToolCall is a function call made by the model.
type ToolCall struct {
	ID   string
	Name string
	// Arguments is a JSON object encoded as text, as the model produced it.
	Arguments string
}

// Tool is a function the model may call.
type Tool struct {
	Name        string
	Description string
	// Parameters is the JSON Schema of the arguments; nil means none.
	Parameters json.RawMessage
	// Strict asks the provider to follow the schema exactly, where supported.
	Strict *bool
}

// ToolChoiceMode says whether the model must, may or must not call tools.
type ToolChoiceMode string

// The tool choice modes.
const (
	ToolChoiceAuto     ToolChoiceMode = "auto"
	ToolChoiceNone     ToolChoiceMode = "none"
	ToolChoiceRequired ToolChoiceMode = "required"
	ToolChoiceFunction ToolChoiceMode = "function"
)

// ToolChoice constrains tool use. Name is set when Mode is ToolChoiceFunction.
type ToolChoice struct {
	Mode ToolChoiceMode
	Name string
}

// Request is a chat request as an adapter receives it. Model is the
// upstream's model name: routing has already resolved aliases and mapped the
// gateway's name to the provider's.
type Request struct {
	Model    string
	Messages []Message
	// MaxTokens bounds the output; 0 means the provider's default.
	MaxTokens   int
	Temperature *float64
	TopP        *float64
	Stop        []string
	Tools       []Tool
	// ToolChoice is nil when the caller gave none.
	ToolChoice *ToolChoice
	// User is the end-user or session id.
	User     string
	Metadata map[string]string
}

// FinishReason says why generation stopped.
type FinishReason string

// The finish reasons every adapter maps its provider's reasons to.
const (
	FinishStop          FinishReason = "stop"
	FinishLength        FinishReason = "length"
	FinishToolCalls     FinishReason = "tool_calls"
	FinishContentFilter FinishReason = "content_filter"
	FinishError         FinishReason = "error"
)

// Response is a complete chat response from one upstream.
type Response struct {
	// ID is the upstream's response id, if it gave one.
	ID string
	// Model is the model name the upstream reported.
	Model        string
	Message      Message
	FinishReason FinishReason
	Usage        Usage
}

// ToolCallDelta is a fragment of a streamed tool call. Fragments with the
// same Index form one call; ID and Name come with the first fragment and
// Arguments are concatenated.
type ToolCallDelta struct {
	Index     int
	ID        string
	Name      string
	Arguments string
}

// Chunk is one event of a streamed response. A chunk carries content
// (Content, ToolCalls), or the end of the response (FinishReason, Usage), or
// both. Adapters report Usage exactly once, on or after the chunk with the
// finish reason.
type Chunk struct {
	Content      string
	ToolCalls    []ToolCallDelta
	FinishReason FinishReason
	// Usage is set on the chunk that reports the response's usage.
	Usage *Usage
	// Model is the model name the upstream reported, where it did.
	Model string
}

// HasContent reports whether c carries text or tool-call fragments.
func (c *Chunk) HasContent() bool {
	return c.Content != "" || len(c.ToolCalls) > 0
}

// Stream is a streamed response. Recv returns the next chunk, io.EOF after
// the last one, or an error (an *UpstreamError for upstream failures). Close
// releases the upstream connection; it may be called at any time, more than
// once, and from another goroutine than Recv.
type Stream interface {
	Recv() (Chunk, error)
	Close() error
}

// Collect reads s to the end and assembles the chunks into one Response, as
// if the request had been made unary. It closes s.
func Collect(s Stream) (*Response, error) {
	defer s.Close()
	var a Assembler
	for {
		c, err := s.Recv()
		if err == io.EOF {
			return a.Response(), nil
		}
		if err != nil {
			return a.Response(), err
		}
		a.Add(&c)
	}
}

// Assembler builds a Response from stream chunks.
type Assembler struct {
	resp  Response
	text  []byte
	calls []ToolCall
}

// Add adds one chunk.
func (a *Assembler) Add(c *Chunk) {
	a.text = append(a.text, c.Content...)
	for _, d := range c.ToolCalls {
		for len(a.calls) <= d.Index {
			a.calls = append(a.calls, ToolCall{})
		}
		tc := &a.calls[d.Index]
		if d.ID != "" {
			tc.ID = d.ID
		}
		if d.Name != "" {
			tc.Name = d.Name
		}
		tc.Arguments += d.Arguments
	}
	if c.FinishReason != "" {
		a.resp.FinishReason = c.FinishReason
	}
	if c.Usage != nil {
		a.resp.Usage = *c.Usage
	}
	if c.Model != "" {
		a.resp.Model = c.Model
	}
}

// Response returns what has been assembled so far.
func (a *Assembler) Response() *Response {
	r := a.resp
	r.Message = Message{Role: RoleAssistant, Content: string(a.text)}
	if len(a.calls) > 0 {
		r.Message.ToolCalls = append([]ToolCall(nil), a.calls...)
	}
	return &r
}
