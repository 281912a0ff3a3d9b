package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"text/template"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/llmgateway/llmgateway/app"
	"github.com/llmgateway/llmgateway/config"
	pb "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
	"github.com/llmgateway/llmgateway/pricing"
	"github.com/llmgateway/llmgateway/providers/simulator"
	"github.com/llmgateway/llmgateway/routing"
)

// Scenario is one drill run's shape: how long, how hard, and how fast
// simulated time runs.
type Scenario struct {
	// Duration is how long requests are sent.
	Duration time.Duration
	// RPS is the request rate.
	RPS int
	// Seed makes the workload and the simulators' draws repeatable.
	Seed uint64
	// Scale multiplies every simulated latency, timeout, Retry-After and
	// fault-burst period: 0.2 runs the same scenario five times faster.
	Scale float64
}

// The providers of the drill, named after the real upstreams they stand
// for.
const (
	provOpenAI    = "openai"
	provAzure     = "azure"
	provAnthropic = "anthropic"
	provBedrock   = "bedrock"
	provGoogle    = "google"
	provDeepSeek  = "deepseek"
	provTogether  = "together"
)

// gatewayYAML is the gateway under test: every model on two providers
// (except gemini), auto routing on the customer-service mix, breakers,
// retries, cool-downs and hedging on. {{d "300ms"}} is a duration scaled
// by Scenario.Scale.
const gatewayYAML = `
server: {drain_timeout: 5s}
providers:
  - {name: openai,    type: simulator, simulator: {latency: {p50: {{d "250ms"}}, p99: {{d "600ms"}}}, tokens_per_second: {{tps 120}}, seed: 11}}
  - {name: azure,     type: simulator, simulator: {latency: {p50: {{d "280ms"}}, p99: {{d "650ms"}}}, tokens_per_second: {{tps 110}}, seed: 12}}
  - {name: anthropic, type: simulator, simulator: {latency: {p50: {{d "350ms"}}, p99: {{d "800ms"}}}, tokens_per_second: {{tps 90}}, seed: 13}}
  - {name: bedrock,   type: simulator, simulator: {latency: {p50: {{d "380ms"}}, p99: {{d "850ms"}}}, tokens_per_second: {{tps 85}}, seed: 14}}
  - {name: google,    type: simulator, simulator: {latency: {p50: {{d "220ms"}}, p99: {{d "550ms"}}}, tokens_per_second: {{tps 150}}, retry_after: {{d "2s"}}, seed: 15}}
  - {name: deepseek,  type: simulator, simulator: {latency: {p50: {{d "240ms"}}, p99: {{d "600ms"}}}, tokens_per_second: {{tps 100}}, seed: 16}}
  - {name: together,  type: simulator, simulator: {latency: {p50: {{d "260ms"}}, p99: {{d "620ms"}}}, tokens_per_second: {{tps 100}}, seed: 17}}
models:
  - name: gpt-4.1
    deployments: [{provider: openai}, {provider: azure, priority: 1}]
    pricing: {input_per_mtok: 2.00, output_per_mtok: 8.00}
  - name: gpt-4.1-mini
    deployments: [{provider: openai}, {provider: azure}]
    pricing: {input_per_mtok: 0.40, output_per_mtok: 1.60}
  - name: claude-sonnet-4.5
    deployments: [{provider: anthropic}, {provider: bedrock, priority: 1}]
    pricing: {input_per_mtok: 3.00, output_per_mtok: 15.00}
  - name: gemini-2.5-flash
    deployments: [{provider: google}]
    pricing: {input_per_mtok: 0.30, output_per_mtok: 2.50}
  - name: deepseek-v3.2
    deployments: [{provider: deepseek}, {provider: together}]
    pricing: {input_per_mtok: 0.28, output_per_mtok: 0.42}
routing:
  first_token_timeout: {{d "3s"}}
  latency_window: {{d "10s"}}
  models:
    - {name: gpt-4.1, strategy: priority, fallbacks: [claude-sonnet-4.5, gemini-2.5-flash]}
  virtual_models:
    - name: auto
      tiers:
        simple:   {models: [deepseek-v3.2, gemini-2.5-flash], strategy: least-latency, fallbacks: [gpt-4.1-mini]}
        standard: {models: [gpt-4.1-mini], strategy: least-latency, fallbacks: [gemini-2.5-flash]}
        complex:  {models: [gpt-4.1, claude-sonnet-4.5], strategy: priority, fallbacks: [gemini-2.5-flash]}
      hedge: {delay: {{d "500ms"}}, p95: true}
  retry: {max_attempts: 4, backoff: {{d "50ms"}}, max_backoff: {{d "1s"}}, max_retry_after: {{d "1s"}}}
  breaker: {consecutive_failures: 5, failure_rate: 0.5, min_requests: 10, window: {{d "10s"}}, open_for: {{d "2s"}}, max_open_for: {{d "20s"}}}
`

