package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/llmgateway/llmgateway/llm"
	"github.com/llmgateway/llmgateway/providers/internal/providertest"
	"github.com/llmgateway/llmgateway/providers/internal/sse"
)

var errBadEvent = errors.New("bad event")

// eventStream is a minimal adapter stream: an event's data is a chunk's
// content, but "end" ends the stream, "last" ends it with a last chunk and
// "fail" fails it; blank events are skipped.
type eventStream struct {
	EventStream
}

var _ Decoder = (*eventStream)(nil)

func (s *eventStream) Recv() (llm.Chunk, error) { return s.NextChunk(s) }

func (s *eventStream) Decode(ev sse.Event) (llm.Chunk, bool, error) {
	switch d := string(ev.Data); d {
	case "":
		return llm.Chunk{}, false, nil
	case "end":
		s.Finish()
		return llm.Chunk{}, false, nil
	case "last":
		s.Finish()
		return llm.Chunk{Content: d}, true, nil
	case "fail":
		return llm.Chunk{}, false, errBadEvent
	default:
		return llm.Chunk{Content: d}, true, nil
	}
}

func (s *eventStream) EndOfEvents(err error) (llm.Chunk, error) {
	return llm.Chunk{}, s.Fail(s.ReadError(err, "ended early", "too large"))
}

// readAll receives until the stream ends and returns the contents joined
// with commas, and the error (nil at io.EOF).
func (s *eventStream) readAll() (string, error) {
	var got []string
	for {
		c, err := s.Recv()
		if err == io.EOF {
			return strings.Join(got, ","), nil
		}
		if err != nil {
			return strings.Join(got, ","), err
		}
		got = append(got, c.Content)
	}
}

// trackingCloser is a body that counts its Close calls.
type trackingCloser struct {
	io.Reader
	closes atomic.Int32
}

func (b *trackingCloser) Close() error {
	b.closes.Add(1)
	return nil
}

// openTest sets up an eventStream reading body, at most maxEvent bytes an
// event (0: the default), and returns it with its attempt's context.
func openTest(t *testing.T, body io.ReadCloser, maxEvent int) (*eventStream, context.Context) {
	var l Limits
	l.SetMaxEventBytes(maxEvent)
	c := newTestCaller(t, CallerConfig{}, l)
	o := c.Open(providertest.Context(t), &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: body})
	s := &eventStream{}
	o.Start(&s.EventStream)
	return s, s.Context()
}

func TestEventStream(t *testing.T) {
	tests := []struct {
		name         string
		give         string
		giveMaxEvent int
		want         string
		wantErr      error         // compared with errors.Is, when set
		wantKind     llm.ErrorKind // when set
		wantMessage  string
	}{
		{name: "ended by the decoder", give: "data: a\n\ndata: b\n\ndata: end\n\ndata: x\n\n", want: "a,b"},
		{name: "ended with a last chunk", give: "data: a\n\ndata: last\n\ndata: x\n\n", want: "a,last"},
		{name: "blank events skipped", give: "data: a\n\n: comment\n\ndata:\n\ndata: b\n\ndata: end\n\n", want: "a,b"},
		{name: "body ends early", give: "data: a\n\n", want: "a", wantKind: llm.KindConnection, wantErr: io.EOF, wantMessage: "ended early"},
		{name: "body cut mid-line", give: "data: a\n\ndata: b", want: "a", wantKind: llm.KindConnection, wantErr: io.ErrUnexpectedEOF, wantMessage: "ended early"},
		{name: "decoder fails", give: "data: a\n\ndata: fail\n\ndata: b\n\n", want: "a", wantErr: errBadEvent},
		{name: "event too large", give: "data: a\n\ndata: 0123456789\n\n", giveMaxEvent: 8, want: "a", wantKind: llm.KindMalformed, wantErr: sse.ErrTooLarge, wantMessage: "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := &trackingCloser{Reader: strings.NewReader(tt.give)}
			s, ctx := openTest(t, body, tt.giveMaxEvent)
			got, err := s.readAll()
			if got != tt.want {
				t.Errorf("contents = %q, want %q", got, tt.want)
			}
			switch {
			case tt.wantErr == nil && tt.wantKind == "":
				if err != nil {
					t.Errorf("error = %v, want the stream to end normally", err)
				}
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Errorf("error = %v, want it to wrap %v", err, tt.wantErr)
			}
			if tt.wantKind != "" {
				ue, ok := llm.AsUpstream(err)
				if !ok || ue.Kind != tt.wantKind || ue.Retryable != tt.wantKind.Retryable() || ue.Message != tt.wantMessage || ue.Provider != "test" {
					t.Errorf("error = %#v, want kind %s with message %q from test", err, tt.wantKind, tt.wantMessage)
				}
				if tt.wantKind == llm.KindMalformed && ue.StatusCode != http.StatusOK {
					t.Errorf("StatusCode = %d, want 200", ue.StatusCode)
				}
			}
			wantAgain := err
			if wantAgain == nil {
				wantAgain = io.EOF
			}
			if _, err2 := s.Recv(); err2 != wantAgain {
				t.Errorf("Recv() after the end = %v, want %v again", err2, wantAgain)
			}
			if n := body.closes.Load(); n != 1 || ctx.Err() == nil {
				t.Errorf("after the end: body closed %d times, context %v; want closed once and done", n, ctx.Err())
			}
			s.Close()
			if n := body.closes.Load(); n != 1 {
				t.Errorf("body closed %d times after Close, want once", n)
			}
		})
	}
}

