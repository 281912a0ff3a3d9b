package app

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// loadCAs reads a provider's ca_file: PEM CA certificates trusted besides
// the system's roots. It returns the file's contents and the pool.
func loadCAs(file string) (string, *x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return "", nil, err
	}
	roots, err := x509.SystemCertPool()
	if err != nil {
		// No system roots (a scratch image): the file's CAs alone.
		roots = x509.NewCertPool()
	}
	if !roots.AppendCertsFromPEM(pem) {
		return "", nil, fmt.Errorf("%s: %w", file, errNoPEMCerts)
	}
	return string(pem), roots, nil
}

var errNoPEMCerts = errors.New("no PEM certificate in the file (want one or more -----BEGIN CERTIFICATE----- blocks)")
