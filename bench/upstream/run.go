package upstream

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/llmgateway/llmgateway/providers/simulator"
)

// Run is the llmsim command: it parses args (flags --addr, --latency,
// --latency-p99, --chunks, --chunk-delay, --seed, --tls-cert-out),
// listens, prints "llmsim listening on ADDR" to stdout and serves until
// ctx ends, then shuts down gracefully. Flag errors and usage go to
// stderr.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("llmsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8089", "host:port to listen on (port 0 picks a free port)")
	latency := fs.Duration("latency", 0, "time to the first token (median when --latency-p99 is set)")
	p99 := fs.Duration("latency-p99", 0, "99th percentile of the time to the first token; 0 makes --latency fixed")
	chunks := fs.Int("chunks", 0, "tokens in every answer, one stream chunk each; 0 lets the simulator choose (8 to 40 words)")
	delay := fs.Duration("chunk-delay", 0, "time between two stream chunks")
	seed := fs.Int64("seed", 1, "seed of the latency draws")
	certOut := fs.String("tls-cert-out", "", "serve HTTPS (HTTP/2, and HTTP/1.1) with a new self-signed certificate for 127.0.0.1, ::1 and localhost, written to this PEM file for clients to trust")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (llmsim takes flags only; see -h)", fs.Arg(0))
	}
	srv, err := New(Config{
		Latency:    simulator.LatencyDist{P50: *latency, P99: *p99},
		Chunks:     *chunks,
		ChunkDelay: *delay,
		Seed:       *seed,
	}, WithLogger(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))))
	if err != nil {
		return fmt.Errorf("flags: %w", err)
	}
	var tlsConf *tls.Config
	if *certOut != "" {
		cert, err := selfSigned(*certOut, time.Now())
		if err != nil {
			return fmt.Errorf("--tls-cert-out: %w", err)
		}
		tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listening on --addr: %w", err)
	}
	fmt.Fprintf(stdout, "llmsim listening on %s\n", lis.Addr())
	return Serve(ctx, lis, srv, tlsConf)
}

// selfSigned makes a self-signed certificate, valid for a day from now,
// for the loopback addresses, and writes it (not its key) as PEM to
// file, for clients to trust.
func selfSigned(file string, now time.Time) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "llmsim"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true, // its own root, so that clients can trust it as a CA
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// Serve serves h on lis until ctx ends, then stops accepting and gives
// requests in flight five seconds to finish before closing them. With
// tlsConf it serves HTTPS, HTTP/2 negotiated by ALPN; plain HTTP/1.1
// otherwise. It returns nil after a clean stop.
func Serve(ctx context.Context, lis net.Listener, h http.Handler, tlsConf *tls.Config) error {
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		TLSConfig:         tlsConf,
	}
	errc := make(chan error, 1)
	go func() {
		if tlsConf != nil {
			errc <- hs.ServeTLS(lis, "", "")
			return
		}
		errc <- hs.Serve(lis)
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close()
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving: %w", err)
	}
	return nil
}
