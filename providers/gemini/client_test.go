package gemini

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
		name     string
		give     Config
		giveOpts []Option
		wantErr  string // a fragment of the error
	}{
		{"no name", Config{APIKey: "k"}, nil, "Name is empty"},
		{"default base URL without key", Config{Name: "x"}, nil, "APIKey is empty"},
		{"Gemini API base URL without key", Config{Name: "x", BaseURL: "https://generativelanguage.googleapis.com/"}, nil, "APIKey is empty"},
		{"relative base URL", Config{Name: "x", BaseURL: "generativelanguage.googleapis.com"}, nil, "not an absolute http(s) URL"},
		{"wrong scheme", Config{Name: "x", BaseURL: "ftp://generativelanguage.googleapis.com"}, nil, "not an absolute http(s) URL"},
		{"unparsable base URL", Config{Name: "x", BaseURL: "http://[::1"}, nil, "not an absolute http(s) URL"},
		{"user info", Config{Name: "x", BaseURL: "https://u:p@generativelanguage.googleapis.com"}, nil, "user info"},
		{"key in the URL", Config{Name: "x", BaseURL: "https://generativelanguage.googleapis.com?key=AIza"}, nil, "give the key as APIKey"},
		{"version in base URL", Config{Name: "x", BaseURL: "https://generativelanguage.googleapis.com/v1beta/"}, nil, "includes the API version or a model path"},
		{"model path in base URL", Config{Name: "x", BaseURL: "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"}, nil, "includes the API version or a model path"},
		{"other version in base URL", Config{Name: "x", BaseURL: "https://proxy.example/v1"}, []Option{WithAPIVersion("v1")}, "includes the API version"},
		{"bad API version", Config{Name: "x", APIKey: "k"}, []Option{WithAPIVersion("v1beta/../x")}, `API version "v1beta/../x"`},
		{"empty API version", Config{Name: "x", APIKey: "k"}, []Option{WithAPIVersion("")}, `API version ""`},
		{"negative timeout", Config{Name: "x", APIKey: "k", Timeout: -time.Second}, nil, "Timeout is -1s"},
		{"negative default max tokens", Config{Name: "x", APIKey: "k", DefaultMaxTokens: -1}, nil, "DefaultMaxTokens is -1"},
		{"bad header name", Config{Name: "x", APIKey: "k", Headers: map[string]string{"Bad Header": "v"}}, nil, `"Bad Header" is not a valid HTTP header name`},
		{"header value with newline", Config{Name: "x", APIKey: "k", Headers: map[string]string{"X-A": "v\r\nX-B: w"}}, nil, "control characters"},
		{"header conflicts with APIKey", Config{Name: "x", APIKey: "k", Headers: map[string]string{"x-goog-api-key": "j"}}, nil, "which APIKey already sets"},
		{"APIKey with trailing newline", Config{Name: "x", APIKey: "AIza-abc\n"}, nil, "trailing newline"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.give, tt.giveOpts...)
			providertest.WantNewError(t, tt.give, c, err, tt.wantErr)
		})
	}
}

func TestNewAccepts(t *testing.T) {
	tests := []struct {
		name     string
		give     Config
		giveOpts []Option
	}{
		{"default base URL with key", Config{Name: "gemini", APIKey: "AIza-key"}, nil},
		{"proxy without key", Config{Name: "proxy", BaseURL: "http://localhost:8080/google"}, nil},
		{"proxy path", Config{Name: "proxy", BaseURL: "https://gateway.ai.cloudflare.com/v1/acct/gw/google-ai-studio"}, nil},
		{"v1 with v1beta-looking root", Config{Name: "x", APIKey: "k", BaseURL: "https://proxy.example/v1beta"}, []Option{WithAPIVersion("v1")}},
		{"key header given as a header without APIKey", Config{Name: "x", BaseURL: "https://proxy.example", Headers: map[string]string{"X-Goog-Api-Key": "k"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.give, tt.giveOpts...); err != nil {
				t.Errorf("New(%+v) error = %v, want nil", tt.give, err)
			}
		})
	}
}

