package server

import (
	"fmt"
	"math"
	"regexp"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	pb "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
	"github.com/llmgateway/llmgateway/llm"
	"github.com/llmgateway/llmgateway/surface/httperr"
)

// Limits on a request's shape, beyond the byte-size limit the transports
// enforce.
const (
	maxMessages = 10000
	maxStop     = 4
	maxTools    = 128
)

var toolNameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

// violations collects field violations of one request.
type violations []*errdetails.BadRequest_FieldViolation

func (v *violations) add(field, format string, args ...any) {
	*v = append(*v, &errdetails.BadRequest_FieldViolation{Field: field, Description: fmt.Sprintf(format, args...)})
}

// err returns an InvalidArgument status listing every violation, or nil.
func (v violations) err() error {
	if len(v) == 0 {
		return nil
	}
	parts := make([]string, len(v))
	for i, fv := range v {
		parts[i] = fv.GetField() + ": " + fv.GetDescription()
	}
	st := status.New(codes.InvalidArgument, "invalid request: "+strings.Join(parts, "; "))
	if ds, err := st.WithDetails(
		&errdetails.BadRequest{FieldViolations: v},
		&errdetails.ErrorInfo{Reason: httperr.ReasonInvalidArgument, Domain: httperr.Domain},
	); err == nil {
		st = ds
	}
	return st.Err()
}