// baselineYAML is the brief's baseline: everything to GPT-4.1 on one
// provider, no retries, no failover, no breaker.
const baselineYAML = `
server: {drain_timeout: 5s}
providers:
  - {name: openai, type: simulator, simulator: {latency: {p50: {{d "250ms"}}, p99: {{d "600ms"}}}, tokens_per_second: {{tps 120}}, seed: 11}}
models:
  - name: gpt-4.1
    deployments: [{provider: openai}]
    pricing: {input_per_mtok: 2.00, output_per_mtok: 8.00}
routing:
  first_token_timeout: {{d "3s"}}
  retry: {max_attempts: 1}
  breaker: {failure_rate: 0, consecutive_failures: 0}
`

// Phase is a stretch of the drill with one fault (or none).
type Phase int

// The phases, in order.
const (
	PhaseHealthy   Phase = iota
	PhaseDown            // openai hard down: every request HTTP 500
	PhaseRateLimit       // google: bursts of 429 with Retry-After
	PhaseSlow            // deepseek five times slower
	nPhases
)

func (p Phase) String() string {
	return [...]string{"healthy", "openai down", "google 429 bursts", "deepseek 5x slower"}[p]
}

// window is one fault window, as shares of the duration.
type window struct {
	phase      Phase
	start, end float64
}

// schedule returns the fault timeline: each fault in a window of its own,
// with healthy stretches between them for the breakers to close and
// latency to settle.
func schedule() []window {
	return []window{
		{PhaseDown, 0.15, 0.30},
		{PhaseRateLimit, 0.40, 0.55},
		{PhaseSlow, 0.65, 0.80},
	}
}

// phaseAt returns the phase at share f of the duration.
func phaseAt(f float64) Phase {
	for _, w := range schedule() {
		if f >= w.start && f < w.end {
			return w.phase
		}
	}
	return PhaseHealthy
}

// Result is what one request saw.
type Result struct {
	Phase     Phase
	Class     string // the workload's own label: simple, standard, complex
	OK        bool
	FirstTok  time.Duration
	Total     time.Duration
	Cost      float64
	Tier      string
	Attempts  []*pb.RouteAttempt
	ErrorText string
}

// Report sums up one run.
type Report struct {
	Name     string
	Results  []Result
	Trips    int64
	Duration time.Duration
}

// target is a gateway under drill: its simulators, router and client.
type target struct {
	sims   map[string]*simulator.Provider
	router *routing.Router
	client pb.LLMGatewayServiceClient
	stop   func() error
}

// render fills a config template for scale s.
func render(tmpl string, s float64) (string, error) {
	t, err := template.New("cfg").Funcs(template.FuncMap{
		"d": func(v string) (string, error) {
			d, err := time.ParseDuration(v)
			if err != nil {
				return "", err
			}
			return time.Duration(float64(d) * s).String(), nil
		},
		"tps": func(v float64) string { return fmt.Sprint(v / s) },
	}).Parse(tmpl)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, nil); err != nil {
		return "", err
	}
	return b.String(), nil
}

