package shed

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/llmgateway/llmgateway/surface/httperr"
)

// DefaultRetryAfter is the wait suggested to a refused caller unless
// WithRetryAfter says otherwise: long enough for a burst to pass, short
// enough that a client's retry finds room.
const DefaultRetryAfter = time.Second

type options struct {
	retryAfter time.Duration
	exempt     func(fullMethod string) bool
}

// Option configures a Limiter.
type Option func(*options)

// WithRetryAfter sets the wait suggested to refused callers. Default:
// DefaultRetryAfter.
func WithRetryAfter(d time.Duration) Option { return func(o *options) { o.retryAfter = d } }

// WithExempt sets which methods are never counted nor shed. Default:
// gRPC health checks and server reflection (Exempt).
func WithExempt(exempt func(fullMethod string) bool) Option {
	return func(o *options) { o.exempt = exempt }
}

// Exempt reports whether a method is a health check or server reflection,
// which the default Limiter never sheds.
func Exempt(fullMethod string) bool {
	return strings.HasPrefix(fullMethod, "/grpc.health.v1.Health/") ||
		strings.HasPrefix(fullMethod, "/grpc.reflection.v1.ServerReflection/") ||
		strings.HasPrefix(fullMethod, "/grpc.reflection.v1alpha.ServerReflection/")
}

// Limiter caps calls in flight. Create it with New; it is safe for
// concurrent use.
type Limiter struct {
	max      atomic.Int64
	inFlight atomic.Int64
	shed     atomic.Uint64
	opts     options
}

// New returns a Limiter that admits at most max calls at once; max <= 0
// admits every call.
func New(max int, opts ...Option) *Limiter {
	o := options{retryAfter: DefaultRetryAfter, exempt: Exempt}
	for _, opt := range opts {
		opt(&o)
	}
	l := &Limiter{opts: o}
	l.max.Store(int64(max))
	return l
}

// SetMax changes the cap; max <= 0 admits every call. Calls in flight are
// not affected: over a lowered cap, new calls are refused until enough of
// them end.
func (l *Limiter) SetMax(max int) { l.max.Store(int64(max)) }

// Max returns the cap; 0 or less means none.
func (l *Limiter) Max() int { return int(l.max.Load()) }

// InFlight returns the number of calls admitted and not yet ended.
func (l *Limiter) InFlight() int64 { return l.inFlight.Load() }

// Shed returns the number of calls refused since New.
func (l *Limiter) Shed() uint64 { return l.shed.Load() }

// Acquire admits one call, returning the function that ends it (to be
// called exactly once), or the status error to refuse it with.
func (l *Limiter) Acquire() (release func(), err error) {
	n := l.inFlight.Add(1)
	if max := l.max.Load(); max > 0 && n > max {
		l.inFlight.Add(-1)
		l.shed.Add(1)
		return nil, l.overloaded(max)
	}
	return l.release, nil
}

func (l *Limiter) release() { l.inFlight.Add(-1) }

func (l *Limiter) overloaded(max int64) error {
	return Overloaded(fmt.Sprintf("the gateway is at its limit of %d requests in flight: retry in %s", max, l.opts.retryAfter),
		"max_in_flight", l.opts.retryAfter)
}

// Overloaded returns the status error of a call refused because the
// gateway is at a capacity limit: Unavailable with msg, an ErrorInfo of
// reason OVERLOADED naming the limit, and a RetryInfo of retryAfter.
func Overloaded(msg, limit string, retryAfter time.Duration) error {
	st := status.New(codes.Unavailable, msg)
	if ds, err := st.WithDetails(
		&errdetails.ErrorInfo{Reason: httperr.ReasonOverloaded, Domain: httperr.Domain,
			Metadata: map[string]string{"limit": limit}},
		&errdetails.RetryInfo{RetryDelay: durationpb.New(retryAfter)},
	); err == nil {
		st = ds
	}
	return st.Err()
}

// UnaryServerInterceptor sheds unary calls over the cap.
func (l *Limiter) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if l.opts.exempt(info.FullMethod) {
			return handler(ctx, req)
		}
		release, err := l.Acquire()
		if err != nil {
			return nil, err
		}
		defer release()
		return handler(ctx, req)
	}
}

// StreamServerInterceptor sheds streaming calls over the cap; an admitted
// stream counts until its handler returns.
func (l *Limiter) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if l.opts.exempt(info.FullMethod) {
			return handler(srv, ss)
		}
		release, err := l.Acquire()
		if err != nil {
			return err
		}
		defer release()
		return handler(srv, ss)
	}
}
