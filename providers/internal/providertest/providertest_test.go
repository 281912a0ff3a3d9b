package providertest

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/llmgateway/llmgateway/llm"
	"github.com/llmgateway/llmgateway/providers/internal/upstream"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestRecordingServer(t *testing.T) {
	var rc Recorder
	header := http.Header{"Content-Type": {"application/json"}, "request-id": {"req_1"}}
	srv := NewServer(t, JSONHandler(&rc, header, http.StatusCreated, `{"ok":true}`))
	req, err := http.NewRequestWithContext(Context(t), http.MethodPost, srv.URL+"/v1/a%2Fb?x=1", strings.NewReader(`{"q":1}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Test", "yes")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || string(body) != `{"ok":true}` || resp.Header.Get("Request-Id") != "req_1" {
		t.Errorf("answer = %d %q, request id %q; want 201 %q, req_1", resp.StatusCode, body, resp.Header.Get("Request-Id"), `{"ok":true}`)
	}
	if n := rc.Count(); n != 1 {
		t.Fatalf("Count() = %d, want 1", n)
	}
	got := rc.Last(t)
	if got.Method != http.MethodPost || got.Path != "/v1/a/b" || got.RawPath != "/v1/a%2Fb" || got.RawQuery != "x=1" || got.Header.Get("X-Test") != "yes" {
		t.Errorf("Last() = %+v, want the request as sent", got)
	}
	JSONEqual(t, got.Body, `{"q":1}`)
}

func TestDrain(t *testing.T) {
	s := upstream.Replay(llm.Chunk{Content: "a"}, llm.Chunk{ToolCalls: []llm.ToolCallDelta{{Name: "f"}}}, llm.Chunk{FinishReason: llm.FinishStop})
	chunks, content, err := Drain(s)
	if chunks != 3 || content != 2 || err != nil {
		t.Errorf("Drain() = %d, %d, %v; want 3, 2, nil", chunks, content, err)
	}
}
