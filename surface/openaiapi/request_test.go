package openaiapi

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/structpb"

	llmgatewayv1 "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
)

func mustStruct(t *testing.T, m map[string]any) *structpb.Struct {
	t.Helper()
	s, err := structpb.NewStruct(m)
	if err != nil {
		t.Fatalf("structpb.NewStruct(%v) = %v", m, err)
	}
	return s
}

func TestParseChat(t *testing.T) {
	tests := []struct {
		name             string
		give             string
		want             *llmgatewayv1.ChatRequest
		wantStream       bool
		wantIncludeUsage bool
	}{
		{
			name: "minimal",
			give: `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`,
			want: &llmgatewayv1.ChatRequest{
				Model:    "gpt-4o",
				Messages: []*llmgatewayv1.Message{{Role: "user", Content: "hi"}},
			},
		},
		{
			name: "every field",
			give: `{
				"model": "smart",
				"messages": [
					{"role": "system", "content": "be brief"},
					{"role": "developer", "content": [{"type": "text", "text": "no "}, {"type": "text", "text": "lists"}]},
					{"role": "user", "content": "weather?", "name": "ann"},
					{"role": "assistant", "content": null, "tool_calls": [
						{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}
					]},
					{"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "12C"}]},
					{"role": "assistant", "content": [{"type": "refusal", "refusal": "I can't"}]}
				],
				"max_tokens": 100,
				"temperature": 0.2,
				"top_p": 0.9,
				"stop": ["\n\n", "END"],
				"tools": [{"type": "function", "function": {
					"name": "get_weather", "description": "Weather by city", "strict": true,
					"parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
				}}],
				"tool_choice": {"type": "function", "function": {"name": "get_weather"}},
				"user": "u-42",
				"metadata": {"team": "search"},
				"n": 1,
				"stream": true,
				"stream_options": {"include_usage": true}
			}`,
			want: &llmgatewayv1.ChatRequest{
				Model: "smart",
				Messages: []*llmgatewayv1.Message{
					{Role: "system", Content: "be brief"},
					{Role: "developer", Content: "no lists"},
					{Role: "user", Content: "weather?", Name: "ann"},
					{Role: "assistant", ToolCalls: []*llmgatewayv1.ToolCall{{
						Id: "call_1", Type: "function",
						Function: &llmgatewayv1.FunctionCall{Name: "get_weather", Arguments: `{"city":"Oslo"}`},
					}}},
					{Role: "tool", ToolCallId: "call_1", Content: "12C"},
					{Role: "assistant", Content: "I can't"},
				},
				MaxTokens:   proto.Int32(100),
				Temperature: proto.Float64(0.2),
				TopP:        proto.Float64(0.9),
				Stop:        []string{"\n\n", "END"},
				Tools: []*llmgatewayv1.Tool{{Type: "function", Function: &llmgatewayv1.FunctionDefinition{
					Name:        "get_weather",
					Description: "Weather by city",
					Strict:      proto.Bool(true),
					Parameters: mustStruct(t, map[string]any{
						"type":       "object",
						"properties": map[string]any{"city": map[string]any{"type": "string"}},
						"required":   []any{"city"},
					}),
				}}},
				ToolChoice: &llmgatewayv1.ToolChoice{Mode: "function", FunctionName: "get_weather"},
				User:       "u-42",
				Metadata:   map[string]string{"team": "search"},
			},
			wantStream:       true,
			wantIncludeUsage: true,
		},
		{
			name: "max_completion_tokens wins over max_tokens",
			give: `{"model":"m","messages":[],"max_tokens":10,"max_completion_tokens":20}`,
			want: &llmgatewayv1.ChatRequest{Model: "m", MaxTokens: proto.Int32(20)},
		},
		{
			name: "max_completion_tokens alone",
			give: `{"model":"m","max_completion_tokens":0}`,
			want: &llmgatewayv1.ChatRequest{Model: "m", MaxTokens: proto.Int32(0)},
		},
		{
			name: "stop as a string, tool choice as a string",
			give: `{"model":"m","stop":"END","tool_choice":"required"}`,
			want: &llmgatewayv1.ChatRequest{Model: "m", Stop: []string{"END"}, ToolChoice: &llmgatewayv1.ToolChoice{Mode: "required"}},
		},
		{
			name: "nulls mean unset",
			give: `{"model":"m","messages":null,"max_tokens":null,"temperature":null,"top_p":null,"stop":null,` +
				`"tools":null,"tool_choice":null,"n":null,"stream":null,"stream_options":null,"metadata":null,"functions":null,"function_call":null}`,
			want: &llmgatewayv1.ChatRequest{Model: "m"},
		},
		{
			name: "fields the gateway cannot honour are ignored",
			give: `{"model":"m","presence_penalty":0.5,"frequency_penalty":0.1,"logit_bias":{"50256":-100},"seed":7,` +
				`"response_format":{"type":"json_object"},"parallel_tool_calls":false,"logprobs":true,"top_logprobs":2,` +
				`"service_tier":"auto","store":false,"reasoning_effort":"low","modalities":["text"],"prompt_cache_key":"k",` +
				`"verbosity":"low","web_search_options":{},"something_new":{"nested":[1,2]}}`,
			want: &llmgatewayv1.ChatRequest{Model: "m"},
		},
		{
			name: "safety_identifier stands in for user",
			give: `{"model":"m","safety_identifier":"hashed-user"}`,
			want: &llmgatewayv1.ChatRequest{Model: "m", User: "hashed-user"},
		},
		{
			name: "include_usage without stream is ignored",
			give: `{"model":"m","stream":false,"stream_options":{"include_usage":true}}`,
			want: &llmgatewayv1.ChatRequest{Model: "m"},
		},
		{
			name:       "stream without usage",
			give:       `{"model":"m","stream":true}`,
			want:       &llmgatewayv1.ChatRequest{Model: "m"},
			wantStream: true,
		},
		{
			name: "tool without type or parameters",
			give: `{"model":"m","tools":[{"function":{"name":"now"}}],"tool_choice":"none"}`,
			want: &llmgatewayv1.ChatRequest{
				Model:      "m",
				Tools:      []*llmgatewayv1.Tool{{Type: "function", Function: &llmgatewayv1.FunctionDefinition{Name: "now"}}},
				ToolChoice: &llmgatewayv1.ToolChoice{Mode: "none"},
			},
		},
		{
			name: "empty content parts and empty stop array",
			give: `{"model":"m","messages":[{"role":"user","content":[]}],"stop":[]}`,
			want: &llmgatewayv1.ChatRequest{Model: "m", Messages: []*llmgatewayv1.Message{{Role: "user"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseChat([]byte(tt.give))
			if err != nil {
				t.Fatalf("parseChat() = %v, want no error", err)
			}
			if diff := cmp.Diff(tt.want, got.req, protocmp.Transform()); diff != "" {
				t.Errorf("parseChat() request mismatch (-want +got):\n%s", diff)
			}
			if got.stream != tt.wantStream || got.includeUsage != tt.wantIncludeUsage {
				t.Errorf("parseChat() stream, includeUsage = %v, %v, want %v, %v", got.stream, got.includeUsage, tt.wantStream, tt.wantIncludeUsage)
			}
		})
	}
}

func TestParseChatErrors(t *testing.T) {
	tests := []struct {
		name      string
		give      string
		wantParam string
		wantMsg   string // a substring of the message
	}{
		{"empty body", ``, "", "the request body is empty"},
		{"blank body", " \n ", "", "the request body is empty"},
		{"not an object", `[1]`, "", "must be a JSON object, got array"},
		{"syntax error position", "{\n  \"model\": \"m\",\n  \"messages\": [}\n}", "", "invalid character '}' looking for beginning of value (line 3, column 16, byte offset 33)"},
		{"truncated", `{"model":"m"`, "", "not valid JSON: unexpected end of JSON input"},
		{"image part", `{"model":"m","messages":[{"role":"system","content":"s"},{"role":"user","content":"x"},` +
			`{"role":"user","content":[{"type":"text","text":"look"},{"type":"image_url","image_url":{"url":"http://x/y.png"}}]}]}`,
			"messages[2].content[1].type", `messages[2].content[1].type: "image_url" is not supported`},
		{"audio part", `{"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{}}]}]}`,
			"messages[0].content[0].type", `"input_audio" is not supported`},
		{"file part", `{"model":"m","messages":[{"role":"user","content":[{"type":"file","file":{}}]}]}`,
			"messages[0].content[0].type", `"file" is not supported`},
		{"part without type", `{"model":"m","messages":[{"role":"user","content":[{"text":"x"}]}]}`,
			"messages[0].content[0].type", "is required"},
		{"text part without text", `{"model":"m","messages":[{"role":"user","content":[{"type":"text"}]}]}`,
			"messages[0].content[0].text", "is required"},
		{"part not an object", `{"model":"m","messages":[{"role":"user","content":["x"]}]}`,
			"messages[0].content[0]", "content part object"},
		{"content a number", `{"model":"m","messages":[{"role":"user","content":5}]}`,
			"messages[0].content", "must be a string, an array of content parts or null"},
		{"message not an object", `{"model":"m","messages":["hi"]}`, "messages[0]", "must be an object"},
		{"message null", `{"model":"m","messages":[null]}`, "messages[0]", "must be an object"},
		{"role wrong type", `{"model":"m","messages":[{"role":"user"},{"role":1}]}`, "messages[1].role", "expected a string, got number"},
		{"messages not an array", `{"model":"m","messages":"hi"}`, "messages", "expected an array, got string"},
		{"function role", `{"model":"m","messages":[{"role":"function","name":"f","content":"x"}]}`, "messages[0].role", `"tool"`},
		{"legacy function_call in message", `{"model":"m","messages":[{"role":"assistant","function_call":{"name":"f","arguments":"{}"}}]}`,
			"messages[0].function_call", "use tool_calls"},
		{"legacy functions", `{"model":"m","functions":[{"name":"f"}]}`, "functions", "use tools"},
		{"legacy function_call", `{"model":"m","function_call":"auto"}`, "function_call", "use tool_choice"},
		{"n=2", `{"model":"m","n":2}`, "n", "only n=1 is supported, got 2"},
		{"n=0", `{"model":"m","n":0}`, "n", "only n=1 is supported, got 0"},
		{"max_tokens too big", `{"model":"m","max_tokens":3000000000}`, "max_tokens", "must be at most 2147483647"},
		{"max_tokens negative", `{"model":"m","max_completion_tokens":-1}`, "max_completion_tokens", "must not be negative"},
		{"max_tokens fractional", `{"model":"m","max_tokens":1.5}`, "max_tokens", "expected an integer, got number 1.5"},
		{"temperature a string", `{"model":"m","temperature":"hot"}`, "temperature", "expected a number, got string"},
		{"metadata value not a string", `{"model":"m","metadata":{"k":1}}`, "metadata", "expected a string, got number"},
		{"stop a number", `{"model":"m","stop":1}`, "stop", "must be a string, an array of strings or null"},
		{"stop array of numbers", `{"model":"m","stop":[1]}`, "stop", "expected a string, got number"},
		{"custom tool", `{"model":"m","tools":[{"type":"custom","custom":{"name":"x"}}]}`, "tools[0].type", `"custom" is not supported`},
		{"tool without function", `{"model":"m","tools":[{"type":"function"}]}`, "tools[0].function", "is required"},
		{"tool parameters not an object", `{"model":"m","tools":[{"type":"function","function":{"name":"f","parameters":"x"}}]}`,
			"tools[0].function.parameters", "must be a JSON Schema object"},
		{"tool name wrong type", `{"model":"m","tools":[{"function":{"name":"f"}},{"function":{"name":5}}]}`,
			"tools[1].function.name", "expected a string, got number"},
		{"tool_choice unknown string", `{"model":"m","tool_choice":"any"}`, "tool_choice", `got "any"`},
		{"tool_choice allowed_tools", `{"model":"m","tool_choice":{"type":"allowed_tools","allowed_tools":{}}}`, "tool_choice.type", `"allowed_tools" is not supported`},
		{"tool_choice function without name", `{"model":"m","tool_choice":{"type":"function","function":{}}}`, "tool_choice.function.name", "is required"},
		{"tool_choice a number", `{"model":"m","tool_choice":1}`, "tool_choice", "must be"},
		{"tool call custom", `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"custom","custom":{}}]}]}`,
			"messages[0].tool_calls[0].type", `"custom" is not supported`},
		{"tool call arguments object", `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","function":{"name":"f","arguments":{}}}]}]}`,
			"messages[0].tool_calls[0].function.arguments", "expected a string, got object"},
		{"tool call without function", `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c"}]}]}`,
			"messages[0].tool_calls[0].function", "is required"},
		{"tool call not an object", `{"model":"m","messages":[{"role":"assistant","tool_calls":[1]}]}`,
			"messages[0].tool_calls[0]", "must be an object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseChat([]byte(tt.give))
			if err == nil {
				t.Fatalf("parseChat() = %v, want an error", got.req)
			}
			if err.status != http.StatusBadRequest || err.Type != typeInvalidRequest {
				t.Errorf("parseChat() error status, type = %d, %q, want 400, %q", err.status, err.Type, typeInvalidRequest)
			}
			if err.Param != tt.wantParam {
				t.Errorf("parseChat() error param = %q, want %q", err.Param, tt.wantParam)
			}
			if !strings.Contains(err.Message, tt.wantMsg) {
				t.Errorf("parseChat() error message = %q, want it to contain %q", err.Message, tt.wantMsg)
			}
		})
	}
}

// fastBodies are request bodies that parseChatFast must read as
// parseChatJSON does, each marked with whether parseChatFast reads them
// itself or leaves them to parseChatJSON.
var fastBodies = []struct {
	name string
	give string
	fast bool
}{
	{"bench short", `{"messages":[{"role":"user","content":"hi"}],"model":"gpt-4o-mini","max_tokens":256,"temperature":0.3}`, true},
	{"bench tool", benchRequest + `}`, true},
	{"bench agent", benchAgentRequest, true},
	{"bench stream", benchRequest + `,"stream":true,"stream_options":{"include_usage":true}}`, true},
	{"every field", `{"model":"smart","messages":[{"role":"system","content":"be brief"},` +
		`{"role":"developer","content":[{"type":"text","text":"no "},{"type":"text","text":"lists"}]},` +
		`{"role":"user","content":"weather?","name":"ann"},` +
		`{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Oslo\"}"}}]},` +
		`{"role":"tool","tool_call_id":"call_1","content":[{"type":"text","text":"12C"}]},` +
		`{"role":"assistant","content":[{"type":"refusal","refusal":"I can't"}]}],` +
		`"max_tokens":100,"temperature":0.2,"top_p":0.9,"stop":["\n\n","END"],` +
		`"tools":[{"type":"function","function":{"name":"get_weather","description":"Weather by city","strict":true,` +
		`"parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}],` +
		`"tool_choice":{"type":"function","function":{"name":"get_weather"}},"user":"u-42","metadata":{"team":"search"},` +
		`"n":1,"stream":true,"stream_options":{"include_usage":true}}`, true},
	{"max_completion_tokens wins", `{"model":"m","max_tokens":3000000000,"max_completion_tokens":20}`, true},
	{"max_tokens zero", `{"model":"m","max_completion_tokens":0}`, true},
	{"stop string, tool choice string", `{"model":"m","stop":"END","tool_choice":"required"}`, true},
	{"nulls", `{"model":"m","messages":null,"max_tokens":null,"max_completion_tokens":null,"temperature":null,"top_p":null,"stop":null,` +
		`"tools":null,"tool_choice":null,"n":null,"stream":null,"stream_options":null,"metadata":null,"functions":null,"function_call":null,"user":null,"safety_identifier":null}`, true},
	{"nulls in members", `{"model":"m","messages":[{"role":null,"content":null,"name":null,"tool_calls":null,"tool_call_id":null,"function_call":null},` +
		`{"role":"assistant","tool_calls":[{"id":null,"type":null,"function":{"name":null,"arguments":null}}]},` +
		`{"role":"user","content":[{"type":"text","text":"x","refusal":null}]}],` +
		`"tools":[{"type":null,"function":{"name":"f","description":null,"parameters":null,"strict":null}}],"stream_options":{"include_usage":null}}`, true},
	{"ignored fields", `{"model":"m","presence_penalty":0.5,"logit_bias":{"50256":-100},"seed":7,"response_format":{"type":"json_object"},` +
		`"parallel_tool_calls":false,"logprobs":true,"something_new":{"nested":[1,2,{"a":[]}]}}`, true},
	{"safety_identifier", `{"model":"m","safety_identifier":"hashed-user"}`, true},
	{"user wins over safety_identifier", `{"model":"m","safety_identifier":"hashed-user","user":"u"}`, true},
	{"include_usage without stream", `{"model":"m","stream":false,"stream_options":{"include_usage":true,"other":1}}`, true},
	{"empty arrays and objects", `{"model":"m","messages":[{"role":"user","content":[],"tool_calls":[]}],"stop":[],"tools":[],"metadata":{}}`, true},
	{"tool without type or parameters", `{"model":"m","tools":[{"function":{"name":"now"}}],"tool_choice":"none"}`, true},
	{"tool call without type", `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","function":{}}]}]}`, true},
	{"parameters of every kind", `{"model":"m","tools":[{"function":{"name":"f","parameters":{"a":1.5,"b":-0,"c":1e300,"d":true,"e":false,"f":null,` +
		`"g":"s\u00e9\ud83d","h":[],"i":[1,[2,[3]]],"j":{},"k":{"l":{"m":"n"}},"a":"later wins"}}}]}`, true},
	{"escapes and unicode", `{"model":"m\u00e9","messages":[{"role":"user","content":"line\nnext \"q\" \\ \/ \u2028 é漢字🙂 \ud83d alone"}],` +
		`"stop":["\u0000"],"metadata":{"k":"v\tw"},"tool_choice":"\u0061uto"}`, true},
	{"invalid UTF-8 in strings", "{\"model\":\"m\xff\",\"messages\":[{\"role\":\"user\",\"content\":\"a\xc3(b\"}]}", true},
	{"whitespace", " \n{ \"model\" : \"m\" , \"messages\" : [ { \"role\" : \"user\" , \"content\" : \"x\" } ] }\r\n\t", true},
	{"repeated metadata key", `{"model":"m","metadata":{"k":"a","k":"b"}}`, true},

	// Left to parseChatJSON, which accepts them.
	{"key case", `{"Model":"m","MESSAGES":[{"Role":"user","content":"x"}]}`, false},
	{"repeated member", `{"model":"a","model":"b"}`, false},
	{"repeated stream_options merge", `{"model":"m","stream":true,"stream_options":{"include_usage":true},"stream_options":{}}`, false},
	{"escaped key", `{"\u006dodel":"m"}`, false},
	{"escaped parameters key", `{"model":"m","tools":[{"function":{"name":"f","parameters":{"\u0061":1}}}]}`, false},
	{"invalid UTF-8 in parameters key", "{\"model\":\"m\",\"tools\":[{\"function\":{\"name\":\"f\",\"parameters\":{\"a\xff\":1}}}]}", false},
	{"invalid UTF-8 in metadata key", "{\"model\":\"m\",\"metadata\":{\"a\xff\":\"v\"}}", false},
	{"metadata null value", `{"model":"m","metadata":{"k":null}}`, false},
	{"stop null element", `{"model":"m","stop":["a",null]}`, false},
	{"deep parameters", `{"model":"m","tools":[{"function":{"name":"f","parameters":{"a":` + strings.Repeat("[", 70) + strings.Repeat("]", 70) + `}}}]}`, false},
	{"null body", `null`, false},

	// Errors, from parseChatJSON.
	{"not an object", `[1]`, false},
	{"syntax error", "{\n  \"model\": \"m\",\n  \"messages\": [}\n}", false},
	{"trailing data", `{"model":"m"} {}`, false},
	{"image part", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"http://x/y.png"}}]}]}`, false},
	{"part without type", `{"model":"m","messages":[{"role":"user","content":[{"text":"x"}]}]}`, false},
	{"text part without text", `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":null}]}]}`, false},
	{"refusal part without refusal", `{"model":"m","messages":[{"role":"user","content":[{"type":"refusal","text":"x"}]}]}`, false},
	{"content a number", `{"model":"m","messages":[{"role":"user","content":5}]}`, false},
	{"message null", `{"model":"m","messages":[null]}`, false},
	{"function role", `{"model":"m","messages":[{"role":"function","content":"x"}]}`, false},
	{"legacy function_call in message", `{"model":"m","messages":[{"role":"assistant","function_call":{"name":"f"}}]}`, false},
	{"legacy functions", `{"model":"m","functions":[]}`, false},
	{"legacy function_call", `{"model":"m","function_call":"auto"}`, false},
	{"n=2", `{"model":"m","n":2}`, false},
	{"max_tokens too big", `{"model":"m","max_tokens":3000000000}`, false},
	{"max_tokens negative", `{"model":"m","max_completion_tokens":-1}`, false},
	{"max_tokens fractional", `{"model":"m","max_tokens":1.5}`, false},
	{"temperature a string", `{"model":"m","temperature":"hot"}`, false},
	{"temperature out of range", `{"model":"m","temperature":1e400}`, false},
	{"stream a string", `{"model":"m","stream":"yes"}`, false},
	{"custom tool", `{"model":"m","tools":[{"type":"custom","custom":{"name":"x"}}]}`, false},
	{"tool without function", `{"model":"m","tools":[{"type":"function"}]}`, false},
	{"tool function null", `{"model":"m","tools":[{"type":"function","function":null}]}`, false},
	{"parameters not an object", `{"model":"m","tools":[{"function":{"name":"f","parameters":"x"}}]}`, false},
	{"tool_choice unknown", `{"model":"m","tool_choice":"any"}`, false},
	{"tool_choice without name", `{"model":"m","tool_choice":{"type":"function","function":{}}}`, false},
	{"tool_choice a number", `{"model":"m","tool_choice":1}`, false},
	{"tool call custom", `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"custom"}]}]}`, false},
	{"tool call without function", `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c"}]}]}`, false},
	{"tool call arguments object", `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","function":{"name":"f","arguments":{}}}]}]}`, false},
}

