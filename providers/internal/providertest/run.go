package providertest

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llmgateway/llmgateway/llm"
)

// Run runs the tests of the behaviour every adapter must have.
func (s Suite) Run(t *testing.T) {
	t.Run("ChatTimeout", s.testChatTimeout)
	t.Run("ChatTimeoutDuringBody", s.testChatTimeoutDuringBody)
	t.Run("ChatCallerCancels", s.testChatCallerCancels)
	t.Run("ConnectionRefused", s.testConnectionRefused)
	t.Run("ServerHangsUp", s.testServerHangsUp)
	t.Run("ChatResponseTooLarge", s.testChatResponseTooLarge)
	t.Run("WithHTTPClient", s.testWithHTTPClient)
	t.Run("Errors", s.testErrors)
	t.Run("StreamHeaderTimeout", s.testStreamHeaderTimeout)
	if s.TimeoutFirstEvent {
		t.Run("StreamFirstEventTimeout", s.testStreamFirstEventTimeout)
	}
	t.Run("StreamTimeoutSpares", s.testStreamTimeoutSpares)
	t.Run("StreamAfterEnd", s.testStreamAfterEnd)
	t.Run("StreamCallerEnds", s.testStreamCallerEnds)
	t.Run("StreamCloseDuringRecv", s.testStreamCloseDuringRecv)
	t.Run("StreamCloseBeforeRecv", s.testStreamCloseBeforeRecv)
	t.Run("StreamJSONReplay", s.testStreamJSONReplay)
}

func (s Suite) testChatTimeout(t *testing.T) {
	h, release := Stall()
	defer release()
	c := s.New(t, Settings{BaseURL: NewServer(t, h).URL, Timeout: 50 * time.Millisecond})
	_, err := c.Chat(Context(t), s.Request())
	ue := WantUpstream(t, err, llm.KindTimeout, true)
	if !strings.Contains(ue.Error(), "no response within 50ms") {
		t.Errorf("Chat() error = %v, want it to name the timeout", err)
	}
}

// testChatTimeoutDuringBody checks that the unary timeout also bounds
// reading the body.
func (s Suite) testChatTimeoutDuringBody(t *testing.T) {
	wait, release := Stall()
	defer release()
	srv := NewServer(t, func(w http.ResponseWriter, r *http.Request) {
		copyHeader(w.Header(), s.JSONHeader)
		io.WriteString(w, s.PartialBody)
		w.(http.Flusher).Flush()
		wait(w, r)
	})
	c := s.New(t, Settings{BaseURL: srv.URL, Timeout: 100 * time.Millisecond})
	_, err := c.Chat(Context(t), s.Request())
	WantUpstream(t, err, llm.KindTimeout, true)
}

func (s Suite) testChatCallerCancels(t *testing.T) {
	arrived := make(chan struct{})
	upstreamDone := make(chan struct{})
	srv := NewServer(t, func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		if WaitClientGone(r) {
			close(upstreamDone)
		}
	})
	c := s.New(t, Settings{BaseURL: srv.URL})
	ctx, cancel := context.WithCancel(Context(t))
	go func() {
		<-arrived
		cancel()
	}()
	_, err := c.Chat(ctx, s.Request())
	WantUpstream(t, err, llm.KindCanceled, false)
	waitDone(t, upstreamDone)
}

func (s Suite) testConnectionRefused(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	s.wantBothFail(t, s.New(t, Settings{BaseURL: "http://" + addr}), llm.KindConnection, true)
}

func (s Suite) testServerHangsUp(t *testing.T) {
	srv := NewServer(t, func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	})
	s.wantBothFail(t, s.New(t, Settings{BaseURL: srv.URL}), llm.KindConnection, true)
}

