package upstream

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"go.uber.org/goleak"

	"github.com/llmgateway/llmgateway/providers/simulator"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newServer(t *testing.T, cfg Config, opts ...Option) *httptest.Server {
	t.Helper()
	s, err := New(cfg, opts...)
	if err != nil {
		t.Fatalf("New(%+v) = %v", cfg, err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv
}

func post(t *testing.T, srv *httptest.Server, path, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(testContext(t), http.MethodPost, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the answer of POST %s: %v", path, err)
	}
	return resp, b
}

func TestNewValidatesConfig(t *testing.T) {
	tests := []struct {
		give    Config
		wantErr string
	}{
		{give: Config{Chunks: -1}, wantErr: "chunks is -1"},
		{give: Config{ChunkDelay: -time.Second}, wantErr: "chunk delay is -1s"},
		{give: Config{Latency: simulator.LatencyDist{P50: time.Second, P99: time.Millisecond}}, wantErr: "below p50"},
		{give: Config{Chunks: 3, ChunkDelay: time.Millisecond}},
	}
	for _, tt := range tests {
		_, err := New(tt.give)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("New(%+v) = %v, want no error", tt.give, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("New(%+v) = %v, want an error containing %q", tt.give, err, tt.wantErr)
		}
	}
}

func TestReply(t *testing.T) {
	tests := []struct {
		give int
		want string
	}{
		{give: 0, want: ""},
		{give: 1, want: "token"},
		{give: 3, want: "token token token"},
	}
	for _, tt := range tests {
		if got := Reply(tt.give); got != tt.want {
			t.Errorf("Reply(%d) = %q, want %q", tt.give, got, tt.want)
		}
	}
}

func TestUnary(t *testing.T) {
	srv := newServer(t, Config{Chunks: 4})
	resp, body := post(t, srv, "/v1/chat/completions", `{"model":"m-1","messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("POST = HTTP %d %q, want 200 application/json; body %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	var got struct {
		Object  string `json:"object"`
		Model   string `json:"model"`
		Choices []struct {
			Message struct {
				Role    string `json:"role"`
				Content string `json:"content"`
			} `json:"message"`
			FinishReason string `json:"finish_reason"`
		} `json:"choices"`
		Usage struct {
			PromptTokens, CompletionTokens, TotalTokens int
		} `json:"usage"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("the answer %s is not JSON: %v", body, err)
	}
	if got.Object != "chat.completion" || got.Model != "m-1" || len(got.Choices) != 1 {
		t.Fatalf("answer = %s, want one chat.completion choice for m-1", body)
	}
	c := got.Choices[0]
	if c.Message.Role != "assistant" || c.Message.Content != "token token token token" || c.FinishReason != "stop" {
		t.Errorf("choice = %+v, want the assistant's 4 tokens, stop", c)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		path       string
		body       string
		wantStatus int
		wantMsg    string
	}{
		{name: "bad JSON", method: "POST", path: "/v1/chat/completions", body: "{", wantStatus: 400, wantMsg: "not a valid chat completions request"},
		{name: "no model", method: "POST", path: "/v1/chat/completions", body: `{"messages":[{"role":"user","content":"x"}]}`, wantStatus: 400, wantMsg: "model is required"},
		{name: "no messages", method: "POST", path: "/v1/chat/completions", body: `{"model":"m","messages":[]}`, wantStatus: 400, wantMsg: "at least one message"},
		{name: "bad content", method: "POST", path: "/v1/chat/completions", body: `{"model":"m","messages":[{"role":"user","content":42}]}`, wantStatus: 400, wantMsg: "messages[0].content must be a string"},
		{name: "bad role", method: "POST", path: "/v1/chat/completions", body: `{"model":"m","messages":[{"role":"robot","content":"x"}]}`, wantStatus: 400, wantMsg: "role"},
		{name: "bad stop", method: "POST", path: "/v1/chat/completions", body: `{"model":"m","stop":7,"messages":[{"role":"user","content":"x"}]}`, wantStatus: 400, wantMsg: "stop must be"},
		{name: "too large", method: "POST", path: "/v1/chat/completions", body: `{"model":"` + strings.Repeat("m", 300) + `"}`, wantStatus: 413, wantMsg: "over 256 bytes"},
		{name: "GET", method: "GET", path: "/v1/chat/completions", wantStatus: 405, wantMsg: "use POST"},
		{name: "unknown path", method: "POST", path: "/v1/embeddings", body: "{}", wantStatus: 404, wantMsg: "unknown path"},
	}
	srv := newServer(t, Config{}, WithMaxRequestBytes(256))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(testContext(t), tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var got struct {
				Error struct {
					Message string `json:"message"`
					Type    string `json:"type"`
				} `json:"error"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
				t.Fatalf("error body is not JSON: %v", err)
			}
			if resp.StatusCode != tt.wantStatus || !strings.Contains(got.Error.Message, tt.wantMsg) || got.Error.Type == "" {
				t.Errorf("%s %s = HTTP %d %+v, want %d with a message containing %q", tt.method, tt.path, resp.StatusCode, got.Error, tt.wantStatus, tt.wantMsg)
			}
		})
	}
}

// event is the part of a chunk event the tests read.
type event struct {
	Object  string `json:"object"`
	Choices []struct {
		Delta struct {
			Role    string  `json:"role"`
			Content *string `json:"content"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
}

// readEvents reads the data of every event of an SSE body.
func readEvents(t *testing.T, body []byte) []string {
	t.Helper()
	var data []string
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			data = append(data, d)
		}
	}
	return data
}

func TestStream(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		wantTexts []string
		wantUsage bool
		finish    string
	}{
		{
			name:      "with usage",
			body:      `{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`,
			wantTexts: []string{"token ", "token ", "token"},
			wantUsage: true,
			finish:    "stop",
		},
		{
			name:      "without usage, content parts",
			body:      `{"model":"m","stream":true,"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`,
			wantTexts: []string{"token ", "token ", "token"},
			finish:    "stop",
		},
		{
			name:      "max_tokens cuts the answer",
			body:      `{"model":"m","stream":true,"max_completion_tokens":2,"messages":[{"role":"user","content":"hi"}]}`,
			wantTexts: []string{"token ", "token "},
			finish:    "length",
		},
	}
	srv := newServer(t, Config{Chunks: 3, ChunkDelay: time.Millisecond})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := post(t, srv, "/v1/chat/completions", tt.body)
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
				t.Fatalf("POST = HTTP %d %q, want 200 text/event-stream", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			data := readEvents(t, body)
			if len(data) == 0 || data[len(data)-1] != "[DONE]" {
				t.Fatalf("events = %q, want them to end with [DONE]", data)
			}
			var texts []string
			var finish string
			usage := false
			for i, d := range data[:len(data)-1] {
				var ev event
				if err := json.Unmarshal([]byte(d), &ev); err != nil {
					t.Fatalf("event %d %q is not JSON: %v", i, d, err)
				}
				if ev.Object != "chat.completion.chunk" {
					t.Errorf("event %d object = %q, want chat.completion.chunk", i, ev.Object)
				}
				if ev.Usage != nil {
					usage = true
					if len(ev.Choices) != 0 || ev.Usage.CompletionTokens != len(tt.wantTexts) {
						t.Errorf("usage event = %s, want no choices and %d completion tokens", d, len(tt.wantTexts))
					}
					continue
				}
				c := ev.Choices[0]
				if (i == 0) != (c.Delta.Role == "assistant") {
					t.Errorf("event %d role = %q, want assistant on the first event only", i, c.Delta.Role)
				}
				if c.Delta.Content != nil && *c.Delta.Content != "" {
					texts = append(texts, *c.Delta.Content)
				}
				if c.FinishReason != nil {
					finish = *c.FinishReason
				}
			}
			if diff := cmp.Diff(tt.wantTexts, texts); diff != "" {
				t.Errorf("content chunks (-want +got):\n%s", diff)
			}
			if finish != tt.finish || usage != tt.wantUsage {
				t.Errorf("finish %q, usage %v; want %q, %v", finish, usage, tt.finish, tt.wantUsage)
			}
		})
	}
}

