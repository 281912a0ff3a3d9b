package harness

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/llmgateway/llmgateway/bench/load"
	"github.com/llmgateway/llmgateway/bench/procstat"
	pb "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
)

// Scale is the outcome of the scale test on one surface: many slow streams
// held open at once through one gateway process, with the production
// chain on.
type Scale struct {
	// Surface is "openai" or "grpc". Skipped says why the test did not
	// run on it.
	Surface string `json:"surface"`
	Skipped string `json:"skipped,omitempty"`
	// Upstream is how the gateway reaches the upstream: "http/1.1"
	// (plain, one connection per open stream, as to a self-hosted vLLM
	// or Ollama) or "h2+tls" (HTTPS, streams multiplexed on a few
	// connections, as to the hosted providers' APIs).
	Upstream string `json:"upstream"`
	// Streams is how many streams were opened; Completed how many ended
	// with all their chunks and [DONE].
	Streams   int            `json:"streams"`
	Completed int            `json:"completed"`
	Errors    map[string]int `json:"errors,omitempty"`
	// MaxOpen is the most streams open at once, as the load generator
	// counted them.
	MaxOpen int `json:"max_open"`
	// StreamLength is how long each stream lasts at the upstream.
	StreamLength time.Duration `json:"stream_length_ns"`
	// PeakRSS is the gateway's VmHWM over the test; RSSAtMaxOpen its RSS
	// sampled while the most streams were open.
	PeakRSS      int64 `json:"peak_rss_bytes"`
	RSSAtMaxOpen int64 `json:"rss_at_max_open_bytes"`
	// Goroutines is the most goroutines sampled in the gateway; 0 with
	// GoroutinesNote saying why when it could not be read.
	Goroutines     int    `json:"goroutines"`
	GoroutinesNote string `json:"goroutines_note,omitempty"`
	// Threads is the most OS threads sampled in the gateway.
	Threads int `json:"threads"`
	// CPUSeconds is the gateway's CPU time over the test.
	CPUSeconds float64 `json:"cpu_seconds"`
	// Wall is how long the test took, first stream opened to last ended.
	Wall time.Duration `json:"wall_ns"`
}

// scaleInFlightSlack is the room above the scale test's streams in its
// gateway's server.max_in_flight.
const scaleInFlightSlack = 1000

// streamsPerConn is how many of the scale test's streams share one gRPC
// connection: under the gateway's default max_concurrent_streams (1024).
const streamsPerConn = 500

// fdSlack is the descriptors a process needs beyond one per connection:
// listeners, the ledger, logs, the runtime's own.
const fdSlack = 512

// Upstream protocols of the scale test.
const (
	upstreamH1  = "http/1.1"
	upstreamH2  = "h2+tls"
	scaleLabelF = "scale %s %d streams, upstream %s"
)

// scales runs the scale test on both surfaces, with the upstream over
// plain HTTP/1.1 and over HTTPS with HTTP/2. Into the gateway, every
// stream on the OpenAI-compatible surface holds a connection, while on
// gRPC the streams share a few; out of it, every stream holds a
// connection over HTTP/1.1 and shares a few over HTTP/2. A case whose
// need exceeds the open-file limit is skipped, saying so.
func (h *harness) scales(ctx context.Context) ([]Scale, error) {
	limit := openFileLimit()
	var out []Scale
	for _, c := range []struct{ surface, upstream string }{
		{surfaceGRPC, upstreamH1}, {surfaceGRPC, upstreamH2}, {surfaceOpenAI, upstreamH2}, {surfaceOpenAI, upstreamH1},
	} {
		need := h.opts.ScaleStreams + fdSlack
		if c.surface == surfaceOpenAI && c.upstream == upstreamH1 {
			need += h.opts.ScaleStreams
		}
		if limit > 0 && uint64(need) > limit {
			sc := Scale{Surface: c.surface, Upstream: c.upstream, Streams: h.opts.ScaleStreams,
				Skipped: fmt.Sprintf("the open-file limit is %d; %d streams on this surface, upstream %s, need about %d descriptors in the gateway", limit, h.opts.ScaleStreams, c.upstream, need)}
			h.progress("%-40s skipped: %s", fmt.Sprintf(scaleLabelF, c.surface, h.opts.ScaleStreams, c.upstream), sc.Skipped)
			out = append(out, sc)
			continue
		}
		sc, err := h.scale(ctx, c.surface, c.upstream)
		if err != nil {
			return nil, err
		}
		out = append(out, *sc)
	}
	return out, nil
}

// openFileLimit is this process's soft limit on open files, which the
// programs it starts inherit; 0 when unknown.
func openFileLimit() uint64 {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0
	}
	return r.Cur
}

