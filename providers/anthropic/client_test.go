package anthropic

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/llmgateway/llmgateway/llm"
	"github.com/llmgateway/llmgateway/providers/internal/providertest"
)

func TestNewConfigErrors(t *testing.T) {
	tests := []struct {
		name    string
		give    Config
		wantErr string // a fragment of the error
	}{
		{"no name", Config{}, "Name is empty"},
		{"relative base URL", Config{Name: "x", BaseURL: "api.anthropic.com"}, "not an absolute http(s) URL"},
		{"wrong scheme", Config{Name: "x", BaseURL: "ftp://api.anthropic.com"}, "not an absolute http(s) URL"},
		{"unparsable base URL", Config{Name: "x", BaseURL: "http://[::1"}, "not an absolute http(s) URL"},
		{"user info", Config{Name: "x", BaseURL: "https://key@api.anthropic.com"}, "user info"},
		{"endpoint given as base", Config{Name: "x", BaseURL: "https://api.anthropic.com/v1/messages/"}, "without /v1/messages"},
		{"version path given", Config{Name: "x", BaseURL: "https://api.anthropic.com/v1"}, "ends in /v1"},
		{"negative timeout", Config{Name: "x", Timeout: -time.Second}, "Timeout is -1s"},
		{"negative default max tokens", Config{Name: "x", DefaultMaxTokens: -1}, "DefaultMaxTokens is -1"},
		{"version with newline", Config{Name: "x", Version: "2023-06-01\n"}, "Version"},
		{"bad header name", Config{Name: "x", Headers: map[string]string{"Bad Header": "v"}}, `"Bad Header" is not a valid HTTP header name`},
		{"header value with newline", Config{Name: "x", Headers: map[string]string{"X-A": "v\r\nX-B: w"}}, "control characters"},
		{"header conflicts with APIKey", Config{Name: "x", APIKey: "k", Headers: map[string]string{"X-API-Key": "j"}}, "which APIKey already sets"},
		{"header sets the version", Config{Name: "x", Headers: map[string]string{"anthropic-version": "2024-01-01"}}, "set Version instead"},
		{"APIKey with trailing newline", Config{Name: "x", APIKey: "sk-ant-abc\n"}, "trailing newline"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.give)
			providertest.WantNewError(t, tt.give, c, err, tt.wantErr)
		})
	}
}

