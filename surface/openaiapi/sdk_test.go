package openaiapi

// These tests drive the handler with the official OpenAI Go SDK pointed at
// it by base URL only: they are the compatibility bar of the package.

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/ssestream"
	"github.com/openai/openai-go/v3/shared"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	llmgatewayv1 "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
	"github.com/llmgateway/llmgateway/surface/httperr"
)

// sdkClient returns an OpenAI SDK client for the harness. Retries are off
// so that error tests see the first answer.
func (hn *harness) sdkClient() openai.Client {
	return openai.NewClient(
		option.WithBaseURL(hn.baseURL),
		option.WithAPIKey("sk-sdk-test"),
		option.WithHTTPClient(hn.srv.Client()),
		option.WithMaxRetries(0),
	)
}

func TestSDKChatUnary(t *testing.T) {
	hn := newHarness(t, &fakeGateway{chat: func(context.Context, *llmgatewayv1.ChatRequest) (*llmgatewayv1.ChatResponse, error) {
		return &llmgatewayv1.ChatResponse{
			Id: "r-1", Model: "gpt-4o", Provider: "openai",
			Message:      &llmgatewayv1.Message{Role: "assistant", Content: "Ahoy!"},
			FinishReason: "stop",
			Usage:        &llmgatewayv1.Usage{PromptTokens: 12, CompletionTokens: 2, TotalTokens: 14, CachedTokens: 5, ReasoningTokens: 1},
		}, nil
	}})
	client := hn.sdkClient()
	got, err := client.Chat.Completions.New(testContext(t), openai.ChatCompletionNewParams{
		Model: "smart",
		Messages: []openai.ChatCompletionMessageParamUnion{
			openai.DeveloperMessage("Talk like a pirate."),
			openai.UserMessage("Hello"),
		},
		MaxCompletionTokens: openai.Int(50),
		Temperature:         openai.Float(0.7),
		Seed:                openai.Int(1),
		User:                openai.String("u-1"),
		Metadata:            shared.Metadata{"k": "v"},
	})
	if err != nil {
		t.Fatalf("Chat.Completions.New() = %v", err)
	}
	if got.ID != "chatcmpl-r-1" || got.Model != "gpt-4o" || got.Created != 1700000000 || len(got.Choices) != 1 {
		t.Fatalf("Chat.Completions.New() = id %q model %q created %d choices %d, want chatcmpl-r-1, gpt-4o, 1700000000, 1",
			got.ID, got.Model, got.Created, len(got.Choices))
	}
	if c := got.Choices[0]; c.Message.Content != "Ahoy!" || c.FinishReason != "stop" || c.Message.Role != "assistant" {
		t.Errorf("choice = content %q finish %q role %q, want Ahoy!, stop, assistant", c.Message.Content, c.FinishReason, c.Message.Role)
	}
	u := got.Usage
	if u.PromptTokens != 12 || u.CompletionTokens != 2 || u.TotalTokens != 14 ||
		u.PromptTokensDetails.CachedTokens != 5 || u.CompletionTokensDetails.ReasoningTokens != 1 {
		t.Errorf("usage = %+v, want 12/2/14, cached 5, reasoning 1", u)
	}

	wantReq := &llmgatewayv1.ChatRequest{
		Model: "smart",
		Messages: []*llmgatewayv1.Message{
			{Role: "developer", Content: "Talk like a pirate."},
			{Role: "user", Content: "Hello"},
		},
		MaxTokens:   proto.Int32(50),
		Temperature: proto.Float64(0.7),
		User:        "u-1",
		Metadata:    map[string]string{"k": "v"},
	}
	if diff := cmp.Diff(wantReq, hn.fake.lastRequest(t), protocmp.Transform()); diff != "" {
		t.Errorf("gateway request mismatch (-want +got):\n%s", diff)
	}
	if got := hn.fake.lastMetadata(t).Get("authorization"); !cmp.Equal(got, []string{"Bearer sk-sdk-test"}) {
		t.Errorf("authorization metadata = %q, want [Bearer sk-sdk-test]", got)
	}
}

