package rest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	pb "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
	"github.com/llmgateway/llmgateway/surface/httperr"
)

type options struct {
	maxRequestBytes int64
	logger          *slog.Logger
	openAPI         []byte
}

var defaultOptions = options{
	maxRequestBytes: 4 << 20,
	logger:          slog.New(slog.DiscardHandler),
}

// Option configures the facade.
type Option func(*options)

// WithMaxRequestBytes bounds request bodies; larger ones get 413.
// Default: 4 MiB.
func WithMaxRequestBytes(n int64) Option { return func(o *options) { o.maxRequestBytes = n } }

// WithLogger sets the logger. Default: discard.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithOpenAPI serves doc at /api/v1/openapi.json. Default: not served.
func WithOpenAPI(doc []byte) Option { return func(o *options) { o.openAPI = doc } }

// forwardedHeaders are the request headers passed to the gRPC call as
// metadata, besides Authorization (which grpc-gateway always passes).
var forwardedHeaders = map[string]bool{
	"x-request-id": true,
	"traceparent":  true,
	"tracestate":   true,
}

// New returns the facade's handler, calling the service over conn.
func New(ctx context.Context, conn grpc.ClientConnInterface, opts ...Option) (http.Handler, error) {
	o := defaultOptions
	for _, opt := range opts {
		opt(&o)
	}
	marshaler := &runtime.JSONPb{
		MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true},
		UnmarshalOptions: protojson.UnmarshalOptions{},
	}
	mux := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, marshaler),
		runtime.WithIncomingHeaderMatcher(func(key string) (string, bool) {
			k := strings.ToLower(key)
			if forwardedHeaders[k] {
				return k, true
			}
			return runtime.DefaultHeaderMatcher(key)
		}),
		// Tell the gateway's interceptors which surface the call came in
		// on, for usage records.
		runtime.WithMetadata(func(context.Context, *http.Request) metadata.MD {
			return metadata.Pairs("x-llmgateway-surface", "rest")
		}),
		runtime.WithOutgoingHeaderMatcher(func(key string) (string, bool) {
			if strings.HasPrefix(key, "x-llmgateway-") || strings.HasPrefix(key, "x-ratelimit-") || key == "x-request-id" {
				return key, true
			}
			return runtime.MetadataHeaderPrefix + key, true
		}),
		runtime.WithErrorHandler(errorHandler),
		runtime.WithStreamErrorHandler(streamErrorHandler),
		runtime.WithRoutingErrorHandler(routingErrorHandler),
	)
	if err := pb.RegisterLLMGatewayServiceHandlerClient(ctx, mux, pb.NewLLMGatewayServiceClient(conn)); err != nil {
		return nil, fmt.Errorf("registering REST handlers: %w", err)
	}
	h := http.NewServeMux()
	if o.openAPI != nil {
		doc := o.openAPI
		h.HandleFunc("GET /api/v1/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(doc)
		})
	}
	h.Handle("/api/v1/", limitBody(o.maxRequestBytes, mux))
	return h, nil
}

type tooLargeKey struct{}

// headerKey carries the response's header map to streamErrorHandler, which
// grpc-gateway gives only the context.
type headerKey struct{}

// limitBody answers 413 for bodies over max. A declared Content-Length is
// checked at once; a chunked body is cut at max, and the decode error that
// follows is turned into 413 by errorHandler.
func limitBody(max int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > max {
			writeTooLarge(w, r, max)
			return
		}
		flag := new(atomic.Bool)
		r.Body = &limitedBody{r: http.MaxBytesReader(w, r.Body, max), hit: flag}
		ctx := context.WithValue(r.Context(), tooLargeKey{}, flag)
		r = r.WithContext(context.WithValue(ctx, headerKey{}, w.Header()))
		next.ServeHTTP(w, r)
	})
}

type limitedBody struct {
	r   io.ReadCloser
	hit *atomic.Bool
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		b.hit.Store(true)
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.r.Close() }

func writeTooLarge(w http.ResponseWriter, r *http.Request, max int64) {
	err := httperr.New(codes.ResourceExhausted, httperr.ReasonRequestTooLarge,
		fmt.Sprintf("request body exceeds the limit of %d bytes", max), nil)
	m := &runtime.JSONPb{MarshalOptions: protojson.MarshalOptions{UseProtoNames: true}}
	errorHandler(r.Context(), nil, m, w, r, err)
}

// errorHandler writes a status as JSON ({"code", "message", "details"})
// with the HTTP status the OpenAI-compatible surface would use too, and a
// Retry-After header when the status carries RetryInfo.
func errorHandler(ctx context.Context, _ *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	if flag, ok := ctx.Value(tooLargeKey{}).(*atomic.Bool); ok && flag.Load() {
		err = httperr.New(codes.ResourceExhausted, httperr.ReasonRequestTooLarge,
			"request body exceeds the size limit", nil)
	}
	st, ok := status.FromError(err)
	if !ok {
		st = status.New(codes.Unknown, err.Error())
	}
	st = httperr.Sanitize(st)
	body, merr := m.Marshal(st.Proto())
	if merr != nil {
		body = []byte(`{"code":13,"message":"failed to marshal error"}`)
	}
	setRetryAfter(w.Header(), st)
	w.Header().Del("Trailer")
	w.Header().Del("Transfer-Encoding")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(httperr.Status(st))
	_, _ = w.Write(body)
}

// streamErrorHandler is the status of a failed stream: sanitised as in
// errorHandler, with Retry-After set when the failure comes before the
// response headers (after them the header is ignored, and the error line
// carries the RetryInfo).
func streamErrorHandler(ctx context.Context, err error) *status.Status {
	st := httperr.Sanitize(status.Convert(err))
	if h, ok := ctx.Value(headerKey{}).(http.Header); ok {
		setRetryAfter(h, st)
	}
	return st
}

// setRetryAfter sets Retry-After, in whole seconds rounded up, from st's
// RetryInfo detail.
func setRetryAfter(h http.Header, st *status.Status) {
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok && ri.GetRetryDelay() != nil {
			secs := math.Ceil(ri.GetRetryDelay().AsDuration().Seconds())
			h.Set("Retry-After", strconv.Itoa(int(math.Max(secs, 1))))
		}
	}
}

func routingErrorHandler(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, code int) {
	var err error
	switch code {
	case http.StatusMethodNotAllowed:
		w.Header().Set("Allow", allowFor(r.URL.Path))
		err = status.Errorf(codes.Unimplemented, "method %s is not allowed on %s", r.Method, r.URL.Path)
		st, _ := status.FromError(err)
		body, _ := m.Marshal(st.Proto())
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusMethodNotAllowed)
		_, _ = w.Write(body)
		return
	case http.StatusNotFound:
		err = status.Errorf(codes.NotFound, "no route %s %s: see /api/v1/openapi.json", r.Method, r.URL.Path)
	default:
		err = status.Error(codes.Internal, http.StatusText(code))
	}
	errorHandler(ctx, mux, m, w, r, err)
}

func allowFor(path string) string {
	if path == "/api/v1/models" {
		return http.MethodGet
	}
	return http.MethodPost
}