func TestEndpoint(t *testing.T) {
	tests := []struct {
		name       string
		giveBase   string // appended to the server URL
		giveModel  string
		giveStream bool
		giveOpts   []Option
		wantPath   string // escaped
		wantQuery  string
	}{
		{name: "unary", giveModel: "gemini-2.5-flash", wantPath: "/v1beta/models/gemini-2.5-flash:generateContent"},
		{name: "stream", giveModel: "gemini-2.5-flash", giveStream: true, wantPath: "/v1beta/models/gemini-2.5-flash:streamGenerateContent", wantQuery: "alt=sse"},
		{name: "model given as resource name", giveModel: "models/gemini-2.0-flash-001", wantPath: "/v1beta/models/gemini-2.0-flash-001:generateContent"},
		{name: "tuned model", giveModel: "tunedModels/my-model-abc", wantPath: "/v1beta/tunedModels/my-model-abc:generateContent"},
		{name: "trailing slash", giveBase: "/", giveModel: "m", wantPath: "/v1beta/models/m:generateContent"},
		{name: "proxy root", giveBase: "/google-ai-studio//", giveModel: "m", wantPath: "/google-ai-studio/v1beta/models/m:generateContent"},
		{name: "query kept", giveBase: "/root?tenant=a", giveModel: "m", giveStream: true, wantPath: "/root/v1beta/models/m:streamGenerateContent", wantQuery: "alt=sse&tenant=a"},
		{name: "alt in base query replaced for streams", giveBase: "?alt=json", giveModel: "m", giveStream: true, wantPath: "/v1beta/models/m:streamGenerateContent", wantQuery: "alt=sse"},
		{name: "API version", giveModel: "m", giveOpts: []Option{WithAPIVersion("v1")}, wantPath: "/v1/models/m:generateContent"},
		{name: "unicode model escaped", giveModel: "modèle", wantPath: "/v1beta/models/mod%C3%A8le:generateContent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := simpleRequest()
			req.Model = tt.giveModel
			got := suite().Exchange(t, func(url string) providertest.Provider {
				return newTestClient(t, Config{BaseURL: url + tt.giveBase, APIKey: "k"}, tt.giveOpts...)
			}, req, tt.giveStream)
			if got.Method != http.MethodPost || got.RawPath != tt.wantPath || got.RawQuery != tt.wantQuery {
				t.Errorf("request = %s %s?%s, want POST %s?%s", got.Method, got.RawPath, got.RawQuery, tt.wantPath, tt.wantQuery)
			}
		})
	}
}