func TestStreamPacesChunks(t *testing.T) {
	const delay = 20 * time.Millisecond
	srv := newServer(t, Config{Chunks: 4, ChunkDelay: delay})
	began := time.Now()
	resp, _ := post(t, srv, "/v1/chat/completions", `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST = HTTP %d, want 200", resp.StatusCode)
	}
	// Four chunks are three delays apart; only a lower bound is safe on a
	// loaded machine.
	if got := time.Since(began); got < 3*delay {
		t.Errorf("stream took %v, want at least %v", got, 3*delay)
	}
}

func TestClientGoesAway(t *testing.T) {
	srv := newServer(t, Config{Chunks: 1000, ChunkDelay: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(testContext(t))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1/chat/completions",
		strings.NewReader(`{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatalf("reading the first event: %v", err)
	}
	cancel()
	resp.Body.Close()
	// srv.Close in the cleanup waits for the handler, and goleak checks
	// that the stream's timer goroutines are gone.
}

// TestOpenAISDK is the compatibility bar: the official Go SDK reads the
// server's answers, unary and streamed.
func TestOpenAISDK(t *testing.T) {
	srv := newServer(t, Config{Chunks: 5})
	client := openai.NewClient(option.WithBaseURL(srv.URL+"/v1"), option.WithAPIKey("sk-test"),
		option.WithHTTPClient(srv.Client()), option.WithMaxRetries(0))
	params := openai.ChatCompletionNewParams{
		Model:    "bench-model",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Where is my order?")},
	}
	got, err := client.Chat.Completions.New(testContext(t), params)
	if err != nil {
		t.Fatalf("Chat.Completions.New = %v", err)
	}
	if got.Choices[0].Message.Content != Reply(5) || got.Usage.CompletionTokens != 5 || got.Model != "bench-model" {
		t.Errorf("Chat.Completions.New = %q, %d completion tokens, model %q; want %q, 5, bench-model",
			got.Choices[0].Message.Content, got.Usage.CompletionTokens, got.Model, Reply(5))
	}
	params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	stream := client.Chat.Completions.NewStreaming(testContext(t), params)
	var acc openai.ChatCompletionAccumulator
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("stream = %v", err)
	}
	if acc.Choices[0].Message.Content != Reply(5) || acc.Usage.CompletionTokens != 5 || acc.Choices[0].FinishReason != "stop" {
		t.Errorf("stream assembled %q, %d completion tokens, finish %q; want %q, 5, stop",
			acc.Choices[0].Message.Content, acc.Usage.CompletionTokens, acc.Choices[0].FinishReason, Reply(5))
	}
}

