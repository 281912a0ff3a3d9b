package cohere

import (
	"encoding/json"
	"math"
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
		{"no name", Config{BaseURL: DefaultBaseURL}, "Name is empty"},
		{"relative base URL", Config{Name: "x", BaseURL: "api.cohere.com"}, "not an absolute http(s) URL"},
		{"wrong scheme", Config{Name: "x", BaseURL: "ftp://api.cohere.com"}, "not an absolute http(s) URL"},
		{"unparsable base URL", Config{Name: "x", BaseURL: "http://[::1"}, "not an absolute http(s) URL"},
		{"user info", Config{Name: "x", BaseURL: "https://key@api.cohere.com"}, "user info"},
		{"version in base URL", Config{Name: "x", BaseURL: "https://api.cohere.com/v2/"}, "without /v2"},
		{"endpoint as base URL", Config{Name: "x", BaseURL: "https://api.cohere.com/v2/chat"}, "without /v2"},
		{"negative timeout", Config{Name: "x", Timeout: -time.Second}, "Timeout is -1s"},
		{"bad header name", Config{Name: "x", Headers: map[string]string{"Bad Header": "v"}}, `"Bad Header" is not a valid HTTP header name`},
		{"header value with newline", Config{Name: "x", Headers: map[string]string{"X-Client-Name": "v\r\nX-B: w"}}, "control characters"},
		{"header conflicts with APIKey", Config{Name: "x", APIKey: "k", Headers: map[string]string{"authorization": "Bearer j"}}, "which APIKey already sets"},
		{"APIKey with trailing newline", Config{Name: "x", APIKey: "co-abc\n"}, "trailing newline"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.give)
			providertest.WantNewError(t, tt.give, c, err, tt.wantErr)
		})
	}
}

func TestNewDefaultBaseURL(t *testing.T) {
	c, err := New(Config{Name: "cohere", APIKey: "k"})
	if err != nil {
		t.Fatalf("New() error = %v", err)
	}
	if want := "https://api.cohere.com/v2/chat"; c.url != want {
		t.Errorf("chat URL = %q, want %q", c.url, want)
	}
}

func TestBaseURL(t *testing.T) {
	// Each base URL is appended to the fake upstream's.
	suite().CheckBaseURLs(t, []providertest.BaseURLCase{
		{Give: "", WantPath: "/v2/chat"},
		{Give: "/", WantPath: "/v2/chat"},
		{Give: "/proxy/cohere//", WantPath: "/proxy/cohere/v2/chat"},
		{Give: "/proxy?tenant=a", WantPath: "/proxy/v2/chat", WantRawQuery: "tenant=a"},
	})
}

func ptr[T any](v T) *T { return &v }