// startTarget builds the gateway cfgText describes, keeping a handle on
// each simulator for fault injection, and serves it on loopback.
func startTarget(cfgText string) (*target, error) {
	cfg, err := config.Parse([]byte(cfgText))
	if err != nil {
		return nil, fmt.Errorf("drill config: %w", err)
	}
	t := &target{sims: make(map[string]*simulator.Provider)}
	providers := make(map[string]routing.Provider)
	for _, pc := range cfg.Providers {
		s := pc.Simulator
		sim, err := simulator.New(simulator.Config{
			Name:            pc.Name,
			TokensPerSecond: s.TokensPerSecond,
			Latency:         simulator.LatencyDist{P50: s.Latency.P50, P99: s.Latency.P99},
			Faults:          simulator.Faults{RetryAfter: s.RetryAfter},
			Seed:            s.Seed,
		})
		if err != nil {
			return nil, err
		}
		t.sims[pc.Name], providers[pc.Name] = sim, sim
	}
	var models []routing.Model
	for _, mc := range cfg.Models {
		m := routing.Model{Name: mc.Name, Aliases: mc.Aliases, Pricing: mc.Pricing.LLM()}
		if m.Pricing.IsZero() {
			m.Pricing, _ = pricing.Lookup(mc.Name)
		}
		for _, dc := range mc.Deployments {
			m.Deployments = append(m.Deployments, routing.Deployment{
				Provider: dc.Provider, UpstreamModel: dc.Model, Weight: dc.Weight, Priority: dc.Priority, Timeout: dc.Timeout,
			})
		}
		models = append(models, m)
	}
	cat, err := routing.NewCatalog(models)
	if err != nil {
		return nil, err
	}
	opts, err := app.RouterOptions(&cfg.Routing)
	if err != nil {
		return nil, err
	}
	t.router, err = routing.New(cat, providers, opts...)
	if err != nil {
		return nil, err
	}
	gw := app.New(t.router, app.WithDrainTimeout(cfg.Server.DrainTimeout))
	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		gl.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gw.Serve(ctx, gl, hl) }()
	conn, err := grpc.NewClient(gl.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		cancel()
		<-done
		return nil, err
	}
	t.client = pb.NewLLMGatewayServiceClient(conn)
	t.stop = func() error {
		conn.Close()
		cancel()
		return <-done
	}
	return t, nil
}

