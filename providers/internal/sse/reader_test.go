package sse

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// event is an Event with Data copied, for comparison.
type event struct {
	Name, Data, ID string
}

// readAll reads every event from r until an error, returning the events and
// the error (io.EOF at a clean end).
func readAll(r *Reader) ([]event, error) {
	var evs []event
	for {
		ev, err := r.Next()
		if err != nil {
			return evs, err
		}
		evs = append(evs, event{Name: ev.Name, Data: string(ev.Data), ID: ev.ID})
	}
}

func TestReader(t *testing.T) {
	tests := []struct {
		name    string
		give    string
		want    []event
		wantErr error
	}{
		{
			name: "empty stream",
			give: "",
			want: nil,
		},
		{
			name: "one event LF",
			give: "data: hello\n\n",
			want: []event{{Data: "hello"}},
		},
		{
			name: "CRLF line breaks",
			give: "event: ping\r\ndata: a\r\n\r\ndata: b\r\n\r\n",
			want: []event{{Name: "ping", Data: "a"}, {Data: "b"}},
		},
		{
			name: "lone CR line breaks",
			give: "event: x\rdata: a\r\rdata: b\r\r",
			want: []event{{Name: "x", Data: "a"}, {Data: "b"}},
		},
		{
			name: "mixed line breaks",
			give: "data: a\r\n\ndata: b\r\rdata: c\n\r\n",
			want: []event{{Data: "a"}, {Data: "b"}, {Data: "c"}},
		},
		{
			name: "multi-line data joined with LF",
			give: "data: line1\ndata: line2\ndata:\ndata: line4\n\n",
			want: []event{{Data: "line1\nline2\n\nline4"}},
		},
		{
			name: "comments and keep-alives skipped",
			give: ": keep-alive\n\n:\ndata: x\n: in the middle\ndata: y\n\n: OPENROUTER PROCESSING\n\n",
			want: []event{{Data: "x\ny"}},
		},
		{
			name: "only one leading space stripped",
			give: "data:no space\n\ndata:  two spaces\n\n",
			want: []event{{Data: "no space"}, {Data: " two spaces"}},
		},
		{
			name: "field without colon is a field with empty value",
			give: "data\n\ndata\ndata\n\n",
			want: []event{{Data: ""}, {Data: "\n"}},
		},
		{
			name: "colon in value kept",
			give: `data: {"a":"b:c"}` + "\n\n",
			want: []event{{Data: `{"a":"b:c"}`}},
		},
		{
			name: "event without data is not dispatched and its name is reset",
			give: "event: lonely\n\ndata: x\n\n",
			want: []event{{Data: "x"}},
		},
		{
			name: "id persists across events",
			give: "id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\n",
			want: []event{{Data: "a", ID: "1"}, {Data: "b", ID: "1"}, {Data: "c"}},
		},
		{
			name: "id with NUL ignored",
			give: "id: 7\ndata: a\n\nid: 8\x009\ndata: b\n\n",
			want: []event{{Data: "a", ID: "7"}, {Data: "b", ID: "7"}},
		},
		{
			name: "unknown fields ignored",
			give: "foo: bar\ndata: a\nDATA: b\n\n",
			want: []event{{Data: "a"}},
		},
		{
			name: "named events",
			give: "event: message_start\ndata: {}\n\nevent: content_block_delta\ndata: 1\n\nevent: content_block_delta\ndata: 2\n\n",
			want: []event{
				{Name: "message_start", Data: "{}"},
				{Name: "content_block_delta", Data: "1"},
				{Name: "content_block_delta", Data: "2"},
			},
		},
		{
			name: "leading BOM stripped",
			give: "\xEF\xBB\xBFdata: a\n\n",
			want: []event{{Data: "a"}},
		},
		{
			name: "BOM only at start",
			give: "data: a\n\n\xEF\xBB\xBFdata: b\n\n",
			want: []event{{Data: "a"}},
		},
		{
			name: "final event without blank line is dispatched",
			give: "data: a\n\ndata: [DONE]\n",
			want: []event{{Data: "a"}, {Data: "[DONE]"}},
		},
		{
			name: "final event ending in CR without blank line is dispatched",
			give: "data: a\r",
			want: []event{{Data: "a"}},
		},
		{
			name:    "stream cut mid-line",
			give:    "data: a\n\ndata: {\"choices\":[",
			want:    []event{{Data: "a"}},
			wantErr: io.ErrUnexpectedEOF,
		},
		{
			name:    "stream cut mid-line after complete lines of the event",
			give:    "data: a\ndata: b",
			wantErr: io.ErrUnexpectedEOF,
		},
		{
			name: "blank lines only",
			give: "\n\n\r\n\r\r",
			want: nil,
		},
	}
	readers := []struct {
		name string
		wrap func(io.Reader) io.Reader
	}{
		{"whole", func(r io.Reader) io.Reader { return r }},
		{"one byte at a time", iotest.OneByteReader},
		{"half reads", iotest.HalfReader},
		{"data with EOF", iotest.DataErrReader},
	}
	for _, tt := range tests {
		for _, rd := range readers {
			t.Run(tt.name+"/"+rd.name, func(t *testing.T) {
				r := NewReader(rd.wrap(strings.NewReader(tt.give)), WithBufferSize(16))
				got, err := readAll(r)
				wantErr := tt.wantErr
				if wantErr == nil {
					wantErr = io.EOF
				}
				if !errors.Is(err, wantErr) {
					t.Errorf("Next() error = %v, want %v", err, wantErr)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("events mismatch (-want +got):\n%s", diff)
				}
				// Errors are sticky.
				if _, err2 := r.Next(); !errors.Is(err2, wantErr) {
					t.Errorf("Next() after end = %v, want %v", err2, wantErr)
				}
			})
		}
	}
}