func TestSDKChatStreamWithUsage(t *testing.T) {
	hn := newHarness(t, &fakeGateway{stream: sendAll(
		deltaEvent("Hel"),
		deltaEvent("lo, "),
		deltaEvent("world"),
		finalEvent(testFinal("stop")),
	)})
	client := hn.sdkClient()
	stream := client.Chat.Completions.NewStreaming(testContext(t), openai.ChatCompletionNewParams{
		Model:         "gpt-4o",
		Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	})
	defer stream.Close()
	var acc openai.ChatCompletionAccumulator
	var chunks int
	var finished string
	for stream.Next() {
		chunks++
		if !acc.AddChunk(stream.Current()) {
			t.Fatalf("AddChunk(%s) = false", stream.Current().RawJSON())
		}
		if content, ok := acc.JustFinishedContent(); ok {
			finished = content
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("stream.Err() = %v", err)
	}
	if chunks != 6 { // role, 3 deltas, finish, usage
		t.Errorf("chunks = %d, want 6", chunks)
	}
	if finished != "Hello, world" {
		t.Errorf("JustFinishedContent() = %q, want %q", finished, "Hello, world")
	}
	if acc.ID != "chatcmpl-s-1" || acc.Model != "gpt-4o" || len(acc.Choices) != 1 {
		t.Fatalf("accumulated id %q model %q choices %d, want chatcmpl-s-1, gpt-4o, 1", acc.ID, acc.Model, len(acc.Choices))
	}
	if c := acc.Choices[0]; c.Message.Content != "Hello, world" || c.FinishReason != "stop" {
		t.Errorf("accumulated content %q finish %q, want %q, stop", c.Message.Content, c.FinishReason, "Hello, world")
	}
	if u := acc.Usage; u.PromptTokens != 9 || u.CompletionTokens != 2 || u.TotalTokens != 11 || u.PromptTokensDetails.CachedTokens != 3 {
		t.Errorf("accumulated usage = %+v, want 9/2/11, cached 3", u)
	}
}

func TestSDKToolCalls(t *testing.T) {
	weather := openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
		Name:        "get_weather",
		Description: openai.String("Weather by city"),
		Parameters: shared.FunctionParameters{
			"type":       "object",
			"properties": map[string]any{"city": map[string]any{"type": "string"}},
			"required":   []string{"city"},
		},
	})
	hn := newHarness(t, &fakeGateway{
		chat: func(_ context.Context, req *llmgatewayv1.ChatRequest) (*llmgatewayv1.ChatResponse, error) {
			if len(req.GetMessages()) > 1 { // the tool result came back
				return &llmgatewayv1.ChatResponse{Id: "r-2", Model: "gpt-4o", FinishReason: "stop",
					Message: &llmgatewayv1.Message{Role: "assistant", Content: "12C in Oslo."}}, nil
			}
			return &llmgatewayv1.ChatResponse{Id: "r-1", Model: "gpt-4o", FinishReason: "tool_calls",
				Message: &llmgatewayv1.Message{Role: "assistant", ToolCalls: []*llmgatewayv1.ToolCall{{
					Id: "call_1", Type: "function", Function: &llmgatewayv1.FunctionCall{Name: "get_weather", Arguments: `{"city":"Oslo"}`},
				}}}}, nil
		},
		stream: sendAll(
			deltaEvent("", &llmgatewayv1.ToolCallDelta{Index: 0, Id: "call_1", Name: "get_weather"}),
			deltaEvent("", &llmgatewayv1.ToolCallDelta{Index: 0, Arguments: `{"city":`}),
			deltaEvent("", &llmgatewayv1.ToolCallDelta{Index: 0, Arguments: `"Oslo"}`}),
			finalEvent(testFinal("tool_calls")),
		),
	})
	client := hn.sdkClient()
	ctx := testContext(t)
	params := openai.ChatCompletionNewParams{
		Model:      "gpt-4o",
		Messages:   []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Weather in Oslo?")},
		Tools:      []openai.ChatCompletionToolUnionParam{weather},
		ToolChoice: openai.ChatCompletionToolChoiceOptionUnionParam{OfAuto: openai.String("auto")},
	}

	t.Run("unary round trip", func(t *testing.T) {
		first, err := client.Chat.Completions.New(ctx, params)
		if err != nil {
			t.Fatalf("Chat.Completions.New() = %v", err)
		}
		msg := first.Choices[0].Message
		if len(msg.ToolCalls) != 1 || msg.ToolCalls[0].ID != "call_1" || msg.ToolCalls[0].Function.Name != "get_weather" ||
			msg.ToolCalls[0].Function.Arguments != `{"city":"Oslo"}` || first.Choices[0].FinishReason != "tool_calls" {
			t.Fatalf("tool calls = %+v (finish %q), want one get_weather call_1 {\"city\":\"Oslo\"}", msg.ToolCalls, first.Choices[0].FinishReason)
		}
		next := params
		next.Messages = append(append([]openai.ChatCompletionMessageParamUnion(nil), params.Messages...),
			msg.ToParam(), openai.ToolMessage("12C", "call_1"))
		second, err := client.Chat.Completions.New(ctx, next)
		if err != nil {
			t.Fatalf("Chat.Completions.New(with tool result) = %v", err)
		}
		if got := second.Choices[0].Message.Content; got != "12C in Oslo." {
			t.Errorf("answer = %q, want %q", got, "12C in Oslo.")
		}
		got := hn.fake.lastRequest(t)
		wantMsgs := []*llmgatewayv1.Message{
			{Role: "user", Content: "Weather in Oslo?"},
			{Role: "assistant", ToolCalls: []*llmgatewayv1.ToolCall{{Id: "call_1", Type: "function",
				Function: &llmgatewayv1.FunctionCall{Name: "get_weather", Arguments: `{"city":"Oslo"}`}}}},
			{Role: "tool", Content: "12C", ToolCallId: "call_1"},
		}
		if diff := cmp.Diff(wantMsgs, got.GetMessages(), protocmp.Transform()); diff != "" {
			t.Errorf("messages sent to the gateway mismatch (-want +got):\n%s", diff)
		}
		if got.GetToolChoice().GetMode() != "auto" || len(got.GetTools()) != 1 || got.GetTools()[0].GetFunction().GetParameters().GetFields()["type"].GetStringValue() != "object" {
			t.Errorf("tools = %v, tool choice = %v, want get_weather with an object schema, auto", got.GetTools(), got.GetToolChoice())
		}
	})

	t.Run("streamed", func(t *testing.T) {
		stream := client.Chat.Completions.NewStreaming(ctx, params)
		defer stream.Close()
		var acc openai.ChatCompletionAccumulator
		var done []openai.FinishedChatCompletionToolCall
		for stream.Next() {
			if !acc.AddChunk(stream.Current()) {
				t.Fatalf("AddChunk(%s) = false", stream.Current().RawJSON())
			}
			if tc, ok := acc.JustFinishedToolCall(); ok {
				done = append(done, tc)
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatalf("stream.Err() = %v", err)
		}
		if len(done) != 1 || done[0].ID != "call_1" || done[0].Name != "get_weather" || done[0].Arguments != `{"city":"Oslo"}` {
			t.Errorf("finished tool calls = %+v, want call_1 get_weather {\"city\":\"Oslo\"}", done)
		}
		if c := acc.Choices[0]; c.FinishReason != "tool_calls" || len(c.Message.ToolCalls) != 1 || c.Message.ToolCalls[0].Function.Arguments != `{"city":"Oslo"}` {
			t.Errorf("accumulated choice = %+v, want one call and finish tool_calls", c)
		}
	})
}

