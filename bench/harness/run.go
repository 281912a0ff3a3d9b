package harness

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/llmgateway/llmgateway/bench/load"
	"github.com/llmgateway/llmgateway/bench/procstat"
	pb "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
)

// The surfaces and modes of a point.
const (
	surfaceOpenAI = "openai"
	surfaceGRPC   = "grpc"
	modeUnary     = "unary"
	modeStream    = "stream"
)

// harness is one run's state.
type harness struct {
	opts  Options
	key   key
	seq   int       // numbers the programs started, for their log names
	began time.Time // of the run, for progress lines
}

// progress prints one progress line, stamped with the time since the run
// began.
func (h *harness) progress(format string, args ...any) {
	fmt.Fprintf(h.opts.Progress, "[%5.1fs] "+format+"\n", append([]any{time.Since(h.began).Seconds()}, args...)...)
}

// stopGrace is how long a program gets to stop after SIGTERM.
const stopGrace = 15 * time.Second

// Run runs the benchmark planned by opts and returns its report. It fails
// when a program cannot be started or a point cannot be run; the peer
// failing requests is a result, not an error.
func Run(ctx context.Context, opts Options) (*Report, error) {
	opts.setDefaults()
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("options: %w", err)
	}
	k, err := newKey()
	if err != nil {
		return nil, err
	}
	h := &harness{opts: opts, key: k, began: time.Now()}
	rep := &Report{
		Started: time.Now().UTC(),
		Machine: machine(opts),
		Plan:    planOf(opts),
	}
	if opts.PeerDir != "" {
		rep.Machine.Peer = peerVersion(opts.PeerDir)
	}
	if err := h.checkChain(ctx, rep); err != nil {
		return nil, err
	}
	if err := h.phase(ctx, rep, modeUnary, opts.UnaryRates); err != nil {
		return nil, err
	}
	if len(opts.StreamRates) > 0 {
		if err := h.phase(ctx, rep, modeStream, opts.StreamRates); err != nil {
			return nil, err
		}
	}
	if opts.ScaleStreams > 0 {
		sc, err := h.scales(ctx)
		if err != nil {
			return nil, err
		}
		rep.Scales = sc
	}
	rep.Finished = time.Now().UTC()
	rep.evaluate(opts)
	return rep, nil
}

// phase measures every rate of one mode: direct, then our gateway on both
// surfaces (and chain off at the reference rate), then the peer.
func (h *harness) phase(ctx context.Context, rep *Report, mode string, rates []int) error {
	simArgs := []string{"--chunks", strconv.Itoa(h.opts.UnaryChunks)}
	if mode == modeStream {
		simArgs = []string{"--chunks", strconv.Itoa(h.opts.StreamChunks), "--chunk-delay", h.opts.ChunkDelay.String()}
	}
	sim, simAddr, err := h.startSim(ctx, "llmsim-"+mode, simArgs, "")
	if err != nil {
		return err
	}
	defer sim.stop(stopGrace)
	peerFell := 0
	for _, rate := range rates {
		direct, err := h.point(ctx, fmt.Sprintf("%s direct %d/s", mode, rate), rate, nil, h.openAIRun(mode, load.HTTPTarget{
			URL:    "http://" + simAddr + "/v1/chat/completions",
			Header: http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer sk-direct"}},
			Body:   requestBody(mode == modeStream),
		}))
		if err != nil {
			return err
		}
		chains := []chain{chainOn}
		if rate == h.opts.ReferenceRate {
			chains = append(chains, chainOff)
		}
		for _, c := range chains {
			for _, surface := range []string{surfaceOpenAI, surfaceGRPC} {
				ours, err := h.oursPoint(ctx, surface, mode, rate, c, simAddr)
				if err != nil {
					return err
				}
				row := Row{Surface: surface, Mode: mode, Chain: string(c), Rate: rate, Direct: direct, Ours: ours}
				if surface == surfaceOpenAI && c == chainOn && len(h.opts.FloorCmd) > 0 {
					if row.Floor, err = h.floorPoint(ctx, mode, rate, simAddr); err != nil {
						return err
					}
				}
				if surface == surfaceOpenAI && c == chainOn && h.opts.PeerDir != "" {
					if peerFell > 0 {
						row.Peer = &Measurement{Skipped: fmt.Sprintf("fell over at %d/s", peerFell)}
					} else {
						peer, err := h.peerPoint(ctx, mode, rate, simAddr)
						if err != nil {
							return err
						}
						row.Peer = peer
						if peer.Summary.SuccessRate() < h.opts.PeerFailBelow {
							peerFell = rate
						}
					}
				}
				row.compute()
				rep.Rows = append(rep.Rows, row)
			}
		}
	}
	return nil
}

