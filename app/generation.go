package app

import (
	"context"
	"sync"
	"sync/atomic"

	middleware "github.com/grpc-ecosystem/go-grpc-middleware/v2"
	"google.golang.org/grpc"

	"github.com/llmgateway/llmgateway/config"
	"github.com/llmgateway/llmgateway/routing"
)

// generation is everything one config decides, built whole before it
// serves and never changed after: the providers, the router (catalog and
// routing policy), the door's keys and limits, and the TLS certificates.
// A reload builds a new generation and swaps it in with one atomic store;
// a call takes the generation in effect when it arrives and keeps it to
// its end, so that calls in flight finish on the config they started
// with.
type generation struct {
	cfg       *config.Config // nil for a gateway built with New
	router    *routing.Router
	providers map[string]routing.Provider
	specs     map[string]providerSpec // what each provider was built from
	usable    bool                    // at least one provider is usable
	gate      *gate                   // nil: no keys, limits or accounting
	certs     *certSet                // nil: plain text
	unary     grpc.UnaryServerInterceptor
	stream    grpc.StreamServerInterceptor

	// refs counts the calls running on the generation. Once it is retired
	// (replaced) and refs drops to 0, drained runs, once.
	refs    atomic.Int64
	retired atomic.Bool
	once    sync.Once
	drained func()

	// checks stops the router's active health checks; nil while they do
	// not run.
	checks func()
}

type generationKey struct{}

// generationOf returns the generation of the call in ctx, or nil outside
// a call.
func generationOf(ctx context.Context) *generation {
	gen, _ := ctx.Value(generationKey{}).(*generation)
	return gen
}

// release ends one call's use of gen.
func (gen *generation) release() {
	if gen.refs.Add(-1) == 0 && gen.retired.Load() {
		gen.drain()
	}
}

// retire marks gen replaced; it drains once its last call ends.
func (gen *generation) retire() {
	gen.retired.Store(true)
	if gen.refs.Load() == 0 {
		gen.drain()
	}
}

func (gen *generation) drain() {
	gen.once.Do(func() {
		if gen.drained != nil {
			gen.drained()
		}
	})
}

// startChecks runs the router's active health checks until stopChecks or
// the end of ctx.
func (gen *generation) startChecks(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		gen.router.RunHealthChecks(ctx)
		close(done)
	}()
	gen.checks = func() {
		cancel()
		<-done
	}
}

func (gen *generation) stopChecks() {
	if gen.checks != nil {
		gen.checks()
		gen.checks = nil
	}
}

// acquire returns the generation in effect, counted as used by one more
// call until its release. A generation retired between the load and the
// count is given back and the new one taken, so that no call starts on a
// generation that may already have drained.
func (g *Gateway) acquire() *generation {
	for {
		gen := g.gen.Load()
		gen.refs.Add(1)
		if g.gen.Load() == gen {
			return gen
		}
		gen.release()
	}
}

// unaryGeneration runs a unary call on the generation in effect: through
// its door, then to the handler, with the generation in the context for
// the service to route with.
func (g *Gateway) unaryGeneration(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	gen := g.acquire()
	defer gen.release()
	ctx = context.WithValue(ctx, generationKey{}, gen)
	if gen.unary == nil {
		return handler(ctx, req)
	}
	return gen.unary(ctx, req, info, handler)
}

// streamGeneration is unaryGeneration for streaming calls.
func (g *Gateway) streamGeneration(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	gen := g.acquire()
	defer gen.release()
	ws := middleware.WrapServerStream(ss)
	ws.WrappedContext = context.WithValue(ss.Context(), generationKey{}, gen)
	if gen.stream == nil {
		return handler(srv, ws)
	}
	return gen.stream(srv, ws, info, handler)
}

// routerOf is the service's RouterFunc: the router of the call's
// generation.
func (g *Gateway) routerOf(ctx context.Context) *routing.Router {
	if gen := generationOf(ctx); gen != nil {
		return gen.router
	}
	return g.gen.Load().router
}

// chainUnary composes interceptors into one, the first outermost, as
// grpc.ChainUnaryInterceptor does; nil when there are none.
func chainUnary(is []grpc.UnaryServerInterceptor) grpc.UnaryServerInterceptor {
	if len(is) == 0 {
		return nil
	}
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		return unaryAt(is, 0, info, handler)(ctx, req)
	}
}

func unaryAt(is []grpc.UnaryServerInterceptor, i int, info *grpc.UnaryServerInfo, final grpc.UnaryHandler) grpc.UnaryHandler {
	if i == len(is) {
		return final
	}
	return func(ctx context.Context, req any) (any, error) {
		return is[i](ctx, req, info, unaryAt(is, i+1, info, final))
	}
}

// chainStream is chainUnary for streaming interceptors.
func chainStream(is []grpc.StreamServerInterceptor) grpc.StreamServerInterceptor {
	if len(is) == 0 {
		return nil
	}
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return streamAt(is, 0, info, handler)(srv, ss)
	}
}

func streamAt(is []grpc.StreamServerInterceptor, i int, info *grpc.StreamServerInfo, final grpc.StreamHandler) grpc.StreamHandler {
	if i == len(is) {
		return final
	}
	return func(srv any, ss grpc.ServerStream) error {
		return is[i](srv, ss, info, streamAt(is, i+1, info, final))
	}
}
