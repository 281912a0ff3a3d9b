package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	llmgateway "github.com/llmgateway/llmgateway"
	pb "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
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
}

var defaultOptions = options{
	logger:          slog.New(slog.DiscardHandler),
	maxRequestBytes: 4 << 20,
	drainTimeout:    30 * time.Second,
	usable:          func() bool { return true },
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

// WithReadiness sets the check behind /readyz beyond "not shutting down",
// e.g. that at least one provider is usable. Default: always ready.
func WithReadiness(usable func() bool) Option { return func(o *options) { o.usable = usable } }

// WithInterceptors appends interceptors to the gRPC chain, after recovery.
// Because both HTTP surfaces call the gRPC listener, they apply to every
// surface.
func WithInterceptors(u []grpc.UnaryServerInterceptor, s []grpc.StreamServerInterceptor) Option {
	return func(o *options) {
		o.unary = append(o.unary, u...)
		o.stream = append(o.stream, s...)
	}
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

// Gateway is one gateway process's servers.
type Gateway struct {
	router  *routing.Router
	opts    options
	grpc    *grpc.Server
	health  *health.Server
	closing atomic.Bool
}

// New returns a Gateway that routes with r.
func New(r *routing.Router, opts ...Option) *Gateway {
	o := defaultOptions
	for _, opt := range opts {
		opt(&o)
	}
	recover := recovery.WithRecoveryHandler(func(p any) error {
		o.logger.Error("panic in handler", "panic", p)
		return status.Error(codes.Internal, "internal error")
	})
	unary := append([]grpc.UnaryServerInterceptor{recovery.UnaryServerInterceptor(recover)}, o.unary...)
	stream := append([]grpc.StreamServerInterceptor{recovery.StreamServerInterceptor(recover)}, o.stream...)
	gs := grpc.NewServer(
		grpc.MaxRecvMsgSize(int(o.maxRequestBytes)),
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(stream...),
	)
	g := &Gateway{router: r, opts: o, grpc: gs, health: health.NewServer()}
	pb.RegisterLLMGatewayServiceServer(gs, server.New(r, append([]server.Option{server.WithLogger(o.logger)}, o.serverOpts...)...))
	healthpb.RegisterHealthServer(gs, g.health)
	reflection.Register(gs)
	g.health.SetServingStatus(pb.LLMGatewayService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	return g
}

// GRPCServer returns the gRPC server, for registering more services before
// Serve.
func (g *Gateway) GRPCServer() *grpc.Server { return g.grpc }

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
	// request path.
	hctx, stopChecks := context.WithCancel(ctx)
	checks := make(chan struct{})
	go func() { g.router.RunHealthChecks(hctx); close(checks) }()
	defer func() { stopChecks(); <-checks }()
	errc := make(chan error, 2)
	go func() { errc <- serveErr("grpc", g.grpc.Serve(grpcLis)) }()

	conn, err := grpc.NewClient("passthrough:///"+dialAddr(grpcLis.Addr()),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(int(g.opts.maxRequestBytes)+1<<10), grpc.MaxCallRecvMsgSize(64<<20)),
	)
	if err != nil {
		g.grpc.Stop()
		return fmt.Errorf("dialing own gRPC listener: %w", err)
	}
	defer conn.Close()
	handler, err := g.httpHandler(ctx, conn)
	if err != nil {
		g.grpc.Stop()
		return err
	}
	hs := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          slog.NewLogLogger(g.opts.logger.Handler(), slog.LevelWarn),
	}
	go func() { errc <- serveErr("http", hs.Serve(httpLis)) }()
	g.opts.logger.Info("gateway serving", "grpc", grpcLis.Addr().String(), "http", httpLis.Addr().String())

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
		ctx, cancel := context.WithTimeout(context.Background(), g.opts.drainTimeout)
		if err := stop(ctx); err != nil {
			g.opts.logger.Error("shutdown step failed", "error", err)
		}
		cancel()
	}
}

func (g *Gateway) shutdown(hs *http.Server) {
	g.closing.Store(true)
	g.health.Shutdown()
	g.opts.logger.Info("shutting down", "drain_timeout", g.opts.drainTimeout)
	dctx, cancel := context.WithTimeout(context.Background(), g.opts.drainTimeout)
	defer cancel()

	// HTTP first: its in-flight requests call the gRPC server, which must
	// keep serving them until they finish.
	if err := hs.Shutdown(dctx); err != nil {
		g.opts.logger.Warn("HTTP drain cut short", "error", err)
		hs.Close()
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

func (g *Gateway) httpHandler(ctx context.Context, conn *grpc.ClientConn) (http.Handler, error) {
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
		switch {
		case g.closing.Load():
			writeText(w, http.StatusServiceUnavailable, "shutting down\n")
		case !g.opts.usable():
			writeText(w, http.StatusServiceUnavailable, "no provider usable\n")
		default:
			writeText(w, http.StatusOK, "ready\n")
		}
	})
	mux.Handle("/api/", restH)
	mux.Handle("/v1/", oaH)
	return mux, nil
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

// dialAddr turns a listener address into one to dial: an unspecified host
// (":9090", "0.0.0.0", "::") becomes loopback.
func dialAddr(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		if ip != nil && ip.To4() == nil {
			return net.JoinHostPort("::1", port)
		}
		return net.JoinHostPort("127.0.0.1", port)
	}
	return a.String()
}
