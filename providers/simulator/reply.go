package simulator

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/llmgateway/llmgateway/llm"
)

// reply is the answer to one request, as sent: the text or tool call after
// MaxTokens and Stop, and the tokens it took. Chat returns it whole; a
// stream sends it one token per chunk.
type reply struct {
	text string
	// call is the tool call, when the answer is one; its Arguments are
	// truncated like text when MaxTokens cuts the answer short.
	call   *llm.ToolCall
	tokens int
	finish llm.FinishReason
	usage  llm.Usage
}

// message returns the assistant message of r.
func (r *reply) message() llm.Message {
	m := llm.Message{Role: llm.RoleAssistant, Content: r.text}
	if r.call != nil {
		m.ToolCalls = []llm.ToolCall{*r.call}
	}
	return m
}

// answer builds the reply to req, which has passed validateRequest. It
// fails only when the chosen tool's parameters schema is unusable.
func answer(req *llm.Request, h uint64) (reply, *llm.UpstreamError) {
	var r reply
	text, fixed := req.Metadata[MetadataReply]
	tool := chooseTool(req)
	switch {
	case tool != nil && !fixed:
		args, err := toolArguments(tool.Parameters, mix(h, tool.Name))
		if err != nil {
			return r, err
		}
		call := &llm.ToolCall{ID: "call_sim_" + hex16(mix(h, tool.Name)), Name: tool.Name}
		call.Arguments, r.tokens, r.finish = truncateArgs(args, req.MaxTokens)
		r.call = call
	default:
		if !fixed {
			text = generate(req.Model, h)
		}
		r.text, r.tokens, r.finish = truncateText(text, req.MaxTokens, req.Stop)
	}
	r.usage = llm.Usage{PromptTokens: promptTokens(req), CompletionTokens: int64(r.tokens)}
	return r, nil
}

// chooseTool returns the tool to call, or nil to answer with text. With
// tool choice auto (or none given) the model calls the first tool when the
// last message is the user's and answers a tool result with text; required
// and function force a call, as the real APIs do.
func chooseTool(req *llm.Request) *llm.Tool {
	if len(req.Tools) == 0 {
		return nil
	}
	mode := llm.ToolChoiceAuto
	if req.ToolChoice != nil && req.ToolChoice.Mode != "" {
		mode = req.ToolChoice.Mode
	}
	switch mode {
	case llm.ToolChoiceNone:
		return nil
	case llm.ToolChoiceRequired:
		return &req.Tools[0]
	case llm.ToolChoiceFunction:
		for i := range req.Tools {
			if req.Tools[i].Name == req.ToolChoice.Name {
				return &req.Tools[i]
			}
		}
		return nil // validateRequest rejects an unknown name
	}
	if req.Messages[len(req.Messages)-1].Role == llm.RoleUser {
		return &req.Tools[0]
	}
	return nil
}

// hashRequest returns the FNV-1a hash of the request's model and messages:
// the seed of its reply.
func hashRequest(req *llm.Request) uint64 {
	h := uint64(fnvOffset)
	h = fnvString(h, req.Model)
	for i := range req.Messages {
		m := &req.Messages[i]
		h = fnvString(h, string(m.Role))
		h = fnvString(h, m.Content)
		h = fnvString(h, m.Name)
		h = fnvString(h, m.ToolCallID)
		for _, tc := range m.ToolCalls {
			h = fnvString(h, tc.ID)
			h = fnvString(h, tc.Name)
			h = fnvString(h, tc.Arguments)
		}
	}
	return h
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// fnvString adds s and a terminator to FNV-1a hash h, so that ("ab", "")
// and ("a", "b") hash apart.
func fnvString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	h ^= 0xff
	h *= fnvPrime
	return h
}

// mix derives a hash for s from h.
func mix(h uint64, s string) uint64 {
	return splitmix(fnvString(h, s))
}

// splitmix is one step of SplitMix64: a well-spread function of x.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// words is a deterministic stream of pseudo-random numbers.
type words struct{ state uint64 }

func (w *words) next(n int) int {
	w.state = splitmix(w.state)
	return int(w.state % uint64(n))
}

