package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// clientCert makes a throwaway CA and a client certificate it signed, and
// writes the certificate and key to files in dir.
func clientCert(t *testing.T, dir string) (ca *x509.Certificate, certFile, keyFile string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test client CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	if ca, err = x509.ParseCertificate(caDER); err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "probe"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return ca, certFile, keyFile
}

// TestHealthcheckTLS probes https endpoints: trusting a given CA, checking
// a given name, presenting a client certificate.
func TestHealthcheckTLS(t *testing.T) {
	dir := t.TempDir()
	clientCA, certFile, keyFile := clientCert(t, dir)
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	srv := httptest.NewTLSServer(ok)
	defer srv.Close()
	mtls := httptest.NewUnstartedServer(ok)
	mtls.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: x509.NewCertPool()}
	mtls.TLS.ClientCAs.AddCert(clientCA)
	mtls.StartTLS()
	defer mtls.Close()
	// httptest's certificate names 127.0.0.1 and example.com.
	caFile := filepath.Join(dir, "server.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	junk := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junk, []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		give    []string
		wantErr string
	}{
		{"trusted CA", []string{"--url", srv.URL + "/healthz", "--ca-file", caFile}, ""},
		{"system roots only", []string{"--url", srv.URL + "/healthz"}, "certificate"},
		{"name in the certificate", []string{"--url", srv.URL + "/healthz", "--ca-file", caFile, "--server-name", "example.com"}, ""},
		{"name not in the certificate", []string{"--url", srv.URL + "/healthz", "--ca-file", caFile, "--server-name", "gateway.test"}, "gateway.test"},
		{"client certificate required", []string{"--url", mtls.URL + "/healthz", "--ca-file", caFile}, "certificate"},
		{"client certificate", []string{"--url", mtls.URL + "/healthz", "--ca-file", caFile, "--cert-file", certFile, "--key-file", keyFile}, ""},
		{"cert without key", []string{"--url", mtls.URL + "/healthz", "--cert-file", certFile}, "go together"},
		{"no PEM in the CA file", []string{"--url", srv.URL + "/healthz", "--ca-file", junk}, "no PEM certificate"},
		{"TLS flags on http", []string{"--url", "http://127.0.0.1:1/healthz", "--ca-file", caFile}, "need an https --url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var out bytes.Buffer
			args := append([]string{"healthcheck"}, tt.give...)
			err := run(ctx, args, &out, &bytes.Buffer{})
			if tt.wantErr == "" {
				if err != nil || !strings.Contains(out.String(), "200 OK") {
					t.Errorf("run(%q) = %v, stdout %q; want 200 OK", args, err, out.String())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("run(%q) = %v, want an error containing %q", args, err, tt.wantErr)
			}
		})
	}
}
