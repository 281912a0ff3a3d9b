package promptlog

import (
	"context"
	"log/slog"
	"strconv"
	"unicode/utf8"

	"google.golang.org/grpc"

	pb "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
	"github.com/llmgateway/llmgateway/interceptors/auth"
	"github.com/llmgateway/llmgateway/interceptors/internal/chatcall"
	"github.com/llmgateway/llmgateway/interceptors/requestid"
)

// Redactor masks what must not be logged; *redact.Redactor is one.
type Redactor interface {
	String(s string) string
}

// DefaultMaxChars bounds each logged message unless WithMaxChars says
// otherwise.
const DefaultMaxChars = 2000

type options struct {
	maxChars int
}

// Option configures a Logger.
type Option func(*options)

// WithMaxChars bounds each logged message (content or tool-call
// arguments) to n characters after redaction; the rest is cut and the
// cut marked. Values below 1 mean DefaultMaxChars. Default:
// DefaultMaxChars.
func WithMaxChars(n int) Option { return func(o *options) { o.maxChars = n } }

// Logger logs opted-in prompts. Create it with New.
type Logger struct {
	log    *slog.Logger
	labels map[string]string
	redact Redactor
	opts   options
}

// verbatim masks nothing.
type verbatim struct{}

func (verbatim) String(s string) string { return s }

// New returns a Logger that logs to l the prompts of calls whose key has
// every label in labels (none when labels is empty), masked by r (nil
// masks nothing).
func New(l *slog.Logger, labels map[string]string, r Redactor, opts ...Option) *Logger {
	o := options{maxChars: DefaultMaxChars}
	for _, opt := range opts {
		opt(&o)
	}
	if o.maxChars < 1 {
		o.maxChars = DefaultMaxChars
	}
	if r == nil {
		r = verbatim{}
	}
	return &Logger{log: l, labels: labels, redact: r, opts: o}
}

// optedIn reports whether k's prompts are logged.
func (p *Logger) optedIn(k *auth.Key) bool {
	if len(p.labels) == 0 {
		return false
	}
	for name, want := range p.labels {
		if got, ok := k.Labels[name]; !ok || got != want {
			return false
		}
	}
	return true
}

// message is one logged message.
type message struct {
	Role       string     `json:"role"`
	Name       string     `json:"name,omitempty"`
	Content    string     `json:"content,omitempty"`
	ToolCalls  []toolCall `json:"tool_calls,omitempty"`
	ToolCallID string     `json:"tool_call_id,omitempty"`
}

type toolCall struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments,omitempty"`
}

// text redacts s and cuts it to the maximum length.
func (p *Logger) text(s string) string {
	if s == "" {
		return ""
	}
	s = p.redact.String(s)
	if utf8.RuneCountInString(s) <= p.opts.maxChars {
		return s
	}
	cut, n := 0, 0
	for i := range s {
		if n == p.opts.maxChars {
			cut = i
			break
		}
		n++
	}
	return s[:cut] + "…[" + strconv.Itoa(utf8.RuneCountInString(s[cut:])) + " more characters cut]"
}

func (p *Logger) admit(ctx context.Context, req *pb.ChatRequest, stream bool) (func(chatcall.Outcome), error) {
	k, ok := auth.FromContext(ctx)
	if !ok || !p.optedIn(k) || !p.log.Enabled(ctx, slog.LevelInfo) {
		return nil, nil
	}
	msgs := make([]message, len(req.GetMessages()))
	for i, m := range req.GetMessages() {
		msgs[i] = message{Role: m.GetRole(), Name: m.GetName(), Content: p.text(m.GetContent()), ToolCallID: m.GetToolCallId()}
		for _, tc := range m.GetToolCalls() {
			msgs[i].ToolCalls = append(msgs[i].ToolCalls, toolCall{Name: tc.GetFunction().GetName(), Arguments: p.text(tc.GetFunction().GetArguments())})
		}
	}
	p.log.LogAttrs(ctx, slog.LevelInfo, "prompt",
		slog.String("request_id", requestid.FromContext(ctx)),
		slog.String("key_id", k.ID),
		slog.String("requested_model", req.GetModel()),
		slog.Bool("stream", stream),
		slog.Int("tools", len(req.GetTools())),
		slog.Any("messages", msgs))
	return nil, nil
}

// UnaryServerInterceptor logs the prompts of opted-in Chat calls.
func (p *Logger) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return chatcall.UnaryServerInterceptor(p.admit)
}

// StreamServerInterceptor logs the prompts of opted-in ChatStream calls.
func (p *Logger) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return chatcall.StreamServerInterceptor(p.admit)
}
