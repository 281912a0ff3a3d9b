package openaiapi

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	llmgatewayv1 "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
)

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", `q"uote\back`, "nl\n\r\t\b\f\x00\x1f", "<&>", "é漢字🙂", "\u2028\u2029", "bad\xffutf8\xc3", "\x7f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := appendString(nil, s)
		var decoded string
		if err := json.Unmarshal(got, &decoded); err != nil {
			t.Fatalf("appendString(%q) = %s, not a valid JSON string: %v", s, got, err)
		}
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var wantDecoded string
		if err := json.Unmarshal(want, &wantDecoded); err != nil {
			t.Fatal(err)
		}
		if decoded != wantDecoded {
			t.Errorf("appendString(%q) decodes to %q, want %q as encoding/json gives", s, decoded, wantDecoded)
		}
	})
}

func TestAppendFloat(t *testing.T) {
	tests := []struct {
		give float64
		want string
	}{
		{0, "0"},
		{0.5, "0.5"},
		{1.25e-7, "0.000000125"},
		{1234.5, "1234.5"},
	}
	for _, tt := range tests {
		if got := string(appendFloat(nil, tt.give)); got != tt.want {
			t.Errorf("appendFloat(%v) = %s, want %s", tt.give, got, tt.want)
		}
	}
}

// The reference encoders below are the encoding/json and protojson code
// that appendCompletion and appendRoute replaced; the new output must
// decode to the same JSON value.

type refCompletion struct {
	ID         string          `json:"id"`
	Object     string          `json:"object"`
	Created    int64           `json:"created"`
	Model      string          `json:"model"`
	Choices    []refChoice     `json:"choices"`
	Usage      json.RawMessage `json:"usage"`
	LLMGateway json.RawMessage `json:"llmgateway,omitempty"`
}

type refChoice struct {
	Index        int        `json:"index"`
	Message      refMessage `json:"message"`
	FinishReason string     `json:"finish_reason"`
	Logprobs     *struct{}  `json:"logprobs"`
}

type refMessage struct {
	Role      string        `json:"role"`
	Content   *string       `json:"content"`
	Refusal   *string       `json:"refusal"`
	ToolCalls []refToolCall `json:"tool_calls,omitempty"`
}

type refToolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

func refGatewayInfo(provider string, cost float64, route *llmgatewayv1.Route) []byte {
	dst := append([]byte(`{"provider":`), appendString(nil, provider)...)
	dst = append(dst, `,"cost_usd":`...)
	dst = appendFloat(dst, cost)
	if route != nil {
		if b, err := (protojson.MarshalOptions{UseProtoNames: true}).Marshal(route); err == nil {
			var c bytes.Buffer
			if json.Compact(&c, b) == nil {
				dst = append(dst, `,"route":`...)
				dst = append(dst, c.Bytes()...)
			}
		}
	}
	return append(dst, '}')
}

func refCompletionJSON(t testing.TB, id string, created int64, resp *llmgatewayv1.ChatResponse) []byte {
	t.Helper()
	msg := resp.GetMessage()
	out := refCompletion{
		ID: id, Object: "chat.completion", Created: created, Model: resp.GetModel(),
		Choices:    []refChoice{{Message: refMessage{Role: "assistant"}, FinishReason: finishReason(resp.GetFinishReason())}},
		Usage:      appendUsage(nil, resp.GetUsage()),
		LLMGateway: refGatewayInfo(resp.GetProvider(), resp.GetCostUsd(), resp.GetRoute()),
	}
	for _, c := range msg.GetToolCalls() {
		tc := refToolCall{ID: c.GetId(), Type: "function"}
		tc.Function.Name = c.GetFunction().GetName()
		tc.Function.Arguments = c.GetFunction().GetArguments()
		out.Choices[0].Message.ToolCalls = append(out.Choices[0].Message.ToolCalls, tc)
	}
	if content := msg.GetContent(); content != "" || len(out.Choices[0].Message.ToolCalls) == 0 {
		out.Choices[0].Message.Content = &content
	}
	b, err := json.Marshal(&out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// awkward is a string with everything an encoder must escape or keep.
const awkward = "q\"uote\\ <b>&amp;</b> \n\r\t\b\f\x00\x1f \u2028\u2029 é漢字🙂 \x7f"

func encoderRoutes() map[string]*llmgatewayv1.Route {
	return map[string]*llmgatewayv1.Route{
		"test":  testRoute(),
		"empty": {},
		"every field": {RequestedModel: "auto", ResolvedModel: "gpt-4o", Strategy: "auto", Tier: "simple", Rule: "short prompt", Attempts: []*llmgatewayv1.RouteAttempt{{
			Provider: "p", Model: "m", UpstreamModel: "u", Outcome: "error", Latency: durationpb.New(2*time.Second + 5*time.Microsecond),
			Reason: "priority 1", Error: "boom", StatusCode: 500,
		}}},
		"awkward strings": {RequestedModel: awkward, Attempts: []*llmgatewayv1.RouteAttempt{{Error: awkward}}},
		"latencies": {Attempts: []*llmgatewayv1.RouteAttempt{
			{Latency: &durationpb.Duration{}}, {Latency: &durationpb.Duration{Seconds: 3}}, {Latency: &durationpb.Duration{Nanos: 1}},
			{Latency: &durationpb.Duration{Nanos: 120000000}}, {Latency: &durationpb.Duration{Nanos: 123456000}},
			{Latency: &durationpb.Duration{Seconds: -1, Nanos: -500000000}}, {Latency: &durationpb.Duration{Nanos: -7}},
			{Latency: &durationpb.Duration{Seconds: maxDurationSeconds, Nanos: maxDurationNanos}},
			{Latency: &durationpb.Duration{Seconds: -maxDurationSeconds, Nanos: -maxDurationNanos}},
			{Outcome: "no latency"}, {StatusCode: -1},
		}},
		"seconds out of range":     {Attempts: []*llmgatewayv1.RouteAttempt{{Latency: &durationpb.Duration{Seconds: maxDurationSeconds + 1}}}},
		"nanos out of range":       {Attempts: []*llmgatewayv1.RouteAttempt{{Latency: &durationpb.Duration{Nanos: 1e9}}}},
		"signs differ":             {Attempts: []*llmgatewayv1.RouteAttempt{{Latency: &durationpb.Duration{Seconds: 1, Nanos: -1}}}},
		"invalid UTF-8":            {Strategy: "bad\xff"},
		"invalid UTF-8 in attempt": {Attempts: []*llmgatewayv1.RouteAttempt{{Reason: "bad\xc3("}}},
	}
}

func TestAppendGatewayInfo(t *testing.T) {
	for name, route := range encoderRoutes() {
		t.Run(name, func(t *testing.T) {
			got := appendGatewayInfo(nil, "openai", 0.25, route)
			want := refGatewayInfo("openai", 0.25, route)
			if diff := cmp.Diff(decodeJSON(t, string(want)), decodeJSON(t, string(got))); diff != "" {
				t.Errorf("appendGatewayInfo() mismatch (-protojson +got):\n%s\ngot  %s\nwant %s", diff, got, want)
			}
		})
	}
}

func TestAppendDuration(t *testing.T) {
	tests := []struct {
		give *durationpb.Duration
		want string
	}{
		{&durationpb.Duration{}, `"0s"`},
		{&durationpb.Duration{Seconds: 1, Nanos: 500000000}, `"1.500s"`},
		{&durationpb.Duration{Nanos: 120000000}, `"0.120s"`},
		{&durationpb.Duration{Nanos: 123000}, `"0.000123s"`},
		{&durationpb.Duration{Nanos: 1}, `"0.000000001s"`},
		{&durationpb.Duration{Seconds: -2, Nanos: -10000000}, `"-2.010s"`},
		{&durationpb.Duration{Nanos: -5000}, `"-0.000005s"`},
	}
	for _, tt := range tests {
		if got := string(appendDuration(nil, tt.give.GetSeconds(), tt.give.GetNanos())); got != tt.want {
			t.Errorf("appendDuration(%v) = %s, want %s", tt.give, got, tt.want)
		}
	}
}

func FuzzAppendRoute(f *testing.F) {
	f.Add("smart", "priority", "azure", "overloaded (HTTP 503)", int64(0), int32(120000000), int32(503))
	f.Add(awkward, "bad\xff", "", "", int64(-3), int32(-1), int32(0))
	f.Add("", "", "", "", int64(maxDurationSeconds+1), int32(0), int32(-7))
	f.Fuzz(func(t *testing.T, model, strategy, provider, errText string, secs int64, nanos, status int32) {
		route := &llmgatewayv1.Route{RequestedModel: model, Strategy: strategy, Attempts: []*llmgatewayv1.RouteAttempt{
			{Provider: provider, Error: errText, StatusCode: status, Latency: &durationpb.Duration{Seconds: secs, Nanos: nanos}},
			{Outcome: "ok"},
		}}
		got := appendGatewayInfo(nil, "p", 1, route)
		want := refGatewayInfo("p", 1, route)
		if diff := cmp.Diff(decodeJSON(t, string(want)), decodeJSON(t, string(got))); diff != "" {
			t.Errorf("appendGatewayInfo() mismatch (-protojson +got):\n%s\ngot  %s\nwant %s", diff, got, want)
		}
	})
}

func TestAppendCompletion(t *testing.T) {
	created := timestamppb.New(time.Unix(1710000000, 0))
	tests := []struct {
		name string
		give *llmgatewayv1.ChatResponse
	}{
		{"text", &llmgatewayv1.ChatResponse{
			Id: "r-1", Model: "gpt-4o", Provider: "openai", Message: &llmgatewayv1.Message{Role: "assistant", Content: "Hello!"},
			FinishReason: "stop", Usage: &llmgatewayv1.Usage{PromptTokens: 10, CompletionTokens: 3, TotalTokens: 13, CachedTokens: 4, ReasoningTokens: 1},
			CostUsd: 0.000125, Route: testRoute(), Created: created,
		}},
		{"tool calls", &llmgatewayv1.ChatResponse{
			Model: "claude", Message: &llmgatewayv1.Message{ToolCalls: []*llmgatewayv1.ToolCall{
				{Id: "call_a", Type: "function", Function: &llmgatewayv1.FunctionCall{Name: "get_weather", Arguments: `{"city":"Oslo"}`}},
				{Id: "call_b"},
			}},
			FinishReason: "tool_calls",
		}},
		{"text and tool calls", &llmgatewayv1.ChatResponse{
			Message: &llmgatewayv1.Message{Content: "calling", ToolCalls: []*llmgatewayv1.ToolCall{{Id: "c", Function: &llmgatewayv1.FunctionCall{Name: "f"}}}},
		}},
		{"awkward strings", &llmgatewayv1.ChatResponse{
			Model: awkward, Provider: awkward, Message: &llmgatewayv1.Message{Content: awkward + strings.Repeat("é", 3) + "bad\xff",
				ToolCalls: []*llmgatewayv1.ToolCall{{Id: awkward, Function: &llmgatewayv1.FunctionCall{Name: awkward, Arguments: awkward}}}},
			FinishReason: "length", Route: &llmgatewayv1.Route{Rule: awkward},
		}},
		{"empty", &llmgatewayv1.ChatResponse{}},
		{"nil", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := appendCompletion([]byte("kept"), "chatcmpl-x"+awkward, 1700000000, tt.give)
			if !bytes.HasPrefix(got, []byte("kept")) {
				t.Fatalf("appendCompletion() = %s, does not append", got)
			}
			got = got[len("kept"):]
			want := refCompletionJSON(t, "chatcmpl-x"+awkward, 1700000000, tt.give)
			if diff := cmp.Diff(decodeJSON(t, string(want)), decodeJSON(t, string(got))); diff != "" {
				t.Errorf("appendCompletion() mismatch (-encoding/json +got):\n%s\ngot  %s\nwant %s", diff, got, want)
			}
		})
	}
}

// BenchmarkAppendCompletion measures encoding a unary response with a
// route of two attempts, by hand and, for comparison, with the
// encoding/json and protojson code it replaced.
func BenchmarkAppendCompletion(b *testing.B) {
	resp := &llmgatewayv1.ChatResponse{
		Id: "r-1", Model: "gpt-4o", Provider: "openai",
		Message:      &llmgatewayv1.Message{Role: "assistant", Content: "Your order 1234 left our warehouse yesterday and should arrive tomorrow before noon."},
		FinishReason: "stop",
		Usage:        &llmgatewayv1.Usage{PromptTokens: 42, CompletionTokens: 16, TotalTokens: 58},
		CostUsd:      0.0012,
		Route:        testRoute(),
	}
	b.Run("hand", func(b *testing.B) {
		buf := make([]byte, 0, 1024)
		b.ReportAllocs()
		for b.Loop() {
			buf = appendCompletion(buf[:0], "chatcmpl-r-1", 1700000000, resp)
		}
	})
	b.Run("reference", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			refCompletionJSON(b, "chatcmpl-r-1", 1700000000, resp)
		}
	})
}
