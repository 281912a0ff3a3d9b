package harness

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// proc is one program the harness started.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string // path of its combined stdout and stderr
	done chan struct{}
	err  error // set when done is closed
}

// startProc starts argv with env added, its output going to
// WorkDir/logs/NAME.log.
func (h *harness) startProc(name string, argv, env []string, dir string) (*proc, error) {
	logDir := filepath.Join(h.opts.WorkDir, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, fmt.Errorf("log folder: %w", err)
	}
	logPath := filepath.Join(logDir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("log of %s: %w", name, err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(append(os.Environ(), h.opts.Env...), env...)
	cmd.Dir = dir
	cmd.Stdout = f
	cmd.Stderr = f
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s (%s): %w", name, argv[0], err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// tail returns the end of the program's log, for error messages.
func (p *proc) tail() string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return ""
	}
	const n = 1200
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(bytes.TrimSpace(b))
}

// waitReady polls url until it answers 200, the program exits, or
// timeout passes.
func (p *proc) waitReady(ctx context.Context, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// Readiness only: an llmsim serving HTTPS has a certificate of its
	// own, which the gateway is given to trust; the check need not.
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // a readiness probe on loopback
	}}
	defer client.CloseIdleConnections()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before it was ready (%v); its log ends:\n%s", p.name, p.err, p.tail())
		case <-ctx.Done():
			return fmt.Errorf("%s not ready at %s after %v; its log ends:\n%s", p.name, url, timeout, p.tail())
		case <-tick.C:
		}
	}
}

// stop asks the program to stop (SIGTERM) and kills it when it has not
// stopped after grace.
func (p *proc) stop(grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		p.cmd.Process.Kill()
		<-p.done
	}
}

// freePorts returns n distinct loopback addresses with free ports. The
// ports are free when returned; a program that loses the race for one
// fails to start and is started again with new ones.
func freePorts(n int) ([]string, error) {
	addrs := make([]string, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		defer l.Close()
		addrs = append(addrs, l.Addr().String())
	}
	return addrs, nil
}

// startAttempts is how often a program that could not bind its ports is
// started again with new ones.
const startAttempts = 3

// readyTimeout bounds a program's start.
const readyTimeout = 30 * time.Second

// startServer starts a program on fresh ports: argv(addrs) builds its
// command line from n free addresses, readyURL(addrs) the URL that
// answers 200 once it serves.
func (h *harness) startServer(ctx context.Context, name string, n int, dir string,
	argv func(addrs []string) []string, readyURL func(addrs []string) string) (*proc, []string, error) {
	var errs []error
	for attempt := range startAttempts {
		addrs, err := freePorts(n)
		if err != nil {
			return nil, nil, err
		}
		label := name
		if attempt > 0 {
			label += "-retry" + strconv.Itoa(attempt)
		}
		p, err := h.startProc(label, argv(addrs), nil, dir)
		if err != nil {
			return nil, nil, err
		}
		if err := p.waitReady(ctx, readyURL(addrs), readyTimeout); err != nil {
			p.stop(5 * time.Second)
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		return p, addrs, nil
	}
	return nil, nil, fmt.Errorf("starting %s: %w", name, errors.Join(errs...))
}
