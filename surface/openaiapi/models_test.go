package openaiapi

import (
	"context"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	llmgatewayv1 "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
)

func testModels(context.Context) (*llmgatewayv1.ListModelsResponse, error) {
	return &llmgatewayv1.ListModelsResponse{Models: []*llmgatewayv1.ModelInfo{
		{Name: "auto", Virtual: true},
		{Name: "gpt-4o", Aliases: []string{"smart", "gpt4"}, Providers: []string{"openai", "azure"}},
		// An alias equal to another model's name is listed once, as the model.
		{Name: "mini", Aliases: []string{"gpt-4o"}, Providers: []string{"openai"}},
		{Name: "openai/gpt-oss", Providers: []string{""}},
	}}, nil
}

func TestModels(t *testing.T) {
	tests := []struct {
		name       string
		path       string
		wantStatus int
		want       string
	}{
		{
			name: "list", path: "/v1/models", wantStatus: http.StatusOK,
			want: `{"object":"list","data":[` +
				`{"id":"auto","object":"model","created":0,"owned_by":"llmgateway"},` +
				`{"id":"gpt-4o","object":"model","created":0,"owned_by":"openai"},` +
				`{"id":"smart","object":"model","created":0,"owned_by":"openai"},` +
				`{"id":"gpt4","object":"model","created":0,"owned_by":"openai"},` +
				`{"id":"mini","object":"model","created":0,"owned_by":"openai"},` +
				`{"id":"openai/gpt-oss","object":"model","created":0,"owned_by":"llmgateway"}]}`,
		},
		{
			name: "one by alias", path: "/v1/models/smart", wantStatus: http.StatusOK,
			want: `{"id":"smart","object":"model","created":0,"owned_by":"openai"}`,
		},
		{
			name: "one with a slash", path: "/v1/models/openai%2Fgpt-oss", wantStatus: http.StatusOK,
			want: `{"id":"openai/gpt-oss","object":"model","created":0,"owned_by":"llmgateway"}`,
		},
		{
			name: "unknown", path: "/v1/models/gpt-9", wantStatus: http.StatusNotFound,
			want: `{"error":{"message":"The model 'gpt-9' does not exist; GET /v1/models lists the models you may use",` +
				`"type":"invalid_request_error","param":"model","code":"model_not_found"}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hn := newHarness(t, &fakeGateway{models: testModels})
			resp, body := hn.do(t, http.MethodGet, tt.path, "", http.Header{"Authorization": {"Bearer k"}})
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("GET %s status = %d, want %d", tt.path, resp.StatusCode, tt.wantStatus)
			}
			if diff := cmp.Diff(decodeJSON(t, tt.want), decodeJSON(t, body)); diff != "" {
				t.Errorf("GET %s body mismatch (-want +got):\n%s", tt.path, diff)
			}
			if got := hn.fake.lastMetadata(t).Get("authorization"); !cmp.Equal(got, []string{"Bearer k"}) {
				t.Errorf("authorization metadata = %q, want [Bearer k]", got)
			}
		})
	}
}

func TestModelsEmptyAndError(t *testing.T) {
	hn := newHarness(t, &fakeGateway{models: func(context.Context) (*llmgatewayv1.ListModelsResponse, error) {
		return &llmgatewayv1.ListModelsResponse{}, nil
	}})
	resp, body := hn.do(t, http.MethodGet, "/v1/models", "", nil)
	if resp.StatusCode != http.StatusOK || body != `{"object":"list","data":[]}` {
		t.Errorf("GET /v1/models = %d %s, want 200 with an empty data array", resp.StatusCode, body)
	}

	hn = newHarness(t, &fakeGateway{models: func(context.Context) (*llmgatewayv1.ListModelsResponse, error) {
		return nil, status.Error(codes.Unauthenticated, "invalid API key")
	}})
	for _, path := range []string{"/v1/models", "/v1/models/gpt-4o"} {
		resp, body := hn.do(t, http.MethodGet, path, "", nil)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s status = %d, want 401", path, resp.StatusCode)
		}
		want := `{"error":{"message":"invalid API key","type":"authentication_error","param":null,"code":null}}`
		if diff := cmp.Diff(decodeJSON(t, want), decodeJSON(t, body)); diff != "" {
			t.Errorf("GET %s body mismatch (-want +got):\n%s", path, diff)
		}
	}
}
