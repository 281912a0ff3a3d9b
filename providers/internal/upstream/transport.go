package upstream

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/url"
	"time"
)

// Option configures NewTransport and NewHTTPClient.
type Option func(*transportOptions)

type transportOptions struct {
	dialTimeout         time.Duration
	keepAlive           time.Duration
	tlsHandshakeTimeout time.Duration
	idleConnTimeout     time.Duration
	maxIdleConns        int
	maxIdleConnsPerHost int
	pingInterval        time.Duration
	pingTimeout         time.Duration
	tlsConfig           *tls.Config
	proxy               func(*http.Request) (*url.URL, error)
}

var defaultTransportOptions = transportOptions{
	dialTimeout:         10 * time.Second,
	keepAlive:           30 * time.Second,
	tlsHandshakeTimeout: 10 * time.Second,
	idleConnTimeout:     90 * time.Second,
	maxIdleConns:        1024,
	maxIdleConnsPerHost: 256,
	pingInterval:        30 * time.Second,
	pingTimeout:         15 * time.Second,
	proxy:               http.ProxyFromEnvironment,
}

// WithDialTimeout bounds establishing a TCP connection. Default 10s.
func WithDialTimeout(d time.Duration) Option {
	return func(o *transportOptions) { o.dialTimeout = d }
}

// WithKeepAlive sets the TCP keep-alive period of connections. Default 30s.
func WithKeepAlive(d time.Duration) Option {
	return func(o *transportOptions) { o.keepAlive = d }
}

// WithTLSHandshakeTimeout bounds the TLS handshake. Default 10s.
func WithTLSHandshakeTimeout(d time.Duration) Option {
	return func(o *transportOptions) { o.tlsHandshakeTimeout = d }
}

// WithIdleConnTimeout sets how long an idle connection is kept for reuse.
// Default 90s.
func WithIdleConnTimeout(d time.Duration) Option {
	return func(o *transportOptions) { o.idleConnTimeout = d }
}

// WithMaxIdleConnsPerHost sets how many idle connections are kept per host.
// Default 256, so that bursts of concurrent calls to one API host reuse
// connections instead of dialling anew.
func WithMaxIdleConnsPerHost(n int) Option {
	return func(o *transportOptions) { o.maxIdleConnsPerHost = n }
}

// WithMaxIdleConns sets how many idle connections are kept across all
// hosts. Default 1024; 0 means no limit.
func WithMaxIdleConns(n int) Option {
	return func(o *transportOptions) { o.maxIdleConns = n }
}

// WithHTTP2HealthCheck sets how long an HTTP/2 connection may stay silent
// before the transport pings it, and how long it waits for the answer
// before closing the connection. Defaults 30s and 15s. An interval of 0
// turns the health check off.
func WithHTTP2HealthCheck(interval, timeout time.Duration) Option {
	return func(o *transportOptions) {
		o.pingInterval = interval
		o.pingTimeout = timeout
	}
}

// WithTLSConfig sets the TLS configuration, for private CAs or client
// certificates. Default nil: the system roots.
func WithTLSConfig(c *tls.Config) Option {
	return func(o *transportOptions) { o.tlsConfig = c }
}

// WithProxy sets the proxy function. Default http.ProxyFromEnvironment; nil
// means no proxy.
func WithProxy(f func(*http.Request) (*url.URL, error)) Option {
	return func(o *transportOptions) { o.proxy = f }
}

// NewTransport returns a transport tuned for many concurrent calls to one
// API host: a large idle pool per host, no cap on connections per host,
// HTTP/2 with connection health checks, and bounded dial and TLS handshake
// times.
//
// It sets no ResponseHeaderTimeout: a streamed completion may take long to
// send its first byte, and adapters bound each attempt with their own
// timeout instead.
func NewTransport(opts ...Option) *http.Transport {
	o := defaultTransportOptions
	for _, opt := range opts {
		opt(&o)
	}
	dialer := &net.Dialer{Timeout: o.dialTimeout, KeepAlive: o.keepAlive}
	t := &http.Transport{
		Proxy:                 o.proxy,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          o.maxIdleConns,
		MaxIdleConnsPerHost:   o.maxIdleConnsPerHost,
		MaxConnsPerHost:       0,
		IdleConnTimeout:       o.idleConnTimeout,
		TLSHandshakeTimeout:   o.tlsHandshakeTimeout,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       o.tlsConfig,
	}
	if o.pingInterval > 0 {
		t.HTTP2 = &http.HTTP2Config{
			SendPingTimeout: o.pingInterval,
			PingTimeout:     o.pingTimeout,
		}
	}
	return t
}

// NewHTTPClient returns a client over NewTransport(opts...). It has no
// overall Timeout, which would cut long streams: adapters bound each
// attempt through its context.
func NewHTTPClient(opts ...Option) *http.Client {
	return &http.Client{Transport: NewTransport(opts...)}
}
