package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/llmgateway/llmgateway/config"
	pb "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
)

// pki is the certificates of a TLS test, written to files in dir. The
// server certificate names only gateway.test, not the loopback address
// the tests dial.
type pki struct {
	dir                  string
	ca, clientCA, rogue  *testCA
	server, client, evil *issued
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir(), ca: newTestCA(t, "server CA"), clientCA: newTestCA(t, "client CA"), rogue: newTestCA(t, "rogue CA")}
	p.server = p.ca.issue(t, "gateway", false, []string{"gateway.test"})
	p.client = p.clientCA.issue(t, "billing-app", true, nil)
	p.evil = p.rogue.issue(t, "billing-app", true, nil)
	p.writeServer(t, p.server)
	writeFileAtomic(t, p.file("clients.pem"), p.clientCA.pem)
	return p
}

func (p *pki) file(name string) string { return filepath.Join(p.dir, name) }

func (p *pki) writeServer(t *testing.T, c *issued) {
	t.Helper()
	writeFileAtomic(t, p.file("tls.key"), c.keyPEM)
	writeFileAtomic(t, p.file("tls.crt"), c.certPEM)
}

// config is doorBase served over TLS, with client certificates when
// mutual.
func (p *pki) config(mutual bool) string {
	tlsYAML := fmt.Sprintf("\n  tls: {cert_file: %q, key_file: %q", p.file("tls.crt"), p.file("tls.key"))
	if mutual {
		tlsYAML += fmt.Sprintf(", client_ca_file: %q", p.file("clients.pem"))
	}
	return strings.Replace(doorBase, "max_request_bytes: 65536", "max_request_bytes: 65536"+tlsYAML+"}", 1)
}

// clientTLS is a caller's TLS config: it trusts the server CA, checks the
// name gateway.test and presents cert when given.
func (p *pki) clientTLS(cert *issued) *tls.Config {
	c := &tls.Config{RootCAs: x509Pool(p.ca), ServerName: "gateway.test", MinVersion: tls.VersionTLS12}
	if cert != nil {
		c.Certificates = []tls.Certificate{cert.tls}
	}
	return c
}

func x509Pool(ca *testCA) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

func httpsClient(c *tls.Config) *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: c, ForceAttemptHTTP2: true}}
}

// handshake dials addr with c and returns the server certificate's
// serial number, or the handshake's error.
func handshake(addr string, c *tls.Config, protos ...string) (string, error) {
	c = c.Clone()
	c.NextProtos = protos
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: c}
	conn, err := d.DialContext(context.Background(), "tcp", addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	tc := conn.(*tls.Conn)
	// Under TLS 1.3 a refused client certificate shows on the first read;
	// an accepted HTTP/2 connection gets the server's SETTINGS at once.
	_ = tc.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := tc.Read(make([]byte, 1)); err != nil && !isTimeout(err) {
		return "", err
	}
	return tc.ConnectionState().PeerCertificates[0].SerialNumber.String(), nil
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func chatOver(ctx context.Context, addr string, creds credentials.TransportCredentials) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = pb.NewLLMGatewayServiceClient(conn).Chat(ctx, &pb.ChatRequest{Model: "gpt-4.1", Messages: []*pb.Message{{Role: "user", Content: "hi"}}})
	return err
}

// TestTLS serves both listeners over TLS, then mTLS: every surface works
// end to end for a trusted caller, and a caller without a trusted
// certificate is refused on both listeners.
func TestTLS(t *testing.T) {
	for _, mutual := range []bool{false, true} {
		t.Run(fmt.Sprintf("mtls=%v", mutual), func(t *testing.T) {
			p := newPKI(t)
			var cert *issued
			if mutual {
				cert = p.client
			}
			good := p.clientTLS(cert)
			fg := serveFile(t, p.config(mutual), serveOpts{creds: credentials.NewTLS(good)})
			hc := httpsClient(good)
			defer hc.CloseIdleConnections()
			for _, s := range surfaceCalls {
				for _, stream := range []bool{false, true} {
					if provider, err := s.call(tctx(t), fg, hc, "", "gpt-4.1", stream); err != nil || provider != "sim-a" {
						t.Errorf("%s stream=%v over TLS: provider %q, %v; want sim-a", s.name, stream, provider, err)
					}
				}
			}
			resp, err := hc.Get("https://" + fg.httpAddr + "/healthz")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.ProtoMajor != 2 {
				t.Errorf("HTTPS served %s, want HTTP/2", resp.Proto)
			}

			// Plain text is refused on both listeners.
			if err := chatOver(tctx(t), fg.grpcAddr, insecure.NewCredentials()); status.Code(err) != codes.Unavailable {
				t.Errorf("plain-text gRPC call = %v, want Unavailable", err)
			}
			if resp, err := http.Get("http://" + fg.httpAddr + "/healthz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode != http.StatusBadRequest {
					t.Errorf("plain HTTP request = %d, want 400", resp.StatusCode)
				}
			}
			// A caller that does not trust the server CA is refused.
			if err := chatOver(tctx(t), fg.grpcAddr, credentials.NewTLS(&tls.Config{ServerName: "gateway.test", Certificates: good.Certificates})); status.Code(err) != codes.Unavailable {
				t.Errorf("gRPC call trusting no CA = %v, want Unavailable", err)
			}
			if !mutual {
				return
			}
			for _, c := range []struct {
				name string
				give *tls.Config
			}{
				{"no certificate", p.clientTLS(nil)},
				{"certificate of another CA", p.clientTLS(p.evil)},
			} {
				if err := chatOver(tctx(t), fg.grpcAddr, credentials.NewTLS(c.give)); status.Code(err) != codes.Unavailable {
					t.Errorf("gRPC call with %s = %v, want Unavailable", c.name, err)
				}
				if _, err := handshake(fg.grpcAddr, c.give, "h2"); err == nil {
					t.Errorf("gRPC handshake with %s succeeded, want refused", c.name)
				}
				if _, err := handshake(fg.httpAddr, c.give, "h2"); err == nil {
					t.Errorf("HTTP handshake with %s succeeded, want refused", c.name)
				}
				bad := httpsClient(c.give)
				if resp, err := bad.Get("https://" + fg.httpAddr + "/healthz"); err == nil {
					resp.Body.Close()
					t.Errorf("HTTPS request with %s = %s, want refused", c.name, resp.Status)
				}
				bad.CloseIdleConnections()
			}
		})
	}
}