func TestEventStreamCloseBeforeRecv(t *testing.T) {
	body := &trackingCloser{Reader: strings.NewReader("data: a\n\n")}
	s, ctx := openTest(t, body, 0)
	for range 2 {
		if err := s.Close(); err != nil {
			t.Errorf("Close() = %v, want nil", err)
		}
	}
	if !s.Closed() || context.Cause(ctx) != ErrStreamClosed || body.closes.Load() != 1 {
		t.Errorf("after Close: closed %v, context cause %v, body closed %d times; want true, %v, once", s.Closed(), context.Cause(ctx), body.closes.Load(), ErrStreamClosed)
	}
	_, err := s.Recv()
	ue, ok := llm.AsUpstream(err)
	if !ok || ue.Kind != llm.KindCanceled || ue.Retryable || !errors.Is(err, ErrStreamClosed) {
		t.Errorf("Recv() after Close = %v, want KindCanceled wrapping %v", err, ErrStreamClosed)
	}
	if _, err2 := s.Recv(); err2 != err {
		t.Errorf("Recv() again = %v, want the same error %v", err2, err)
	}
}

func TestEventStreamCloseDuringRecv(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	s, _ := openTest(t, pr, 0)
	go io.WriteString(pw, "data: a\n\n")
	if c, err := s.Recv(); err != nil || c.Content != "a" {
		t.Fatalf("Recv() = %+v, %v; want the first event", c, err)
	}
	recvErr := make(chan error, 1)
	go func() {
		_, err := s.Recv() // blocks: nothing more is written
		recvErr <- err
	}()
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() { s.Close() })
	}
	wg.Wait()
	select {
	case err := <-recvErr:
		if ue, ok := llm.AsUpstream(err); !ok || ue.Kind != llm.KindCanceled || !errors.Is(err, ErrStreamClosed) {
			t.Errorf("Recv() = %v, want KindCanceled wrapping %v", err, ErrStreamClosed)
		}
	case <-providertest.Context(t).Done():
		t.Fatal("Recv() did not return after Close()")
	}
}

// errReader fails every read with err, once ctx is done when wait is set.
type errReader struct {
	ctx  context.Context
	err  error
	wait bool
}

func (r errReader) Read([]byte) (int, error) {
	if r.wait {
		<-r.ctx.Done()
	}
	return 0, r.err
}

