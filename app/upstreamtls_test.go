package app

import (
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/llmgateway/llmgateway/config"
	pb "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
)

// TestProviderCAFile checks that a provider's ca_file makes the gateway
// trust an upstream whose certificate a private CA signed, over HTTP/2,
// and that without it the same upstream is refused.
func TestProviderCAFile(t *testing.T) {
	protos := make(chan string, 4)
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		protos <- r.Proto
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":"c","object":"chat.completion","model":"up","choices":[{"index":0,"message":{"role":"assistant","content":"hello over TLS"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":3}}`)
	}))
	up.EnableHTTP2 = true
	up.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes below
	up.StartTLS()
	t.Cleanup(up.Close)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	pemCert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: up.Certificate().Raw})
	if err := os.WriteFile(caFile, pemCert, 0o600); err != nil {
		t.Fatal(err)
	}
	req := &pb.ChatRequest{Model: "gpt-4.1", Messages: []*pb.Message{{Role: "user", Content: "hi"}}}

	t.Run("trusted", func(t *testing.T) {
		r := startWithKey(t, withCAFile(upstreamConfig(up.URL+"/v1"), caFile))
		resp, err := r.client.Chat(tctx(t), req)
		if err != nil {
			t.Fatalf("Chat() = %v, want the upstream's answer", err)
		}
		if resp.GetMessage().GetContent() != "hello over TLS" {
			t.Errorf("Chat() content = %q, want %q", resp.GetMessage().GetContent(), "hello over TLS")
		}
		if p := <-protos; p != "HTTP/2.0" {
			t.Errorf("upstream request over %s, want HTTP/2.0", p)
		}
	})
	t.Run("untrusted without ca_file", func(t *testing.T) {
		r := startWithKey(t, upstreamConfig(up.URL+"/v1"))
		_, err := r.client.Chat(tctx(t), req)
		if status.Code(err) != codes.Unavailable {
			t.Fatalf("Chat() = %v, want Unavailable: the upstream's certificate is not trusted", err)
		}
	})
	t.Run("bad ca_file", func(t *testing.T) {
		notPEM := filepath.Join(t.TempDir(), "ca.pem")
		if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("TEST_UPSTREAM_KEY", "sk-upstream-secret")
		for _, tt := range []struct{ file, want string }{
			{notPEM, "no PEM certificate"},
			{filepath.Join(t.TempDir(), "missing.pem"), "no such file"},
		} {
			cfg, err := config.Parse([]byte(withCAFile(upstreamConfig(up.URL+"/v1"), tt.file)))
			if err != nil {
				t.Fatal(err)
			}
			_, err = FromConfig(cfg, slog.New(slog.DiscardHandler), os.LookupEnv)
			if err == nil || !strings.Contains(err.Error(), "provider up: ca_file") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("FromConfig(ca_file %s) = %v, want an error naming provider up's ca_file and %q", tt.file, err, tt.want)
			}
		}
	})
}

// withCAFile gives the provider of an upstreamConfig the ca_file file.
func withCAFile(cfg, file string) string {
	const after = "    timeout: 5s\n"
	if !strings.Contains(cfg, after) {
		panic("upstreamConfig changed: no provider timeout line to add ca_file after")
	}
	return strings.Replace(cfg, after, after+fmt.Sprintf("    ca_file: %q\n", file), 1)
}