// startSim starts an llmsim with args and returns it and its address.
// With certFile it serves HTTPS (HTTP/2) with a self-signed certificate
// that it writes there; plain HTTP/1.1 otherwise.
func (h *harness) startSim(ctx context.Context, name string, args []string, certFile string) (*proc, string, error) {
	scheme := "http"
	if certFile != "" {
		scheme, args = "https", slices.Concat(args, []string{"--tls-cert-out", certFile})
	}
	p, addrs, err := h.startServer(ctx, name, 1, "",
		func(a []string) []string { return slices.Concat(h.opts.LLMSimCmd, []string{"--addr", a[0]}, args) },
		func(a []string) string { return scheme + "://" + a[0] + "/healthz" })
	if err != nil {
		return nil, "", err
	}
	return p, addrs[0], nil
}

// gateway is a running gateway of ours.
type gateway struct {
	*proc
	grpcAddr, httpAddr, debugAddr string
}

// startGateway starts our gateway on chain c in front of simAddr (over
// HTTPS trusting simCA when set); debug starts the debug build, with its
// debug listener.
func (h *harness) startGateway(ctx context.Context, name string, c chain, simAddr, simCA string, debug bool, maxInFlight int) (*gateway, error) {
	cmd := h.opts.GatewayCmd
	n := 2
	if debug {
		cmd, n = h.opts.DebugGatewayCmd, 3
	}
	var cfgErr error
	p, addrs, err := h.startServer(ctx, name, n, "",
		func(a []string) []string {
			cfgPath, err := h.writeConfig(name, gatewayConfig(gwConfig{
				chain: c, key: h.key, grpcAddr: a[0], httpAddr: a[1], upstreamAddr: simAddr, upstreamCA: simCA,
				ledgerPath: filepath.Join(h.opts.WorkDir, "ledger.db"), maxInFlight: maxInFlight,
			}))
			if err != nil {
				cfgErr = err
			}
			argv := slices.Concat(cmd, []string{"--config", cfgPath, "--grpc-addr", a[0], "--http-addr", a[1], "--log-level", c.logLevel()})
			if debug {
				argv = append(argv, "--debug-addr", a[2])
			}
			return argv
		},
		func(a []string) string { return "http://" + a[1] + "/readyz" })
	if cfgErr != nil {
		return nil, cfgErr
	}
	if err != nil {
		return nil, err
	}
	g := &gateway{proc: p, grpcAddr: addrs[0], httpAddr: addrs[1]}
	if debug {
		g.debugAddr = addrs[2]
	}
	return g, nil
}

// oursPoint measures our gateway at one point on a fresh process.
func (h *harness) oursPoint(ctx context.Context, surface, mode string, rate int, c chain, simAddr string) (*Measurement, error) {
	h.seq++
	name := fmt.Sprintf("gateway-%02d-%s-%s-%d-chain-%s", h.seq, surface, mode, rate, c)
	g, err := h.startGateway(ctx, name, c, simAddr, "", false, 0)
	if err != nil {
		return nil, err
	}
	defer g.stop(stopGrace)
	label := fmt.Sprintf("%s ours/%s chain %s %d/s", mode, surface, c, rate)
	if surface == surfaceOpenAI {
		header := http.Header{"Content-Type": {"application/json"}}
		if c == chainOn {
			header.Set("Authorization", "Bearer "+h.key.token)
		}
		return h.point(ctx, label, rate, g.proc, h.openAIRun(mode, load.HTTPTarget{
			URL:    "http://" + g.httpAddr + "/v1/chat/completions",
			Header: header,
			Body:   requestBody(mode == modeStream),
		}))
	}
	conn, err := grpc.NewClient("passthrough:///"+g.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("dialing the gateway's gRPC listener: %w", err)
	}
	defer conn.Close()
	md := metadata.MD{}
	if c == chainOn {
		md.Set("authorization", "Bearer "+h.key.token)
	}
	client := pb.NewLLMGatewayServiceClient(conn)
	req := grpcRequest()
	doer := load.GRPCUnary(client, req, md, h.opts.Timeout)
	if mode == modeStream {
		doer = load.GRPCStream(client, req, md, h.opts.Timeout)
	}
	return h.point(ctx, label, rate, g.proc, func(ctx context.Context, plan load.Plan) ([]load.Sample, error) {
		return load.Run(ctx, plan, doer)
	})
}