func TestParseChatFast(t *testing.T) {
	for _, tt := range fastBodies {
		t.Run(tt.name, func(t *testing.T) {
			_, ok := parseChatFast([]byte(tt.give))
			if ok != tt.fast {
				t.Errorf("parseChatFast() ok = %v, want %v", ok, tt.fast)
			}
			checkParseFast(t, []byte(tt.give))
		})
	}
}

// checkParseFast checks that what parseChatFast accepts, parseChatJSON
// accepts too and reads the same way.
func checkParseFast(t *testing.T, body []byte) {
	t.Helper()
	got, ok := parseChatFast(body)
	if !ok {
		return
	}
	want, err := parseChatJSON(body)
	if err != nil {
		t.Fatalf("parseChatFast(%q) accepts a body parseChatJSON rejects: %v", body, err)
	}
	if diff := cmp.Diff(want.req, got.req, protocmp.Transform()); diff != "" {
		t.Errorf("parseChatFast(%q) request mismatch (-parseChatJSON +parseChatFast):\n%s", body, diff)
	}
	if got.stream != want.stream || got.includeUsage != want.includeUsage {
		t.Errorf("parseChatFast(%q) stream, includeUsage = %v, %v, want %v, %v", body, got.stream, got.includeUsage, want.stream, want.includeUsage)
	}
}

func FuzzParseChatFast(f *testing.F) {
	for _, tt := range fastBodies {
		f.Add(tt.give)
	}
	f.Fuzz(func(t *testing.T, in string) {
		checkParseFast(t, []byte(in))
	})
}