func TestEventStreamReadFailure(t *testing.T) {
	t.Run("connection reset", func(t *testing.T) {
		reset := errors.New("connection reset by peer")
		s, _ := openTest(t, io.NopCloser(errReader{err: reset}), 0)
		_, err := s.Recv()
		if ue, ok := llm.AsUpstream(err); !ok || ue.Kind != llm.KindConnection || !ue.Retryable || !errors.Is(err, reset) {
			t.Errorf("Recv() = %v, want a retryable KindConnection wrapping %v", err, reset)
		}
	})
	t.Run("caller deadline", func(t *testing.T) {
		var l Limits
		c := newTestCaller(t, CallerConfig{}, l)
		ctx, cancel := context.WithTimeout(providertest.Context(t), 20*time.Millisecond)
		defer cancel()
		s := &eventStream{}
		o := c.Open(ctx, &http.Response{StatusCode: http.StatusOK, Header: http.Header{}})
		o.Response.Body = io.NopCloser(errReader{ctx: o.ctx, err: context.DeadlineExceeded, wait: true})
		o.Start(&s.EventStream)
		_, err := s.Recv()
		if ue, ok := llm.AsUpstream(err); !ok || ue.Kind != llm.KindTimeout || !ue.Retryable {
			t.Errorf("Recv() = %v, want a retryable KindTimeout", err)
		}
	})
}

func TestReplay(t *testing.T) {
	u := llm.Usage{PromptTokens: 3}
	want := []llm.Chunk{{Content: "a"}, {FinishReason: llm.FinishStop, Usage: &u}}
	s := Replay(want...)
	var got []llm.Chunk
	for {
		c, err := s.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Recv() error = %v", err)
		}
		got = append(got, c)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Replay() chunks mismatch (-want +got):\n%s", diff)
	}
	if _, err := s.Recv(); err != io.EOF {
		t.Errorf("Recv() after the end = %v, want io.EOF", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close() = %v, want nil", err)
	}
}

func TestToolCallDeltas(t *testing.T) {
	if got := ToolCallDeltas(nil); got != nil {
		t.Errorf("ToolCallDeltas(nil) = %v, want nil", got)
	}
	got := ToolCallDeltas([]llm.ToolCall{{ID: "a", Name: "f", Arguments: "{}"}, {ID: "b", Name: "g", Arguments: `{"x":1}`}})
	want := []llm.ToolCallDelta{{Index: 0, ID: "a", Name: "f", Arguments: "{}"}, {Index: 1, ID: "b", Name: "g", Arguments: `{"x":1}`}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ToolCallDeltas() mismatch (-want +got):\n%s", diff)
	}
}

func TestMalformed(t *testing.T) {
	cause := errors.New("unexpected token")
	got := Malformed("p", 200, "decoding stream chunk", cause)
	want := &llm.UpstreamError{Provider: "p", Kind: llm.KindMalformed, StatusCode: 200, Retryable: true, Message: "decoding stream chunk", Err: cause}
	if *got != *want {
		t.Errorf("Malformed() = %#v, want %#v", got, want)
	}
}

func TestErrorObjectFromResponse(t *testing.T) {
	type wireError struct {
		Message string `json:"message"`
		Type    string `json:"type"`
	}
	parse := func(b []byte) *wireError {
		var body struct{ Error *wireError }
		if json.Unmarshal(b, &body) != nil {
			return nil
		}
		return body.Error
	}
	describe := func(e *wireError) string { return e.Message + " (type=" + e.Type + ")" }
	tests := []struct {
		name        string
		giveBody    string
		wantMessage string
		wantObj     *wireError
	}{
		{"object", `{"error":{"message":"slow down","type":"rate_limit"}}`, "slow down (type=rate_limit)", &wireError{"slow down", "rate_limit"}},
		{"no object", "<html>busy</html>", "<html>busy</html>", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := response(429, nil, tt.giveBody)
			ue, obj := ErrorObjectFromResponse("test", resp, parse, describe)
			if ue.Kind != llm.KindRateLimited || ue.Message != tt.wantMessage || !body.closed {
				t.Errorf("ErrorObjectFromResponse() = %v (body closed %v), want a rate limit with message %q", ue, body.closed, tt.wantMessage)
			}
			if diff := cmp.Diff(tt.wantObj, obj); diff != "" {
				t.Errorf("object mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