func TestReaderRetry(t *testing.T) {
	tests := []struct {
		give string
		want time.Duration
	}{
		{give: "retry: 1500\ndata: a\n\n", want: 1500 * time.Millisecond},
		{give: "retry: 15x0\ndata: a\n\n", want: 0},
		{give: "retry: -1\ndata: a\n\n", want: 0},
		{give: "retry:\ndata: a\n\n", want: 0},
		{give: "retry: 10\nretry: bad\ndata: a\n\n", want: 10 * time.Millisecond},
		{give: "retry: 99999999999999999999999\ndata: a\n\n", want: 0},
	}
	for _, tt := range tests {
		r := NewReader(strings.NewReader(tt.give))
		if _, err := readAll(r); err != io.EOF {
			t.Fatalf("reading %q: %v", tt.give, err)
		}
		if got := r.Retry(); got != tt.want {
			t.Errorf("Retry() after %q = %v, want %v", tt.give, got, tt.want)
		}
	}
}

func TestReaderTooLarge(t *testing.T) {
	const limit = 64
	long := strings.Repeat("x", limit+1)
	tests := []struct {
		name    string
		give    string
		want    []event
		wantErr error
	}{
		{
			name: "line at the limit",
			give: "data:" + strings.Repeat("x", limit-5) + "\r\n\r\n",
			want: []event{{Data: strings.Repeat("x", limit-5)}},
		},
		{
			name:    "line over the limit",
			give:    "data: ok\n\ndata: " + long + "\n\n",
			want:    []event{{Data: "ok"}},
			wantErr: ErrTooLarge,
		},
		{
			name:    "line over the limit without line break",
			give:    "data: ok\n\n" + strings.Repeat("y", 10*limit),
			want:    []event{{Data: "ok"}},
			wantErr: ErrTooLarge,
		},
		{
			name:    "comment over the limit",
			give:    ":" + long + "\n",
			wantErr: ErrTooLarge,
		},
		{
			name:    "event data over the limit across lines",
			give:    strings.Repeat("data: "+strings.Repeat("z", 20)+"\n", 4) + "\n",
			wantErr: ErrTooLarge,
		},
		{
			name: "event data at the limit across lines",
			give: strings.Repeat("data: "+strings.Repeat("z", 20)+"\n", 3) + "\n",
			want: []event{{Data: strings.TrimSuffix(strings.Repeat(strings.Repeat("z", 20)+"\n", 3), "\n")}},
		},
	}
	for _, tt := range tests {
		for _, oneByte := range []bool{false, true} {
			t.Run(tt.name, func(t *testing.T) {
				var src io.Reader = strings.NewReader(tt.give)
				if oneByte {
					src = iotest.OneByteReader(src)
				}
				r := NewReader(src, WithMaxEventSize(limit), WithBufferSize(16))
				got, err := readAll(r)
				wantErr := tt.wantErr
				if wantErr == nil {
					wantErr = io.EOF
				}
				if !errors.Is(err, wantErr) {
					t.Errorf("Next() error = %v, want %v", err, wantErr)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("events mismatch (-want +got):\n%s", diff)
				}
			})
		}
	}
}

