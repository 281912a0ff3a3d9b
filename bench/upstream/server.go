package upstream

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/llmgateway/llmgateway/llm"
	"github.com/llmgateway/llmgateway/providers/simulator"
)

// Config configures a Server.
type Config struct {
	// Latency is the time to the first token, and the base latency of a
	// unary answer. Only P50 set (or P99 equal to it) makes it fixed.
	// Default: none.
	Latency simulator.LatencyDist
	// Chunks fixes the length of every answer to this many tokens, one
	// content chunk each when streamed. Must be >= 0. Default: 0, the
	// simulator's own reply (8 to 40 words, depending on the request).
	Chunks int
	// ChunkDelay is the time between two stream chunks; a unary answer
	// waits as long as the stream would have. Must be >= 0. Default: 0.
	ChunkDelay time.Duration
	// Seed seeds the simulator's latency draws. Default: 0.
	Seed int64
}

// Option customises a Server.
type Option func(*options)

type options struct {
	logger          *slog.Logger
	maxRequestBytes int64
}

var defaultOptions = options{
	logger:          slog.New(slog.DiscardHandler),
	maxRequestBytes: 4 << 20,
}

// WithLogger sets the logger of request errors. Default: discard.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// WithMaxRequestBytes bounds a request body; a bigger one is answered
// with HTTP 413. Default: 4 MiB. Values below 1 keep the default.
func WithMaxRequestBytes(n int64) Option {
	return func(o *options) {
		if n > 0 {
			o.maxRequestBytes = n
		}
	}
}

// Server is an OpenAI-compatible chat completions server over the
// simulator. It is an http.Handler, safe for concurrent use.
type Server struct {
	sim   *simulator.Provider
	meta  map[string]string // read-only request metadata; nil without Chunks
	opts  options
	ids   atomic.Uint64
	calls sync.Pool // *call
}

// New returns a Server configured by cfg. It fails when a field of cfg is
// out of range, saying which.
func New(cfg Config, opts ...Option) (*Server, error) {
	if cfg.Chunks < 0 {
		return nil, fmt.Errorf("chunks is %d, want 0 (the simulator's own reply length) or more", cfg.Chunks)
	}
	if cfg.ChunkDelay < 0 {
		return nil, fmt.Errorf("chunk delay is %v, want 0 or more", cfg.ChunkDelay)
	}
	sc := simulator.Config{Name: "llmsim", Latency: cfg.Latency, Seed: cfg.Seed}
	if cfg.ChunkDelay > 0 {
		sc.TokensPerSecond = float64(time.Second) / float64(cfg.ChunkDelay)
	}
	sim, err := simulator.New(sc)
	if err != nil {
		return nil, fmt.Errorf("simulator: %w", err)
	}
	o := defaultOptions
	for _, opt := range opts {
		opt(&o)
	}
	s := &Server{sim: sim, opts: o}
	if cfg.Chunks > 0 {
		s.meta = map[string]string{simulator.MetadataReply: Reply(cfg.Chunks)}
	}
	s.calls.New = func() any { return new(call) }
	return s, nil
}

// Reply returns the text of an answer of n tokens, as the server sends
// with Config.Chunks n: n words, each but the last followed by a space.
func Reply(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("token ", n-1) + "token"
}

// call is one request's reusable state.
type call struct {
	body bytes.Buffer
	req  chatRequest
	llm  llm.Request
	msgs []llm.Message
	out  []byte
}

// maxPooledBytes keeps unusually large buffers out of the pool.
const maxPooledBytes = 64 << 10

func (s *Server) getCall() *call { return s.calls.Get().(*call) }

func (s *Server) putCall(c *call) {
	if c.body.Cap() > maxPooledBytes || cap(c.out) > maxPooledBytes {
		return
	}
	c.body.Reset()
	c.req = chatRequest{Messages: c.req.Messages[:0]}
	clear(c.msgs)
	c.msgs = c.msgs[:0]
	c.llm = llm.Request{}
	c.out = c.out[:0]
	s.calls.Put(c)
}

// ServeHTTP serves POST /v1/chat/completions (also /chat/completions) and
// GET /healthz.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/v1/chat/completions", "/chat/completions":
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			s.writeError(w, http.StatusMethodNotAllowed, "invalid_request_error", "use POST for "+r.URL.Path)
			return
		}
		s.chat(w, r)
	case "/healthz":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	default:
		s.writeError(w, http.StatusNotFound, "invalid_request_error", "unknown path "+strconv.Quote(r.URL.Path)+": this server answers POST /v1/chat/completions")
	}
}