// wantBothFail checks that Chat and ChatStream by c fail with an error of
// the given kind and retryability.
func (s Suite) wantBothFail(t *testing.T, c Provider, kind llm.ErrorKind, retryable bool) {
	t.Helper()
	_, err := c.Chat(Context(t), s.Request())
	WantUpstream(t, err, kind, retryable)
	WantUpstream(t, ChatStreamError(t, c, s.Request()), kind, retryable)
}

func (s Suite) testChatResponseTooLarge(t *testing.T) {
	c := s.New(t, Settings{BaseURL: NewServer(t, s.JSON(nil, 200, s.TextBody)).URL, MaxResponseBytes: 100})
	_, err := c.Chat(Context(t), s.Request())
	ue := WantUpstream(t, err, llm.KindMalformed, true)
	if !strings.Contains(ue.Message, "exceeds 100 bytes") {
		t.Errorf("Message = %q, want the bound named", ue.Message)
	}
}

// roundTripCounter counts the requests sent through it.
type roundTripCounter struct {
	mu sync.Mutex
	n  int
	rt http.RoundTripper
}

func (c *roundTripCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	return c.rt.RoundTrip(r)
}

func (s Suite) testWithHTTPClient(t *testing.T) {
	srv := NewServer(t, s.JSON(nil, 200, s.TextBody))
	counter := &roundTripCounter{rt: srv.Client().Transport}
	c := s.New(t, Settings{BaseURL: srv.URL, HTTPClient: &http.Client{Transport: counter}})
	if _, err := c.Chat(Context(t), s.Request()); err != nil {
		t.Fatalf("Chat() error = %v", err)
	}
	counter.mu.Lock()
	defer counter.mu.Unlock()
	if counter.n != 1 {
		t.Errorf("the custom client sent %d requests, want 1", counter.n)
	}
}

// errorHandler answers every request with the error case's response.
func (s Suite) errorHandler(tt ErrorCase) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for k, v := range tt.GiveHeader {
			w.Header().Set(k, v)
		}
		copyHeader(w.Header(), s.JSONHeader)
		w.WriteHeader(tt.GiveStatus)
		io.WriteString(w, tt.GiveBody)
	}
}

// testErrors checks the adapter's error cases with Chat, and with
// ChatStream with and without a timeout (which a streamed call may still
// be under when it maps the error).
func (s Suite) testErrors(t *testing.T) {
	for _, tt := range s.ErrorCases() {
		t.Run(tt.Name, func(t *testing.T) {
			srv := NewServer(t, s.errorHandler(tt))
			t.Run("Chat", func(t *testing.T) {
				_, err := s.New(t, Settings{BaseURL: srv.URL}).Chat(Context(t), s.Request())
				CheckErrorCase(t, tt, err)
			})
			for _, v := range []struct {
				name    string
				timeout time.Duration
			}{{"ChatStream", 0}, {"ChatStreamUnderTimeout", 10 * time.Second}} {
				t.Run(v.name, func(t *testing.T) {
					st, err := s.New(t, Settings{BaseURL: srv.URL, Timeout: v.timeout}).ChatStream(Context(t), s.Request())
					if err == nil {
						st.Close()
						t.Fatalf("ChatStream() succeeded on HTTP %d, want an error", tt.GiveStatus)
					}
					CheckErrorCase(t, tt, err)
				})
			}
		})
	}
}

func (s Suite) testStreamHeaderTimeout(t *testing.T) {
	h, release := Stall()
	defer release()
	c := s.New(t, Settings{BaseURL: NewServer(t, h).URL, Timeout: 50 * time.Millisecond})
	start := time.Now()
	err := ChatStreamError(t, c, s.Request())
	ue := WantUpstream(t, err, llm.KindTimeout, true)
	if !strings.Contains(ue.Error(), s.StreamTimeoutMessage) {
		t.Errorf("ChatStream() error = %v, want it to contain %q", err, s.StreamTimeoutMessage)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("ChatStream() took %v, want it to give up at the timeout", d)
	}
}