// faults applies the schedule to the target's simulators until ctx ends.
// Providers the target does not have are left alone, so the baseline meets
// the faults of its own provider only.
func faults(ctx context.Context, t *target, sc Scenario, start time.Time) error {
	burst := time.Duration(float64(1500*time.Millisecond) * sc.Scale)
	retryAfter := time.Duration(float64(2*time.Second) * sc.Scale)
	set := func(name string, f simulator.Faults) error {
		if sim, ok := t.sims[name]; ok {
			return sim.SetFaults(f)
		}
		return nil
	}
	tick := time.NewTicker(max(burst/10, time.Millisecond))
	defer tick.Stop()
	cur := Phase(-1)
	burstOn := false
	for {
		el := time.Since(start)
		p := phaseAt(float64(el) / float64(sc.Duration))
		on := p == PhaseRateLimit && (el/burst)%2 == 0
		if p != cur || on != burstOn {
			healthy := simulator.Faults{RetryAfter: retryAfter}
			errs := []error{
				set(provOpenAI, healthy), set(provGoogle, healthy), set(provDeepSeek, healthy),
			}
			switch p {
			case PhaseDown:
				errs = append(errs, set(provOpenAI, simulator.Faults{ErrorRate: 1}))
			case PhaseRateLimit:
				if on {
					errs = append(errs, set(provGoogle, simulator.Faults{RateLimitRate: 0.9, RetryAfter: retryAfter}))
				}
			case PhaseSlow:
				errs = append(errs, set(provDeepSeek, simulator.Faults{SlowFactor: 5, RetryAfter: retryAfter}))
			}
			if err := errors.Join(errs...); err != nil {
				return err
			}
			cur, burstOn = p, on
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// run drives one target through the scenario: requests at a steady rate
// (open loop: a slow gateway does not slow the arrivals), each streamed
// and timed to its first token and its end.
func run(ctx context.Context, name, model, cfgTmpl string, sc Scenario, logger *slog.Logger) (*Report, error) {
	text, err := render(cfgTmpl, sc.Scale)
	if err != nil {
		return nil, err
	}
	t, err := startTarget(text)
	if err != nil {
		return nil, err
	}
	defer t.stop()

	n := int(sc.Duration.Seconds() * float64(sc.RPS))
	work := workload(n, sc.Seed)
	results := make([]Result, n)
	interval := time.Second / time.Duration(sc.RPS)
	deadline := max(time.Duration(float64(30*time.Second)*sc.Scale), 5*time.Second)

	fctx, stopFaults := context.WithCancel(ctx)
	start := time.Now()
	ferr := make(chan error, 1)
	go func() { ferr <- faults(fctx, t, sc, start) }()

	var wg sync.WaitGroup
	for i := range n {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(d):
			}
		}
		if ctx.Err() != nil {
			break
		}
		phase := phaseAt(float64(time.Since(start)) / float64(sc.Duration))
		wg.Go(func() {
			rctx, cancel := context.WithTimeout(ctx, deadline)
			defer cancel()
			results[i] = one(rctx, t.client, model, work[i], phase)
		})
	}
	wg.Wait()
	stopFaults()
	if err := <-ferr; err != nil {
		return nil, err
	}
	rep := &Report{Name: name, Results: results, Duration: time.Since(start)}
	for _, h := range t.router.Health() {
		rep.Trips += h.Trips
	}
	if logger != nil {
		logger.Debug("run done", "name", name, "requests", n)
	}
	return rep, ctx.Err()
}

// one sends one request and reads its stream to the end.
func one(ctx context.Context, c pb.LLMGatewayServiceClient, model string, r request, phase Phase) Result {
	res := Result{Phase: phase, Class: r.class}
	start := time.Now()
	st, err := c.ChatStream(ctx, &pb.ChatRequest{Model: model, Messages: []*pb.Message{
		{Role: "system", Content: "You are the customer-service assistant of an online shop."},
		{Role: "user", Content: r.text},
	}})
	if err != nil {
		res.ErrorText = err.Error()
		return res
	}
	for {
		ev, err := st.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			res.ErrorText = err.Error()
			res.OK = false
			return res
		}
		if d := ev.GetDelta(); d != nil && res.FirstTok == 0 {
			res.FirstTok = time.Since(start)
		}
		if f := ev.GetFinal(); f != nil {
			res.Cost = f.GetCostUsd()
			res.Tier = f.GetRoute().GetTier()
			res.Attempts = f.GetRoute().GetAttempts()
			res.OK = f.GetFinishReason() != "error" && res.FirstTok > 0
		}
	}
	res.Total = time.Since(start)
	return res
}

// request is one message of the workload.
type request struct {
	class string
	text  string
}

// asks returns the customer-service workload of the brief by class: 70%
// simple (order look-ups, translation, summaries, extraction), 20%
// standard, 10% complex (analysis, code), in Chinese and English. %d is
// filled with a number.
func asks(class string) []string {
	switch class {
	case "simple":
		return []string{
			"您好，请帮我查询一下订单 %d 的物流状态",
			"Hi, where is my order #%d? It was supposed to arrive yesterday.",
			"请把这句话翻译成英文：您的订单 %d 已经发货，预计三天内送达。",
			"Please translate into Spanish: your refund for order %d has been approved.",
			"Summarize this customer message for the ticket: I ordered %d blue mugs, two arrived broken, the box was wet and the courier left it outside in the rain.",
			"提取以下文本中的订单号和电话：订单号 %d，联系电话 138-0000-1234，请尽快处理。",
			"Can you look up the tracking number for order %d please?",
			"总结一下这位客户的问题：订单 %d 的商品尺码不对，想换大一号。",
		}
	case "standard":
		return []string{
			"I bought a blender from you three weeks ago (order %d) and the lid no longer locks into place; the motor still works fine. What are my options for getting it repaired or replaced, and do I need to send the whole thing back?",
			"My account shows two charges for the same purchase (reference %d) but I only received one confirmation email. Could you explain what might have happened and what I should do next to get this sorted out?",
			"我上周买的耳机（编号 %d）左边声音比右边小，已经试过换手机和重新配对都没用，请问这种情况是在保修范围内吗？需要我提供什么材料？大概多久可以处理完？我下个月要出差，希望在那之前解决，如果需要寄回的话请告诉我寄到哪里，运费由谁承担，以及寄回之后多久能收到新的耳机或者维修好的耳机。",
			"We are a small café and would like to order %d units of your travel mug each month with our logo printed on them. Is there a business account with different pricing, and how long does printing usually take?",
		}
	}
	return []string{
		"Analyze the refund data of the last quarter: refunds rose from 3%% to %d%% while orders stayed flat. Reason step by step about the likely causes and what we should check first.",
		"请分析一下我们客服工单的分布：退货类工单本月增加了 %d 张，请推理可能的原因并给出改进建议。",
		"Write code in Python that reads our orders CSV (about %d rows), groups refunds by product category and plots the weekly trend.",
		"我们的客服系统要支持每天 %d 万次对话，请设计一个架构方案，包括模型路由、缓存和降级策略。",
	}
}