// scale runs the scale test on one surface, with the upstream over
// upstreamProto.
func (h *harness) scale(ctx context.Context, surface, upstreamProto string) (*Scale, error) {
	o := &h.opts
	name := "scale-" + surface + "-" + strings.NewReplacer("/", "", ".", "", "+", "-").Replace(upstreamProto)
	var simCA string
	if upstreamProto == upstreamH2 {
		simCA = filepath.Join(o.WorkDir, "llmsim-"+name+".pem")
	}
	sim, simAddr, err := h.startSim(ctx, "llmsim-"+name, []string{
		"--chunks", strconv.Itoa(o.ScaleChunks), "--chunk-delay", o.ScaleChunkDelay.String(),
	}, simCA)
	if err != nil {
		return nil, err
	}
	defer sim.stop(stopGrace)
	debug := len(o.DebugGatewayCmd) > 0
	// The default server.max_in_flight (4096) sheds what is over it, by
	// design; the scale test raises it to hold every stream.
	g, err := h.startGateway(ctx, "gateway-"+name, chainOn, simAddr, simCA, debug, o.ScaleStreams+scaleInFlightSlack)
	if err != nil {
		return nil, err
	}
	defer g.stop(stopGrace)

	sc := &Scale{Surface: surface, Upstream: upstreamProto, Streams: o.ScaleStreams, StreamLength: time.Duration(o.ScaleChunks-1) * o.ScaleChunkDelay}
	if !debug {
		sc.GoroutinesNote = "not measured: no debug gateway given (bin/llmgateway has no goroutine endpoint)"
	}
	timeout := sc.StreamLength + 60*time.Second
	var stream load.Doer
	if surface == surfaceOpenAI {
		client := load.NewHTTPClient(timeout)
		defer client.CloseIdleConnections()
		stream = load.HTTPStream(client, load.HTTPTarget{
			URL:    "http://" + g.httpAddr + "/v1/chat/completions",
			Header: http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + h.key.token}},
			Body:   requestBody(true),
		})
	} else {
		// The gateway allows server.max_concurrent_streams (1024) calls
		// per connection, as HTTP/2 servers do: the streams come over
		// several connections, as from many clients.
		n := (o.ScaleStreams + streamsPerConn - 1) / streamsPerConn
		doers := make([]load.Doer, n)
		for i := range doers {
			conn, err := grpc.NewClient("passthrough:///"+g.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				return nil, fmt.Errorf("dialing the gateway's gRPC listener: %w", err)
			}
			defer conn.Close()
			doers[i] = load.GRPCStream(pb.NewLLMGatewayServiceClient(conn), grpcRequest(),
				metadata.Pairs("authorization", "Bearer "+h.key.token), timeout)
		}
		var next atomic.Uint64
		stream = func(ctx context.Context) load.Sample {
			return doers[next.Add(1)%uint64(n)](ctx)
		}
	}
	var open, maxOpen atomic.Int64
	doer := func(ctx context.Context) load.Sample {
		n := open.Add(1)
		for m := maxOpen.Load(); n > m && !maxOpen.CompareAndSwap(m, n); m = maxOpen.Load() {
		}
		defer open.Add(-1)
		return stream(ctx)
	}

	before, err := procstat.Read(g.pid())
	if err != nil {
		return nil, fmt.Errorf("scale test: %w", err)
	}
	sampled := make(chan struct{})
	stopSampling := make(chan struct{})
	var mu sync.Mutex
	go func() {
		defer close(sampled)
		dbg := &http.Client{Timeout: 2 * time.Second}
		defer dbg.CloseIdleConnections()
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		best := int64(-1)
		for {
			select {
			case <-stopSampling:
				return
			case <-tick.C:
			}
			st, err := procstat.Read(g.pid())
			if err != nil {
				continue
			}
			n := open.Load()
			mu.Lock()
			sc.Threads = max(sc.Threads, st.Threads)
			if n > best {
				best, sc.RSSAtMaxOpen = n, st.RSS
			}
			mu.Unlock()
			if debug {
				if gr, err := goroutines(dbg, g.debugAddr); err == nil {
					mu.Lock()
					sc.Goroutines = max(sc.Goroutines, gr)
					mu.Unlock()
				} else {
					mu.Lock()
					sc.GoroutinesNote = "reading /debug/goroutines: " + err.Error()
					mu.Unlock()
				}
			}
		}
	}()
	began := time.Now()
	plan := load.Plan{
		Rate:        o.ScaleRamp,
		Duration:    time.Duration(float64(o.ScaleStreams)/float64(o.ScaleRamp)*float64(time.Second)) + time.Second,
		Count:       o.ScaleStreams,
		MaxInFlight: o.ScaleStreams + 1000,
	}
	samples, err := load.Run(ctx, plan, doer)
	sc.Wall = time.Since(began)
	close(stopSampling)
	<-sampled
	if err != nil {
		return nil, fmt.Errorf("scale test: %w", err)
	}
	after, err := procstat.Read(g.pid())
	if err != nil {
		return nil, fmt.Errorf("scale test: %w", err)
	}
	sum := load.Summarize(samples, plan.Duration)
	sc.Streams, sc.Errors = sum.Sent, sum.Errors
	for i := range samples {
		if samples[i].Err == "" && samples[i].Chunks == o.ScaleChunks {
			sc.Completed++
		}
	}
	sc.MaxOpen = int(maxOpen.Load())
	sc.PeakRSS = after.PeakRSS
	sc.CPUSeconds = (after.CPU - before.CPU).Seconds()
	h.progress("%-40s %d/%d completed, %d open at most, peak RSS %.1f MB, goroutines %d",
		fmt.Sprintf(scaleLabelF, surface, o.ScaleStreams, upstreamProto), sc.Completed, sc.Streams, sc.MaxOpen, mb(sc.PeakRSS), sc.Goroutines)
	return sc, nil
}

// goroutines reads the goroutine count of a debug gateway.
func goroutines(c *http.Client, addr string) (int, error) {
	resp, err := c.Get("http://" + addr + "/debug/goroutines")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64))
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}