// grpcRequest is requestBody as a gRPC request.
func grpcRequest() *pb.ChatRequest {
	maxTok := int32(maxTokens)
	return &pb.ChatRequest{
		Model: benchModel,
		Messages: []*pb.Message{
			{Role: "system", Content: "You are a customer service agent for an online shop."},
			{Role: "user", Content: "Where is my order 1234? It was due yesterday."},
		},
		MaxTokens: &maxTok,
	}
}

// floorPoint measures the floor (a bare Go reverse proxy) at one point on
// a fresh process.
func (h *harness) floorPoint(ctx context.Context, mode string, rate int, simAddr string) (*Measurement, error) {
	h.seq++
	name := fmt.Sprintf("floor-%02d-%s-%d", h.seq, mode, rate)
	p, addrs, err := h.startServer(ctx, name, 1, "",
		func(a []string) []string {
			return slices.Concat(h.opts.FloorCmd, []string{"--addr", a[0], "--upstream", "http://" + simAddr})
		},
		func(a []string) string { return "http://" + a[0] + "/healthz" })
	if err != nil {
		return nil, err
	}
	defer p.stop(stopGrace)
	return h.point(ctx, fmt.Sprintf("%s floor/openai %d/s", mode, rate), rate, p, h.openAIRun(mode, load.HTTPTarget{
		URL:    "http://" + addrs[0] + "/v1/chat/completions",
		Header: http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer sk-direct"}},
		Body:   requestBody(mode == modeStream),
	}))
}

// peerPoint measures the peer at one point on a fresh process.
func (h *harness) peerPoint(ctx context.Context, mode string, rate int, simAddr string) (*Measurement, error) {
	h.seq++
	name := fmt.Sprintf("peer-%02d-%s-%d", h.seq, mode, rate)
	p, addrs, err := h.startServer(ctx, name, 1, h.opts.PeerDir,
		func(a []string) []string {
			_, port, _ := cutPort(a[0])
			return []string{h.opts.Node, "--import", "./loopback.mjs",
				"node_modules/@portkey-ai/gateway/build/start-server.js", "--port=" + port, "--headless"}
		},
		func(a []string) string { return "http://" + a[0] + "/" })
	if err != nil {
		return nil, err
	}
	defer p.stop(stopGrace)
	return h.point(ctx, fmt.Sprintf("%s peer/openai %d/s", mode, rate), rate, p, h.openAIRun(mode, load.HTTPTarget{
		URL: "http://" + addrs[0] + "/v1/chat/completions",
		Header: http.Header{
			"Content-Type":          {"application/json"},
			"Authorization":         {"Bearer sk-peer"},
			"X-Portkey-Provider":    {"openai"},
			"X-Portkey-Custom-Host": {"http://" + simAddr + "/v1"},
		},
		Body: requestBody(mode == modeStream),
	}))
}

func cutPort(addr string) (string, string, bool) {
	i := len(addr) - 1
	for i >= 0 && addr[i] != ':' {
		i--
	}
	if i < 0 {
		return addr, "", false
	}
	return addr[:i], addr[i+1:], true
}

// runFunc runs a plan against one target.
type runFunc func(ctx context.Context, plan load.Plan) ([]load.Sample, error)

// openAIRun returns the run of an OpenAI-format target: vegeta for unary
// points, the stream generator for streams.
func (h *harness) openAIRun(mode string, t load.HTTPTarget) runFunc {
	if mode == modeUnary {
		return func(ctx context.Context, plan load.Plan) ([]load.Sample, error) {
			return load.RunHTTPUnary(ctx, plan, t, h.opts.Timeout)
		}
	}
	return func(ctx context.Context, plan load.Plan) ([]load.Sample, error) {
		client := load.NewHTTPClient(h.opts.Timeout)
		defer client.CloseIdleConnections()
		return load.Run(ctx, plan, load.HTTPStream(client, t))
	}
}