func TestRun(t *testing.T) {
	tests := []struct {
		give    []string
		wantErr string
	}{
		{give: []string{"extra"}, wantErr: "unexpected argument"},
		{give: []string{"--chunks", "-2"}, wantErr: "chunks is -2"},
		{give: []string{"--addr", "not an address"}, wantErr: "listening on --addr"},
	}
	for _, tt := range tests {
		err := Run(testContext(t), tt.give, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("Run(%q) = %v, want an error containing %q", tt.give, err, tt.wantErr)
		}
	}

	ctx, cancel := context.WithCancel(testContext(t))
	var out bytes.Buffer
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, []string{"--addr", "127.0.0.1:0", "--chunks", "2"}, pw, io.Discard)
		pw.Close()
	}()
	line, err := bufio.NewReader(io.TeeReader(pr, &out)).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the listening line: %v", err)
	}
	addr := strings.TrimSpace(strings.TrimPrefix(line, "llmsim listening on "))
	if _, _, err := net.SplitHostPort(addr); err != nil {
		t.Fatalf("listening line %q has no address: %v", line, err)
	}
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz: %v", err)
	}
	resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /healthz = %d, want 200", resp.StatusCode)
	}
	cancel()
	go io.Copy(io.Discard, pr)
	if err := <-done; err != nil {
		t.Errorf("Run after cancel = %v, want nil", err)
	}
}

// TestRunTLS checks that --tls-cert-out serves HTTPS over HTTP/2 with a
// certificate that the written PEM file lets a client trust.
func TestRunTLS(t *testing.T) {
	certFile := filepath.Join(t.TempDir(), "llmsim.pem")
	if err := Run(testContext(t), []string{"--tls-cert-out", filepath.Join(t.TempDir(), "no", "such", "dir.pem")}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "--tls-cert-out") {
		t.Errorf("Run(--tls-cert-out in a missing folder) = %v, want an error naming the flag", err)
	}

	ctx, cancel := context.WithCancel(testContext(t))
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, []string{"--addr", "127.0.0.1:0", "--chunks", "2", "--tls-cert-out", certFile}, pw, io.Discard)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the listening line: %v", err)
	}
	go io.Copy(io.Discard, pr)
	addr := strings.TrimSpace(strings.TrimPrefix(line, "llmsim listening on "))

	pemBytes, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pemBytes) {
		t.Fatalf("%s holds no PEM certificate", certFile)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}}
	defer client.CloseIdleConnections()
	resp, err := client.Post("https://"+addr+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatalf("POST over TLS trusting the written certificate: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Proto != "HTTP/2.0" || !strings.Contains(string(body), `"chat.completion"`) {
		t.Errorf("POST = %d %s %s, want 200 over HTTP/2.0 with a chat.completion", resp.StatusCode, resp.Proto, body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run after cancel = %v, want nil", err)
	}
}
