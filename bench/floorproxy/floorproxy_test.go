package floorproxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestProxyForwardsAndStreams(t *testing.T) {
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/chat/completions" || r.Header.Get("Authorization") != "Bearer k" {
			http.Error(w, "bad path or header: "+r.URL.Path, http.StatusBadRequest)
			return
		}
		body, _ := io.ReadAll(r.Body)
		if !strings.Contains(string(body), `"stream":true`) {
			fmt.Fprintf(w, `{"echo":%q}`, body)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		<-release
		io.WriteString(w, "data: two\n\n")
	}))
	defer up.Close()
	u, _ := url.Parse(up.URL)
	px := httptest.NewServer(Handler(u))
	defer px.Close()

	post := func(body string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("POST", px.URL+"/v1/chat/completions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer k")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := post(`{"x":1}`)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != `{"echo":"{\"x\":1}"}` {
		t.Fatalf("unary = %d %s, want the upstream's echo", resp.StatusCode, b)
	}

	resp = post(`{"stream":true}`)
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	first := make(chan string, 1)
	go func() { line, _ := br.ReadString('\n'); first <- line }()
	select {
	case line := <-first:
		if line != "data: one\n" {
			t.Fatalf("first line = %q", line)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the first event was held back until the stream went on: the proxy buffers")
	}
	close(release)
	rest, _ := io.ReadAll(br)
	if !strings.Contains(string(rest), "data: two") {
		t.Errorf("rest = %q, want the second event", rest)
	}
	resp2, err := http.Get(px.URL + "/healthz")
	if err != nil || resp2.StatusCode != 200 {
		t.Fatalf("GET /healthz = %v, %v", resp2, err)
	}
	resp2.Body.Close()
}

func TestRunFlags(t *testing.T) {
	for _, args := range [][]string{{"--upstream", "ftp://x"}, {}, {"extra"}} {
		if err := Run(context.Background(), args, io.Discard, io.Discard); err == nil {
			t.Errorf("Run(%q) = nil, want an error", args)
		}
	}
}