func TestNewDefaults(t *testing.T) {
	tests := []struct {
		name          string
		give          Config
		wantURL       string
		wantMaxTokens int
		wantHeader    http.Header
	}{
		{
			name:          "defaults",
			give:          Config{Name: "anthropic", APIKey: "sk-ant-k"},
			wantURL:       "https://api.anthropic.com/v1/messages",
			wantMaxTokens: 4096,
			wantHeader:    http.Header{"X-Api-Key": {"sk-ant-k"}, "Anthropic-Version": {"2023-06-01"}},
		},
		{
			name:          "everything set",
			give:          Config{Name: "proxy", BaseURL: "http://127.0.0.1:8080/anthropic/", Version: "2024-10-22", DefaultMaxTokens: 1024, Headers: map[string]string{"anthropic-beta": "prompt-caching-2024-07-31", "Authorization": "Bearer t"}},
			wantURL:       "http://127.0.0.1:8080/anthropic/v1/messages",
			wantMaxTokens: 1024,
			wantHeader:    http.Header{"Anthropic-Version": {"2024-10-22"}, "Anthropic-Beta": {"prompt-caching-2024-07-31"}, "Authorization": {"Bearer t"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.give)
			if err != nil {
				t.Fatalf("New(%+v) error = %v", tt.give, err)
			}
			defer c.CloseIdleConnections()
			if c.url != tt.wantURL || c.maxTokens != tt.wantMaxTokens {
				t.Errorf("New(%+v): url %q, max tokens %d; want %q, %d", tt.give, c.url, c.maxTokens, tt.wantURL, tt.wantMaxTokens)
			}
			if len(c.call.Header()) != len(tt.wantHeader) {
				t.Errorf("New(%+v): headers %v, want %v", tt.give, c.call.Header(), tt.wantHeader)
			}
			for k, v := range tt.wantHeader {
				if got := c.call.Header().Get(k); got != v[0] {
					t.Errorf("New(%+v): header %s = %q, want %q", tt.give, k, got, v[0])
				}
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestRequestBody(t *testing.T) {
	weatherSchema := json.RawMessage(`{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}`)
	tools := []llm.Tool{
		{Name: "get_weather", Description: "Get the current weather in a given location", Parameters: weatherSchema, Strict: ptr(true)},
		{Name: "get_time"},
	}
	toolsJSON := `[
		{"name":"get_weather","description":"Get the current weather in a given location","input_schema":{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}},
		{"name":"get_time","input_schema":{"type":"object"}}]`
	withTools := func(mode llm.ToolChoiceMode, name string) *llm.Request {
		r := simpleRequest()
		r.Tools = tools
		r.ToolChoice = &llm.ToolChoice{Mode: mode, Name: name}
		return r
	}
	tests := []struct {
		name       string
		give       *llm.Request
		giveStream bool
		giveConfig Config
		want       string
	}{
		{
			name: "plain text gets the default max tokens",
			give: simpleRequest(),
			want: `{"model":"claude-sonnet-4-5","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"Hello, Claude"}]}]}`,
		},
		{
			name:       "configured default max tokens",
			give:       simpleRequest(),
			giveConfig: Config{DefaultMaxTokens: 1000},
			want:       `{"model":"claude-sonnet-4-5","max_tokens":1000,"messages":[{"role":"user","content":[{"type":"text","text":"Hello, Claude"}]}]}`,
		},
		{
			name: "system and developer prompts joined",
			give: &llm.Request{Model: "m", Messages: []llm.Message{
				{Role: llm.RoleSystem, Content: "You are a pirate."},
				{Role: llm.RoleDeveloper, Content: "Answer in one line."},
				{Role: llm.RoleUser, Content: "Hi <there> & you", Name: "alice"},
				{Role: llm.RoleSystem, Content: "Never mention the weather."},
				{Role: llm.RoleSystem},
			}},
			want: `{"model":"m","max_tokens":4096,"system":"You are a pirate.\n\nAnswer in one line.\n\nNever mention the weather.",
				"messages":[{"role":"user","content":[{"type":"text","text":"Hi <there> & you"}]}]}`,
		},
		{
			name: "multi-turn",
			give: &llm.Request{Model: "m", Messages: []llm.Message{
				{Role: llm.RoleUser, Content: "Hello there."},
				{Role: llm.RoleAssistant, Content: "Hi, I'm Claude. How can I help you?"},
				{Role: llm.RoleUser, Content: "Can you explain LLMs in plain English?"},
			}},
			want: `{"model":"m","max_tokens":4096,"messages":[
				{"role":"user","content":[{"type":"text","text":"Hello there."}]},
				{"role":"assistant","content":[{"type":"text","text":"Hi, I'm Claude. How can I help you?"}]},
				{"role":"user","content":[{"type":"text","text":"Can you explain LLMs in plain English?"}]}]}`,
		},
		{
			name: "consecutive same-role messages merged, empty assistant turn dropped",
			give: &llm.Request{Model: "m", Messages: []llm.Message{
				{Role: llm.RoleUser, Content: "one"},
				{Role: llm.RoleAssistant},
				{Role: llm.RoleUser, Content: "two"},
				{Role: llm.RoleAssistant, Content: "a"},
				{Role: llm.RoleAssistant, Content: "b"},
				{Role: llm.RoleUser, Content: "three"},
			}},
			want: `{"model":"m","max_tokens":4096,"messages":[
				{"role":"user","content":[{"type":"text","text":"one"},{"type":"text","text":"two"}]},
				{"role":"assistant","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},
				{"role":"user","content":[{"type":"text","text":"three"}]}]}`,
		},
		{
			name: "stop, temperature, top_p, max_tokens and user",
			give: &llm.Request{
				Model:       "m",
				Messages:    []llm.Message{{Role: llm.RoleUser, Content: "x"}},
				MaxTokens:   256,
				Temperature: ptr(0.0),
				TopP:        ptr(0.9),
				Stop:        []string{"\n\nHuman:", "", "END"},
				User:        "13803d75-b4b5-4c3e-b2a2-6f21399b021b",
				Metadata:    map[string]string{"team": "a"},
			},
			want: `{"model":"m","max_tokens":256,"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}],
				"stop_sequences":["\n\nHuman:","END"],"temperature":0,"top_p":0.9,"metadata":{"user_id":"13803d75-b4b5-4c3e-b2a2-6f21399b021b"}}`,
		},
		{
			name: "temperature above the API's maximum is clamped",
			give: &llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Content: "x"}}, Temperature: ptr(1.7)},
			want: `{"model":"m","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}],"temperature":1}`,
		},
		{
			name: "tools and tool choice auto",
			give: withTools(llm.ToolChoiceAuto, ""),
			want: `{"model":"claude-sonnet-4-5","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"Hello, Claude"}]}],
				"tools":` + toolsJSON + `,"tool_choice":{"type":"auto"}}`,
		},
		{
			name: "tool choice required",
			give: withTools(llm.ToolChoiceRequired, ""),
			want: `{"model":"claude-sonnet-4-5","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"Hello, Claude"}]}],
				"tools":` + toolsJSON + `,"tool_choice":{"type":"any"}}`,
		},
		{
			name: "tool choice function",
			give: withTools(llm.ToolChoiceFunction, "get_weather"),
			want: `{"model":"claude-sonnet-4-5","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"Hello, Claude"}]}],
				"tools":` + toolsJSON + `,"tool_choice":{"type":"tool","name":"get_weather"}}`,
		},
		{
			name: "tool choice none",
			give: withTools(llm.ToolChoiceNone, ""),
			want: `{"model":"claude-sonnet-4-5","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"Hello, Claude"}]}],
				"tools":` + toolsJSON + `,"tool_choice":{"type":"none"}}`,
		},
		{
			name: "tool choice auto without tools is left out",
			give: &llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Content: "x"}}, ToolChoice: &llm.ToolChoice{Mode: llm.ToolChoiceAuto}},
			want: `{"model":"m","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}]}`,
		},
		{
			name: "tool call and tool results",
			give: &llm.Request{
				Model: "m",
				Messages: []llm.Message{
					{Role: llm.RoleUser, Content: "Weather and time in San Francisco?"},
					{Role: llm.RoleAssistant, Content: "I'll check.", ToolCalls: []llm.ToolCall{
						{ID: "toolu_01", Name: "get_weather", Arguments: ` {"location": "San Francisco, CA"} `},
						{ID: "toolu_02", Name: "get_time"},
					}},
					{Role: llm.RoleTool, ToolCallID: "toolu_01", Content: "15 degrees"},
					{Role: llm.RoleTool, ToolCallID: "toolu_02"},
					{Role: llm.RoleUser, Content: "And in Celsius?"},
				},
				Tools: tools,
			},
			want: `{"model":"m","max_tokens":4096,"messages":[
				{"role":"user","content":[{"type":"text","text":"Weather and time in San Francisco?"}]},
				{"role":"assistant","content":[
					{"type":"text","text":"I'll check."},
					{"type":"tool_use","id":"toolu_01","name":"get_weather","input":{"location":"San Francisco, CA"}},
					{"type":"tool_use","id":"toolu_02","name":"get_time","input":{}}]},
				{"role":"user","content":[
					{"type":"tool_result","tool_use_id":"toolu_01","content":"15 degrees"},
					{"type":"tool_result","tool_use_id":"toolu_02"},
					{"type":"text","text":"And in Celsius?"}]}],
				"tools":` + toolsJSON + `}`,
		},
		{
			name: "tool results go before text in a merged user message",
			give: &llm.Request{
				Model: "m",
				Messages: []llm.Message{
					{Role: llm.RoleUser, Content: "Weather?"},
					{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "toolu_01", Name: "get_weather", Arguments: `{}`}}},
					{Role: llm.RoleUser, Content: "Hurry up."},
					{Role: llm.RoleTool, ToolCallID: "toolu_01", Content: "sunny"},
				},
			},
			want: `{"model":"m","max_tokens":4096,"messages":[
				{"role":"user","content":[{"type":"text","text":"Weather?"}]},
				{"role":"assistant","content":[{"type":"tool_use","id":"toolu_01","name":"get_weather","input":{}}]},
				{"role":"user","content":[
					{"type":"tool_result","tool_use_id":"toolu_01","content":"sunny"},
					{"type":"text","text":"Hurry up."}]}]}`,
		},
		{
			name: "final assistant prefill loses trailing whitespace",
			give: &llm.Request{Model: "m", Messages: []llm.Message{
				{Role: llm.RoleUser, Content: "What is latin for Ant? (A) Apoidea, (B) Rhopalocera, (C) Formicidae"},
				{Role: llm.RoleAssistant, Content: "The answer is ( \n"},
			}},
			want: `{"model":"m","max_tokens":4096,"messages":[
				{"role":"user","content":[{"type":"text","text":"What is latin for Ant? (A) Apoidea, (B) Rhopalocera, (C) Formicidae"}]},
				{"role":"assistant","content":[{"type":"text","text":"The answer is ("}]}]}`,
		},
		{
			name: "final whitespace-only assistant message dropped",
			give: &llm.Request{Model: "m", Messages: []llm.Message{
				{Role: llm.RoleUser, Content: "x"},
				{Role: llm.RoleAssistant, Content: "  "},
			}},
			want: `{"model":"m","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}]}`,
		},
		{
			name:       "stream",
			give:       simpleRequest(),
			giveStream: true,
			want:       `{"model":"claude-sonnet-4-5","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"Hello, Claude"}]}],"stream":true}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := suite().Exchange(t, func(url string) providertest.Provider {
				cfg := tt.giveConfig
				cfg.BaseURL = url
				return newTestClient(t, cfg)
			}, tt.give, tt.giveStream)
			providertest.JSONEqual(t, got.Body, tt.want)
		})
	}
}

func TestRequestDoesNotModifyCaller(t *testing.T) {
	srv := providertest.NewServer(t, jsonHandler(nil, 200, unaryTextBody))
	c := newTestClient(t, Config{BaseURL: srv.URL})
	temp := 1.5
	req := &llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Content: "x"}, {Role: llm.RoleAssistant, Content: "y "}}, Temperature: &temp}
	if _, err := c.Chat(providertest.Context(t), req); err != nil {
		t.Fatal(err)
	}
	if temp != 1.5 || req.Messages[1].Content != "y " {
		t.Errorf("Chat() changed the request: temperature %v, assistant content %q", temp, req.Messages[1].Content)
	}
}

func TestRequestValidation(t *testing.T) {
	msgs := []llm.Message{{Role: llm.RoleUser, Content: "x"}}
	tests := []struct {
		name    string
		give    *llm.Request
		wantErr string
	}{
		{"nil", nil, "request is nil"},
		{"no model", &llm.Request{Messages: msgs}, "no model"},
		{"no messages", &llm.Request{Model: "m"}, "no messages"},
		{"only system messages", &llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleSystem, Content: "x"}}}, "add a user message"},
		{"negative max tokens", &llm.Request{Model: "m", Messages: msgs, MaxTokens: -1}, "MaxTokens is -1"},
		{"negative temperature", &llm.Request{Model: "m", Messages: msgs, Temperature: ptr(-0.5)}, "Temperature is -0.5"},
		{"no role", &llm.Request{Model: "m", Messages: []llm.Message{{Content: "x"}}}, "message 0: message has no role"},
		{"unknown role", &llm.Request{Model: "m", Messages: []llm.Message{{Role: "function", Content: "x"}}}, `role "function" is unknown`},
		{"tool message without call id", &llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleTool, Content: "x"}}}, "message 0: tool message has no ToolCallID"},
		{"tool call without id", &llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{Name: "f"}}}}}, "tool call 0 has no ID"},
		{"tool call without name", &llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "c"}}}}}, "tool call 0 has no name"},
		{"tool calls on a user message", &llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, ToolCalls: []llm.ToolCall{{ID: "c", Name: "f"}}}}}, "only assistant messages may"},
		{"tool without name", &llm.Request{Model: "m", Messages: msgs, Tools: []llm.Tool{{}}}, "tool 0 has no name"},
		{"tool parameters not JSON", &llm.Request{Model: "m", Messages: msgs, Tools: []llm.Tool{{Name: "f", Parameters: json.RawMessage(`{"type":`)}}}, `tool "f": parameters are not valid JSON`},
		{"tool parameters not an object", &llm.Request{Model: "m", Messages: msgs, Tools: []llm.Tool{{Name: "f", Parameters: json.RawMessage(`["x"]`)}}}, `tool "f": parameters are not a JSON Schema object`},
		{"tool choice function without name", &llm.Request{Model: "m", Messages: msgs, Tools: []llm.Tool{{Name: "f"}}, ToolChoice: &llm.ToolChoice{Mode: llm.ToolChoiceFunction}}, "names none"},
		{"tool choice names an unknown tool", &llm.Request{Model: "m", Messages: msgs, Tools: []llm.Tool{{Name: "f"}}, ToolChoice: &llm.ToolChoice{Mode: llm.ToolChoiceFunction, Name: "g"}}, `names "g", which is not one of the request's tools`},
		{"tool choice required without tools", &llm.Request{Model: "m", Messages: msgs, ToolChoice: &llm.ToolChoice{Mode: llm.ToolChoiceRequired}}, "has no tools"},
		{"tool choice unknown mode", &llm.Request{Model: "m", Messages: msgs, Tools: []llm.Tool{{Name: "f"}}, ToolChoice: &llm.ToolChoice{Mode: "any"}}, `mode "any" is unknown`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { suite().Reject(t, tt.give, tt.wantErr) })
	}
}

