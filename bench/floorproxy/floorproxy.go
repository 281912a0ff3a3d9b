// Package floorproxy is the floor of the overhead benchmark: the least a
// Go HTTP proxy adds on the benchmark's path, with no gateway logic at
// all. It forwards every request, as is, to one upstream with net/http,
// flushing the response body as it comes, over a transport tuned as the
// gateway's is; it parses nothing, authenticates nothing, routes nothing,
// and records nothing.
//
// Measured beside the gateway, at the same rates and against the same
// upstream, it shows how much of the gateway's overhead is the price of
// one more HTTP hop through a Go process on the machine (two more
// loopback connections, their system calls and wake-ups), which no
// gateway logic can remove.
package floorproxy

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/llmgateway/llmgateway/bench/upstream"
)

// Handler returns the proxy to upstream, an http or https URL whose path
// prefixes the requests' paths, and /healthz.
//
// It is written out rather than built on httputil.ReverseProxy, whose
// streaming path lost about 1% of the benchmark's streams at 1,000/s
// (upstream reads failing on a closed connection): the floor must not
// fail where the gateway does not.
func Handler(upstream *url.URL) http.Handler {
	client := &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:   true,
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
	}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		u := *upstream
		u.Path = strings.TrimSuffix(u.Path, "/") + r.URL.Path
		u.RawQuery = r.URL.RawQuery
		// The body is read whole first, as any gateway must to look at it.
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		out, err := http.NewRequestWithContext(r.Context(), r.Method, u.String(), bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		for k, vs := range r.Header {
			if !hopHeader(k) {
				out.Header[k] = vs
			}
		}
		resp, err := client.Do(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, vs := range resp.Header {
			if !hopHeader(k) {
				w.Header()[k] = vs
			}
		}
		w.WriteHeader(resp.StatusCode)
		// Every read of the body goes out at once, so that stream chunks
		// are not held back.
		rc := http.NewResponseController(w)
		buf := make([]byte, 32<<10)
		for {
			n, err := resp.Body.Read(buf)
			if n > 0 {
				if _, werr := w.Write(buf[:n]); werr != nil {
					return
				}
				if werr := rc.Flush(); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	})
	return mux
}

// hopHeader reports whether a header belongs to one connection rather
// than to the message (RFC 9110, section 7.6.1).
func hopHeader(k string) bool {
	switch k {
	case "Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// Run is the floorproxy command: flags --addr and --upstream; it prints
// "floorproxy listening on ADDR" to stdout and serves until ctx ends, then
// stops gracefully.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("floorproxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "host:port to listen on")
	up := fs.String("upstream", "", "base URL of the upstream, like http://127.0.0.1:8089 (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags only)", fs.Arg(0))
	}
	u, err := url.Parse(*up)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--upstream: want an http or https URL like http://127.0.0.1:8089, got %q", *up)
	}
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listening on --addr: %w", err)
	}
	fmt.Fprintf(stdout, "floorproxy listening on %s\n", lis.Addr())
	// Served as llmsim is: the same server settings and graceful stop.
	return upstream.Serve(ctx, lis, Handler(u), nil)
}
