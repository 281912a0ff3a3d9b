package promptlog_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/grpc"

	pb "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
	"github.com/llmgateway/llmgateway/interceptors/auth"
	"github.com/llmgateway/llmgateway/interceptors/internal/calltest"
	"github.com/llmgateway/llmgateway/interceptors/promptlog"
	"github.com/llmgateway/llmgateway/interceptors/requestid"
	"github.com/llmgateway/llmgateway/telemetry/redact"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const secretPrompt = "I am jane@example.com, card 4111 1111 1111 1111, call +1 415 555 0100 about order 1234"

func request() *pb.ChatRequest {
	return &pb.ChatRequest{Model: "gpt-4", Messages: []*pb.Message{
		{Role: "system", Content: "You are a support agent."},
		{Role: "user", Content: secretPrompt},
		{Role: "assistant", ToolCalls: []*pb.ToolCall{{Id: "c1", Type: "function", Function: &pb.FunctionCall{Name: "lookup", Arguments: `{"email":"jane@example.com"}`}}}},
		{Role: "tool", ToolCallId: "c1", Content: strings.Repeat("x", 40)},
	}}
}

type logged struct {
	Msg            string `json:"msg"`
	RequestID      string `json:"request_id"`
	KeyID          string `json:"key_id"`
	RequestedModel string `json:"requested_model"`
	Stream         bool   `json:"stream"`
	Messages       []struct {
		Role       string `json:"role"`
		Content    string `json:"content"`
		ToolCallID string `json:"tool_call_id"`
		ToolCalls  []struct {
			Name      string `json:"name"`
			Arguments string `json:"arguments"`
		} `json:"tool_calls"`
	} `json:"messages"`
}

func TestPromptLogging(t *testing.T) {
	r, err := redact.New(redact.Rules(), []string{`order \d+`})
	if err != nil {
		t.Fatal(err)
	}
	cs := &auth.Key{ID: "cs_bot", Labels: map[string]string{"team": "cs", "app": "bot"}}
	sales := &auth.Key{ID: "sales_bot", Labels: map[string]string{"team": "sales"}}
	tests := []struct {
		name   string
		key    *auth.Key
		labels map[string]string
		level  slog.Level
		stream bool
		want   bool
	}{
		{name: "opted-in key", key: cs, labels: map[string]string{"team": "cs"}, want: true},
		{name: "opted-in key, stream", key: cs, labels: map[string]string{"team": "cs"}, stream: true, want: true},
		{name: "every label must match", key: cs, labels: map[string]string{"team": "cs", "app": "web"}},
		{name: "other key", key: sales, labels: map[string]string{"team": "cs"}},
		{name: "open gateway", labels: map[string]string{"team": "cs"}},
		{name: "no labels configured", key: cs},
		{name: "log level above info", key: cs, labels: map[string]string{"team": "cs"}, level: slog.LevelWarn},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			pl := promptlog.New(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: tt.level})), tt.labels, r, promptlog.WithMaxChars(30))
			ctx := requestid.NewContext(context.Background(), "req-9")
			if tt.key != nil {
				ctx = auth.NewContext(ctx, tt.key)
			}
			called := false
			if tt.stream {
				ss := &calltest.Stream{Ctx: ctx, Req: request()}
				_ = pl.StreamServerInterceptor()(nil, ss, calltest.StreamInfo, func(_ any, ss grpc.ServerStream) error {
					called = true
					return ss.RecvMsg(new(pb.ChatRequest))
				})
			} else {
				_, _ = pl.UnaryServerInterceptor()(ctx, request(), calltest.ChatInfo, func(context.Context, any) (any, error) {
					called = true
					return calltest.Response("gpt-4.1", "sim-a", 1, 1, 0), nil
				})
			}
			if !called {
				t.Fatal("the handler was not called")
			}
			if !tt.want {
				if buf.Len() != 0 {
					t.Errorf("logged %s, want nothing", buf.String())
				}
				return
			}
			var got logged
			if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
				t.Fatalf("log %q: %v", buf.String(), err)
			}
			if got.Msg != "prompt" || got.RequestID != "req-9" || got.KeyID != "cs_bot" || got.RequestedModel != "gpt-4" || got.Stream != tt.stream || len(got.Messages) != 4 {
				t.Fatalf("logged %+v", got)
			}
			if m := got.Messages[0]; m.Role != "system" || m.Content != "You are a support agent." {
				t.Errorf("system message = %+v", m)
			}
			user := got.Messages[1].Content
			if !strings.HasPrefix(user, "I am [EMAIL], card [CARD], cal…[26 more characters cut]") || !strings.Contains(user, "more characters cut]") {
				t.Errorf("user message = %q, want it redacted and cut to 30 characters", user)
			}
			if tc := got.Messages[2].ToolCalls; len(tc) != 1 || tc[0].Name != "lookup" || tc[0].Arguments != `{"email":"[EMAIL]"}` {
				t.Errorf("tool call = %+v, want its arguments redacted", tc)
			}
			if m := got.Messages[3]; m.ToolCallID != "c1" || !strings.HasPrefix(m.Content, strings.Repeat("x", 30)+"…[10 more") {
				t.Errorf("tool message = %+v", m)
			}
			for _, leak := range []string{"jane@example.com", "4111", "555 0100", "order 1234"} {
				if strings.Contains(buf.String(), leak) {
					t.Errorf("the prompt log contains %q: %s", leak, buf.String())
				}
			}
		})
	}
}

func TestUntruncatedAndUnredacted(t *testing.T) {
	var buf bytes.Buffer
	pl := promptlog.New(slog.New(slog.NewJSONHandler(&buf, nil)), map[string]string{"team": "cs"}, nil)
	ctx := auth.NewContext(context.Background(), &auth.Key{ID: "k", Labels: map[string]string{"team": "cs"}})
	_, _ = pl.UnaryServerInterceptor()(ctx, request(), calltest.ChatInfo, func(context.Context, any) (any, error) { return nil, nil })
	if !strings.Contains(buf.String(), "jane@example.com") {
		t.Errorf("a nil Redactor masked the prompt: %s", buf.String())
	}
}
