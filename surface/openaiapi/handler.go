package openaiapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/metadata"

	llmgatewayv1 "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
)

// DefaultMaxRequestBytes is the default limit on a request body: 4 MiB.
const DefaultMaxRequestBytes int64 = 4 << 20

// maxPooledBuffer is the largest buffer returned to the pool; larger ones,
// grown by a rare huge request, are left to the garbage collector.
const maxPooledBuffer = 256 << 10

// Handler serves the OpenAI-compatible API by calling the gateway's gRPC
// service. Create it with New; it is safe for concurrent use.
type Handler struct {
	client llmgatewayv1.LLMGatewayServiceClient
	opts   options
	bufs   sync.Pool // of *bytes.Buffer, for request bodies
	chunks sync.Pool // of *[]byte, for stream chunks
}

type options struct {
	maxRequestBytes int64
	logger          *slog.Logger
	now             func() time.Time
	newID           func() string
}

func defaultOptions() options {
	return options{
		maxRequestBytes: DefaultMaxRequestBytes,
		logger:          slog.New(slog.DiscardHandler),
		now:             time.Now,
		newID:           rand.Text,
	}
}

var _ http.Handler = (*Handler)(nil)

// Option configures a Handler.
type Option func(*options)

// WithMaxRequestBytes limits the size of a request body; larger bodies are
// answered 413 with code "request_too_large". Default: 4 MiB
// (DefaultMaxRequestBytes). Values of zero or less keep the default.
func WithMaxRequestBytes(n int64) Option {
	return func(o *options) {
		if n > 0 {
			o.maxRequestBytes = n
		}
	}
}

// WithLogger sets the logger for failures that cannot be reported to the
// client, such as a client that went away mid-stream. Default: discard.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// New returns a Handler that answers OpenAI API requests by calling client,
// which should reach the gateway's service through its gRPC interceptors
// (the gateway's in-process channel does), so that they apply.
func New(client llmgatewayv1.LLMGatewayServiceClient, opts ...Option) *Handler {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	return &Handler{client: client, opts: o}
}

// Paths served by the Handler.
const (
	pathChatCompletions = "/v1/chat/completions"
	pathModels          = "/v1/models"
	pathModelsPrefix    = "/v1/models/"
)

// ServeHTTP routes POST /v1/chat/completions, GET /v1/models and
// GET /v1/models/{id}. Other paths are answered 404 and other methods 405,
// both in OpenAI's error shape.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case p == pathChatCompletions:
		if r.Method != http.MethodPost {
			h.methodNotAllowed(w, r, http.MethodPost)
			return
		}
		h.chatCompletions(w, r)
	case p == pathModels:
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.methodNotAllowed(w, r, "GET, HEAD")
			return
		}
		h.listModels(w, r)
	case strings.HasPrefix(p, pathModelsPrefix) && len(p) > len(pathModelsPrefix):
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.methodNotAllowed(w, r, "GET, HEAD")
			return
		}
		h.getModel(w, r, p[len(pathModelsPrefix):])
	default:
		h.writeError(w, &apiError{
			status:  http.StatusNotFound,
			Message: "Invalid URL (" + r.Method + " " + p + ")",
			Type:    typeInvalidRequest,
		})
	}
}

func (h *Handler) methodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) {
	w.Header().Set("Allow", allow)
	h.writeError(w, &apiError{
		status:  http.StatusMethodNotAllowed,
		Message: "Method " + r.Method + " is not allowed for " + r.URL.Path + "; use " + allow,
		Type:    typeInvalidRequest,
	})
}

// forwardedHeaders are the HTTP request headers passed to the gRPC call as
// metadata of the same (lower-case) name.
var forwardedHeaders = [...]string{"authorization", "x-request-id", "traceparent", "tracestate"}

// outgoingContext returns ctx carrying the forwarded headers of r as
// outgoing gRPC metadata. It fails when a header value holds bytes that gRPC
// metadata cannot carry (anything but printable ASCII).
func outgoingContext(ctx context.Context, r *http.Request) (context.Context, *apiError) {
	var kv []string
	for _, name := range forwardedHeaders {
		for _, v := range r.Header.Values(name) {
			if !printableASCII(v) {
				return nil, &apiError{
					status:  http.StatusBadRequest,
					Message: "the " + http.CanonicalHeaderKey(name) + " header holds characters other than printable ASCII",
					Type:    typeInvalidRequest,
				}
			}
			kv = append(kv, name, v)
		}
	}
	// Tell the gateway's interceptors which surface the call came in on,
	// for usage records.
	kv = append(kv, "x-llmgateway-surface", "openai")
	return metadata.AppendToOutgoingContext(ctx, kv...), nil
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// copyMetadata copies the gateway's "x-" response metadata (such as
// x-request-id or rate-limit headers set by interceptors) to HTTP response
// headers. Binary ("-bin") entries are skipped.
func copyMetadata(dst http.Header, mds ...metadata.MD) {
	for _, md := range mds {
		for k, vs := range md {
			if !strings.HasPrefix(k, "x-") || strings.HasSuffix(k, "-bin") {
				continue
			}
			key := http.CanonicalHeaderKey(k)
			dst.Del(key)
			for _, v := range vs {
				dst.Add(key, v)
			}
		}
	}
}

func (h *Handler) getBuffer() *bytes.Buffer {
	if b, ok := h.bufs.Get().(*bytes.Buffer); ok {
		return b
	}
	return new(bytes.Buffer)
}

func (h *Handler) putBuffer(b *bytes.Buffer) {
	if b.Cap() > maxPooledBuffer {
		return
	}
	b.Reset()
	h.bufs.Put(b)
}

func (h *Handler) getChunkBuffer() []byte {
	if b, ok := h.chunks.Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return make([]byte, 0, 1024)
}

func (h *Handler) putChunkBuffer(b []byte) {
	if cap(b) > maxPooledBuffer {
		return
	}
	b = b[:0]
	h.chunks.Put(&b)
}

// writeJSON answers status with body, which must be a complete JSON value.
func (h *Handler) writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if _, err := w.Write(body); err != nil {
		h.opts.logger.Debug("writing response", "error", err)
	}
}

// readBody reads the request body into buf, enforcing the size limit.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request, buf *bytes.Buffer) *apiError {
	body := http.MaxBytesReader(w, r.Body, h.opts.maxRequestBytes)
	// Trust the declared length for preallocation only up to a pooled
	// buffer's size, so that a false claim cannot make us allocate much.
	if r.ContentLength > 0 && r.ContentLength <= min(h.opts.maxRequestBytes, maxPooledBuffer) {
		buf.Grow(int(r.ContentLength) + bytes.MinRead)
	}
	_, err := buf.ReadFrom(body)
	if err == nil {
		return nil
	}
	if isMaxBytes(err) {
		return tooLarge(h.opts.maxRequestBytes)
	}
	return &apiError{
		status:  http.StatusBadRequest,
		Message: "reading request body: " + err.Error(),
		Type:    typeInvalidRequest,
	}
}