// toLLM validates req and converts it. It reports every problem at once,
// each naming its field.
func toLLM(req *pb.ChatRequest) (*llm.Request, error) {
	var v violations
	if strings.TrimSpace(req.GetModel()) == "" {
		v.add("model", "required: name a model or alias (see ListModels), or \"auto\"")
	}
	msgs := req.GetMessages()
	switch {
	case len(msgs) == 0:
		v.add("messages", "at least one message is required")
	case len(msgs) > maxMessages:
		v.add("messages", "at most %d messages are allowed, got %d", maxMessages, len(msgs))
	}
	out := &llm.Request{
		Messages: make([]llm.Message, 0, len(msgs)),
		User:     req.GetUser(),
		Metadata: req.GetMetadata(),
	}
	toolIDs := map[string]bool{}
	for i, m := range msgs {
		f := fmt.Sprintf("messages[%d]", i)
		role, ok := parseRole(m.GetRole())
		if !ok {
			if m.GetRole() == "" {
				v.add(f+".role", "required: one of system, developer, user, assistant, tool")
			} else {
				v.add(f+".role", "unknown role %q: use system, developer, user, assistant or tool", m.GetRole())
			}
		}
		lm := llm.Message{Role: role, Content: m.GetContent(), Name: m.GetName(), ToolCallID: m.GetToolCallId()}
		if len(m.GetToolCalls()) > 0 && role != llm.RoleAssistant && ok {
			v.add(f+".tool_calls", "only assistant messages may carry tool calls")
		}
		for j, tc := range m.GetToolCalls() {
			tf := fmt.Sprintf("%s.tool_calls[%d]", f, j)
			if tc.GetId() == "" {
				v.add(tf+".id", "required")
			}
			if t := tc.GetType(); t != "" && t != "function" {
				v.add(tf+".type", "unsupported type %q: only \"function\"", t)
			}
			if tc.GetFunction().GetName() == "" {
				v.add(tf+".function.name", "required")
			}
			toolIDs[tc.GetId()] = true
			lm.ToolCalls = append(lm.ToolCalls, llm.ToolCall{ID: tc.GetId(), Name: tc.GetFunction().GetName(), Arguments: tc.GetFunction().GetArguments()})
		}
		switch role {
		case llm.RoleTool:
			if m.GetToolCallId() == "" {
				v.add(f+".tool_call_id", "required on tool messages: the id of the call this answers")
			}
		case llm.RoleAssistant:
		default:
			if ok && m.GetContent() == "" {
				v.add(f+".content", "required on %s messages", role)
			}
		}
		if role != llm.RoleTool && m.GetToolCallId() != "" && ok {
			v.add(f+".tool_call_id", "only tool messages may carry a tool_call_id")
		}
		if role == llm.RoleAssistant && m.GetContent() == "" && len(m.GetToolCalls()) == 0 && i == len(msgs)-1 {
			// A trailing empty assistant message asks for nothing.
			v.add(f+".content", "an assistant message needs content or tool_calls")
		}
		out.Messages = append(out.Messages, lm)
	}
	if req.MaxTokens != nil {
		switch mt := req.GetMaxTokens(); {
		case mt < 0:
			v.add("max_tokens", "must not be negative, got %d", mt)
		case mt == 0:
			v.add("max_tokens", "must be at least 1 when set; leave it unset for the model's default")
		default:
			out.MaxTokens = int(mt)
		}
	}
	if req.Temperature != nil {
		t := req.GetTemperature()
		if math.IsNaN(t) || t < 0 || t > 2 {
			v.add("temperature", "must be between 0 and 2, got %v", t)
		}
		out.Temperature = &t
	}
	if req.TopP != nil {
		p := req.GetTopP()
		if math.IsNaN(p) || p < 0 || p > 1 {
			v.add("top_p", "must be between 0 and 1, got %v", p)
		}
		out.TopP = &p
	}
	if len(req.GetStop()) > maxStop {
		v.add("stop", "at most %d stop sequences are allowed, got %d", maxStop, len(req.GetStop()))
	}
	for i, s := range req.GetStop() {
		if s == "" {
			v.add(fmt.Sprintf("stop[%d]", i), "must not be empty")
		}
	}
	out.Stop = req.GetStop()
	if len(req.GetTools()) > maxTools {
		v.add("tools", "at most %d tools are allowed, got %d", maxTools, len(req.GetTools()))
	}
	names := map[string]bool{}
	for i, t := range req.GetTools() {
		f := fmt.Sprintf("tools[%d]", i)
		if ty := t.GetType(); ty != "" && ty != "function" {
			v.add(f+".type", "unsupported type %q: only \"function\"", ty)
		}
		fn := t.GetFunction()
		if fn == nil {
			v.add(f+".function", "required")
			continue
		}
		if !toolNameRE.MatchString(fn.GetName()) {
			v.add(f+".function.name", "must be 1 to 64 letters, digits, underscores or dashes, got %q", fn.GetName())
		}
		if names[fn.GetName()] {
			v.add(f+".function.name", "duplicate tool name %q", fn.GetName())
		}
		names[fn.GetName()] = true
		lt := llm.Tool{Name: fn.GetName(), Description: fn.GetDescription()}
		if fn.Strict != nil {
			s := fn.GetStrict()
			lt.Strict = &s
		}
		if fn.GetParameters() != nil {
			b, err := protojson.Marshal(fn.GetParameters())
			if err != nil {
				v.add(f+".function.parameters", "not a valid JSON object: %v", err)
			}
			lt.Parameters = b
		}
		out.Tools = append(out.Tools, lt)
	}
	if tc := req.GetToolChoice(); tc != nil {
		mode := llm.ToolChoiceMode(strings.ToLower(tc.GetMode()))
		switch mode {
		case "":
			if tc.GetFunctionName() != "" {
				mode = llm.ToolChoiceFunction
			} else {
				mode = llm.ToolChoiceAuto
			}
		case llm.ToolChoiceAuto, llm.ToolChoiceNone, llm.ToolChoiceRequired, llm.ToolChoiceFunction:
		default:
			v.add("tool_choice.mode", "unknown mode %q: use auto, none, required or function", tc.GetMode())
		}
		if mode == llm.ToolChoiceFunction && !names[tc.GetFunctionName()] {
			v.add("tool_choice.function_name", "must name one of the request's tools, got %q", tc.GetFunctionName())
		}
		if (mode == llm.ToolChoiceRequired || mode == llm.ToolChoiceFunction) && len(req.GetTools()) == 0 {
			v.add("tool_choice", "mode %q needs tools", mode)
		}
		out.ToolChoice = &llm.ToolChoice{Mode: mode, Name: tc.GetFunctionName()}
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	return out, nil
}

// parseRole accepts the roles in lower case, any case, or as the
// enum-style ROLE_USER spelling some generated clients produce.
func parseRole(s string) (llm.Role, bool) {
	r := strings.ToLower(strings.TrimPrefix(strings.ToUpper(s), "ROLE_"))
	switch llm.Role(r) {
	case llm.RoleSystem, llm.RoleDeveloper, llm.RoleUser, llm.RoleAssistant, llm.RoleTool:
		return llm.Role(r), true
	}
	return "", false
}