// TestTLSReload rotates the certificate files, turns client certificates
// on, and tries a broken certificate: the watcher reloads on certificate
// changes alone, new handshakes get the new certificate, the HTTP
// surfaces keep working, and a broken certificate is
// refused while the one in effect stays.
func TestTLSReload(t *testing.T) {
	p := newPKI(t)
	good := p.clientTLS(p.client)
	fg := serveFile(t, p.config(false), serveOpts{creds: credentials.NewTLS(good), watch: true})
	hc := httpsClient(good)
	defer hc.CloseIdleConnections()
	serial := func(addr string) string {
		t.Helper()
		s, err := handshake(addr, good, "h2")
		if err != nil {
			t.Fatalf("handshake with %s: %v", addr, err)
		}
		return s
	}
	surfacesWork := func(when string) {
		t.Helper()
		for _, s := range surfaceCalls {
			if _, err := s.call(tctx(t), fg, hc, "", "gpt-4.1", true); err != nil {
				t.Errorf("%s %s: %v", s.name, when, err)
			}
		}
	}
	if got, want := serial(fg.grpcAddr), p.server.leaf.SerialNumber.String(); got != want {
		t.Fatalf("served certificate %s, want %s", got, want)
	}
	surfacesWork("before the rotation")

	// A renewed certificate, config unchanged.
	renewed := p.ca.issue(t, "gateway renewed", false, []string{"gateway.test"})
	p.writeServer(t, renewed)
	fg.waitReloads(t, 1)
	for _, addr := range []string{fg.grpcAddr, fg.httpAddr} {
		if got, want := serial(addr), renewed.leaf.SerialNumber.String(); got != want {
			t.Errorf("%s serves certificate %s after the rotation, want the renewed %s", addr, got, want)
		}
	}
	hc.CloseIdleConnections()
	surfacesWork("after the rotation")

	// Client certificates turn on with a config change.
	fg.rewrite(t, p.config(true), true)
	fg.waitReloads(t, 2)
	if err := chatOver(tctx(t), fg.grpcAddr, credentials.NewTLS(p.clientTLS(nil))); status.Code(err) != codes.Unavailable {
		t.Errorf("gRPC call without a certificate after mTLS turned on = %v, want Unavailable", err)
	}
	hc.CloseIdleConnections()
	surfacesWork("after mTLS turned on")

	// A broken key is refused; the renewed certificate stays.
	if err := os.WriteFile(p.file("tls.key"), []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := fg.gw.ReloadFrom("test", fg.load)
	if err == nil || !strings.Contains(err.Error(), "server.tls") {
		t.Fatalf("ReloadFrom(broken key) = %v, want a server.tls error", err)
	}
	if got, want := serial(fg.grpcAddr), renewed.leaf.SerialNumber.String(); got != want {
		t.Errorf("served certificate %s after a refused reload, want %s", got, want)
	}
	hc.CloseIdleConnections()
	surfacesWork("after a refused reload")
}

// TestLoadCertificates checks the messages of bad certificate files.
func TestLoadCertificates(t *testing.T) {
	p := newPKI(t)
	expired := p.ca.issue(t, "old", false, []string{"gateway.test"})
	writeFileAtomic(t, p.file("old.crt"), expired.certPEM)
	writeFileAtomic(t, p.file("old.key"), expired.keyPEM)
	other := p.ca.issue(t, "other", false, []string{"gateway.test"})
	writeFileAtomic(t, p.file("other.key"), other.keyPEM)
	writeFileAtomic(t, p.file("junk.pem"), []byte("junk"))
	ts := &tlsState{}
	tests := []struct {
		name    string
		give    config.TLS
		now     time.Time
		wantErr string
	}{
		{"good", config.TLS{CertFile: p.file("tls.crt"), KeyFile: p.file("tls.key"), ClientCAFile: p.file("clients.pem")}, time.Now(), ""},
		{"missing cert", config.TLS{CertFile: p.file("none.crt"), KeyFile: p.file("tls.key")}, time.Now(), "none.crt"},
		{"key of another certificate", config.TLS{CertFile: p.file("tls.crt"), KeyFile: p.file("other.key")}, time.Now(), "private key does not match"},
		{"expired", config.TLS{CertFile: p.file("old.crt"), KeyFile: p.file("old.key")}, time.Now().Add(48 * time.Hour), "expired"},
		{"client CA without PEM", config.TLS{CertFile: p.file("tls.crt"), KeyFile: p.file("tls.key"), ClientCAFile: p.file("junk.pem")}, time.Now(), "no PEM certificate"},
		{"missing client CA", config.TLS{CertFile: p.file("tls.crt"), KeyFile: p.file("tls.key"), ClientCAFile: p.file("none.pem")}, time.Now(), "client_ca_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs, err := ts.load(tt.give, tt.now)
			if tt.wantErr == "" {
				if err != nil || !cs.mutual() {
					t.Errorf("load() = %v, %v; want mutual TLS", cs, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("load() = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}
