package redistest

import (
	"bufio"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Environment variables the package reads.
const (
	// EnvAddr holds the address of the Redis server the tests use. Wrap
	// sets it to the server it starts; set beforehand, it names a server
	// to use instead.
	EnvAddr = "LLMGATEWAY_TEST_REDIS_ADDR"
	// EnvRequire, set to 1, makes a missing redis-server fail the tests
	// instead of skipping them.
	EnvRequire = "LLMGATEWAY_REQUIRE_REDIS"
)

// ErrNotInstalled is returned by Start when redis-server is not on PATH.
var ErrNotInstalled = errors.New("redis-server is not installed (Debian: apt-get install -y redis-server)")

// Server is a redis-server process listening on loopback.
type Server struct {
	// Addr is the server's host:port.
	Addr string
	cmd  *exec.Cmd
	dir  string
	done chan error
}

// Start starts redis-server on a free loopback port, without persistence,
// and waits until it answers.
func Start() (*Server, error) {
	var last error
	for range 3 { // the free port may be taken before redis-server binds it
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s, err := StartOn(port)
		if err == nil || errors.Is(err, ErrNotInstalled) {
			return s, err
		}
		last = err
	}
	return nil, last
}

// StartOn starts redis-server on 127.0.0.1:port, as Start does; tests that
// stop a server and start it again use it to keep the address.
func StartOn(port int) (*Server, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, ErrNotInstalled
	}
	dir, err := os.MkdirTemp("", "redistest-")
	if err != nil {
		return nil, fmt.Errorf("creating redis work dir: %w", err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cmd := exec.Command(bin,
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", dir,
		"--loglevel", "warning",
		"--daemonize", "no",
	)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("starting redis-server: %w", err)
	}
	s := &Server{Addr: addr, cmd: cmd, dir: dir, done: make(chan error, 1)}
	go func() { s.done <- cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if ping(addr) == nil {
			return s, nil
		}
		select {
		case err := <-s.done:
			os.RemoveAll(dir)
			return nil, fmt.Errorf("redis-server on %s exited (%v): %s", addr, err, strings.TrimSpace(out.String()))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("redis-server on %s did not answer within 10s: %s", addr, strings.TrimSpace(out.String()))
		}
	}
}

// Stop stops the server and removes its work directory.
func (s *Server) Stop() {
	if s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(os.Interrupt)
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	}
	os.RemoveAll(s.dir)
}

// Port returns the server's port.
func (s *Server) Port() int {
	_, p, _ := net.SplitHostPort(s.Addr)
	n, _ := strconv.Atoi(p)
	return n
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ping sends PING and expects +PONG.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}

// TestingM is what Wrap wraps: *testing.M.
type TestingM interface{ Run() int }

// Wrap returns m with a Run that starts a redis-server for the tests
// (unless EnvAddr names one already), runs them and stops the server.
func Wrap(m TestingM) TestingM { return wrapped{m} }

type wrapped struct{ m TestingM }

func (w wrapped) Run() int {
	if os.Getenv(EnvAddr) != "" {
		return w.m.Run()
	}
	s, err := Start()
	switch {
	case errors.Is(err, ErrNotInstalled) && os.Getenv(EnvRequire) == "1":
		fmt.Fprintf(os.Stderr, "redistest: %v, and %s=1 requires it (run `make deps`)\n", err, EnvRequire)
		return 1
	case errors.Is(err, ErrNotInstalled):
		fmt.Fprintf(os.Stderr, "redistest: %v: the tests that need Redis are skipped\n", err)
		return w.m.Run()
	case err != nil:
		fmt.Fprintf(os.Stderr, "redistest: %v\n", err)
		return 1
	}
	os.Setenv(EnvAddr, s.Addr)
	defer os.Unsetenv(EnvAddr)
	defer s.Stop()
	return w.m.Run()
}

// Addr returns the address of the tests' Redis server. Without one it
// skips t, or fails it when EnvRequire is 1.
func Addr(t testing.TB) string {
	t.Helper()
	if a := os.Getenv(EnvAddr); a != "" {
		return a
	}
	if os.Getenv(EnvRequire) == "1" {
		t.Fatalf("no Redis server for the test, and %s=1 requires one: install redis-server (make deps) and wrap TestMain with redistest.Wrap", EnvRequire)
	}
	t.Skip("redis-server is not installed: skipping a test that needs Redis (set " + EnvRequire + "=1 to fail instead)")
	return ""
}

// Prefix returns a key prefix unique to this test run, so that tests can
// share one server without seeing each other's keys.
func Prefix(t testing.TB) string {
	t.Helper()
	return "test:" + strings.ReplaceAll(t.Name(), "/", ".") + ":" + rand.Text()[:8] + ":"
}
