package app

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
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
// effect, which every handshake reads (so that a reload swaps them for the
// next handshake), and the internal hop's own client certificate.
//
// The HTTP surfaces reach the gRPC listener over TLS too. The hop dials a
// loopback address that the server certificate need not name, and a
// certificate from a public or company CA need not be trusted by the
// process's roots, so the hop does not verify a CA chain and a host name:
// it checks that the listener presents exactly the certificate this
// gateway serves (the one in effect, or the one before it while a reload
// swaps them), which only this process's listener can present. Under
// mTLS the hop presents a certificate of its own, generated in memory at
// start and never written anywhere, which the gRPC listener trusts in
// addition to client_ca_file; callers' certificates are verified against
// client_ca_file alone, and the HTTP listener never trusts the hop's.
type tlsState struct {
	cur, prev atomic.Pointer[certSet]
	hop       tls.Certificate
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

// newTLSState returns the TLS state of a gateway that serves TLS, with its
// hop certificate; the certificates come with the first generation.
func newTLSState() (*tlsState, error) {
	hop, err := newHopCertificate(time.Now())
	if err != nil {
		return nil, fmt.Errorf("internal client certificate: %w", err)
	}
	return &tlsState{hop: hop}, nil
}

// newHopCertificate returns a self-signed client certificate on a fresh
// P-256 key.
func newHopCertificate(now time.Time) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "llmgateway internal hop"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(100, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

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
		withHop := callers.Clone()
		withHop.AddCert(ts.hop.Leaf)
		cs.grpc.ClientAuth, cs.grpc.ClientCAs = tls.RequireAndVerifyClientCert, withHop
		cs.http.ClientAuth, cs.http.ClientCAs = tls.RequireAndVerifyClientCert, callers
	}
	return cs, nil
}

// use makes cs the certificates of the next handshakes.
func (ts *tlsState) use(cs *certSet) {
	if old := ts.cur.Swap(cs); old != cs {
		ts.prev.Store(old)
	}
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

// hopConfig returns the TLS config of the internal hop's connections.
func (ts *tlsState) hopConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Verification is VerifyConnection's: the listener must present
		// this gateway's own certificate (see tlsState).
		InsecureSkipVerify: true,
		VerifyConnection:   ts.verifyOwn,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &ts.hop, nil
		},
	}
}

// verifyOwn accepts a connection whose peer presented the certificate in
// effect, or the one it replaced.
func (ts *tlsState) verifyOwn(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("the gRPC listener presented no certificate")
	}
	got := cs.PeerCertificates[0].Raw
	for _, c := range []*certSet{ts.cur.Load(), ts.prev.Load()} {
		if c != nil && bytes.Equal(got, c.leaf.Raw) {
			return nil
		}
	}
	return errors.New("the gRPC listener presented a certificate other than the one this gateway serves")
}