func TestSDKErrors(t *testing.T) {
	rateLimited, err := status.New(codes.ResourceExhausted, "too many requests for key k1").WithDetails(errorInfo(t, httperr.ReasonRateLimited))
	if err != nil {
		t.Fatal(err)
	}
	hn := newHarness(t, &fakeGateway{
		chat: func(context.Context, *llmgatewayv1.ChatRequest) (*llmgatewayv1.ChatResponse, error) {
			return nil, rateLimited.Err()
		},
		stream: func(req *llmgatewayv1.ChatRequest, srv grpc.ServerStreamingServer[llmgatewayv1.ChatStreamResponse]) error {
			if req.GetModel() == "late" {
				if err := srv.Send(deltaEvent("Hel")); err != nil {
					return err
				}
				return httperr.New(codes.Internal, httperr.ReasonUpstreamError, "upstream reset the connection", nil)
			}
			return status.Error(codes.PermissionDenied, "key k1 may not use model "+req.GetModel())
		},
	})
	client := hn.sdkClient()
	ctx := testContext(t)
	msgs := []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}

	t.Run("unary", func(t *testing.T) {
		_, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o", Messages: msgs})
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) {
			t.Fatalf("Chat.Completions.New() error = %v, want *openai.Error", err)
		}
		if apiErr.StatusCode != http.StatusTooManyRequests || apiErr.Type != "rate_limit_error" ||
			apiErr.Code != "rate_limit_exceeded" || apiErr.Message != "too many requests for key k1" {
			t.Errorf("error = status %d type %q code %q message %q, want 429 rate_limit_error rate_limit_exceeded %q",
				apiErr.StatusCode, apiErr.Type, apiErr.Code, apiErr.Message, "too many requests for key k1")
		}
	})

	t.Run("stream before the first event", func(t *testing.T) {
		stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "gpt-5", Messages: msgs})
		defer stream.Close()
		if stream.Next() {
			t.Fatalf("stream.Next() = true with %s, want false", stream.Current().RawJSON())
		}
		var apiErr *openai.Error
		if !errors.As(stream.Err(), &apiErr) {
			t.Fatalf("stream.Err() = %v, want *openai.Error", stream.Err())
		}
		if apiErr.StatusCode != http.StatusForbidden || apiErr.Type != "permission_error" || apiErr.Message != "key k1 may not use model gpt-5" {
			t.Errorf("error = status %d type %q message %q, want 403 permission_error %q",
				apiErr.StatusCode, apiErr.Type, apiErr.Message, "key k1 may not use model gpt-5")
		}
	})

	t.Run("stream after the first event", func(t *testing.T) {
		stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "late", Messages: msgs})
		defer stream.Close()
		var content string
		for stream.Next() {
			for _, c := range stream.Current().Choices {
				content += c.Delta.Content
			}
		}
		if content != "Hel" {
			t.Errorf("content before the error = %q, want Hel", content)
		}
		var streamErr *ssestream.StreamError
		if !errors.As(stream.Err(), &streamErr) {
			t.Fatalf("stream.Err() = %v, want *ssestream.StreamError", stream.Err())
		}
		want := map[string]any{"error": map[string]any{"message": "upstream reset the connection", "type": "api_error", "param": nil, "code": "upstream_error"}}
		if diff := cmp.Diff(want, decodeJSON(t, string(streamErr.Event.Data))); diff != "" {
			t.Errorf("error event mismatch (-want +got):\n%s", diff)
		}
	})
}

