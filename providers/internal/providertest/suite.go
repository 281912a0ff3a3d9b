package providertest

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/llmgateway/llmgateway/llm"
)

// Provider is what an adapter's client does: the router's Provider.
type Provider interface {
	Chat(ctx context.Context, req *llm.Request) (*llm.Response, error)
	ChatStream(ctx context.Context, req *llm.Request) (llm.Stream, error)
}

// Settings are what the shared tests vary in a client: the fake upstream
// it calls and the knobs every adapter offers. Zero values mean the
// adapter's defaults.
type Settings struct {
	BaseURL          string
	Timeout          time.Duration // Config.Timeout
	MaxResponseBytes int64         // WithMaxResponseBytes
	MaxEventBytes    int           // WithMaxEventBytes
	HTTPClient       *http.Client  // WithHTTPClient
}

// Suite describes an adapter to the shared tests, with fixtures in its
// provider's wire format.
type Suite struct {
	// New returns a client of the adapter named Name and configured by s,
	// whose idle connections are closed at the end of the test.
	New func(t testing.TB, s Settings) Provider
	// Request returns a minimal valid request.
	Request func() *llm.Request

	// JSONHeader and SSEHeader are the headers the fake upstream sends
	// with JSON answers (error responses included) and with event
	// streams, a Content-Type among them.
	JSONHeader, SSEHeader http.Header

	// TextBody is a unary answer with text, and TextEvents the same
	// answer streamed; TextContent is their text.
	TextBody    string
	TextEvents  []string
	TextContent string
	// The first StreamHead events of TextEvents bring the stream's first
	// chunk, whose content is FirstContent.
	StreamHead   int
	FirstContent string
	// PartialBody is the start of a unary answer, cut short.
	PartialBody string

	// StreamTimeoutMessage is a fragment of the error of a streamed call
	// whose upstream sends no headers within Config.Timeout (50ms).
	StreamTimeoutMessage string
	// TimeoutFirstEvent says that Config.Timeout also bounds the wait for
	// a stream's first event, not the headers alone.
	TimeoutFirstEvent bool

	// ReplayBody is a unary answer sent to a streamed request, which the
	// stream must replay as ReplayWant (but for the ID, which a stream
	// does not carry). ReplayErrorBody is an error object sent with 200
	// to a streamed request, which ChatStream must return as an error of
	// kind ReplayErrorKind.
	ReplayBody      string
	ReplayWant      *llm.Response
	ReplayErrorBody string
	ReplayErrorKind llm.ErrorKind

	// ErrorCases returns the adapter's error responses, each of which
	// Chat and ChatStream must map as it says.
	ErrorCases func() []ErrorCase
	// ErrClosed is the error that the KindCanceled error of a Recv after
	// Close wraps.
	ErrClosed error

	// RejectsAsBadRequest says that the adapter refuses an invalid
	// request with an *llm.UpstreamError of KindBadRequest and status 0,
	// rather than with a plain error.
	RejectsAsBadRequest bool
}

// JSON returns a handler that records each request in rc, when it is not
// nil, and answers status with body and JSONHeader.
func (s Suite) JSON(rc *Recorder, status int, body string) http.HandlerFunc {
	return JSONHandler(rc, s.JSONHeader, status, body)
}

// SSE returns a handler that records each request in rc, when it is not
// nil, and answers 200 with SSEHeader and the raw events, flushing after
// each.
func (s Suite) SSE(rc *Recorder, events ...string) http.HandlerFunc {
	return SSEHandler(rc, s.SSEHeader, events...)
}

// Chat makes a unary call with Request against a fake upstream answering
// status 200 with body.
func (s Suite) Chat(t *testing.T, body string) (*llm.Response, error) {
	t.Helper()
	c := s.New(t, Settings{BaseURL: NewServer(t, s.JSON(nil, 200, body)).URL})
	return c.Chat(Context(t), s.Request())
}

// CheckChat checks that Chat maps an answer of status 200 with body to
// want.
func (s Suite) CheckChat(t *testing.T, body string, want *llm.Response) {
	t.Helper()
	got, err := s.Chat(t, body)
	if err != nil {
		t.Fatalf("Chat() error = %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Chat() mismatch (-want +got):\n%s", diff)
	}
}

// CheckChatError checks that Chat maps an answer of status 200 with body to
// an error of the given kind, retryable as the kind is, that mentions msg.
func (s Suite) CheckChatError(t *testing.T, body string, kind llm.ErrorKind, msg string) {
	t.Helper()
	_, err := s.Chat(t, body)
	ue := WantUpstream(t, err, kind, kind.Retryable())
	if !strings.Contains(ue.Error(), msg) {
		t.Errorf("Chat() error = %v, want it to mention %q", err, msg)
	}
}