func (s *Server) chat(w http.ResponseWriter, r *http.Request) {
	c := s.getCall()
	defer s.putCall(c)
	if _, err := c.body.ReadFrom(http.MaxBytesReader(w, r.Body, s.opts.maxRequestBytes)); err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			s.writeError(w, http.StatusRequestEntityTooLarge, "invalid_request_error",
				"request body over "+strconv.FormatInt(mbe.Limit, 10)+" bytes")
			return
		}
		s.writeError(w, http.StatusBadRequest, "invalid_request_error", "reading the request body: "+err.Error())
		return
	}
	if msg := c.decode(s.meta); msg != "" {
		s.writeError(w, http.StatusBadRequest, "invalid_request_error", msg)
		return
	}
	if c.req.Stream {
		s.stream(w, r, c)
		return
	}
	resp, err := s.sim.Chat(r.Context(), &c.llm)
	if err != nil {
		s.writeUpstreamError(w, err)
		return
	}
	c.out = s.appendCompletion(c.out[:0], resp, c.llm.Model)
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["Content-Length"] = []string{strconv.Itoa(len(c.out))}
	w.WriteHeader(http.StatusOK)
	w.Write(c.out)
}

// Header values shared by every response; net/http never changes them.
var (
	jsonContentType  = []string{"application/json"}
	sseContentType   = []string{"text/event-stream"}
	sseCacheControl  = []string{"no-cache"}
	sseXAccelBuffers = []string{"no"}
)

func (s *Server) stream(w http.ResponseWriter, r *http.Request, c *call) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		s.writeError(w, http.StatusInternalServerError, "server_error", "the connection cannot stream")
		return
	}
	st, err := s.sim.ChatStream(r.Context(), &c.llm)
	if err != nil {
		s.writeUpstreamError(w, err)
		return
	}
	defer st.Close()
	h := w.Header()
	h["Content-Type"] = sseContentType
	h["Cache-Control"] = sseCacheControl
	h["X-Accel-Buffering"] = sseXAccelBuffers
	w.WriteHeader(http.StatusOK)

	ev := chunkEvent{
		id:      s.nextID(),
		created: time.Now().Unix(),
		model:   c.llm.Model,
	}
	includeUsage := c.req.StreamOptions != nil && c.req.StreamOptions.IncludeUsage
	first := true
	for {
		ch, err := st.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			c.out = appendStreamError(c.out[:0], err)
			w.Write(c.out)
			flusher.Flush()
			s.opts.logger.Warn("stream ended with an error", "error", err)
			return
		}
		c.out = c.out[:0]
		if ch.Content != "" || first && ch.FinishReason == "" {
			c.out = ev.appendDelta(c.out, first, ch.Content)
			first = false
		}
		if ch.FinishReason != "" {
			c.out = ev.appendFinish(c.out, first, ch.FinishReason)
			first = false
			if includeUsage && ch.Usage != nil {
				c.out = ev.appendUsage(c.out, ch.Usage)
			}
		}
		if len(c.out) == 0 {
			continue
		}
		if _, err := w.Write(c.out); err != nil {
			return // the client went away; the deferred Close ends the stream
		}
		flusher.Flush()
	}
	w.Write(doneEvent)
	flusher.Flush()
}

var doneEvent = []byte("data: [DONE]\n\n")

func (s *Server) nextID() string {
	return "chatcmpl-llmsim-" + strconv.FormatUint(s.ids.Add(1), 10)
}

func (s *Server) appendCompletion(b []byte, resp *llm.Response, model string) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, s.nextID())
	b = append(b, `,"object":"chat.completion","created":`...)
	b = strconv.AppendInt(b, time.Now().Unix(), 10)
	b = append(b, `,"model":`...)
	b = appendString(b, model)
	b = append(b, `,"choices":[{"index":0,"message":{"role":"assistant","content":`...)
	b = appendString(b, resp.Message.Content)
	b = append(b, `,"refusal":null},"logprobs":null,"finish_reason":`...)
	b = appendString(b, string(resp.FinishReason))
	b = append(b, `}],"usage":`...)
	b = appendUsage(b, &resp.Usage)
	return append(b, '}')
}

