package upstream

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/llmgateway/llmgateway/llm"
)

func TestNewJSONRequest(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	header := http.Header{"Authorization": {"Bearer k"}, "X-Extra": {"1"}}
	req, err := NewJSONRequest(ctx, "https://api.example/v1/chat/completions", map[string]string{"content": "<b>&</b>"}, header)
	if err != nil {
		t.Fatal(err)
	}
	if req.Method != http.MethodPost {
		t.Errorf("Method = %q, want POST", req.Method)
	}
	if got := req.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", got)
	}
	if got := req.Header.Get("Authorization"); got != "Bearer k" {
		t.Errorf("Authorization = %q, want %q", got, "Bearer k")
	}
	req.Header.Set("X-Extra", "changed")
	if header.Get("X-Extra") != "1" {
		t.Errorf("the request shares its header map with the caller's")
	}
	want := `{"content":"<b>&</b>"}` + "\n"
	body, err := io.ReadAll(req.Body)
	if err != nil {
		t.Fatal(err)
	}
	if string(body) != want {
		t.Errorf("body = %q, want %q", body, want)
	}
	if req.ContentLength != int64(len(want)) {
		t.Errorf("ContentLength = %d, want %d", req.ContentLength, len(want))
	}
	if req.GetBody == nil {
		t.Fatal("GetBody = nil, want a replayable body")
	}
	again, err := req.GetBody()
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(again); string(b) != want {
		t.Errorf("GetBody() body = %q, want %q", b, want)
	}

	req, err = NewJSONRequest(ctx, "http://x", struct{}{}, http.Header{"Content-Type": {"application/json; charset=utf-8"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := req.Header.Get("Content-Type"); got != "application/json; charset=utf-8" {
		t.Errorf("Content-Type = %q, want the caller's", got)
	}
}

func TestNewJSONRequestErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := NewJSONRequest(ctx, "http://x", make(chan int), nil); err == nil || !strings.Contains(err.Error(), "encoding request body") {
		t.Errorf("NewJSONRequest(chan) error = %v, want an encoding error", err)
	}
	if _, err := NewJSONRequest(ctx, "http://x y/\x7f", 1, nil); err == nil || !strings.Contains(err.Error(), "building request") {
		t.Errorf("NewJSONRequest(bad URL) error = %v, want a building error", err)
	}
}

func TestReadJSON(t *testing.T) {
	type payload struct {
		A int `json:"a"`
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tests := []struct {
		name     string
		giveBody string
		want     payload
		wantKind llm.ErrorKind // "" for success
	}{
		{"valid", `{"a": 3}`, payload{A: 3}, ""},
		{"valid at the limit", `{"a":12345678}`, payload{A: 12345678}, ""},
		{"over the limit", `{"a": 123456789}`, payload{}, llm.KindMalformed},
		{"not JSON", `<html>oops</html>`, payload{}, llm.KindMalformed},
		{"truncated", `{"a":`, payload{}, llm.KindMalformed},
		{"wrong type", `{"a":"x"}`, payload{}, llm.KindMalformed},
		{"empty", ``, payload{}, llm.KindMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := response(200, nil, tt.giveBody)
			resp.ContentLength = int64(len(tt.giveBody))
			var got payload
			err := ReadJSON(ctx, "test", resp, 14, &got)
			if !body.closed {
				t.Errorf("ReadJSON left the body open")
			}
			if tt.wantKind == "" {
				if err != nil {
					t.Fatalf("ReadJSON(%q) error = %v, want nil", tt.giveBody, err)
				}
				if got != tt.want {
					t.Errorf("ReadJSON(%q) = %+v, want %+v", tt.giveBody, got, tt.want)
				}
				return
			}
			ue, ok := llm.AsUpstream(err)
			if !ok || ue.Kind != tt.wantKind || ue.Provider != "test" {
				t.Errorf("ReadJSON(%q) error = %v, want kind %v", tt.giveBody, err, tt.wantKind)
			}
		})
	}
}

func TestReadJSONReadError(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, _ := response(200, nil, "")
	resp.Body = io.NopCloser(io.MultiReader(strings.NewReader(`{"a":`), iotest.ErrReader(io.ErrUnexpectedEOF)))
	err := ReadJSON(ctx, "test", resp, 1<<20, new(map[string]any))
	ue, ok := llm.AsUpstream(err)
	if !ok || ue.Kind != llm.KindConnection || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("ReadJSON(cut body) error = %v, want a connection error wrapping io.ErrUnexpectedEOF", err)
	}

	canceled, cancel2 := context.WithCancel(ctx)
	cancel2()
	resp, _ = response(200, nil, "")
	resp.Body = io.NopCloser(iotest.ErrReader(context.Canceled))
	err = ReadJSON(canceled, "test", resp, 1<<20, new(map[string]any))
	if ue, ok := llm.AsUpstream(err); !ok || ue.Kind != llm.KindCanceled {
		t.Errorf("ReadJSON(canceled) error = %v, want kind %v", err, llm.KindCanceled)
	}
}