// CheckStreamMatchesUnary checks that an exchange answered whole with
// unaryBody and streamed as events gives the same response (but for the
// ID, which a stream does not carry), and that the stream reports usage
// exactly once, on or after the chunk with the finish reason.
func (s Suite) CheckStreamMatchesUnary(t *testing.T, unaryBody string, events []string) {
	t.Helper()
	unary, err := s.Chat(t, unaryBody)
	if err != nil {
		t.Fatalf("Chat() error = %v", err)
	}
	chunks, err := ReadStream(t, s.StreamEvents(t, events...))
	if err != nil {
		t.Fatalf("reading stream: %v", err)
	}
	usages, finishAt, usageAt := 0, -1, -1
	var a llm.Assembler
	for i := range chunks {
		if chunks[i].FinishReason != "" && finishAt < 0 {
			finishAt = i
		}
		if chunks[i].Usage != nil {
			usages++
			usageAt = i
		}
		a.Add(&chunks[i])
	}
	if usages != 1 || usageAt < finishAt || finishAt < 0 {
		t.Errorf("stream reported usage %d times (last at chunk %d) and finished at chunk %d; want usage once, on or after the finish", usages, usageAt, finishAt)
	}
	unary.ID = ""
	if diff := cmp.Diff(unary, a.Response()); diff != "" {
		t.Errorf("streamed response differs from unary (-unary +streamed):\n%s", diff)
	}
}

// BaseURLCase is a base URL, appended to the fake upstream's, and the path
// and query a client given it must post to.
type BaseURLCase struct {
	Give, WantPath, WantRawQuery string
}

// CheckBaseURLs checks where a client given each base URL posts.
func (s Suite) CheckBaseURLs(t *testing.T, cases []BaseURLCase) {
	for _, tt := range cases {
		t.Run(tt.Give, func(t *testing.T) {
			got := s.Exchange(t, func(url string) Provider {
				return s.New(t, Settings{BaseURL: url + tt.Give})
			}, s.Request(), false)
			if got.Path != tt.WantPath || got.RawQuery != tt.WantRawQuery || got.Method != http.MethodPost {
				t.Errorf("BaseURL %q: request %s %s?%s, want POST %s?%s", tt.Give, got.Method, got.Path, got.RawQuery, tt.WantPath, tt.WantRawQuery)
			}
		})
	}
}

// Stream opens a streamed call with Request, by a client configured by
// set, against a fake upstream that answers with h. It fails the test when
// ChatStream fails.
func (s Suite) Stream(t *testing.T, set Settings, h http.HandlerFunc) llm.Stream {
	t.Helper()
	set.BaseURL = NewServer(t, h).URL
	st, err := s.New(t, set).ChatStream(Context(t), s.Request())
	if err != nil {
		t.Fatalf("ChatStream() error = %v", err)
	}
	return st
}

// StreamEvents is Stream with the default settings and an upstream that
// answers with events.
func (s Suite) StreamEvents(t *testing.T, events ...string) llm.Stream {
	t.Helper()
	return s.Stream(t, Settings{}, s.SSE(nil, events...))
}

// Exchange makes one call with req, by the client newClient returns for a
// fake upstream that answers with TextBody or, when stream is set, with
// TextEvents, read to the end. It fails the test when the call fails, and
// returns what the upstream received.
func (s Suite) Exchange(t *testing.T, newClient func(baseURL string) Provider, req *llm.Request, stream bool) Recorded {
	t.Helper()
	var rc Recorder
	h := s.JSON(&rc, 200, s.TextBody)
	if stream {
		h = s.SSE(&rc, s.TextEvents...)
	}
	c := newClient(NewServer(t, h).URL)
	ctx := Context(t)
	if stream {
		st, err := c.ChatStream(ctx, req)
		if err != nil {
			t.Fatalf("ChatStream() error = %v", err)
		}
		if _, err := ReadStream(t, st); err != nil {
			t.Fatalf("reading stream: %v", err)
		}
	} else if _, err := c.Chat(ctx, req); err != nil {
		t.Fatalf("Chat() error = %v", err)
	}
	return rc.Last(t)
}

// Reject checks that Chat and ChatStream refuse req, with an error
// containing wantErr, before sending anything. The error is a plain one
// that names the provider, or, with RejectsAsBadRequest, an
// *llm.UpstreamError of KindBadRequest and status 0.
func (s Suite) Reject(t *testing.T, req *llm.Request, wantErr string) {
	t.Helper()
	var rc Recorder
	c := s.New(t, Settings{BaseURL: NewServer(t, s.JSON(&rc, 200, s.TextBody)).URL})
	ctx := Context(t)
	_, err := c.Chat(ctx, req)
	prefix := Name + ": "
	if s.RejectsAsBadRequest {
		prefix += string(llm.KindBadRequest) + ": "
		if ue := WantUpstream(t, err, llm.KindBadRequest, false); ue.StatusCode != 0 {
			t.Errorf("StatusCode = %d, want 0 for a request never sent", ue.StatusCode)
		}
	} else if _, ok := llm.AsUpstream(err); ok {
		t.Errorf("Chat() error = %v is an upstream error, want a request error", err)
	}
	if err == nil || !strings.Contains(err.Error(), wantErr) || !strings.HasPrefix(err.Error(), prefix) {
		t.Errorf("Chat() error = %v, want one starting %q and containing %q", err, prefix, wantErr)
	}
	err = ChatStreamError(t, c, req)
	if s.RejectsAsBadRequest {
		WantUpstream(t, err, llm.KindBadRequest, false)
	}
	if err == nil || !strings.Contains(err.Error(), wantErr) {
		t.Errorf("ChatStream() error = %v, want one containing %q", err, wantErr)
	}
	if n := rc.Count(); n != 0 {
		t.Errorf("the server received %d requests, want none for an invalid request", n)
	}
}