func TestInvalidToolArguments(t *testing.T) {
	tests := []struct {
		name string
		give string
	}{
		{"not JSON", `{"location": "Paris"`},
		{"an array", `["Paris"]`},
		{"a string", `"Paris"`},
		{"null", `null`},
	}
	var rc providertest.Recorder
	srv := providertest.NewServer(t, jsonHandler(&rc, 200, unaryTextBody))
	c := newTestClient(t, Config{BaseURL: srv.URL})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := &llm.Request{Model: "m", Messages: []llm.Message{
				{Role: llm.RoleUser, Content: "Weather?"},
				{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "toolu_1", Name: "get_weather", Arguments: tt.give}}},
				{Role: llm.RoleTool, ToolCallID: "toolu_1", Content: "sunny"},
			}}
			_, err := c.Chat(providertest.Context(t), req)
			ue := providertest.WantUpstream(t, err, llm.KindBadRequest, false)
			if !strings.Contains(ue.Message, "message 1: tool call 0 (get_weather toolu_1): arguments are not a JSON object") {
				t.Errorf("Message = %q, want it to name the message, the call and the problem", ue.Message)
			}
			providertest.WantUpstream(t, providertest.ChatStreamError(t, c, req), llm.KindBadRequest, false)
		})
	}
	if n := rc.Count(); n != 0 {
		t.Errorf("the server received %d requests, want none", n)
	}
}

