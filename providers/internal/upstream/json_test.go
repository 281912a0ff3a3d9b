package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
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

// recordingDecoder is a JSONDecoder that keeps a copy of what it is given.
type recordingDecoder struct {
	got []byte
	err error
}

func (d *recordingDecoder) DecodeJSON(b []byte) error {
	d.got = append(d.got[:0], b...)
	return d.err
}

func TestReadJSONDecoder(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const body = `{"a":1}`
	resp, tb := response(200, nil, body)
	var d recordingDecoder
	if err := ReadJSON(ctx, "test", resp, 1<<20, &d); err != nil {
		t.Fatalf("ReadJSON() error = %v", err)
	}
	if string(d.got) != body || !tb.closed {
		t.Errorf("DecodeJSON given %q, body closed %v; want %q, true", d.got, tb.closed, body)
	}

	resp, _ = response(200, nil, body)
	d.err = errors.New("bad shape")
	err := ReadJSON(ctx, "test", resp, 1<<20, &d)
	if ue, ok := llm.AsUpstream(err); !ok || ue.Kind != llm.KindMalformed || !errors.Is(err, d.err) {
		t.Errorf("ReadJSON() with a failing decoder error = %v, want a malformed error wrapping %v", err, d.err)
	}
}

// TestReadJSONBodyLengths reads bodies of declared, understated,
// overstated and unknown length, in small reads and large ones, through a
// pool whose buffers go from one read to the next.
func TestReadJSONBodyLengths(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	long := `{"s":"` + strings.Repeat("x", 3000) + `"}`
	tests := []struct {
		name      string
		give      string
		length    int64 // the declared length; -1 for unknown
		oneByte   bool
		wantLarge bool
	}{
		{"long, unknown length", long, -1, false, false},
		{"short after long", `{"s":"y"}`, -1, false, false},
		{"declared", long, int64(len(long)), false, false},
		{"understated", long, 10, false, false},
		{"overstated", `{"s":"z"}`, 1 << 20, false, false},
		{"one byte at a time", long, -1, true, false},
		{"at the limit", `{"s":"` + strings.Repeat("x", 3992) + `"}`, -1, true, false},
		{"over the limit", `{"s":"` + strings.Repeat("x", 3993) + `"}`, -1, false, true},
		{"over the limit, declared", `{"s":"` + strings.Repeat("x", 3993) + `"}`, 4001, false, true},
		{"over the limit, one byte at a time", `{"s":"` + strings.Repeat("x", 3993) + `"}`, -1, true, true},
	}
	var pool sync.Pool
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, tb := response(200, nil, "")
			var r io.Reader = strings.NewReader(tt.give)
			if tt.oneByte {
				r = iotest.OneByteReader(r)
			}
			tb.r = r
			resp.ContentLength = tt.length
			var got struct{ S string }
			err := readJSON(ctx, "test", resp, 4000, &got, &pool)
			if tt.wantLarge {
				if ue, ok := llm.AsUpstream(err); !ok || ue.Kind != llm.KindMalformed || !strings.Contains(err.Error(), "exceeds 4000 bytes") {
					t.Errorf("readJSON() error = %v, want a body over the limit", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("readJSON() error = %v", err)
			}
			var want struct{ S string }
			if err := json.Unmarshal([]byte(tt.give), &want); err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("readJSON() = %.40q..., want %.40q...", got.S, want.S)
			}
			if !tb.closed {
				t.Errorf("readJSON left the body open")
			}
		})
	}
}

// appender is a JSONAppender that appends body, or fails with err.
type appender struct {
	body string
	err  error
}

func (a appender) AppendJSON(b []byte) ([]byte, error) {
	if a.err != nil {
		return nil, a.err
	}
	return append(b, a.body...), nil
}

func TestNewJSONRequestAppender(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	readAll := func(r io.Reader) string {
		t.Helper()
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	first, err := NewJSONRequest(ctx, "http://x", appender{body: `{"n":1}`}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A second body encoded before the first is read reuses the pooled
	// buffer: each body must be its own copy.
	if _, err := NewJSONRequest(ctx, "http://x", appender{body: `{"n":2}`}, nil); err != nil {
		t.Fatal(err)
	}
	// One too large for the pool is served all the same.
	big := `"` + strings.Repeat("x", maxPooledAppendBuf) + `"`
	if r, err := NewJSONRequest(ctx, "http://x", appender{body: big}, nil); err != nil || r.ContentLength != int64(len(big)) {
		t.Fatalf("NewJSONRequest(big) = %v, want a body of %d bytes", err, len(big))
	}
	if got := readAll(first.Body); got != `{"n":1}` {
		t.Errorf("body = %q, want {\"n\":1}", got)
	}
	if first.ContentLength != int64(len(`{"n":1}`)) || first.Header.Get("Content-Type") != "application/json" {
		t.Errorf("ContentLength = %d, Content-Type = %q", first.ContentLength, first.Header.Get("Content-Type"))
	}
	replay, err := first.GetBody()
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(replay); got != `{"n":1}` {
		t.Errorf("replayed body = %q, want {\"n\":1}", got)
	}

	boom := errors.New("boom")
	if _, err := NewJSONRequest(ctx, "http://x", appender{err: boom}, nil); !errors.Is(err, boom) || !strings.Contains(err.Error(), "encoding request body") {
		t.Errorf("NewJSONRequest(failing appender) error = %v, want it wrapped as an encoding error", err)
	}
}