// vocabulary are the words of generated replies.
var vocabulary = [...]string{
	"amber", "anchor", "arc", "autumn", "beacon", "birch", "bright", "brook",
	"calm", "canyon", "cedar", "clear", "cloud", "coral", "crisp", "dawn",
	"delta", "drift", "dune", "ember", "field", "fjord", "flint", "frost",
	"gentle", "glade", "granite", "harbor", "hazel", "horizon", "island", "ivory",
	"juniper", "lantern", "lichen", "linen", "maple", "meadow", "mist", "moss",
	"north", "oak", "ocean", "orchard", "pebble", "pine", "prairie", "quartz",
	"quiet", "rain", "reef", "ridge", "river", "saffron", "sage", "shore",
	"silver", "slate", "spruce", "stone", "summit", "tide", "valley", "willow",
}

// generate returns the reply text for a request to model with hash h: a
// sentence naming the model, then 8 to 40 pseudo-random words in sentences.
func generate(model string, h uint64) string {
	w := words{state: h}
	n := 8 + w.next(33)
	var b strings.Builder
	b.Grow(len("Simulated reply from .") + len(model) + n*9)
	b.WriteString("Simulated reply from ")
	b.WriteString(model)
	b.WriteByte('.')
	left := 0
	for i := range n {
		b.WriteByte(' ')
		word := vocabulary[w.next(len(vocabulary))]
		if left == 0 {
			left = 4 + w.next(8)
			b.WriteByte(word[0] - 'a' + 'A')
			word = word[1:]
		}
		b.WriteString(word)
		left--
		if left == 0 || i == n-1 {
			b.WriteByte('.')
			left = 0
		}
	}
	return b.String()
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\n' || c == '\t' || c == '\r'
}

// nextToken returns the end of the text token that starts at i: a word
// with the whitespace that follows it (and, for the first token, the
// whitespace before it).
func nextToken(s string, i int) int {
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	for i < len(s) && !isSpace(s[i]) {
		i++
	}
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	return i
}

// countTokens returns the number of text tokens in s.
func countTokens(s string) int {
	n := 0
	for i := 0; i < len(s); i = nextToken(s, i) {
		n++
	}
	return n
}

// truncateText applies MaxTokens and Stop to the full text s, as a model
// generating it token by token would: it stops at the first stop sequence
// (dropping it) unless max tokens run out before the sequence is complete.
func truncateText(s string, maxTokens int, stops []string) (string, int, llm.FinishReason) {
	stop, end := -1, len(s)
	for _, seq := range stops {
		if seq == "" {
			continue
		}
		if i := strings.Index(s, seq); i >= 0 && (stop < 0 || i+len(seq) < end) {
			stop, end = i, i+len(seq)
		}
	}
	n, i := 0, 0
	for i < end {
		if maxTokens > 0 && n == maxTokens {
			return s[:i], n, llm.FinishLength
		}
		i = nextToken(s, i)
		n++
	}
	if stop >= 0 {
		return s[:stop], countTokens(s[:stop]), llm.FinishStop
	}
	return s, n, llm.FinishStop
}

// argTokenBytes is the size of one token of tool-call arguments.
const argTokenBytes = 4

// nextArgToken returns the end of the arguments token that starts at i:
// argTokenBytes bytes, extended to the end of a UTF-8 sequence.
func nextArgToken(s string, i int) int {
	i += argTokenBytes
	if i >= len(s) {
		return len(s)
	}
	for i < len(s) && !utf8.RuneStart(s[i]) {
		i++
	}
	return i
}

// truncateArgs applies MaxTokens to a tool call: one token for its id and
// name, then the argument tokens.
func truncateArgs(args string, maxTokens int) (string, int, llm.FinishReason) {
	n, i := 1, 0
	for i < len(args) {
		if maxTokens > 0 && n == maxTokens {
			return args[:i], n, llm.FinishLength
		}
		i = nextArgToken(args, i)
		n++
	}
	return args, n, llm.FinishToolCalls
}

// schema is the part of a JSON Schema the simulator fills arguments from.
type schema struct {
	Type       json.RawMessage            `json:"type"`
	Properties map[string]json.RawMessage `json:"properties"`
	Required   []string                   `json:"required"`
	Enum       []json.RawMessage          `json:"enum"`
	Const      json.RawMessage            `json:"const"`
	Items      json.RawMessage            `json:"items"`
}

// maxSchemaDepth bounds the nesting of generated arguments.
const maxSchemaDepth = 8

