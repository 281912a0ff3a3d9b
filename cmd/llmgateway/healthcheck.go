package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// Defaults of the healthcheck subcommand: the HTTP listener's default port
// on the loopback interface, and a timeout well inside the container
// HEALTHCHECK's own.
const (
	defaultHealthURL     = "http://127.0.0.1:8080/healthz"
	defaultHealthTimeout = 2 * time.Second
	// healthBodyLimit bounds how much of an unhealthy answer's body is
	// quoted in the error.
	healthBodyLimit = 256
)

// healthcheck probes a health endpoint of a running gateway and returns nil
// when it answers 200 OK, an error saying what it got otherwise. It is the
// container image's HEALTHCHECK, whose image has no shell or curl: exit
// status 0 is healthy, 1 unhealthy.
func healthcheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("llmgateway healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rawURL := fs.String("url", defaultHealthURL, "health endpoint to probe: an http or https URL")
	timeout := fs.Duration("timeout", defaultHealthTimeout, "how long to wait for the answer, like 2s or 500ms")
	caFile := fs.String("ca-file", "", "https: PEM file of the CAs (or the very certificate) to trust instead of the system's")
	serverName := fs.String("server-name", "", "https: the name the certificate must carry, when the URL's host is not in it (like 127.0.0.1)")
	certFile := fs.String("cert-file", "", "https: PEM client certificate to present, for a gateway that requires one (server.tls.client_ca_file)")
	keyFile := fs.String("key-file", "", "https: PEM private key of --cert-file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("healthcheck: unexpected argument %q (flags: --url URL, --timeout DURATION, --ca-file FILE, --server-name NAME, --cert-file FILE, --key-file FILE)", fs.Arg(0))
	}
	if *timeout <= 0 {
		return fmt.Errorf("healthcheck: --timeout %s: want a duration above 0, like 2s", *timeout)
	}
	u, err := url.Parse(*rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("healthcheck: --url %q: want an absolute http or https URL, like %s", *rawURL, defaultHealthURL)
	}

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	// A probe talks to the gateway directly: no proxy from the environment,
	// no kept-alive connection left behind, and a redirect is an answer
	// other than 200, not a hop to follow.
	tc, err := probeTLS(*caFile, *serverName, *certFile, *keyFile)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	if tc != nil && u.Scheme != "https" {
		return fmt.Errorf("healthcheck: --ca-file, --server-name, --cert-file and --key-file need an https --url, got %s", u)
	}
	transport := &http.Transport{Proxy: nil, DisableKeepAlives: true, TLSClientConfig: tc}
	defer transport.CloseIdleConnections()
	client := &http.Client{
		Transport:     transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("healthcheck: no answer from %s within %s: %w", u, *timeout, err)
		}
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, healthBodyLimit))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s, want 200 OK%s", u, resp.Status, quoteBody(body))
	}
	fmt.Fprintf(stdout, "%s: %s\n", u, resp.Status)
	return nil
}

// quoteBody renders the start of an answer's body for an error message, or
// nothing when it is empty.
func quoteBody(body []byte) string {
	s := strings.TrimSpace(strings.ToValidUTF8(string(body), "\uFFFD"))
	if s == "" {
		return ""
	}
	return fmt.Sprintf(" (body %q)", s)
}

// probeTLS returns the TLS config the flags ask for, or nil when they ask
// for nothing but the defaults.
func probeTLS(caFile, serverName, certFile, keyFile string) (*tls.Config, error) {
	if caFile == "" && serverName == "" && certFile == "" && keyFile == "" {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("--ca-file: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-file %s: no PEM certificate in it", caFile)
		}
	}
	switch {
	case certFile != "" && keyFile != "":
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("--cert-file and --key-file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	case certFile != "" || keyFile != "":
		return nil, errors.New("--cert-file and --key-file go together: give both, or neither")
	}
	return tc, nil
}
