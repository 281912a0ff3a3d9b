package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	llmgateway "github.com/llmgateway/llmgateway"
	"github.com/llmgateway/llmgateway/config"
	pb "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
	"github.com/llmgateway/llmgateway/interceptors/shed"
	"github.com/llmgateway/llmgateway/routing"
	"github.com/llmgateway/llmgateway/server"
	"github.com/llmgateway/llmgateway/surface/openaiapi"
	"github.com/llmgateway/llmgateway/surface/rest"
)

type options struct {
	logger          *slog.Logger
	maxRequestBytes int64
	drainTimeout    time.Duration
	usable          func() bool
	unary           []grpc.UnaryServerInterceptor
	stream          []grpc.StreamServerInterceptor
	serverOpts      []server.Option
	starts, stops   []func(context.Context) error
	limits          config.Server
	tls             *tlsState // nil: plain text
	door            []DoorInterceptors
	telemetry       *telemetryOptions // see telemetry.go; nil: none
}

var defaultOptions = options{
	logger:          slog.New(slog.DiscardHandler),
	maxRequestBytes: 4 << 20,
	drainTimeout:    30 * time.Second,
	usable:          func() bool { return true },
	limits: config.Server{
		HTTP: config.HTTPLimits{
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       120 * time.Second,
			MaxHeaderBytes:    1 << 20,
		},
	},
}

// Option configures a Gateway.
type Option func(*options)

// WithLogger sets the logger. Default: discard.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithMaxRequestBytes bounds a request on every surface. Default: 4 MiB.
func WithMaxRequestBytes(n int64) Option { return func(o *options) { o.maxRequestBytes = n } }

// WithDrainTimeout bounds graceful shutdown: in-flight calls and streams
// get this long to finish before they are cut. Default: 30s.
func WithDrainTimeout(d time.Duration) Option { return func(o *options) { o.drainTimeout = d } }

// WithReadiness sets a check behind /readyz and the gRPC health status
// beyond "not shutting down" and "a provider is usable". Default: always
// ready.
func WithReadiness(usable func() bool) Option { return func(o *options) { o.usable = usable } }

// WithLimits sets the listeners' limits from a server section: the
// in-flight cap (max_in_flight), the gRPC stream cap and keepalive, and
// the HTTP timeouts and header limit. Its addresses, drain timeout,
// request size and TLS are not used (see WithDrainTimeout and
// WithMaxRequestBytes). Default: no in-flight or stream cap, gRPC's
// keepalive defaults, and on HTTP a 10s header timeout, a 120s idle
// timeout and 1 MiB of headers.
func WithLimits(s config.Server) Option { return func(o *options) { o.limits = s } }

// WithInterceptors appends interceptors to the gRPC chain, after recovery
// and ahead of load shedding and the door. Because both HTTP surfaces call
// the service through the same chain, they apply to every surface.
func WithInterceptors(u []grpc.UnaryServerInterceptor, s []grpc.StreamServerInterceptor) Option {
	return func(o *options) {
		o.unary = append(o.unary, u...)
		o.stream = append(o.stream, s...)
	}
}

// DoorSpec is what door interceptors are built from: one config, and its
// door's model resolver (a model name or alias, in any case, to the
// model's name).
type DoorSpec struct {
	Config  *config.Config
	Resolve func(model string) (canonical string, ok bool)
}

// DoorInterceptors builds interceptors for the door of one config.
type DoorInterceptors func(d DoorSpec) ([]grpc.UnaryServerInterceptor, []grpc.StreamServerInterceptor, error)

// WithDoorInterceptors adds interceptors to the door of every config that a
// gateway built by FromConfig serves, right after authentication: they see
// the caller's key (auth.FromContext) and, as they come ahead of
// accounting, the allowlist, limits and budgets, those steps' refusals.
// build runs for the config at start and again at every reload, so that
// what the interceptors take from the config reloads with it; its error
// refuses the config. A gateway built with New has no door and runs them
// after load shedding, built from a DoorSpec without config. Default:
// none.
func WithDoorInterceptors(build DoorInterceptors) Option {
	return func(o *options) { o.door = append(o.door, build) }
}

// WithServerOptions passes options to the gRPC service (server.New).
// Default: only the logger.
func WithServerOptions(opts ...server.Option) Option {
	return func(o *options) { o.serverOpts = append(o.serverOpts, opts...) }
}

// WithLifecycle runs start when Serve begins, before it accepts calls (an
// error aborts Serve), and stop when Serve ends, after in-flight calls
// have drained (its error is logged), e.g. to open and flush the usage
// ledger. Either may be nil. Hooks start in the order given and stop in
// reverse. Default: none.
func WithLifecycle(start, stop func(context.Context) error) Option {
	return func(o *options) {
		o.starts = append(o.starts, start)
		o.stops = append(o.stops, stop)
	}
}

// withTLS serves both listeners over TLS with the certificates of each
// generation.
func withTLS(ts *tlsState) Option { return func(o *options) { o.tls = ts } }