func TestSDKModels(t *testing.T) {
	hn := newHarness(t, &fakeGateway{models: func(context.Context) (*llmgatewayv1.ListModelsResponse, error) {
		return &llmgatewayv1.ListModelsResponse{Models: []*llmgatewayv1.ModelInfo{
			{Name: "auto", Virtual: true},
			{Name: "claude-sonnet", Aliases: []string{"sonnet"}, Providers: []string{"anthropic", "bedrock"}},
			{Name: "meta/llama-3", Providers: []string{"together"}},
		}}, nil
	}})
	client := hn.sdkClient()
	ctx := testContext(t)

	var got []string
	iter := client.Models.ListAutoPaging(ctx)
	for iter.Next() {
		m := iter.Current()
		got = append(got, m.ID+" by "+m.OwnedBy)
	}
	if err := iter.Err(); err != nil {
		t.Fatalf("Models.ListAutoPaging() = %v", err)
	}
	want := []string{"auto by llmgateway", "claude-sonnet by anthropic", "sonnet by anthropic", "meta/llama-3 by together"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("models mismatch (-want +got):\n%s", diff)
	}

	for _, tt := range []struct{ give, want string }{
		{"sonnet", "anthropic"},
		{"meta/llama-3", "together"},
	} {
		m, err := client.Models.Get(ctx, tt.give)
		if err != nil {
			t.Fatalf("Models.Get(%q) = %v", tt.give, err)
		}
		if m.ID != tt.give || m.OwnedBy != tt.want {
			t.Errorf("Models.Get(%q) = %q by %q, want %q by %q", tt.give, m.ID, m.OwnedBy, tt.give, tt.want)
		}
	}

	_, err := client.Models.Get(ctx, "nope")
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound || apiErr.Code != "model_not_found" || apiErr.Param != "model" {
		t.Errorf("Models.Get(nope) error = %v, want *openai.Error 404 model_not_found param model", err)
	}
}
