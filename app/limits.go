package app

import (
	"math"
	"net/http"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"

	"github.com/llmgateway/llmgateway/config"
)

// grpcHeaderSlack is what a gRPC call's header block may take beyond the
// HTTP header limit: pseudo-headers, grpc-* headers and tracing
// metadata.
const grpcHeaderSlack = 64 << 10

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