func TestRequestBody(t *testing.T) {
	weatherSchema := json.RawMessage(`{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}`)
	tools := []llm.Tool{
		{Name: "get_weather", Description: "Gets the weather", Parameters: weatherSchema},
		{Name: "get_time"},
	}
	const toolsJSON = `[
		{"type":"function","function":{"name":"get_weather","description":"Gets the weather","parameters":{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}}},
		{"type":"function","function":{"name":"get_time","parameters":{"type":"object","properties":{}}}}]`
	user := []llm.Message{{Role: llm.RoleUser, Content: "Weather in Madrid?"}}
	tests := []struct {
		name       string
		give       *llm.Request
		giveStream bool
		want       string
	}{
		{
			name: "plain text",
			give: simpleRequest(),
			want: `{"model":"command-a-03-2025","messages":[{"role":"user","content":"Hello!"}],"stream":false}`,
		},
		{
			name: "system prompt, developer as system, unsupported fields left out",
			give: &llm.Request{
				Model: "command-a-03-2025",
				Messages: []llm.Message{
					{Role: llm.RoleSystem, Content: "Be brief."},
					{Role: llm.RoleDeveloper, Content: "Answer in French."},
					{Role: llm.RoleUser, Content: "Hi <there> & you", Name: "alice"},
				},
				User:     "user-42",
				Metadata: map[string]string{"team": "a"},
			},
			want: `{"model":"command-a-03-2025","messages":[
				{"role":"system","content":"Be brief."},
				{"role":"system","content":"Answer in French."},
				{"role":"user","content":"Hi <there> & you"}],"stream":false}`,
		},
		{
			name: "multi-turn",
			give: &llm.Request{
				Model: "command-r-plus-08-2024",
				Messages: []llm.Message{
					{Role: llm.RoleSystem, Content: "You are helpful."},
					{Role: llm.RoleUser, Content: "Hi"},
					{Role: llm.RoleAssistant, Content: "Hello! How can I help?"},
					{Role: llm.RoleUser, Content: "Tell me a joke."},
				},
			},
			want: `{"model":"command-r-plus-08-2024","messages":[
				{"role":"system","content":"You are helpful."},
				{"role":"user","content":"Hi"},
				{"role":"assistant","content":"Hello! How can I help?"},
				{"role":"user","content":"Tell me a joke."}],"stream":false}`,
		},
		{
			name: "sampling fields",
			give: &llm.Request{
				Model:       "command-a-03-2025",
				Messages:    user,
				MaxTokens:   256,
				Temperature: ptr(0.0),
				TopP:        ptr(0.9),
				Stop:        []string{"\n\n", "END"},
			},
			want: `{"model":"command-a-03-2025","messages":[{"role":"user","content":"Weather in Madrid?"}],
				"max_tokens":256,"temperature":0,"p":0.9,"stop_sequences":["\n\n","END"],"stream":false}`,
		},
		{
			name: "top_p of 1 clamped to Cohere's maximum",
			give: &llm.Request{Model: "m", Messages: user, TopP: ptr(1.0)},
			want: `{"model":"m","messages":[{"role":"user","content":"Weather in Madrid?"}],"p":0.99,"stream":false}`,
		},
		{
			name: "top_p of 0 clamped to Cohere's minimum",
			give: &llm.Request{Model: "m", Messages: user, TopP: ptr(0.0)},
			want: `{"model":"m","messages":[{"role":"user","content":"Weather in Madrid?"}],"p":0.01,"stream":false}`,
		},
		{
			name: "tools, tool choice auto left out",
			give: &llm.Request{Model: "m", Messages: user, Tools: tools, ToolChoice: &llm.ToolChoice{Mode: llm.ToolChoiceAuto}},
			want: `{"model":"m","messages":[{"role":"user","content":"Weather in Madrid?"}],"tools":` + toolsJSON + `,"stream":false}`,
		},
		{
			name: "tool choice required",
			give: &llm.Request{Model: "m", Messages: user, Tools: tools, ToolChoice: &llm.ToolChoice{Mode: llm.ToolChoiceRequired}},
			want: `{"model":"m","messages":[{"role":"user","content":"Weather in Madrid?"}],"tools":` + toolsJSON + `,"tool_choice":"REQUIRED","stream":false}`,
		},
		{
			name: "tool choice none",
			give: &llm.Request{Model: "m", Messages: user, Tools: tools, ToolChoice: &llm.ToolChoice{Mode: llm.ToolChoiceNone}},
			want: `{"model":"m","messages":[{"role":"user","content":"Weather in Madrid?"}],"tools":` + toolsJSON + `,"tool_choice":"NONE","stream":false}`,
		},
		{
			name: "tool choice none without tools left out",
			give: &llm.Request{Model: "m", Messages: user, ToolChoice: &llm.ToolChoice{Mode: llm.ToolChoiceNone}},
			want: `{"model":"m","messages":[{"role":"user","content":"Weather in Madrid?"}],"stream":false}`,
		},
		{
			name: "tool choice function offers that tool alone and requires it",
			give: &llm.Request{Model: "m", Messages: user, Tools: tools, ToolChoice: &llm.ToolChoice{Mode: llm.ToolChoiceFunction, Name: "get_time"}},
			want: `{"model":"m","messages":[{"role":"user","content":"Weather in Madrid?"}],
				"tools":[{"type":"function","function":{"name":"get_time","parameters":{"type":"object","properties":{}}}}],
				"tool_choice":"REQUIRED","stream":false}`,
		},
		{
			name: "strict tools when every tool asks",
			give: &llm.Request{Model: "m", Messages: user, Tools: []llm.Tool{{Name: "f", Parameters: weatherSchema, Strict: ptr(true)}}},
			want: `{"model":"m","messages":[{"role":"user","content":"Weather in Madrid?"}],
				"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}}}],
				"strict_tools":true,"stream":false}`,
		},
		{
			name: "strict tools left out when one tool does not ask",
			give: &llm.Request{Model: "m", Messages: user, Tools: []llm.Tool{{Name: "f", Strict: ptr(true)}, {Name: "g", Strict: ptr(false)}}},
			want: `{"model":"m","messages":[{"role":"user","content":"Weather in Madrid?"}],
				"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{}}}},
					{"type":"function","function":{"name":"g","parameters":{"type":"object","properties":{}}}}],"stream":false}`,
		},
		{
			name: "assistant tool calls followed by tool results",
			give: &llm.Request{
				Model: "command-a-03-2025",
				Messages: []llm.Message{
					{Role: llm.RoleUser, Content: "Weather in Madrid and Brasilia?"},
					{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{
						{ID: "get_weather_p1t92w7gfgq7", Name: "get_weather", Arguments: `{"location":"Madrid"}`},
						{ID: "get_time_1", Name: "get_time"},
					}},
					{Role: llm.RoleTool, ToolCallID: "get_weather_p1t92w7gfgq7", Content: `{"temperature":{"madrid":"24C"}}`},
					{Role: llm.RoleTool, ToolCallID: "get_time_1", Content: "noon"},
					{Role: llm.RoleAssistant, Content: "Checking Brasilia.", ToolCalls: []llm.ToolCall{{ID: "get_weather_ay6nmvjgp9vn", Name: "get_weather", Arguments: `{"location":"Brasilia"}`}}},
				},
				Tools: tools[:1],
			},
			want: `{"model":"command-a-03-2025","messages":[
				{"role":"user","content":"Weather in Madrid and Brasilia?"},
				{"role":"assistant","tool_calls":[
					{"id":"get_weather_p1t92w7gfgq7","type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"Madrid\"}"}},
					{"id":"get_time_1","type":"function","function":{"name":"get_time","arguments":"{}"}}]},
				{"role":"tool","tool_call_id":"get_weather_p1t92w7gfgq7","content":"{\"temperature\":{\"madrid\":\"24C\"}}"},
				{"role":"tool","tool_call_id":"get_time_1","content":"noon"},
				{"role":"assistant","content":"Checking Brasilia.","tool_calls":[
					{"id":"get_weather_ay6nmvjgp9vn","type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"Brasilia\"}"}}]}],
				"tools":[{"type":"function","function":{"name":"get_weather","description":"Gets the weather","parameters":{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}}}],
				"stream":false}`,
		},
		{
			name:       "stream",
			give:       simpleRequest(),
			giveStream: true,
			want:       `{"model":"command-a-03-2025","messages":[{"role":"user","content":"Hello!"}],"stream":true}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := suite().Exchange(t, func(url string) providertest.Provider {
				return newTestClient(t, Config{BaseURL: url})
			}, tt.give, tt.giveStream)
			providertest.JSONEqual(t, got.Body, tt.want)
		})
	}
}

func TestRequestValidation(t *testing.T) {
	msgs := []llm.Message{{Role: llm.RoleUser, Content: "x"}}
	tools := []llm.Tool{{Name: "f"}}
	tests := []struct {
		name    string
		give    *llm.Request
		wantErr string
	}{
		{"nil", nil, "request is nil"},
		{"no model", &llm.Request{Messages: msgs}, "no model"},
		{"no messages", &llm.Request{Model: "m"}, "no messages"},
		{"negative max tokens", &llm.Request{Model: "m", Messages: msgs, MaxTokens: -1}, "MaxTokens is -1"},
		{"negative temperature", &llm.Request{Model: "m", Messages: msgs, Temperature: ptr(-0.5)}, "Temperature is -0.5"},
		{"NaN temperature", &llm.Request{Model: "m", Messages: msgs, Temperature: ptr(math.NaN())}, "Temperature is NaN"},
		{"top_p above 1", &llm.Request{Model: "m", Messages: msgs, TopP: ptr(1.5)}, "TopP is 1.5"},
		{"too many stop sequences", &llm.Request{Model: "m", Messages: msgs, Stop: []string{"a", "b", "c", "d", "e", "f"}}, "6 stop sequences; Cohere accepts at most 5"},
		{"no role", &llm.Request{Model: "m", Messages: []llm.Message{{Content: "x"}}}, "message 0: message has no role"},
		{"unknown role", &llm.Request{Model: "m", Messages: []llm.Message{{Role: "function", Content: "x"}}}, `role "function" is unknown`},
		{"tool message without call id", &llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleTool, Content: "x"}}}, "message 0: tool message has no ToolCallID"},
		{"tool call without id", &llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{Name: "f"}}}}}, "tool call 0 has no ID"},
		{"tool call without name", &llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "c"}}}}}, "tool call 0 has no name"},
		{"tool calls on a user message", &llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, ToolCalls: []llm.ToolCall{{ID: "c", Name: "f"}}}}}, "only assistant messages may"},
		{"tool without name", &llm.Request{Model: "m", Messages: msgs, Tools: []llm.Tool{{}}}, "tool 0 has no name"},
		{"tool parameters not JSON", &llm.Request{Model: "m", Messages: msgs, Tools: []llm.Tool{{Name: "f", Parameters: json.RawMessage(`{"type":`)}}}, `tool "f": parameters are not valid JSON`},
		{"tool choice required without tools", &llm.Request{Model: "m", Messages: msgs, ToolChoice: &llm.ToolChoice{Mode: llm.ToolChoiceRequired}}, "required but the request has no tools"},
		{"tool choice function without name", &llm.Request{Model: "m", Messages: msgs, Tools: tools, ToolChoice: &llm.ToolChoice{Mode: llm.ToolChoiceFunction}}, "names none"},
		{"tool choice function not among tools", &llm.Request{Model: "m", Messages: msgs, Tools: tools, ToolChoice: &llm.ToolChoice{Mode: llm.ToolChoiceFunction, Name: "g"}}, `names "g", which is not among the request's tools`},
		{"tool choice unknown mode", &llm.Request{Model: "m", Messages: msgs, ToolChoice: &llm.ToolChoice{Mode: "any"}}, `mode "any" is unknown`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { suite().Reject(t, tt.give, tt.wantErr) })
	}
}

// TestRequestNotMutated checks that building the wire request leaves the
// caller's request as it was, tool choice narrowing included.
func TestRequestNotMutated(t *testing.T) {
	req := &llm.Request{
		Model:      "m",
		Messages:   []llm.Message{{Role: llm.RoleUser, Content: "x"}},
		Tools:      []llm.Tool{{Name: "f"}, {Name: "g"}},
		ToolChoice: &llm.ToolChoice{Mode: llm.ToolChoiceFunction, Name: "g"},
		TopP:       ptr(1.0),
	}
	if _, err := buildRequest(req, false); err != nil {
		t.Fatal(err)
	}
	if len(req.Tools) != 2 || req.Tools[0].Name != "f" || req.Tools[1].Name != "g" || *req.TopP != 1 {
		t.Errorf("request after buildRequest = %+v, want it unchanged", req)
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
			name: "bearer key and extra headers",
			give: Config{APIKey: "co-test", Headers: map[string]string{"X-Client-Name": "llmgateway", "x-team": "a"}},
			wantHeaders: map[string]string{
				"Authorization": "Bearer co-test",
				"X-Client-Name": "llmgateway",
				"X-Team":        "a",
				"Content-Type":  "application/json",
				"Accept":        "application/json",
			},
		},
		{
			name:        "no key, no Authorization",
			give:        Config{},
			wantHeaders: map[string]string{"Authorization": "", "Content-Type": "application/json"},
		},
		{
			name:        "Authorization from Headers without APIKey",
			give:        Config{Headers: map[string]string{"Authorization": "Bearer proxy-token"}},
			wantHeaders: map[string]string{"Authorization": "Bearer proxy-token"},
		},
		{
			name:        "stream accepts event-stream",
			give:        Config{APIKey: "k", Headers: map[string]string{"X-Client-Name": "gw"}},
			giveStream:  true,
			wantHeaders: map[string]string{"Accept": "text/event-stream", "Authorization": "Bearer k", "X-Client-Name": "gw"},
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
