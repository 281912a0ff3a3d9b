package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
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
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("healthcheck: unexpected argument %q (flags: --url URL, --timeout DURATION)", fs.Arg(0))
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
	transport := &http.Transport{Proxy: nil, DisableKeepAlives: true}
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
