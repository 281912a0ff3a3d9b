package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/llmgateway/llmgateway/bench/load"
)

// Profiles are the files Profile wrote.
type Profiles struct {
	// CPU is the CPU profile and Allocs the allocation profile (a delta
	// over the same interval) of the gateway during the measured interval.
	CPU, Allocs string
	// Measurement is the point the profiles were taken during.
	Measurement *Measurement
}

// Profile runs one point on the OpenAI-compatible surface, chain on, at
// rate on the debug gateway, unary or (stream true) streaming, and
// writes the CPU and allocation profiles of its measured interval into
// dir. opts.DebugGatewayCmd is required.
func Profile(ctx context.Context, opts Options, dir string, rate int, stream bool) (*Profiles, error) {
	opts.setDefaults()
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("options: %w", err)
	}
	if len(opts.DebugGatewayCmd) == 0 {
		return nil, errors.New("profiling needs the debug gateway (go build -o bin/llmgateway-debug ./bench/cmd/llmgateway-debug)")
	}
	if rate <= 0 {
		return nil, fmt.Errorf("profile rate %d: must be > 0 requests per second", rate)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("profile folder: %w", err)
	}
	k, err := newKey()
	if err != nil {
		return nil, err
	}
	h := &harness{opts: opts, key: k, began: time.Now()}
	mode, simArgs := modeUnary, []string{"--chunks", strconv.Itoa(opts.UnaryChunks)}
	if stream {
		mode, simArgs = modeStream, []string{"--chunks", strconv.Itoa(opts.StreamChunks), "--chunk-delay", opts.ChunkDelay.String()}
	}
	sim, simAddr, err := h.startSim(ctx, "llmsim-profile", simArgs, "")
	if err != nil {
		return nil, err
	}
	defer sim.stop(stopGrace)
	g, err := h.startGateway(ctx, "gateway-profile", chainOn, simAddr, "", true, 0)
	if err != nil {
		return nil, err
	}
	defer g.stop(stopGrace)

	pr := &Profiles{CPU: filepath.Join(dir, "cpu.pprof"), Allocs: filepath.Join(dir, "allocs.pprof")}
	secs := strconv.Itoa(max(1, int(opts.Duration/time.Second)))
	var (
		wg   sync.WaitGroup
		errs = make([]error, 2)
	)
	fetch := func(i int, path, file string) {
		defer wg.Done()
		select {
		case <-time.After(opts.Warmup):
		case <-ctx.Done():
			errs[i] = ctx.Err()
			return
		}
		errs[i] = download(ctx, "http://"+g.debugAddr+path+"?seconds="+secs, file)
	}
	wg.Add(2)
	go fetch(0, "/debug/pprof/profile", pr.CPU)
	go fetch(1, "/debug/pprof/allocs", pr.Allocs)
	m, err := h.point(ctx, fmt.Sprintf("%s ours/openai chain on %d/s (profiled)", mode, rate), rate, g.proc, h.openAIRun(mode, load.HTTPTarget{
		URL:    "http://" + g.httpAddr + "/v1/chat/completions",
		Header: http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + h.key.token}},
		Body:   requestBody(stream),
	}))
	wg.Wait()
	if err != nil {
		return nil, err
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("fetching profiles: %w", err)
	}
	pr.Measurement = m
	return pr, nil
}

// download saves the body of a GET of url into file.
func download(ctx context.Context, url, file string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("GET %s: HTTP %d: %s", url, resp.StatusCode, b)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", file, err)
	}
	return f.Close()
}