func TestRequestBody(t *testing.T) {
	weatherSchema := json.RawMessage(`{"type":"object","properties":{"location":{"type":"string","description":"City"}},"required":["location"],"additionalProperties":false,"$schema":"http://json-schema.org/draft-07/schema#"}`)
	tests := []struct {
		name       string
		give       *llm.Request
		giveStream bool
		giveOpts   []Option
		giveMax    int // Config.DefaultMaxTokens
		want       string
	}{
		{
			name:    "default max tokens",
			give:    simpleRequest(),
			giveMax: 512,
			want:    `{"contents":[{"role":"user","parts":[{"text":"Hello!"}]}],"generationConfig":{"maxOutputTokens":512}}`,
		},
		{
			name:    "request max tokens win over the default",
			give:    &llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Content: "Hello!"}}, MaxTokens: 64},
			giveMax: 512,
			want:    `{"contents":[{"role":"user","parts":[{"text":"Hello!"}]}],"generationConfig":{"maxOutputTokens":64}}`,
		},
		{
			name: "plain text",
			give: simpleRequest(),
			want: `{"contents":[{"role":"user","parts":[{"text":"Hello!"}]}]}`,
		},
		{
			name:       "plain text streamed",
			give:       simpleRequest(),
			giveStream: true,
			want:       `{"contents":[{"role":"user","parts":[{"text":"Hello!"}]}]}`,
		},
		{
			name: "system prompt",
			give: &llm.Request{Model: "m", Messages: []llm.Message{
				{Role: llm.RoleSystem, Content: "You are a cat."},
				{Role: llm.RoleDeveloper, Content: "Your name is Neko."},
				{Role: llm.RoleUser, Content: "Hi <there> & you"},
				{Role: llm.RoleSystem, Content: "Answer in French."},
			}},
			want: `{"systemInstruction":{"parts":[{"text":"You are a cat.\n\nYour name is Neko.\n\nAnswer in French."}]},
				"contents":[{"role":"user","parts":[{"text":"Hi <there> & you"}]}]}`,
		},
		{
			name: "multi-turn",
			give: &llm.Request{Model: "m", Messages: []llm.Message{
				{Role: llm.RoleUser, Content: "Hello"},
				{Role: llm.RoleAssistant, Content: "Great to meet you. What would you like to know?"},
				{Role: llm.RoleUser, Content: "I have two dogs in my house."},
				{Role: llm.RoleUser, Content: "How many paws are in my house?", Name: "alice"},
				{Role: llm.RoleAssistant},
				{Role: llm.RoleUser},
			}},
			want: `{"contents":[
				{"role":"user","parts":[{"text":"Hello"}]},
				{"role":"model","parts":[{"text":"Great to meet you. What would you like to know?"}]},
				{"role":"user","parts":[{"text":"I have two dogs in my house."},{"text":"How many paws are in my house?"}]}]}`,
		},
		{
			name: "stop temperature top_p max_tokens",
			give: &llm.Request{
				Model:       "m",
				Messages:    []llm.Message{{Role: llm.RoleUser, Content: "Tell me a story."}},
				MaxTokens:   256,
				Temperature: ptr(0.0),
				TopP:        ptr(0.9),
				Stop:        []string{"\n\n", "END"},
				User:        "user-42",
				Metadata:    map[string]string{"team": "a"},
			},
			want: `{"contents":[{"role":"user","parts":[{"text":"Tell me a story."}]}],
				"generationConfig":{"maxOutputTokens":256,"temperature":0,"topP":0.9,"stopSequences":["\n\n","END"]}}`,
		},
		{
			name: "tools and tool choice auto",
			give: &llm.Request{
				Model:    "m",
				Messages: []llm.Message{{Role: llm.RoleUser, Content: "Weather in Boston?"}},
				Tools: []llm.Tool{
					{Name: "get_weather", Description: "Get the weather", Parameters: weatherSchema, Strict: ptr(true)},
					{Name: "get_time", Parameters: json.RawMessage(`{"type":"object","properties":{}}`)},
					{Name: "ping"},
				},
				ToolChoice: &llm.ToolChoice{Mode: llm.ToolChoiceAuto},
			},
			want: `{"contents":[{"role":"user","parts":[{"text":"Weather in Boston?"}]}],
				"tools":[{"functionDeclarations":[
					{"name":"get_weather","description":"Get the weather","parameters":{"type":"object","properties":{"location":{"type":"string","description":"City"}},"required":["location"]}},
					{"name":"get_time"},
					{"name":"ping"}]}],
				"toolConfig":{"functionCallingConfig":{"mode":"AUTO"}}}`,
		},
		{
			name: "tool choice none",
			give: &llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Content: "x"}}, Tools: []llm.Tool{{Name: "f"}}, ToolChoice: &llm.ToolChoice{Mode: llm.ToolChoiceNone}},
			want: `{"contents":[{"role":"user","parts":[{"text":"x"}]}],"tools":[{"functionDeclarations":[{"name":"f"}]}],"toolConfig":{"functionCallingConfig":{"mode":"NONE"}}}`,
		},
		{
			name: "tool choice required",
			give: &llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Content: "x"}}, Tools: []llm.Tool{{Name: "f"}}, ToolChoice: &llm.ToolChoice{Mode: llm.ToolChoiceRequired}},
			want: `{"contents":[{"role":"user","parts":[{"text":"x"}]}],"tools":[{"functionDeclarations":[{"name":"f"}]}],"toolConfig":{"functionCallingConfig":{"mode":"ANY"}}}`,
		},
		{
			name: "tool choice function",
			give: &llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Content: "x"}}, Tools: []llm.Tool{{Name: "f"}, {Name: "g.v2"}}, ToolChoice: &llm.ToolChoice{Mode: llm.ToolChoiceFunction, Name: "g.v2"}},
			want: `{"contents":[{"role":"user","parts":[{"text":"x"}]}],"tools":[{"functionDeclarations":[{"name":"f"},{"name":"g.v2"}]}],
				"toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["g.v2"]}}}`,
		},
		{
			name: "tool choice auto without tools",
			give: &llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Content: "x"}}, ToolChoice: &llm.ToolChoice{Mode: llm.ToolChoiceAuto}},
			want: `{"contents":[{"role":"user","parts":[{"text":"x"}]}]}`,
		},
		{
			name: "assistant tool calls and tool results",
			give: &llm.Request{
				Model: "m",
				Messages: []llm.Message{
					{Role: llm.RoleUser, Content: "Weather in Boston and Paris?"},
					{Role: llm.RoleAssistant, Content: "Checking.", ToolCalls: []llm.ToolCall{
						{ID: "call_1", Name: "get_weather", Arguments: `{"location": "Boston"}`},
						{ID: "call_2", Name: "get_time"},
					}},
					{Role: llm.RoleTool, ToolCallID: "call_1", Content: `{"temp": 22, "unit": "C"}`},
					{Role: llm.RoleTool, ToolCallID: "call_2", Content: "noon"},
					{Role: llm.RoleUser, Content: "And Paris?"},
					{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "call_1", Name: "get_forecast", Arguments: `{"location":"Paris"}`}}},
					{Role: llm.RoleTool, ToolCallID: "call_1", Content: `[1,2]`},
					{Role: llm.RoleTool, ToolCallID: "x9", Name: "lookup", Content: ""},
				},
			},
			want: `{"contents":[
				{"role":"user","parts":[{"text":"Weather in Boston and Paris?"}]},
				{"role":"model","parts":[
					{"text":"Checking."},
					{"functionCall":{"name":"get_weather","args":{"location":"Boston"}},"thoughtSignature":"skip_thought_signature_validator"},
					{"functionCall":{"name":"get_time","args":{}}}]},
				{"role":"user","parts":[
					{"functionResponse":{"name":"get_weather","response":{"result":{"temp":22,"unit":"C"}}}},
					{"functionResponse":{"name":"get_time","response":{"result":"noon"}}},
					{"text":"And Paris?"}]},
				{"role":"model","parts":[
					{"functionCall":{"name":"get_forecast","args":{"location":"Paris"}},"thoughtSignature":"skip_thought_signature_validator"}]},
				{"role":"user","parts":[
					{"functionResponse":{"name":"get_forecast","response":{"result":[1,2]}}},
					{"functionResponse":{"name":"lookup","response":{"result":""}}}]}]}`,
		},
		{
			name:     "no thought signature",
			giveOpts: []Option{WithThoughtSignature("")},
			give: &llm.Request{Model: "m", Messages: []llm.Message{
				{Role: llm.RoleUser, Content: "x"},
				{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "c", Name: "f", Arguments: "{}"}}},
				{Role: llm.RoleTool, ToolCallID: "c", Content: "<b>ok</b>"},
			}},
			want: `{"contents":[
				{"role":"user","parts":[{"text":"x"}]},
				{"role":"model","parts":[{"functionCall":{"name":"f","args":{}}}]},
				{"role":"user","parts":[{"functionResponse":{"name":"f","response":{"result":"<b>ok</b>"}}}]}]}`,
		},
		{
			name:     "JSON Schema parameters",
			giveOpts: []Option{WithJSONSchemaParameters()},
			give: &llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Content: "x"}},
				Tools: []llm.Tool{{Name: "get_weather", Parameters: weatherSchema}}},
			want: `{"contents":[{"role":"user","parts":[{"text":"x"}]}],
				"tools":[{"functionDeclarations":[{"name":"get_weather","parametersJsonSchema":{"type":"object","properties":{"location":{"type":"string","description":"City"}},"required":["location"],"additionalProperties":false,"$schema":"http://json-schema.org/draft-07/schema#"}}]}]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := suite().Exchange(t, func(url string) providertest.Provider {
				return newTestClient(t, Config{BaseURL: url, APIKey: "k", DefaultMaxTokens: tt.giveMax}, tt.giveOpts...)
			}, tt.give, tt.giveStream)
			providertest.JSONEqual(t, got.Body, tt.want)
		})
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
		{"model with a method", &llm.Request{Model: "gemini-2.5-flash:generateContent", Messages: msgs}, "not a Gemini model name"},
		{"model with a path", &llm.Request{Model: "publishers/google/models/gemini", Messages: msgs}, "not a Gemini model name"},
		{"model with a space", &llm.Request{Model: "gemini pro", Messages: msgs}, "not a Gemini model name"},
		{"no messages", &llm.Request{Model: "m"}, "no messages"},
		{"only system messages", &llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleSystem, Content: "x"}}}, "no user or assistant message with content"},
		{"negative max tokens", &llm.Request{Model: "m", Messages: msgs, MaxTokens: -1}, "MaxTokens is -1"},
		{"too many stop sequences", &llm.Request{Model: "m", Messages: msgs, Stop: []string{"a", "b", "c", "d", "e", "f"}}, "6 stop sequences; Gemini accepts at most 5"},
		{"no role", &llm.Request{Model: "m", Messages: []llm.Message{{Content: "x"}}}, "message 0: message has no role"},
		{"unknown role", &llm.Request{Model: "m", Messages: []llm.Message{{Role: "bot", Content: "x"}}}, `message 0: role "bot" is unknown`},
		{"tool message without call id", &llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleTool, Content: "x"}}}, "message 0: tool message has no ToolCallID"},
		{"tool message answering no call", &llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Content: "x"}, {Role: llm.RoleTool, ToolCallID: "c9", Content: "x"}}}, `message 1: tool message answers call "c9", which no earlier assistant message made`},
		{"tool call without name", &llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "c"}}}}}, "message 0: tool call 0 has no name"},
		{"tool call arguments not JSON", &llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "c", Name: "f", Arguments: `{"a":`}}}}}, "message 0: tool call 0 (f): arguments \"{\\\"a\\\":\" are not valid JSON"},
		{"tool call arguments not an object", &llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "c", Name: "f", Arguments: `[1]`}}}}}, "are not a JSON object"},
		{"tool calls on a user message", &llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, ToolCalls: []llm.ToolCall{{ID: "c", Name: "f"}}}}}, "only assistant messages may"},
		{"tool without name", &llm.Request{Model: "m", Messages: msgs, Tools: []llm.Tool{{}}}, "tool 0: tool has no name"},
		{"tool name Gemini rejects", &llm.Request{Model: "m", Messages: msgs, Tools: []llm.Tool{{Name: "get weather"}}}, `tool name "get weather" is not one Gemini accepts`},
		{"tool name too long", &llm.Request{Model: "m", Messages: msgs, Tools: []llm.Tool{{Name: strings.Repeat("f", 65)}}}, "is not one Gemini accepts"},
		{"tool parameters not JSON", &llm.Request{Model: "m", Messages: msgs, Tools: []llm.Tool{{Name: "f", Parameters: json.RawMessage(`{"type":`)}}}, `tool "f": parameters are not valid JSON`},
		{"tool parameters recursive", &llm.Request{Model: "m", Messages: msgs, Tools: []llm.Tool{{Name: "f", Parameters: json.RawMessage(`{"type":"object","properties":{"n":{"$ref":"#/$defs/Node"}},"$defs":{"Node":{"type":"object","properties":{"next":{"$ref":"#/$defs/Node"}}}}}`)}}}, `is recursive ($ref "#/$defs/Node")`},
		{"tool choice function without name", &llm.Request{Model: "m", Messages: msgs, Tools: []llm.Tool{{Name: "f"}}, ToolChoice: &llm.ToolChoice{Mode: llm.ToolChoiceFunction}}, "names none"},
		{"tool choice function not among tools", &llm.Request{Model: "m", Messages: msgs, Tools: []llm.Tool{{Name: "f"}}, ToolChoice: &llm.ToolChoice{Mode: llm.ToolChoiceFunction, Name: "g"}}, `names function "g", which is not among the request's tools`},
		{"tool choice required without tools", &llm.Request{Model: "m", Messages: msgs, ToolChoice: &llm.ToolChoice{Mode: llm.ToolChoiceRequired}}, "required but the request has no tools"},
		{"tool choice unknown mode", &llm.Request{Model: "m", Messages: msgs, ToolChoice: &llm.ToolChoice{Mode: "any"}}, `mode "any" is unknown`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { suite().Reject(t, tt.give, tt.wantErr) })
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
			name: "key and extra headers",
			give: Config{APIKey: "AIza-test", Headers: map[string]string{"x-goog-user-project": "proj-1", "X-Title": "gw"}},
			wantHeaders: map[string]string{
				"X-Goog-Api-Key":      "AIza-test",
				"X-Goog-User-Project": "proj-1",
				"X-Title":             "gw",
				"Content-Type":        "application/json",
				"Accept":              "application/json",
				"Authorization":       "",
			},
		},
		{
			name:        "no key, no key header",
			give:        Config{},
			wantHeaders: map[string]string{"X-Goog-Api-Key": "", "Content-Type": "application/json"},
		},
		{
			name:        "stream accepts event-stream",
			give:        Config{APIKey: "k"},
			giveStream:  true,
			wantHeaders: map[string]string{"Accept": "text/event-stream", "X-Goog-Api-Key": "k"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := suite().Exchange(t, func(url string) providertest.Provider {
				tt.give.BaseURL = url
				return newTestClient(t, tt.give)
			}, simpleRequest(), tt.giveStream)
			providertest.CheckHeaders(t, got.Header, tt.wantHeaders)
			if tt.give.APIKey != "" && strings.Contains(got.RawPath+"?"+got.RawQuery, tt.give.APIKey) {
				t.Errorf("request URL %s?%s carries the API key", got.RawPath, got.RawQuery)
			}
		})
	}
}