func TestHeaders(t *testing.T) {
	tests := []struct {
		name        string
		give        Config
		giveStream  bool
		wantHeaders map[string]string // "" means absent
	}{
		{
			name: "key, version and extra headers",
			give: Config{APIKey: "sk-ant-test", Headers: map[string]string{"anthropic-beta": "context-1m-2025-08-07", "x-title": "gw"}},
			wantHeaders: map[string]string{
				"X-Api-Key":         "sk-ant-test",
				"Anthropic-Version": "2023-06-01",
				"Anthropic-Beta":    "context-1m-2025-08-07",
				"X-Title":           "gw",
				"Content-Type":      "application/json",
				"Accept":            "application/json",
				"Authorization":     "",
			},
		},
		{
			name:        "configured version",
			give:        Config{APIKey: "k", Version: "2099-01-01"},
			wantHeaders: map[string]string{"Anthropic-Version": "2099-01-01"},
		},
		{
			name:        "no key, no x-api-key",
			give:        Config{Headers: map[string]string{"Authorization": "Bearer proxy-token"}},
			wantHeaders: map[string]string{"X-Api-Key": "", "Authorization": "Bearer proxy-token", "Anthropic-Version": "2023-06-01"},
		},
		{
			name:        "stream accepts event-stream",
			give:        Config{APIKey: "k"},
			giveStream:  true,
			wantHeaders: map[string]string{"Accept": "text/event-stream", "X-Api-Key": "k", "Anthropic-Version": "2023-06-01", "Content-Type": "application/json"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := suite().Exchange(t, func(url string) providertest.Provider {
				tt.give.BaseURL = url
				return newTestClient(t, tt.give)
			}, simpleRequest(), tt.giveStream)
			providertest.CheckHeaders(t, got.Header, tt.wantHeaders)
		})
	}
}

func TestBaseURL(t *testing.T) {
	// Each base URL is appended to the fake upstream's.
	suite().CheckBaseURLs(t, []providertest.BaseURLCase{
		{Give: "", WantPath: "/v1/messages"},
		{Give: "/", WantPath: "/v1/messages"},
		{Give: "/anthropic", WantPath: "/anthropic/v1/messages"},
		{Give: "/anthropic//", WantPath: "/anthropic/v1/messages"},
		{Give: "/anthropic?tenant=a", WantPath: "/anthropic/v1/messages", WantRawQuery: "tenant=a"},
	})
}
