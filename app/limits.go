package app

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"

	"github.com/llmgateway/llmgateway/config"
	"github.com/llmgateway/llmgateway/interceptors/shed"
)

// grpcHeaderSlack is what gRPC metadata may take beyond the HTTP header
// limit: the HTTP surfaces forward a caller's headers and add their own.
const grpcHeaderSlack = 64 << 10

// maxHopConns bounds the pool of connections the HTTP surfaces keep to the
// gRPC listener.
const maxHopConns = 64

// grpcLimits returns the gRPC server options that enforce s: message and
// header sizes, the stream cap, keepalive, and TLS when ts is set.
func grpcLimits(maxRequestBytes int64, s *config.Server, ts *tlsState) []grpc.ServerOption {
	opts := []grpc.ServerOption{grpc.MaxRecvMsgSize(int(maxRequestBytes))}
	if s.MaxConcurrentStreams > 0 {
		opts = append(opts, grpc.MaxConcurrentStreams(uint32(s.MaxConcurrentStreams)))
	}
	if n := s.HTTP.MaxHeaderBytes; n > 0 {
		opts = append(opts, grpc.MaxHeaderListSize(uint32(min(int64(n)+grpcHeaderSlack, math.MaxUint32))))
	}
	// Zero values keep gRPC's defaults: pings at most every 5 minutes,
	// connections kept forever, a ping after 2 hours of silence.
	ka := &s.Keepalive
	if ka.MinTime > 0 || ka.PermitWithoutStream {
		opts = append(opts, grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             ka.MinTime,
			PermitWithoutStream: ka.PermitWithoutStream,
		}))
	}
	opts = append(opts, grpc.KeepaliveParams(keepalive.ServerParameters{
		MaxConnectionIdle: ka.MaxConnectionIdle,
		MaxConnectionAge:  ka.MaxConnectionAge,
		// No grace: a connection past its age is closed only once its
		// last call ends, however long that call streams.
		Time:    ka.Time,
		Timeout: ka.Timeout,
	}))
	if ts != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(ts.serverConfig(true))))
	}
	return opts
}

// streamingRoutes are the HTTP routes whose answer may be a stream that
// lasts as long as the model writes: the write timeout does not apply to
// them.
var streamingRoutes = map[string]bool{
	"/api/v1/chat:stream":  true,
	"/v1/chat/completions": true,
}

// limitHTTP applies the HTTP read and write timeouts per request:
// reading a request's body may take at most hl.ReadTimeout, and answering
// a route that never streams at most hl.WriteTimeout. The server-wide
// WriteTimeout of net/http stays off, as it would cut streams; its
// ReadTimeout too, so that the body's deadline starts after the headers
// (which ReadHeaderTimeout bounds). Once the body is read, net/http lifts
// the read deadline itself (HTTP/1.1 clears it for its background read;
// HTTP/2 applies it to the body alone), so it never cuts a stream.
func limitHTTP(h http.Handler, hl *config.HTTPLimits) http.Handler {
	if hl.ReadTimeout <= 0 && hl.WriteTimeout <= 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if hl.WriteTimeout > 0 {
			// Set on every request, streaming or not: on HTTP/1.1 the
			// deadline belongs to the connection and would outlive the
			// request before it.
			var deadline time.Time
			if !streamingRoutes[r.URL.Path] {
				deadline = time.Now().Add(hl.WriteTimeout)
			}
			_ = rc.SetWriteDeadline(deadline)
		}
		if hl.ReadTimeout > 0 && r.Body != nil && r.Body != http.NoBody {
			_ = rc.SetReadDeadline(time.Now().Add(hl.ReadTimeout))
		}
		h.ServeHTTP(w, r)
	})
}

// hop is the HTTP surfaces' connection to the gRPC listener: a small pool
// of connections, so that their requests are never held back by the
// per-connection stream cap (max_concurrent_streams) while the gateway has
// room under max_in_flight. Each call goes to the connection with the
// fewest calls open; when all are full it is refused at once with
// Unavailable (HTTP 503), never queued.
type hop struct {
	conns  []*grpc.ClientConn
	open   []atomic.Int64
	next   atomic.Uint32
	max    int64 // per connection; 0: no cap
	refuse error
}