// writeUpstreamError answers with the status and message of a simulator
// failure, in OpenAI's error shape.
func (s *Server) writeUpstreamError(w http.ResponseWriter, err error) {
	status, typ, msg := http.StatusInternalServerError, "server_error", err.Error()
	if ue, ok := llm.AsUpstream(err); ok {
		msg = ue.Message
		switch {
		case ue.StatusCode != 0:
			status = ue.StatusCode
		case ue.Kind == llm.KindCanceled:
			return // the caller went away: nobody reads the answer
		case ue.Kind == llm.KindTimeout:
			status = http.StatusGatewayTimeout
		}
		if ue.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int((ue.RetryAfter+time.Second-1)/time.Second)))
		}
		if status < 500 {
			typ = "invalid_request_error"
		}
	}
	s.writeError(w, status, typ, msg)
}

func (s *Server) writeError(w http.ResponseWriter, status int, typ, msg string) {
	b := appendErrorObject(make([]byte, 0, 128+len(msg)), typ, msg)
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(status)
	w.Write(b)
}

// appendStreamError appends the event that ends a stream cut by a
// failure, as OpenAI sends one: data carrying an error object.
func appendStreamError(b []byte, err error) []byte {
	msg := err.Error()
	if ue, ok := llm.AsUpstream(err); ok {
		msg = ue.Message
	}
	b = append(b, "data: "...)
	b = appendErrorObject(b, "server_error", msg)
	return append(b, "\n\n"...)
}

func appendErrorObject(b []byte, typ, msg string) []byte {
	b = append(b, `{"error":{"message":`...)
	b = appendString(b, msg)
	b = append(b, `,"type":`...)
	b = appendString(b, typ)
	return append(b, `,"param":null,"code":null}}`...)
}

// chatRequest is the part of a chat completions request the server reads.
type chatRequest struct {
	Model               string          `json:"model"`
	Messages            []chatMessage   `json:"messages"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Stop                json.RawMessage `json:"stop"`
	Stream              bool            `json:"stream"`
	StreamOptions       *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

type chatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
	Name    string          `json:"name"`
}

// contentPart is one element of an array content.
type contentPart struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// decode parses c.body into c.llm, with meta as its metadata. It returns
// "" or what is wrong with the request.
func (c *call) decode(meta map[string]string) string {
	if err := json.Unmarshal(c.body.Bytes(), &c.req); err != nil {
		return "the body is not a valid chat completions request: " + err.Error()
	}
	q := &c.req
	if q.Model == "" {
		return "model is required"
	}
	if len(q.Messages) == 0 {
		return "messages must hold at least one message"
	}
	for i := range q.Messages {
		m := &q.Messages[i]
		text, msg := contentText(m.Content)
		if msg != "" {
			return "messages[" + strconv.Itoa(i) + "].content " + msg
		}
		c.msgs = append(c.msgs, llm.Message{Role: llm.Role(m.Role), Content: text, Name: m.Name})
	}
	c.llm = llm.Request{Model: q.Model, Messages: c.msgs, Metadata: meta}
	switch {
	case q.MaxCompletionTokens != nil:
		c.llm.MaxTokens = *q.MaxCompletionTokens
	case q.MaxTokens != nil:
		c.llm.MaxTokens = *q.MaxTokens
	}
	if len(q.Stop) > 0 && string(q.Stop) != "null" {
		if q.Stop[0] == '"' {
			var s string
			if err := json.Unmarshal(q.Stop, &s); err != nil {
				return "stop: " + err.Error()
			}
			c.llm.Stop = []string{s}
		} else if err := json.Unmarshal(q.Stop, &c.llm.Stop); err != nil {
			return "stop must be a string or an array of strings: " + err.Error()
		}
	}
	return ""
}

// contentText returns the text of a message content: a string, an array
// of parts (text parts are joined), or null. The second result says what
// is wrong with any other value.
func contentText(raw json.RawMessage) (string, string) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", ""
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", "is not a valid string: " + err.Error()
		}
		return s, ""
	case '[':
		var parts []contentPart
		if err := json.Unmarshal(raw, &parts); err != nil {
			return "", "must be a string or an array of content parts: " + err.Error()
		}
		var b strings.Builder
		for _, p := range parts {
			if p.Type == "text" {
				b.WriteString(p.Text)
			}
		}
		return b.String(), ""
	}
	return "", "must be a string, an array of content parts or null"
}