// testStreamTimeoutSpares checks that the timeout bounds only the wait
// for the headers (or, with TimeoutFirstEvent, for the first event): a
// stream whose events come later than the timeout after that is not cut.
func (s Suite) testStreamTimeoutSpares(t *testing.T) {
	const timeout = 500 * time.Millisecond
	head := 0 // the events sent at once
	if s.TimeoutFirstEvent {
		head = 1
	}
	st := s.Stream(t, Settings{Timeout: timeout}, func(w http.ResponseWriter, r *http.Request) {
		copyHeader(w.Header(), s.SSEHeader)
		w.WriteHeader(http.StatusOK)
		for _, e := range s.TextEvents[:head] {
			io.WriteString(w, e)
		}
		w.(http.Flusher).Flush()
		select {
		case <-time.After(3 * timeout): // had the timer not been stopped, it fires in this wait
		case <-r.Context().Done():
			return
		}
		for _, e := range s.TextEvents[head:] {
			io.WriteString(w, e)
			w.(http.Flusher).Flush()
		}
	})
	got, err := llm.Collect(st)
	if err != nil {
		t.Fatalf("Collect() error = %v, want the slow stream to complete", err)
	}
	if got.Message.Content != s.TextContent {
		t.Errorf("content = %q, want %q", got.Message.Content, s.TextContent)
	}
}

// testStreamFirstEventTimeout checks that the timeout bounds the wait for
// the first event of a stream whose headers came in time.
func (s Suite) testStreamFirstEventTimeout(t *testing.T) {
	wait, release := Stall()
	defer release()
	st := s.Stream(t, Settings{Timeout: 50 * time.Millisecond}, func(w http.ResponseWriter, r *http.Request) {
		copyHeader(w.Header(), s.SSEHeader)
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		wait(w, r)
	})
	_, err := ReadStream(t, st)
	WantUpstream(t, err, llm.KindTimeout, true)
}

func (s Suite) testStreamAfterEnd(t *testing.T) {
	st := s.StreamEvents(t, s.TextEvents...)
	if _, err := ReadStream(t, st); err != nil {
		t.Fatalf("reading stream: %v", err)
	}
	for range 2 {
		if c, err := st.Recv(); err != io.EOF {
			t.Errorf("Recv() after the end = %+v, %v; want io.EOF", c, err)
		}
	}
}