// Gateway is one gateway process's servers.
type Gateway struct {
	opts    options
	grpc    *grpc.Server
	health  *health.Server
	shed    *shed.Limiter
	closing atomic.Bool
	drain   atomic.Int64 // the drain timeout; a reload may change it
	gen     atomic.Pointer[generation]
	// inproc is the HTTP surfaces' channel to the service, through the
	// gRPC server's interceptors.
	inproc *inproc

	// mu serializes reloads, and the start and stop of the router's
	// health checks; checks is the context they run under while Serve
	// runs, nil otherwise.
	mu     sync.Mutex
	checks context.Context
	// reload is how a reload builds the next generation; nil for a
	// gateway built with New, which cannot reload.
	reload *reloader
}

// New returns a Gateway that routes with r. It panics if an interceptor
// of WithDoorInterceptors fails to build.
func New(r *routing.Router, opts ...Option) *Gateway {
	g, err := newGateway(func(o *options) (*generation, error) {
		gen := &generation{router: r, usable: true}
		var unary []grpc.UnaryServerInterceptor
		var stream []grpc.StreamServerInterceptor
		for _, build := range o.door {
			u, s, err := build(DoorSpec{Resolve: func(string) (string, bool) { return "", false }})
			if err != nil {
				return nil, err
			}
			unary, stream = append(unary, u...), append(stream, s...)
		}
		gen.unary, gen.stream = chainUnary(unary), chainStream(stream)
		return gen, nil
	}, opts...)
	if err != nil {
		panic(fmt.Sprintf("app.New: %v", err))
	}
	return g
}

// newGateway returns a Gateway with opts that serves the generation first
// builds.
func newGateway(first func(o *options) (*generation, error), opts ...Option) (*Gateway, error) {
	o := defaultOptions
	for _, opt := range opts {
		opt(&o)
	}
	gen, err := first(&o)
	if err != nil {
		return nil, err
	}
	g := &Gateway{opts: o, health: health.NewServer(), shed: shed.New(o.limits.MaxInFlight)}
	g.gen.Store(gen)
	g.drain.Store(int64(o.drainTimeout))
	recover := recovery.WithRecoveryHandler(func(p any) error {
		o.logger.Error("panic in handler", "panic", p)
		return status.Error(codes.Internal, "internal error")
	})
	// One interceptor list serves the gRPC listener and the HTTP surfaces'
	// in-process channel (inproc.go): metrics first, then recovery, the
	// extra interceptors, load shedding and the current generation's door.
	unary, stream := o.telemetry.interceptors()
	unary = append(append(unary, recovery.UnaryServerInterceptor(recover)), o.unary...)
	unary = append(unary, g.shed.UnaryServerInterceptor(), g.unaryGeneration)
	stream = append(append(stream, recovery.StreamServerInterceptor(recover)), o.stream...)
	stream = append(stream, g.shed.StreamServerInterceptor(), g.streamGeneration)
	serverOpts := grpcLimits(o.maxRequestBytes, &o.limits, o.tls)
	clientStats, serverStats := o.telemetry.statsHandlers()
	if serverStats != nil {
		serverOpts = append(serverOpts, grpc.StatsHandler(serverStats))
	}
	g.grpc = grpc.NewServer(append(serverOpts,
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(stream...),
	)...)
	svc := server.New(gen.router, append([]server.Option{server.WithLogger(o.logger), server.WithRouterFunc(g.routerOf)}, o.serverOpts...)...)
	pb.RegisterLLMGatewayServiceServer(g.grpc, svc)
	g.inproc = newInproc(&pb.LLMGatewayService_ServiceDesc, svc, chainUnary(unary), chainStream(stream), clientStats, serverStats)
	healthpb.RegisterHealthServer(g.grpc, g.health)
	reflection.Register(g.grpc)
	o.telemetry.watch(g)
	g.setHealth(gen)
	return g, nil
}

// GRPCServer returns the gRPC server, for registering more services before
// Serve.
func (g *Gateway) GRPCServer() *grpc.Server { return g.grpc }

// InFlight returns the number of calls in flight that count against the
// in-flight cap, and the number refused over it since the start.
func (g *Gateway) InFlight() (inFlight int64, shed uint64) {
	return g.shed.InFlight(), g.shed.Shed()
}

// ready reports whether the gateway can serve calls: it is not shutting
// down and its config has a usable provider.
func (g *Gateway) ready(gen *generation) bool {
	return !g.closing.Load() && gen.usable && g.opts.usable()
}

// setHealth publishes the readiness of gen as the gRPC health status of
// the gateway service and of the server as a whole. After shutdown began
// it does nothing: health stays NOT_SERVING.
func (g *Gateway) setHealth(gen *generation) {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if g.ready(gen) {
		st = healthpb.HealthCheckResponse_SERVING
	}
	g.health.SetServingStatus("", st)
	g.health.SetServingStatus(pb.LLMGatewayService_ServiceDesc.ServiceName, st)
}

