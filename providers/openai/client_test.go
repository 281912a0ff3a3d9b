package openai

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
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
		{"no name", Config{BaseURL: "https://api.openai.com/v1"}, nil, "Name is empty"},
		{"no base URL", Config{Name: "x"}, nil, "BaseURL is empty"},
		{"relative base URL", Config{Name: "x", BaseURL: "api.openai.com/v1"}, nil, "not an absolute http(s) URL"},
		{"wrong scheme", Config{Name: "x", BaseURL: "ftp://api.openai.com/v1"}, nil, "not an absolute http(s) URL"},
		{"unparsable base URL", Config{Name: "x", BaseURL: "http://[::1"}, nil, "not an absolute http(s) URL"},
		{"user info", Config{Name: "x", BaseURL: "https://key@api.openai.com/v1"}, nil, "user info"},
		{"fragment", Config{Name: "x", BaseURL: "https://api.openai.com/v1#x"}, nil, "fragment"},
		{"endpoint given as base", Config{Name: "x", BaseURL: "https://api.openai.com/v1/chat/completions/"}, nil, "without /chat/completions"},
		{"negative timeout", Config{Name: "x", BaseURL: "https://api.openai.com/v1", Timeout: -time.Second}, nil, "Timeout is -1s"},
		{"bad header name", Config{Name: "x", BaseURL: "https://a/v1", Headers: map[string]string{"Bad Header": "v"}}, nil, `"Bad Header" is not a valid HTTP header name`},
		{"header value with newline", Config{Name: "x", BaseURL: "https://a/v1", Headers: map[string]string{"X-A": "v\r\nX-B: w"}}, nil, "control characters"},
		{"header conflicts with APIKey", Config{Name: "x", BaseURL: "https://a/v1", APIKey: "k", Headers: map[string]string{"authorization": "Bearer j"}}, nil, "which APIKey already sets"},
		{"reserved header", Config{Name: "x", BaseURL: "https://a/v1", Headers: map[string]string{"host": "b"}}, nil, "host is set by the HTTP client"},
		{"APIKey with trailing newline", Config{Name: "x", BaseURL: "https://a/v1", APIKey: "sk-abc\n"}, nil, "trailing newline"},
		{"bad auth header name", Config{Name: "x", BaseURL: "https://a/v1", APIKey: "k"}, []Option{WithAuthHeader("api key", "")}, "not a valid HTTP header name"},
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
		{"no API key", Config{Name: "ollama", BaseURL: "http://localhost:11434/v1"}, nil},
		{"endpoint func without base URL", Config{Name: "azure", APIKey: "k"}, []Option{WithEndpoint(func(string) string { return "https://x" }), WithAuthHeader("api-key", "")}},
		{"header that APIKey does not set", Config{Name: "x", BaseURL: "https://a/v1", APIKey: "k", Headers: map[string]string{"OpenAI-Organization": "org-1"}}, nil},
		{"Authorization header without APIKey", Config{Name: "x", BaseURL: "https://a/v1", Headers: map[string]string{"Authorization": "Basic dTpw"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.give, tt.giveOpts...); err != nil {
				t.Errorf("New(%+v) error = %v, want nil", tt.give, err)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestRequestBody(t *testing.T) {
	weatherSchema := json.RawMessage(`{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}`)
	tests := []struct {
		name       string
		give       *llm.Request
		giveStream bool
		giveOpts   []Option
		want       string
	}{
		{
			name: "minimal",
			give: simpleRequest(),
			want: `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello!"}]}`,
		},
		{
			name: "all sampling fields",
			give: &llm.Request{
				Model:       "gpt-4o",
				Messages:    []llm.Message{{Role: llm.RoleSystem, Content: "Be brief."}, {Role: llm.RoleUser, Content: "Hi <there> & you", Name: "alice"}},
				MaxTokens:   256,
				Temperature: ptr(0.0),
				TopP:        ptr(0.9),
				Stop:        []string{"\n\n", "END"},
				User:        "user-42",
				Metadata:    map[string]string{"team": "a"},
			},
			want: `{"model":"gpt-4o","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi <there> & you","name":"alice"}],
				"max_tokens":256,"temperature":0,"top_p":0.9,"stop":["\n\n","END"],"user":"user-42"}`,
		},
		{
			name: "empty user content is sent as an empty string",
			give: &llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser}}},
			want: `{"model":"m","messages":[{"role":"user","content":""}]}`,
		},
		{
			name: "tool round trip",
			give: &llm.Request{
				Model: "gpt-4o-mini",
				Messages: []llm.Message{
					{Role: llm.RoleDeveloper, Content: "Use tools."},
					{Role: llm.RoleUser, Content: "Weather in Boston and Paris?"},
					{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{
						{ID: "call_1", Name: "get_weather", Arguments: `{"location":"Boston"}`},
						{ID: "call_2", Name: "get_time"},
					}},
					{Role: llm.RoleTool, ToolCallID: "call_1", Content: `{"temp":22}`},
					{Role: llm.RoleTool, ToolCallID: "call_2", Content: "noon"},
					{Role: llm.RoleAssistant, Content: "Checking again.", ToolCalls: []llm.ToolCall{{ID: "call_3", Name: "get_weather", Arguments: `{"location":"Paris"}`}}},
				},
				Tools: []llm.Tool{
					{Name: "get_weather", Description: "Get the weather", Parameters: weatherSchema, Strict: ptr(true)},
					{Name: "get_time"},
				},
				ToolChoice: &llm.ToolChoice{Mode: llm.ToolChoiceAuto},
			},
			want: `{"model":"gpt-4o-mini","messages":[
				{"role":"developer","content":"Use tools."},
				{"role":"user","content":"Weather in Boston and Paris?"},
				{"role":"assistant","content":null,"tool_calls":[
					{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"Boston\"}"}},
					{"id":"call_2","type":"function","function":{"name":"get_time","arguments":"{}"}}]},
				{"role":"tool","content":"{\"temp\":22}","tool_call_id":"call_1"},
				{"role":"tool","content":"noon","tool_call_id":"call_2"},
				{"role":"assistant","content":"Checking again.","tool_calls":[
					{"id":"call_3","type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"Paris\"}"}}]}],
				"tools":[
					{"type":"function","function":{"name":"get_weather","description":"Get the weather","parameters":{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]},"strict":true}},
					{"type":"function","function":{"name":"get_time"}}],
				"tool_choice":"auto"}`,
		},
		{
			name: "tool choice none",
			give: &llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Content: "x"}}, Tools: []llm.Tool{{Name: "f"}}, ToolChoice: &llm.ToolChoice{Mode: llm.ToolChoiceNone}},
			want: `{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"none"}`,
		},
		{
			name: "tool choice required",
			give: &llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Content: "x"}}, Tools: []llm.Tool{{Name: "f"}}, ToolChoice: &llm.ToolChoice{Mode: llm.ToolChoiceRequired}},
			want: `{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"required"}`,
		},
		{
			name: "tool choice function",
			give: &llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Content: "x"}}, Tools: []llm.Tool{{Name: "f\"q"}}, ToolChoice: &llm.ToolChoice{Mode: llm.ToolChoiceFunction, Name: "f\"q"}},
			want: `{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f\"q"}}],"tool_choice":{"type":"function","function":{"name":"f\"q"}}}`,
		},
		{
			name:       "stream asks for usage",
			give:       simpleRequest(),
			giveStream: true,
			want:       `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello!"}],"stream":true,"stream_options":{"include_usage":true}}`,
		},
		{
			name:     "model omitted",
			give:     simpleRequest(),
			giveOpts: []Option{WithOmitModel()},
			want:     `{"messages":[{"role":"user","content":"Hello!"}]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := suite().Exchange(t, func(url string) providertest.Provider {
				return newTestClient(t, Config{BaseURL: url}, tt.giveOpts...)
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
		{"no messages", &llm.Request{Model: "m"}, "no messages"},
		{"negative max tokens", &llm.Request{Model: "m", Messages: msgs, MaxTokens: -1}, "MaxTokens is -1"},
		{"no role", &llm.Request{Model: "m", Messages: []llm.Message{{Content: "x"}}}, "message 0: message has no role"},
		{"tool message without call id", &llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleTool, Content: "x"}}}, "message 0: tool message has no ToolCallID"},
		{"tool call without id", &llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{Name: "f"}}}}}, "tool call 0 has no ID"},
		{"tool call without name", &llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "c"}}}}}, "tool call 0 has no name"},
		{"tool calls on a user message", &llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, ToolCalls: []llm.ToolCall{{ID: "c", Name: "f"}}}}}, "only assistant messages may"},
		{"tool without name", &llm.Request{Model: "m", Messages: msgs, Tools: []llm.Tool{{}}}, "tool 0 has no name"},
		{"tool parameters not JSON", &llm.Request{Model: "m", Messages: msgs, Tools: []llm.Tool{{Name: "f", Parameters: json.RawMessage(`{"type":`)}}}, `tool "f": parameters are not valid JSON`},
		{"tool choice function without name", &llm.Request{Model: "m", Messages: msgs, ToolChoice: &llm.ToolChoice{Mode: llm.ToolChoiceFunction}}, "names none"},
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
		giveOpts    []Option
		giveStream  bool
		wantHeaders map[string]string // "" means absent
	}{
		{
			name: "bearer key and extra headers",
			give: Config{APIKey: "sk-test", Headers: map[string]string{"OpenAI-Organization": "org-1", "x-title": "gw"}},
			wantHeaders: map[string]string{
				"Authorization":       "Bearer sk-test",
				"Openai-Organization": "org-1",
				"X-Title":             "gw",
				"Content-Type":        "application/json",
				"Accept":              "application/json",
			},
		},
		{
			name:        "no key, no Authorization",
			give:        Config{},
			wantHeaders: map[string]string{"Authorization": "", "Content-Type": "application/json"},
		},
		{
			name:        "stream accepts event-stream",
			give:        Config{APIKey: "k"},
			giveStream:  true,
			wantHeaders: map[string]string{"Accept": "text/event-stream", "Authorization": "Bearer k"},
		},
		{
			name:        "custom auth header",
			give:        Config{APIKey: "azure-key"},
			giveOpts:    []Option{WithAuthHeader("api-key", "")},
			wantHeaders: map[string]string{"Api-Key": "azure-key", "Authorization": ""},
		},
		{
			name: "header func",
			give: Config{},
			giveOpts: []Option{WithHeaderFunc(func(ctx context.Context, h http.Header) error {
				h.Set("Authorization", "Bearer fresh-token")
				return nil
			})},
			giveStream:  true,
			wantHeaders: map[string]string{"Authorization": "Bearer fresh-token"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := suite().Exchange(t, func(url string) providertest.Provider {
				tt.give.BaseURL = url + "/v1"
				return newTestClient(t, tt.give, tt.giveOpts...)
			}, simpleRequest(), tt.giveStream)
			providertest.CheckHeaders(t, got.Header, tt.wantHeaders)
		})
	}
}

func TestHeaderFuncError(t *testing.T) {
	var rc providertest.Recorder
	srv := providertest.NewServer(t, jsonHandler(&rc, 200, unaryTextBody))
	tokenErr := errors.New("token endpoint unreachable")
	c := newTestClient(t, Config{BaseURL: srv.URL}, WithHeaderFunc(func(context.Context, http.Header) error { return tokenErr }))
	_, err := c.Chat(providertest.Context(t), simpleRequest())
	providertest.WantUpstream(t, err, llm.KindAuth, false)
	if !errors.Is(err, tokenErr) {
		t.Errorf("Chat() error = %v, want it to wrap %v", err, tokenErr)
	}

	overloaded := &llm.UpstreamError{Provider: "test", Kind: llm.KindOverloaded, Retryable: true}
	c = newTestClient(t, Config{BaseURL: srv.URL}, WithHeaderFunc(func(context.Context, http.Header) error { return overloaded }))
	if _, err := c.ChatStream(providertest.Context(t), simpleRequest()); err != overloaded {
		t.Errorf("ChatStream() error = %v, want %v", err, overloaded)
	}
	if n := rc.Count(); n != 0 {
		t.Errorf("the server received %d requests, want none", n)
	}
}

func TestBaseURL(t *testing.T) {
	// Each base URL is appended to the fake upstream's.
	suite().CheckBaseURLs(t, []providertest.BaseURLCase{
		{Give: "/v1", WantPath: "/v1/chat/completions"},
		{Give: "/v1/", WantPath: "/v1/chat/completions"},
		{Give: "/api/v1//", WantPath: "/api/v1/chat/completions"},
		{Give: "", WantPath: "/chat/completions"},
		{Give: "/", WantPath: "/chat/completions"},
		{Give: "/v1?tenant=a", WantPath: "/v1/chat/completions", WantRawQuery: "tenant=a"},
	})
}

// TestAzureStyleAddressing shows the hooks the Azure adapter uses: the URL
// names the deployment, the key goes in api-key, and the body has no model.
func TestAzureStyleAddressing(t *testing.T) {
	var rc providertest.Recorder
	srv := providertest.NewServer(t, jsonHandler(&rc, 200, unaryTextBody))
	endpoint := func(model string) string {
		return srv.URL + "/openai/deployments/" + url.PathEscape(model) + "/chat/completions?api-version=2024-10-21"
	}
	c := newTestClient(t, Config{Name: "test", APIKey: "azure-key"}, WithEndpoint(endpoint), WithAuthHeader("api-key", ""), WithOmitModel())
	req := simpleRequest()
	req.Model = "my-gpt4o"
	if _, err := c.Chat(providertest.Context(t), req); err != nil {
		t.Fatal(err)
	}
	got := rc.Last(t)
	if got.Path != "/openai/deployments/my-gpt4o/chat/completions" || got.RawQuery != "api-version=2024-10-21" {
		t.Errorf("request URL = %s?%s, want the deployment URL", got.Path, got.RawQuery)
	}
	if got.Header.Get("api-key") != "azure-key" || got.Header.Get("Authorization") != "" {
		t.Errorf("headers = %v, want api-key and no Authorization", got.Header)
	}
	providertest.JSONEqual(t, got.Body, `{"messages":[{"role":"user","content":"Hello!"}]}`)
}
