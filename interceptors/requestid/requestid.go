package requestid

import (
	"context"
	"crypto/rand"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// Header is the metadata key of the request id, in both directions.
const Header = "x-request-id"

// maxLen bounds a caller's id; a longer one is replaced.
const maxLen = 128

type ctxKey struct{}

// FromContext returns the call's request id, or "" outside a call.
func FromContext(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}

// NewContext returns ctx carrying id as the request id.
func NewContext(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// fromIncoming returns the caller's id when it is usable, else a new one.
func fromIncoming(ctx context.Context) string {
	if vs := metadata.ValueFromIncomingContext(ctx, Header); len(vs) > 0 && valid(vs[0]) {
		return vs[0]
	}
	return rand.Text()
}

func valid(s string) bool {
	if s == "" || len(s) > maxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func annotate(ctx context.Context) (context.Context, string) {
	id := fromIncoming(ctx)
	ctx = NewContext(ctx, id)
	return logging.InjectLogField(ctx, "request_id", id), id
}

// UnaryServerInterceptor assigns the request id of unary calls.
func UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, id := annotate(ctx)
		md := metadata.Pairs(Header, id)
		_ = grpc.SetHeader(ctx, md)
		_ = grpc.SetTrailer(ctx, md)
		return handler(ctx, req)
	}
}

// StreamServerInterceptor assigns the request id of streaming calls.
func StreamServerInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, id := annotate(ss.Context())
		md := metadata.Pairs(Header, id)
		_ = ss.SetHeader(md)
		ss.SetTrailer(md)
		return handler(srv, &wrapped{ServerStream: ss, ctx: ctx})
	}
}

type wrapped struct {
	grpc.ServerStream
	ctx context.Context
}

func (w *wrapped) Context() context.Context { return w.ctx }