var _ grpc.ClientConnInterface = (*hop)(nil)

// hopConns is how many connections the hop needs so that max_in_flight
// calls fit under max_concurrent_streams.
func hopConns(s *config.Server) int {
	if s.MaxConcurrentStreams <= 0 {
		return 1
	}
	inFlight := s.MaxInFlight
	if inFlight <= 0 {
		inFlight = s.MaxConcurrentStreams
	}
	return min(max((inFlight+s.MaxConcurrentStreams-1)/s.MaxConcurrentStreams, 1), maxHopConns)
}

// dialHop connects to the gRPC listener at addr, over TLS when ts is set,
// with extra dial options (tracing's stats handler).
func dialHop(addr net.Addr, maxRequestBytes int64, s *config.Server, ts *tlsState, extra ...grpc.DialOption) (*hop, error) {
	creds := insecure.NewCredentials()
	if ts != nil {
		creds = credentials.NewTLS(ts.hopConfig())
	}
	n := hopConns(s)
	h := &hop{open: make([]atomic.Int64, n), max: int64(s.MaxConcurrentStreams)}
	if h.max > 0 {
		h.refuse = shed.Overloaded(fmt.Sprintf("the gateway's HTTP surfaces have %d requests in flight, their limit (server.max_concurrent_streams × connections): retry in %s",
			h.max*int64(n), shed.DefaultRetryAfter), "max_concurrent_streams", shed.DefaultRetryAfter)
	}
	for range n {
		conn, err := grpc.NewClient("passthrough:///"+dialAddr(addr), append([]grpc.DialOption{
			grpc.WithTransportCredentials(creds),
			grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(int(maxRequestBytes)+1<<10), grpc.MaxCallRecvMsgSize(64<<20)),
		}, extra...)...)
		if err != nil {
			h.Close()
			return nil, fmt.Errorf("dialing own gRPC listener: %w", err)
		}
		h.conns = append(h.conns, conn)
	}
	return h, nil
}

// Close closes the pool's connections.
func (h *hop) Close() error {
	var errs []error
	for _, c := range h.conns {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// pick returns the connection with the fewest calls open, counting one
// more on it, or -1 when every connection is at the cap.
func (h *hop) pick() int {
	n := len(h.conns)
	start := int(h.next.Add(1) % uint32(n))
	best, fewest := -1, int64(math.MaxInt64)
	for j := range n {
		i := (start + j) % n
		if c := h.open[i].Load(); c < fewest {
			best, fewest = i, c
		}
	}
	if h.open[best].Add(1) > h.max && h.max > 0 {
		h.open[best].Add(-1)
		return -1
	}
	return best
}

// Invoke implements grpc.ClientConnInterface.
func (h *hop) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	i := h.pick()
	if i < 0 {
		return h.refuse
	}
	defer h.open[i].Add(-1)
	return h.conns[i].Invoke(ctx, method, args, reply, opts...)
}

// NewStream implements grpc.ClientConnInterface. The stream counts as
// open until it ends: its RecvMsg fails (io.EOF included) or ctx ends,
// which its caller must ensure anyway.
func (h *hop) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	i := h.pick()
	if i < 0 {
		return nil, h.refuse
	}
	var once sync.Once
	done := func() { once.Do(func() { h.open[i].Add(-1) }) }
	cs, err := h.conns[i].NewStream(ctx, desc, method, opts...)
	if err != nil {
		done()
		return nil, err
	}
	stop := context.AfterFunc(ctx, done)
	return &hopStream{ClientStream: cs, done: func() { stop(); done() }}, nil
}

type hopStream struct {
	grpc.ClientStream
	done func()
}

func (s *hopStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if err != nil {
		s.done()
	}
	return err
}
