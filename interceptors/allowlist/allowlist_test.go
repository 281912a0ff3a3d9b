package allowlist

import (
	"context"
	"strings"
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
	"github.com/llmgateway/llmgateway/interceptors/auth"
	"github.com/llmgateway/llmgateway/interceptors/internal/calltest"
	"github.com/llmgateway/llmgateway/interceptors/internal/chatcall"
	"github.com/llmgateway/llmgateway/surface/httperr"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// resolve knows gpt-4.1 (alias gpt-4) and deepseek-v3.2 (alias
// deepseek-chat).
func resolve(m string) (string, bool) {
	switch strings.ToLower(m) {
	case "gpt-4.1", "gpt-4":
		return "gpt-4.1", true
	case "deepseek-v3.2", "deepseek-chat":
		return "deepseek-v3.2", true
	case "gpt-4o":
		return "gpt-4o", true
	}
	return "", false
}

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"*", "gpt-4.1", true},
		{"deepseek-*", "deepseek-v3.2", true},
		{"DeepSeek-*", "deepseek-v3.2", true},
		{"deepseek-*", "deepseek", false},
		{"gpt-?.1", "gpt-4.1", true},
		{"gpt-?.1", "gpt-4.11", false},
		{"*-mini", "gpt-4.1-mini", true},
		{"a*b*c", "abxbyc", true},
		{"a*b*c", "abxbyd", false},
		{"meta/*", "meta/llama-3", true},
		{"", "", true},
		{"", "x", false},
	}
	for _, tt := range tests {
		if got := Match(tt.pattern, tt.name); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tt.pattern, tt.name, got, tt.want)
		}
	}
}

func TestAllowed(t *testing.T) {
	c := New(resolve)
	tests := []struct {
		models []string
		give   string
		want   bool
	}{
		{nil, "anything", true},
		{[]string{"gpt-4.1"}, "gpt-4.1", true},
		{[]string{"gpt-4.1"}, "GPT-4", true}, // the alias resolves first
		{[]string{"gpt-4"}, "gpt-4.1", true}, // an alias in the list too
		{[]string{"gpt-4.1"}, "gpt-4o", false},
		{[]string{"deepseek-*"}, "deepseek-chat", true}, // globs match the canonical name
		{[]string{"gpt-4*"}, "gpt-4o", true},
		{[]string{"gpt-4.1"}, "auto", false},
		{[]string{"auto"}, "auto", true},
		{[]string{"gpt-4.1"}, "unknown-model", false},
	}
	for _, tt := range tests {
		if got := c.Allowed(&auth.Key{Models: tt.models}, tt.give); got != tt.want {
			t.Errorf("Allowed(%v, %q) = %v, want %v", tt.models, tt.give, got, tt.want)
		}
	}
}

func TestInterceptors(t *testing.T) {
	c := New(resolve)
	ctx := auth.NewContext(context.Background(), &auth.Key{ID: "k", Models: []string{"gpt-4.1", "deepseek-*"}})
	unary := c.UnaryServerInterceptor()
	called := false
	h := func(context.Context, any) (any, error) {
		called = true
		return calltest.Response("gpt-4.1", "p", 1, 1, 0), nil
	}
	_, err := unary(ctx, calltest.Request("gpt-4o", "hi", 0), calltest.ChatInfo, h)
	st := status.Convert(err)
	if st.Code() != codes.PermissionDenied || httperr.Reason(st) != httperr.ReasonPermissionDenied || called ||
		!strings.Contains(st.Message(), `"gpt-4o"`) || !strings.Contains(st.Message(), "deepseek-*") {
		t.Errorf("Chat(gpt-4o) = %v (handler called %v), want PermissionDenied naming the model and the allowlist", err, called)
	}
	if _, err := unary(ctx, calltest.Request("gpt-4", "hi", 0), calltest.ChatInfo, h); err != nil || !called {
		t.Errorf("Chat(gpt-4) = %v (handler called %v), want it allowed", err, called)
	}
	// Without a key (an open gateway) everything passes.
	if _, err := unary(context.Background(), calltest.Request("gpt-4o", "hi", 0), calltest.ChatInfo, h); err != nil {
		t.Errorf("Chat without a key = %v", err)
	}

	list := func(context.Context, any) (any, error) {
		return &pb.ListModelsResponse{Models: []*pb.ModelInfo{{Name: "deepseek-v3.2"}, {Name: "gpt-4.1"}, {Name: "gpt-4o"}}}, nil
	}
	resp, err := unary(ctx, &pb.ListModelsRequest{}, &grpc.UnaryServerInfo{FullMethod: chatcall.MethodListModels}, list)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range resp.(*pb.ListModelsResponse).GetModels() {
		names = append(names, m.GetName())
	}
	if strings.Join(names, ",") != "deepseek-v3.2,gpt-4.1" {
		t.Errorf("ListModels = %v, want the allowed models only", names)
	}

	ss := &calltest.Stream{Ctx: ctx, Req: calltest.Request("gpt-4o", "hi", 0)}
	err = c.StreamServerInterceptor()(nil, ss, calltest.StreamInfo, calltest.StreamHandler(nil, nil))
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("ChatStream(gpt-4o) = %v, want PermissionDenied", err)
	}
}
