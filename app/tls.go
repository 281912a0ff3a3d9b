package app

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/llmgateway/llmgateway/config"
)

// The ALPN protocols of the two listeners.
var (
	grpcProtos = []string{"h2"}
	httpProtos = []string{"h2", "http/1.1"}
)

// tlsState is the TLS of a gateway that serves it: the certificates in
// effect, which every handshake reads, so that a reload swaps them for the
// next handshake.
type tlsState struct {
	cur atomic.Pointer[certSet]
}

// certSet is the certificates of one config.
type certSet struct {
	files config.TLS
	leaf  *x509.Certificate
	grpc  *tls.Config // the gRPC listener's handshakes
	http  *tls.Config // the HTTP listener's handshakes
}

// mutual reports whether the listeners require client certificates.
func (c *certSet) mutual() bool { return c != nil && c.files.ClientCAFile != "" }

// load reads the certificate files tc names.
func (ts *tlsState) load(tc config.TLS, now time.Time) (*certSet, error) {
	cert, err := tls.LoadX509KeyPair(tc.CertFile, tc.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("server.tls: loading cert_file %s and key_file %s: %w", tc.CertFile, tc.KeyFile, err)
	}
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("server.tls.cert_file %s: %w", tc.CertFile, err)
		}
	}
	if now.After(leaf.NotAfter) {
		return nil, fmt.Errorf("server.tls.cert_file %s: the certificate expired at %s: renew it", tc.CertFile, leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	cs := &certSet{files: tc, leaf: leaf}
	base := tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	cs.grpc, cs.http = base.Clone(), base.Clone()
	cs.grpc.NextProtos, cs.http.NextProtos = grpcProtos, httpProtos
	if tc.ClientCAFile != "" {
		pem, err := os.ReadFile(tc.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("server.tls.client_ca_file: %w", err)
		}
		callers := x509.NewCertPool()
		if !callers.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("server.tls.client_ca_file %s: no PEM certificate in it", tc.ClientCAFile)
		}
		cs.grpc.ClientAuth, cs.grpc.ClientCAs = tls.RequireAndVerifyClientCert, callers
		cs.http.ClientAuth, cs.http.ClientCAs = tls.RequireAndVerifyClientCert, callers
	}
	return cs, nil
}

// use makes cs the certificates of the next handshakes.
func (ts *tlsState) use(cs *certSet) {
	ts.cur.Store(cs)
}

// serverConfig returns the TLS config of the gRPC listener (forGRPC) or
// the HTTP listener: each handshake takes the config of the certificates
// in effect.
func (ts *tlsState) serverConfig(forGRPC bool) *tls.Config {
	protos := httpProtos
	if forGRPC {
		protos = grpcProtos
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: protos,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			cs := ts.cur.Load()
			if cs == nil {
				return nil, errors.New("no certificate loaded")
			}
			if forGRPC {
				return cs.grpc, nil
			}
			return cs.http, nil
		},
	}
}