// workload returns n requests in the brief's mix, the same for a seed.
func workload(n int, seed uint64) []request {
	rng := rand.New(rand.NewPCG(seed, 0xd411))
	out := make([]request, n)
	for i := range out {
		u := rng.Float64()
		class := "complex"
		switch {
		case u < 0.7:
			class = "simple"
		case u < 0.9:
			class = "standard"
		}
		a := asks(class)
		out[i] = request{class: class, text: fmt.Sprintf(a[rng.IntN(len(a))], 1000+rng.IntN(9000))}
	}
	return out
}

// Summary holds a report's figures.
type Summary struct {
	Requests, Answered int
	Availability       float64
	CostPer1k          float64 // US dollars per 1,000 answered requests
	P50, P99           time.Duration
	P99Total           time.Duration
	PhaseP99           [nPhases]time.Duration
	Failovers          int // answered requests whose first choice failed or was skipped
	FailedAttempts     int
	Skipped            int
	Hedges             int
	Trips              int64
	Tiers              map[string]int
	Misclassified      int
}

// summarize computes a report's figures.
func summarize(r *Report) Summary {
	s := Summary{Requests: len(r.Results), Trips: r.Trips, Tiers: map[string]int{}}
	var cost float64
	var ttft, total []time.Duration
	var phase [nPhases][]time.Duration
	for i := range r.Results {
		res := &r.Results[i]
		for _, a := range res.Attempts {
			switch {
			case a.GetOutcome() == "error":
				s.FailedAttempts++
			case a.GetOutcome() == "skipped":
				s.Skipped++
			}
			if strings.HasPrefix(a.GetReason(), "hedge") {
				s.Hedges++
			}
		}
		if !res.OK {
			continue
		}
		s.Answered++
		cost += res.Cost
		ttft = append(ttft, res.FirstTok)
		total = append(total, res.Total)
		phase[res.Phase] = append(phase[res.Phase], res.FirstTok)
		if res.Tier != "" {
			s.Tiers[res.Tier]++
			if res.Tier != res.Class {
				s.Misclassified++
			}
		}
		if slices.ContainsFunc(res.Attempts, func(a *pb.RouteAttempt) bool {
			return a.GetOutcome() == "error" || a.GetOutcome() == "skipped"
		}) {
			s.Failovers++
		}
	}
	if s.Requests > 0 {
		s.Availability = float64(s.Answered) / float64(s.Requests)
	}
	if s.Answered > 0 {
		s.CostPer1k = cost / float64(s.Answered) * 1000
	}
	s.P50, s.P99, s.P99Total = percentile(ttft, 50), percentile(ttft, 99), percentile(total, 99)
	for p := range phase {
		s.PhaseP99[p] = percentile(phase[p], 99)
	}
	return s
}

// percentile returns the q-th percentile (nearest rank) of ds.
func percentile(ds []time.Duration, q int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := (q*len(s) + 99) / 100
	return s[max(rank, 1)-1]
}