// holdingStream opens a stream whose upstream sends the first StreamHead
// events of TextEvents and then holds the stream open until the client
// goes away, which it reports on the returned channel.
func (s Suite) holdingStream(t *testing.T, ctx context.Context) (llm.Stream, <-chan struct{}) {
	t.Helper()
	upstreamDone := make(chan struct{})
	srv := NewServer(t, func(w http.ResponseWriter, r *http.Request) {
		copyHeader(w.Header(), s.SSEHeader)
		w.WriteHeader(http.StatusOK)
		for _, e := range s.TextEvents[:s.StreamHead] {
			io.WriteString(w, e)
		}
		w.(http.Flusher).Flush()
		if WaitClientGone(r) {
			close(upstreamDone)
		}
	})
	st, err := s.New(t, Settings{BaseURL: srv.URL}).ChatStream(ctx, s.Request())
	if err != nil {
		t.Fatalf("ChatStream() error = %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st, upstreamDone
}

// recvFirst receives the first chunk of a holdingStream.
func (s Suite) recvFirst(t *testing.T, st llm.Stream) {
	t.Helper()
	if c, err := st.Recv(); err != nil || c.Content != s.FirstContent {
		t.Fatalf("Recv() = %+v, %v; want the first chunk, with content %q", c, err, s.FirstContent)
	}
}

// waitDone waits for the upstream to see the client go away.
func waitDone(t *testing.T, upstreamDone <-chan struct{}) {
	t.Helper()
	select {
	case <-upstreamDone:
	case <-Context(t).Done():
		t.Fatal("the upstream request was not cancelled")
	}
}

// testStreamCallerEnds checks that a stream the caller abandons, by
// cancelling its context before or during Recv or letting its deadline
// pass, fails and cancels the upstream request.
func (s Suite) testStreamCallerEnds(t *testing.T) {
	tests := []struct {
		name          string
		giveCtx       func(ctx context.Context) (context.Context, context.CancelFunc)
		giveCancel    func(cancel context.CancelFunc) // after the first chunk
		wantKind      llm.ErrorKind
		wantRetryable bool
	}{
		{
			name:       "cancel before Recv",
			giveCtx:    context.WithCancel,
			giveCancel: func(cancel context.CancelFunc) { cancel() },
			wantKind:   llm.KindCanceled,
		},
		{
			name:       "cancel during Recv",
			giveCtx:    context.WithCancel,
			giveCancel: func(cancel context.CancelFunc) { time.AfterFunc(20*time.Millisecond, cancel) },
			wantKind:   llm.KindCanceled,
		},
		{
			name: "deadline",
			giveCtx: func(ctx context.Context) (context.Context, context.CancelFunc) {
				return context.WithTimeout(ctx, 2*time.Second)
			},
			giveCancel:    func(context.CancelFunc) {},
			wantKind:      llm.KindTimeout,
			wantRetryable: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := tt.giveCtx(Context(t))
			defer cancel()
			st, upstreamDone := s.holdingStream(t, ctx)
			s.recvFirst(t, st)
			tt.giveCancel(cancel)
			_, err := st.Recv()
			WantUpstream(t, err, tt.wantKind, tt.wantRetryable)
			waitDone(t, upstreamDone)
			if _, err2 := st.Recv(); err2 != err {
				t.Errorf("Recv() after the failure = %v, want the same error %v", err2, err)
			}
		})
	}
}

func (s Suite) testStreamCloseDuringRecv(t *testing.T) {
	st, upstreamDone := s.holdingStream(t, Context(t))
	s.recvFirst(t, st)
	recvErr := make(chan error, 1)
	go func() {
		_, err := st.Recv() // blocks: the upstream sends nothing more
		recvErr <- err
	}()
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if err := st.Close(); err != nil {
				t.Errorf("Close() = %v, want nil", err)
			}
		})
	}
	wg.Wait()
	var err error
	select {
	case err = <-recvErr:
		ue := WantUpstream(t, err, llm.KindCanceled, false)
		if !errors.Is(ue, s.ErrClosed) {
			t.Errorf("Recv() error = %v, want it to wrap %v", err, s.ErrClosed)
		}
	case <-Context(t).Done():
		t.Fatal("Recv() did not return after Close()")
	}
	waitDone(t, upstreamDone)
	if err := st.Close(); err != nil {
		t.Errorf("Close() again = %v, want nil", err)
	}
	if _, err2 := st.Recv(); err2 != err {
		t.Errorf("Recv() after Close() = %v, want the same error %v", err2, err)
	}
}

func (s Suite) testStreamCloseBeforeRecv(t *testing.T) {
	st, upstreamDone := s.holdingStream(t, Context(t))
	st.Close()
	_, err := st.Recv()
	WantUpstream(t, err, llm.KindCanceled, false)
	waitDone(t, upstreamDone)
}

// testStreamJSONReplay covers an upstream (a proxy, or a server that
// ignores the stream flag) that answers a streamed request with a JSON
// body: an answer, replayed as a stream, or an error object sent with 200.
func (s Suite) testStreamJSONReplay(t *testing.T) {
	CheckCollected(t, s.Stream(t, Settings{}, s.JSON(nil, 200, s.ReplayBody)), s.ReplayWant)

	c := s.New(t, Settings{BaseURL: NewServer(t, s.JSON(nil, 200, s.ReplayErrorBody)).URL})
	err := ChatStreamError(t, c, s.Request())
	WantUpstream(t, err, s.ReplayErrorKind, s.ReplayErrorKind.Retryable())
}
