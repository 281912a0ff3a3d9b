package upstream

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

func TestNewTransportDefaults(t *testing.T) {
	tr := NewTransport()
	defer tr.CloseIdleConnections()
	if tr.MaxIdleConnsPerHost != 256 {
		t.Errorf("MaxIdleConnsPerHost = %d, want 256", tr.MaxIdleConnsPerHost)
	}
	if tr.MaxConnsPerHost != 0 {
		t.Errorf("MaxConnsPerHost = %d, want 0 (no cap)", tr.MaxConnsPerHost)
	}
	if tr.IdleConnTimeout != 90*time.Second {
		t.Errorf("IdleConnTimeout = %v, want 90s", tr.IdleConnTimeout)
	}
	if tr.TLSHandshakeTimeout != 10*time.Second {
		t.Errorf("TLSHandshakeTimeout = %v, want 10s", tr.TLSHandshakeTimeout)
	}
	if tr.ResponseHeaderTimeout != 0 {
		t.Errorf("ResponseHeaderTimeout = %v, want 0: streams have long first-byte times", tr.ResponseHeaderTimeout)
	}
	if !tr.ForceAttemptHTTP2 {
		t.Errorf("ForceAttemptHTTP2 = false, want true")
	}
	if tr.DialContext == nil {
		t.Errorf("DialContext = nil, want a dialer with timeouts")
	}
	if tr.Proxy == nil {
		t.Errorf("Proxy = nil, want http.ProxyFromEnvironment")
	}
	if tr.HTTP2 == nil || tr.HTTP2.SendPingTimeout != 30*time.Second || tr.HTTP2.PingTimeout != 15*time.Second {
		t.Errorf("HTTP2 = %+v, want health checks every 30s with a 15s timeout", tr.HTTP2)
	}
}

func TestNewTransportOptions(t *testing.T) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS13}
	tr := NewTransport(
		WithMaxIdleConnsPerHost(8),
		WithMaxIdleConns(0),
		WithIdleConnTimeout(time.Second),
		WithTLSHandshakeTimeout(2*time.Second),
		WithHTTP2HealthCheck(0, 0),
		WithTLSConfig(cfg),
		WithProxy(nil),
		WithDialTimeout(time.Second),
		WithKeepAlive(time.Second),
	)
	defer tr.CloseIdleConnections()
	if tr.MaxIdleConnsPerHost != 8 || tr.MaxIdleConns != 0 || tr.IdleConnTimeout != time.Second || tr.TLSHandshakeTimeout != 2*time.Second {
		t.Errorf("NewTransport(options) = %+v, want the options applied", tr)
	}
	if tr.HTTP2 != nil {
		t.Errorf("HTTP2 = %+v, want nil with the health check off", tr.HTTP2)
	}
	if tr.TLSClientConfig != cfg || tr.Proxy != nil {
		t.Errorf("TLSClientConfig, Proxy = %p, %v; want the given config and no proxy", tr.TLSClientConfig, tr.Proxy != nil)
	}
}

// TestNewHTTPClientReusesConnections checks that concurrent calls to one
// host keep their connections for reuse.
func TestNewHTTPClientReusesConnections(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var mu sync.Mutex
	conns := make(map[string]bool)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		conns[r.RemoteAddr] = true
		mu.Unlock()
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	client := NewHTTPClient()
	defer client.CloseIdleConnections()
	if client.Timeout != 0 {
		t.Errorf("Timeout = %v, want 0: it would cut streams", client.Timeout)
	}

	const parallel, rounds = 32, 5
	for range rounds {
		var wg sync.WaitGroup
		for range parallel {
			wg.Go(func() {
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
				if err != nil {
					t.Error(err)
					return
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			})
		}
		wg.Wait()
	}
	mu.Lock()
	defer mu.Unlock()
	// With the default pool of 2 idle connections per host, most rounds
	// would dial anew; with 256 the first round's connections are reused.
	if len(conns) > parallel {
		t.Errorf("%d calls used %d connections, want at most %d", parallel*rounds, len(conns), parallel)
	}
}