// Serve serves gRPC on grpcLis and HTTP on httpLis until ctx is done, then
// shuts down gracefully: health turns NOT_SERVING, the listeners stop
// accepting, and in-flight calls and streams get the drain timeout to
// finish. It returns nil after a clean shutdown.
func (g *Gateway) Serve(ctx context.Context, grpcLis, httpLis net.Listener) error {
	if err := g.start(ctx); err != nil {
		grpcLis.Close()
		httpLis.Close()
		return err
	}
	defer g.stop(len(g.opts.stops))
	// The router's active health checks run while serving, off the
	// request path; a reload moves them to the new router.
	g.mu.Lock()
	g.checks = ctx
	g.gen.Load().startChecks(ctx)
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.checks = nil
		g.gen.Load().stopChecks()
		g.mu.Unlock()
	}()
	errc := make(chan error, 2)
	go func() { errc <- serveErr("grpc", g.grpc.Serve(grpcLis)) }()

	handler, err := g.httpHandler(ctx, g.inproc)
	if err != nil {
		g.grpc.Stop()
		return err
	}
	hl := &g.opts.limits.HTTP
	hs := &http.Server{
		Handler:           limitHTTP(handler, hl),
		ReadHeaderTimeout: hl.ReadHeaderTimeout,
		IdleTimeout:       hl.IdleTimeout,
		MaxHeaderBytes:    hl.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(g.opts.logger.Handler(), slog.LevelWarn),
	}
	if g.opts.tls != nil {
		httpLis = tls.NewListener(httpLis, g.opts.tls.serverConfig(false))
	}
	go func() { errc <- serveErr("http", hs.Serve(httpLis)) }()
	g.opts.logger.Info("gateway serving", "grpc", grpcLis.Addr().String(), "http", httpLis.Addr().String(),
		"tls", g.opts.tls != nil, "mtls", g.opts.tls != nil && g.gen.Load().certs.mutual())

	var serveFailed error
	select {
	case <-ctx.Done():
	case serveFailed = <-errc:
	}
	g.shutdown(hs)
	return serveFailed
}

// start runs the lifecycle start hooks; when one fails, it stops those
// that started.
func (g *Gateway) start(ctx context.Context) error {
	for i, start := range g.opts.starts {
		if start == nil {
			continue
		}
		if err := start(ctx); err != nil {
			g.stop(i)
			return fmt.Errorf("starting gateway: %w", err)
		}
	}
	return nil
}

// stop runs the first n lifecycle stop hooks in reverse, each within the
// drain timeout.
func (g *Gateway) stop(n int) {
	for i := n - 1; i >= 0; i-- {
		stop := g.opts.stops[i]
		if stop == nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(g.drain.Load()))
		if err := stop(ctx); err != nil {
			g.opts.logger.Error("shutdown step failed", "error", err)
		}
		cancel()
	}
}

func (g *Gateway) shutdown(hs *http.Server) {
	g.closing.Store(true)
	g.health.Shutdown()
	drain := time.Duration(g.drain.Load())
	g.opts.logger.Info("shutting down", "drain_timeout", drain)
	dctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()

	// HTTP first, then gRPC: the two drain apart, each its own calls.
	if err := hs.Shutdown(dctx); err != nil {
		g.opts.logger.Warn("HTTP drain cut short", "error", err)
		hs.Close()
	}
	// A stream's handler may finish (and account for it) just after its
	// HTTP request ended; closing the HTTP requests above cut any that
	// were left.
	if err := g.inproc.wait(dctx); err != nil {
		g.opts.logger.Warn("HTTP streams' drain cut short", "error", err)
	}
	done := make(chan struct{})
	go func() {
		g.grpc.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-dctx.Done():
		g.opts.logger.Warn("gRPC drain cut short: closing remaining calls")
		g.grpc.Stop()
		<-done
	}
	g.opts.logger.Info("shut down")
}

func (g *Gateway) httpHandler(ctx context.Context, conn grpc.ClientConnInterface) (http.Handler, error) {
	restH, err := rest.New(ctx, conn,
		rest.WithMaxRequestBytes(g.opts.maxRequestBytes),
		rest.WithLogger(g.opts.logger),
		rest.WithOpenAPI(llmgateway.OpenAPI))
	if err != nil {
		return nil, err
	}
	oaH := openaiapi.New(pb.NewLLMGatewayServiceClient(conn),
		openaiapi.WithMaxRequestBytes(g.opts.maxRequestBytes),
		openaiapi.WithLogger(g.opts.logger))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeText(w, http.StatusOK, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		switch gen := g.gen.Load(); {
		case g.closing.Load():
			writeText(w, http.StatusServiceUnavailable, "shutting down\n")
		case !gen.usable || !g.opts.usable():
			writeText(w, http.StatusServiceUnavailable, "no provider usable\n")
		default:
			writeText(w, http.StatusOK, "ready\n")
		}
	})
	mux.Handle("/api/", restH)
	mux.Handle("/v1/", oaH)
	g.opts.telemetry.routes(mux)
	return g.opts.telemetry.handler(mux), nil
}

func writeText(w http.ResponseWriter, code int, s string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(s))
}

func serveErr(name string, err error) error {
	if err == nil || errors.Is(err, http.ErrServerClosed) || errors.Is(err, grpc.ErrServerStopped) {
		return nil
	}
	return fmt.Errorf("%s server: %w", name, err)
}
