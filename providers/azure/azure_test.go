package azure

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/llmgateway/llmgateway/llm"
	"github.com/llmgateway/llmgateway/routing"
)

var _ routing.Provider = (*Client)(nil)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type seen struct {
	path, query, key, auth string
	body                   map[string]any
}

func upstream(t *testing.T, status int, body string, stream string) (*httptest.Server, *seen) {
	t.Helper()
	s := &seen{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.path, s.query, s.key, s.auth = r.URL.Path, r.URL.RawQuery, r.Header.Get("api-key"), r.Header.Get("Authorization")
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &s.body)
		if stream != "" && s.body["stream"] == true {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, stream)
			return
		}
		if status == 429 {
			w.Header().Set("Retry-After", "12")
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, s
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// An Azure response as documented: the same shape as OpenAI's, with
// prompt_filter_results and content_filter_results.
const azureResponse = `{"id":"chatcmpl-A1","object":"chat.completion","created":1700000000,"model":"gpt-4.1-2025-04-14",
"prompt_filter_results":[{"prompt_index":0,"content_filter_results":{"hate":{"filtered":false,"severity":"safe"}}}],
"choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"Bonjour"},"content_filter_results":{"hate":{"filtered":false,"severity":"safe"}}}],
"usage":{"prompt_tokens":20,"completion_tokens":3,"total_tokens":23,"prompt_tokens_details":{"cached_tokens":8}}}`

const azureStream = "data: {\"choices\":[],\"created\":0,\"id\":\"\",\"model\":\"\",\"object\":\"\",\"prompt_filter_results\":[{\"prompt_index\":0,\"content_filter_results\":{}}]}\n\n" +
	"data: {\"id\":\"chatcmpl-A1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4.1-2025-04-14\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Bon\"}}]}\n\n" +
	"data: {\"id\":\"chatcmpl-A1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4.1-2025-04-14\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"jour\"},\"finish_reason\":\"stop\"}]}\n\n" +
	"data: {\"id\":\"chatcmpl-A1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4.1-2025-04-14\",\"choices\":[],\"usage\":{\"prompt_tokens\":20,\"completion_tokens\":3,\"total_tokens\":23,\"prompt_tokens_details\":{\"cached_tokens\":8}}}\n\n" +
	"data: [DONE]\n\n"

func TestAddressingAndAuth(t *testing.T) {
	srv, s := upstream(t, 200, azureResponse, azureStream)
	c, err := New(Config{Name: "azure-eastus", Endpoint: srv.URL + "/", APIVersion: "2024-10-21", APIKey: "az-key"})
	if err != nil {
		t.Fatal(err)
	}
	req := &llm.Request{Model: "my gpt41", Messages: []llm.Message{{Role: llm.RoleUser, Content: "Translate hello"}}}
	resp, err := c.Chat(ctxT(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if s.path != "/openai/deployments/my gpt41/chat/completions" || s.query != "api-version=2024-10-21" {
		t.Errorf("request to %q?%q, want the deployment URL with api-version", s.path, s.query)
	}
	if s.key != "az-key" || s.auth != "" {
		t.Errorf("api-key = %q, Authorization = %q; want the key in api-key only", s.key, s.auth)
	}
	if _, ok := s.body["model"]; ok {
		t.Errorf("body carries model %v; Azure addresses the deployment in the URL", s.body["model"])
	}
	want := llm.Usage{PromptTokens: 20, CompletionTokens: 3, CachedTokens: 8}
	if resp.Message.Content != "Bonjour" || resp.Usage != want || resp.FinishReason != llm.FinishStop {
		t.Errorf("Chat() = %+v", resp)
	}
	st, err := c.ChatStream(ctxT(t), req)
	if err != nil {
		t.Fatal(err)
	}
	streamed, err := llm.Collect(st)
	if err != nil {
		t.Fatal(err)
	}
	if streamed.Message.Content != resp.Message.Content || streamed.Usage != resp.Usage {
		t.Errorf("stream = %+v, want the unary result %+v", streamed, resp)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		status    int
		body      string
		wantKind  llm.ErrorKind
		wantRetry time.Duration
	}{
		{401, `{"error":{"code":"401","message":"Access denied due to invalid subscription key."}}`, llm.KindAuth, 0},
		{404, `{"error":{"code":"DeploymentNotFound","message":"The API deployment for this resource does not exist."}}`, llm.KindNotFound, 0},
		{429, `{"error":{"code":"429","message":"Requests to the ChatCompletions_Create Operation have exceeded the rate limit."}}`, llm.KindRateLimited, 12 * time.Second},
		{400, `{"error":{"message":"filtered","type":null,"param":"prompt","code":"content_filter","status":400}}`, llm.KindContentFilter, 0},
		{400, `{"error":{"message":"This model's maximum context length is 128000 tokens.","code":"context_length_exceeded"}}`, llm.KindContextLength, 0},
		{503, `{"error":{"code":"ServiceUnavailable","message":"busy"}}`, llm.KindOverloaded, 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status, tt.wantKind), func(t *testing.T) {
			srv, _ := upstream(t, tt.status, tt.body, "")
			c, err := New(Config{Name: "az", Endpoint: srv.URL, APIVersion: "2024-10-21", APIKey: "k"})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Chat(ctxT(t), &llm.Request{Model: "d", Messages: []llm.Message{{Role: llm.RoleUser, Content: "x"}}})
			ue, ok := llm.AsUpstream(err)
			if !ok || ue.Kind != tt.wantKind || ue.RetryAfter != tt.wantRetry || ue.Provider != "az" {
				t.Fatalf("Chat() error = %#v, want kind %s retry-after %v", err, tt.wantKind, tt.wantRetry)
			}
			if strings.Contains(ue.Summary(), "subscription") {
				t.Errorf("Summary() leaks the upstream message: %q", ue.Summary())
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		give Config
		want string
	}{
		{Config{Endpoint: "https://x.openai.azure.com", APIVersion: "v"}, "Name"},
		{Config{Name: "a", Endpoint: "https://x.openai.azure.com"}, "APIVersion"},
		{Config{Name: "a", Endpoint: "x.openai.azure.com", APIVersion: "v"}, "Endpoint"},
	}
	for _, tt := range tests {
		if _, err := New(tt.give); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%+v) = %v, want an error naming %s", tt.give, err, tt.want)
		}
	}
}