// toolArguments returns JSON arguments for a tool with parameters schema
// params: an object with a deterministic value for each required property,
// or {} when there are none.
func toolArguments(params json.RawMessage, h uint64) (string, *llm.UpstreamError) {
	if len(bytes.TrimSpace(params)) == 0 || string(bytes.TrimSpace(params)) == "null" {
		return "{}", nil
	}
	var s schema
	if err := json.Unmarshal(params, &s); err != nil {
		return "", badRequest("tool parameters must be a JSON Schema object: %v", err)
	}
	var b []byte
	b = s.appendObject(b, h, 0)
	return string(b), nil
}

// appendObject appends an object with a value for each required property.
func (s *schema) appendObject(b []byte, h uint64, depth int) []byte {
	b = append(b, '{')
	for i, name := range s.Required {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, name)
		b = append(b, ':')
		b = appendValue(b, s.Properties[name], mix(h, name), depth+1)
	}
	return append(b, '}')
}

// appendValue appends a value that fits the schema raw.
func appendValue(b []byte, raw json.RawMessage, h uint64, depth int) []byte {
	var s schema
	if len(raw) > 0 && json.Unmarshal(raw, &s) != nil {
		s = schema{} // a boolean schema or one we cannot read: any value fits
	}
	switch {
	case len(s.Const) > 0:
		return append(b, compact(s.Const)...)
	case len(s.Enum) > 0:
		return append(b, compact(s.Enum[h%uint64(len(s.Enum))])...)
	}
	typ := s.typeName()
	if depth > maxSchemaDepth && (typ == "object" || typ == "array") {
		return append(b, "null"...)
	}
	switch typ {
	case "object":
		return s.appendObject(b, h, depth)
	case "array":
		if len(s.Items) == 0 {
			return append(b, "[]"...)
		}
		b = append(b, '[')
		b = appendValue(b, s.Items, splitmix(h), depth+1)
		return append(b, ']')
	case "integer":
		return strconv.AppendUint(b, h%100, 10)
	case "number":
		return strconv.AppendFloat(b, float64(h%10000)/100, 'f', -1, 64)
	case "boolean":
		return strconv.AppendBool(b, h&1 == 1)
	case "null":
		return append(b, "null"...)
	}
	return appendJSONString(b, vocabulary[h%uint64(len(vocabulary))])
}

// typeName returns the schema's type: its first non-null type when it
// lists several, "object" when it has none but properties, else "string".
func (s *schema) typeName() string {
	var one string
	if json.Unmarshal(s.Type, &one) == nil && one != "" {
		return one
	}
	var many []string
	if json.Unmarshal(s.Type, &many) == nil {
		for _, t := range many {
			if t != "null" {
				return t
			}
		}
		if len(many) > 0 {
			return "null"
		}
	}
	if len(s.Properties) > 0 || len(s.Required) > 0 {
		return "object"
	}
	return "string"
}

// compact returns raw without insignificant whitespace.
func compact(raw json.RawMessage) []byte {
	var buf bytes.Buffer
	if json.Compact(&buf, raw) != nil {
		return []byte("null")
	}
	return buf.Bytes()
}

// appendJSONString appends s as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always marshals
	return append(b, q...)
}

// hex16 formats h as 16 hex digits.
func hex16(h uint64) string {
	const digits = "0123456789abcdef"
	var b [16]byte
	for i := 15; i >= 0; i-- {
		b[i] = digits[h&0xf]
		h >>= 4
	}
	return string(b[:])
}

// Prompt token estimate: four characters per token, at least one per
// message, plus the overheads of chat formats.
const (
	charsPerToken   = 4
	messageOverhead = 4
	toolOverhead    = 8
	replyPriming    = 3
)

func tokensFor(chars int) int64 {
	return int64((chars + charsPerToken - 1) / charsPerToken)
}

// promptTokens estimates the input tokens of req.
func promptTokens(req *llm.Request) int64 {
	n := int64(replyPriming)
	for i := range req.Messages {
		m := &req.Messages[i]
		chars := utf8.RuneCountInString(m.Content) + utf8.RuneCountInString(m.Name)
		for _, tc := range m.ToolCalls {
			chars += utf8.RuneCountInString(tc.Name) + utf8.RuneCountInString(tc.Arguments)
		}
		n += messageOverhead + max(1, tokensFor(chars))
	}
	for i := range req.Tools {
		t := &req.Tools[i]
		chars := utf8.RuneCountInString(t.Name) + utf8.RuneCountInString(t.Description) + utf8.RuneCount(t.Parameters)
		n += toolOverhead + tokensFor(chars)
	}
	return n
}