// point runs one point: warm-up and measured interval at rate, sampling
// p's CPU time and peak RSS over the measured interval when p is set.
func (h *harness) point(ctx context.Context, label string, rate int, p *proc, run runFunc) (*Measurement, error) {
	plan := load.Plan{Rate: rate, Warmup: h.opts.Warmup, Duration: h.opts.Duration}
	var (
		mu     sync.Mutex
		before procstat.Stat
		bErr   error
	)
	var t *time.Timer
	if p != nil {
		t = time.AfterFunc(plan.Warmup, func() {
			mu.Lock()
			defer mu.Unlock()
			procstat.ResetPeak(p.pid())
			before, bErr = procstat.Read(p.pid())
		})
	}
	samples, err := run(ctx, plan)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", label, err)
	}
	m := &Measurement{Summary: load.Summarize(samples, plan.Duration)}
	if p != nil {
		t.Stop()
		mu.Lock()
		defer mu.Unlock()
		after, aErr := procstat.Read(p.pid())
		switch {
		case bErr != nil:
			m.Note = "no CPU or RSS figures: " + bErr.Error()
		case aErr != nil:
			m.Note = "no CPU or RSS figures: " + aErr.Error()
		default:
			if m.Summary.Sent > 0 {
				m.CPUPer1k = (after.CPU - before.CPU).Seconds() / float64(m.Summary.Sent) * 1000
			}
			m.PeakRSS = after.PeakRSS
		}
	}
	h.progress("%-40s %s", label, m.brief())
	return m, nil
}

// checkChain makes sure the production chain is what the report says:
// it starts a chain-on gateway, sends one request without the key and one
// with it, and records whether the key was enforced and the ledger file
// written.
func (h *harness) checkChain(ctx context.Context, rep *Report) error {
	sim, simAddr, err := h.startSim(ctx, "llmsim-check", []string{"--chunks", "4"}, "")
	if err != nil {
		return err
	}
	defer sim.stop(stopGrace)
	g, err := h.startGateway(ctx, "gateway-00-chain-check", chainOn, simAddr, "", false, 0)
	if err != nil {
		return err
	}
	send := func(withKey bool) (int, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+g.httpAddr+"/v1/chat/completions", bytes.NewReader(requestBody(false)))
		if err != nil {
			return 0, err
		}
		req.Header.Set("Content-Type", "application/json")
		if withKey {
			req.Header.Set("Authorization", "Bearer "+h.key.token)
		}
		client := &http.Client{Timeout: h.opts.Timeout}
		defer client.CloseIdleConnections()
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	with, err := send(true)
	if err != nil {
		g.stop(stopGrace)
		return fmt.Errorf("chain check: a request with the key: %w", err)
	}
	if with != http.StatusOK {
		g.stop(stopGrace)
		return fmt.Errorf("chain check: a request with the bench key got HTTP %d, want 200; see %s", with, g.log)
	}
	without, err := send(false)
	if err != nil {
		g.stop(stopGrace)
		return fmt.Errorf("chain check: a request without a key: %w", err)
	}
	metrics := 0
	if req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+g.httpAddr+"/metrics", nil); err == nil {
		client := &http.Client{Timeout: h.opts.Timeout}
		if resp, err := client.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			metrics = resp.StatusCode
		}
		client.CloseIdleConnections()
	}
	// Stopping drains the ledger's queue into its file.
	g.stop(stopGrace)
	ch := &rep.Chain
	ch.KeyEnforced = without == http.StatusUnauthorized
	ch.WithoutKeyStatus = without
	ch.Metrics = metrics == http.StatusOK
	if fi, err := os.Stat(filepath.Join(h.opts.WorkDir, "ledger.db")); err == nil && fi.Size() > 0 {
		ch.LedgerFile = true
	}
	ch.Config = gatewayConfig(gwConfig{
		chain: chainOn, key: key{secretSHA256: "<sha256 of the key's secret>"},
		grpcAddr: "127.0.0.1:GRPC", httpAddr: "127.0.0.1:HTTP", upstreamAddr: "127.0.0.1:LLMSIM", ledgerPath: "WORKDIR/ledger.db",
	})
	if !ch.KeyEnforced {
		ch.Notes = append(ch.Notes, fmt.Sprintf("this build does not enforce virtual keys: a request without a key got HTTP %d, not 401", without))
	}
	if !ch.LedgerFile {
		ch.Notes = append(ch.Notes, "this build wrote no SQLite ledger file")
	}
	if !ch.Metrics {
		ch.Notes = append(ch.Notes, fmt.Sprintf("this build serves no metrics: GET /metrics got %d, not 200", metrics))
	}
	return nil
}