func TestReaderTooLargeMessage(t *testing.T) {
	r := NewReader(strings.NewReader("data: "+strings.Repeat("x", 100)+"\n\n"), WithMaxEventSize(10))
	_, err := r.Next()
	if err == nil || !strings.Contains(err.Error(), "longer than 10 bytes") {
		t.Errorf("Next() error = %v, want one naming the 10-byte bound", err)
	}
}

func TestReaderReadError(t *testing.T) {
	boom := errors.New("boom")
	r := NewReader(io.MultiReader(strings.NewReader("data: a\n\ndata: b\n"), iotest.ErrReader(boom)))
	got, err := readAll(r)
	if !errors.Is(err, boom) {
		t.Errorf("Next() error = %v, want %v", err, boom)
	}
	if diff := cmp.Diff([]event{{Data: "a"}}, got); diff != "" {
		t.Errorf("events mismatch (-want +got):\n%s", diff)
	}
}

// zeroReader always returns (0, nil).
type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }

func TestReaderNoProgress(t *testing.T) {
	r := NewReader(zeroReader{})
	if _, err := r.Next(); !errors.Is(err, io.ErrNoProgress) {
		t.Errorf("Next() error = %v, want %v", err, io.ErrNoProgress)
	}
}

func TestReaderDataReusedAndNamesInterned(t *testing.T) {
	r := NewReader(strings.NewReader("event: e\ndata: first\n\nevent: e\ndata: second\n\n"))
	ev1, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	name1 := ev1.Name
	ev2, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	if string(ev2.Data) != "second" {
		t.Errorf("Data = %q, want %q", ev2.Data, "second")
	}
	if ev2.Name != name1 || ev2.Name != "e" {
		t.Errorf("Name = %q, want %q", ev2.Name, "e")
	}
}

func TestReaderAllocations(t *testing.T) {
	stream := []byte(strings.Repeat("event: delta\nid: 1\ndata: {\"x\":1}\n\n: keep-alive\n\n", 200))
	br := bytes.NewReader(stream)
	r := NewReader(br)
	// Warm up buffers and interned strings.
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("allocations per event = %v, want 0", allocs)
	}
}

func BenchmarkReader(b *testing.B) {
	chunk := `data: {"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","system_fingerprint":"fp_44709d6fcb","choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}]}` + "\n\n"
	stream := []byte(strings.Repeat(chunk, 1000) + ": keep-alive\n\ndata: [DONE]\n\n")
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	br := bytes.NewReader(stream)
	for b.Loop() {
		br.Reset(stream)
		r := NewReader(br)
		n := 0
		for {
			_, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != 1001 {
			b.Fatalf("read %d events, want 1001", n)
		}
	}
}
