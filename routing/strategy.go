package routing

import (
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/llmgateway/llmgateway/llm"
)

// A Strategy orders the candidates of one request, best first: the router
// tries them in that order. Order is given only the candidates that may be
// tried now (breaker closed or ready to probe, not cooling down, provider
// not failing its health checks), in configuration order, and sorts them
// in place, setting each one's Reason.
//
// Order runs for every request: it must not block and must not do I/O.
// What it consults (recent latency, estimated cost, round-robin position)
// comes from in, whose methods read in-memory state only.
type Strategy interface {
	// Name is the strategy's name in configs and route traces.
	Name() string
	Order(cands []Candidate, in *Input)
}

// The strategy names StrategyByName accepts.
const (
	StrategyPriority     = "priority"
	StrategyWeighted     = "weighted"
	StrategyLeastLatency = "least-latency"
	StrategyCost         = "cost"
)

// StrategyNames returns the names of the built-in strategies.
func StrategyNames() []string {
	return []string{StrategyPriority, StrategyWeighted, StrategyLeastLatency, StrategyCost}
}

// StrategyByName returns the built-in strategy called name.
func StrategyByName(name string) (Strategy, error) {
	switch name {
	case StrategyPriority:
		return PriorityStrategy{}, nil
	case StrategyWeighted:
		return WeightedStrategy{}, nil
	case StrategyLeastLatency:
		return LatencyStrategy{}, nil
	case StrategyCost:
		return CostStrategy{}, nil
	}
	return nil, fmt.Errorf("unknown strategy %q (want %s, %s, %s or %s)", name,
		StrategyPriority, StrategyWeighted, StrategyLeastLatency, StrategyCost)
}

// Candidate is one deployment a request may be sent to: its Model and
// Deployment (fields of the embedded deployment, read-only), and the
// Reason its strategy gives for its place. Candidates are small values,
// so that ordering them per request stays cheap.
type Candidate struct {
	*candidate
	// Reason says why the candidate is where the strategy put it; the
	// route trace reports it for the attempt.
	Reason  string
	explore bool // chosen to learn its latency
}

// candidate is the part of a Candidate fixed when the router is built.
type candidate struct {
	Model      *Model
	Deployment *Deployment

	rank int // position of Model in its stage's model list
	slot int // index in the stage's candidate list, for round-robin state
	st   *depState
	ph   *providerHealth
}

// Input is what a strategy may consult about the request and the
// deployments' recent behaviour.
type Input struct {
	// Request is the request being routed; a strategy must not modify it.
	Request *llm.Request
	// Stream reports whether the request is streamed.
	Stream bool
	// Now is the time of the decision.
	Now time.Time

	window       time.Duration // latency window age
	outTokens    int64         // output tokens assumed when the request sets no max
	promptTokens int64         // estimated lazily; -1 until then
	wrr          *wrrState
}

// exploreStale is how long an exploring request holds a deployment's
// exploration slot before another request may take it.
const exploreStale = 10 * time.Second

// Latency returns c's recent 95th-percentile latency (time to first token
// for streams, total time for unary calls) and false when it has no
// recent sample.
func (in *Input) Latency(c *Candidate) (time.Duration, bool) {
	if c.st == nil {
		return 0, false
	}
	w := c.st.unary
	if in.Stream {
		w = c.st.stream
	}
	return w.P95(in.Now, in.window)
}

// EstimatedCost returns the price of the request on c's model in US
// dollars: the estimated prompt tokens plus the request's max tokens (or
// the router's output estimate when it sets none) of output.
func (in *Input) EstimatedCost(c *Candidate) float64 {
	if in.promptTokens < 0 {
		in.promptTokens = 0
		if in.Request != nil {
			in.promptTokens = llm.EstimatePromptTokens(in.Request)
		}
	}
	out := in.outTokens
	if in.Request != nil && in.Request.MaxTokens > 0 {
		out = int64(in.Request.MaxTokens)
	}
	return c.Model.Pricing.Cost(llm.Usage{PromptTokens: in.promptTokens, CompletionTokens: out})
}

// sortCandidates sorts cs stably by less: an insertion sort, since
// candidate lists are short and it allocates nothing.
func sortCandidates(cs []Candidate, less func(a, b *Candidate) bool) {
	for i := 1; i < len(cs); i++ {
		for j := i; j > 0 && less(&cs[j], &cs[j-1]); j-- {
			cs[j], cs[j-1] = cs[j-1], cs[j]
		}
	}
}

// byPriority orders by model position, then priority, then weight.
func byPriority(a, b *Candidate) bool {
	if a.rank != b.rank {
		return a.rank < b.rank
	}
	if a.Deployment.Priority != b.Deployment.Priority {
		return a.Deployment.Priority < b.Deployment.Priority
	}
	return a.Deployment.Weight > b.Deployment.Weight
}

// setReasons gives the first candidate first and the rest "failover".
func setReasons(cs []Candidate, first string) {
	for i := range cs {
		cs[i].Reason = reasonFailover
	}
	if len(cs) > 0 {
		cs[0].Reason = first
	}
}

const reasonFailover = "failover"

// priorityReason returns "priority N", with ", weighted pick" when the
// weighted strategy chose among several; without allocating for the usual
// priorities.
func priorityReason(p int, weighted bool) string {
	const plain = "priority 0priority 1priority 2priority 3"
	const picked = "priority 0, weighted pickpriority 1, weighted pickpriority 2, weighted pickpriority 3, weighted pick"
	switch {
	case p >= 0 && p <= 3 && weighted:
		return picked[p*25 : p*25+25]
	case p >= 0 && p <= 3:
		return plain[p*10 : p*10+10]
	case weighted:
		return "priority " + strconv.Itoa(p) + ", weighted pick"
	}
	return "priority " + strconv.Itoa(p)
}

// PriorityStrategy tries the lowest priority number first and the next on
// failure. Across the models of a tier or a fallback stage it keeps their
// configured order; among deployments of equal priority, the higher weight
// first.
type PriorityStrategy struct{}

var _ Strategy = PriorityStrategy{}

// Name implements Strategy.
func (PriorityStrategy) Name() string { return StrategyPriority }

// Order implements Strategy.
func (PriorityStrategy) Order(cs []Candidate, _ *Input) {
	sortCandidates(cs, byPriority)
	if len(cs) > 0 {
		setReasons(cs, priorityReason(cs[0].Deployment.Priority, false))
	}
}

// WeightedStrategy spreads requests over the deployments of the lowest
// priority by smooth weighted round robin (nginx's): over any run of
// requests each healthy deployment gets its share of weight, interleaved
// rather than in bursts. The other deployments follow as failover, by
// priority then weight. A deployment of weight 0 is only a failover.
type WeightedStrategy struct{}

var _ Strategy = WeightedStrategy{}

// Name implements Strategy.
func (WeightedStrategy) Name() string { return StrategyWeighted }

// Order implements Strategy.
func (WeightedStrategy) Order(cs []Candidate, in *Input) {
	if len(cs) == 0 {
		return
	}
	sortCandidates(cs, func(a, b *Candidate) bool {
		if a.Deployment.Priority != b.Deployment.Priority {
			return a.Deployment.Priority < b.Deployment.Priority
		}
		return a.Deployment.Weight > b.Deployment.Weight
	})
	end := 1
	for end < len(cs) && cs[end].Deployment.Priority == cs[0].Deployment.Priority {
		end++
	}
	group := cs[:end]
	best := -1
	if in != nil && in.wrr != nil {
		best = in.wrr.pick(group)
	} else {
		for i := range group {
			if group[i].Deployment.Weight > 0 {
				best = i
				break
			}
		}
	}
	if best > 0 {
		c := group[best]
		copy(group[1:best+1], group[:best])
		group[0] = c
	}
	setReasons(cs, priorityReason(cs[0].Deployment.Priority, best >= 0 && len(group) > 1))
}

// wrrState is the smooth weighted round-robin position of one stage.
type wrrState struct {
	mu  sync.Mutex
	cur []int // current weight, by candidate slot
}

// pick runs one round of smooth weighted round robin over group and
// returns the index of the chosen candidate, or -1 when every weight is 0.
func (w *wrrState) pick(group []Candidate) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	total, best := 0, -1
	for i := range group {
		c := &group[i]
		wt := c.Deployment.Weight
		if wt <= 0 || c.slot >= len(w.cur) {
			continue
		}
		w.cur[c.slot] += wt
		total += wt
		if best < 0 || w.cur[c.slot] > w.cur[group[best].slot] {
			best = i
		}
	}
	if best >= 0 {
		w.cur[group[best].slot] -= total
	}
	return best
}

// LatencyStrategy sends requests to the deployment with the lowest recent
// latency: the 95th percentile, over the router's latency window, of the
// time to first token for streams and of the total time for unary calls.
// Samples older than the window are forgotten, so a deployment that was
// slow gets traffic again once its bad samples age out. A deployment with
// no recent sample goes first, to learn its latency, unless another
// request is already exploring it; then it goes after those with samples.
// Ties go by priority.
type LatencyStrategy struct{}

var _ Strategy = LatencyStrategy{}

// Name implements Strategy.
func (LatencyStrategy) Name() string { return StrategyLeastLatency }

// Order implements Strategy.
func (LatencyStrategy) Order(cs []Candidate, in *Input) {
	if len(cs) == 0 {
		return
	}
	// Rank: 0 explore now, 1 known (by p95), 2 unknown but being explored.
	var keys [16]struct {
		class int
		p95   time.Duration
	}
	type key = struct {
		class int
		p95   time.Duration
	}
	ks := keys[:0]
	if len(cs) > len(keys) {
		ks = make([]key, 0, len(cs))
	}
	exploring := false
	for i := range cs {
		c := &cs[i]
		c.explore = false
		p, ok := in.Latency(c)
		k := key{class: 1, p95: p}
		if !ok {
			k.class = 2
			busy := false
			if c.st != nil {
				w := c.st.unary
				if in.Stream {
					w = c.st.stream
				}
				busy = w.exploringSince(in.Now, exploreStale)
			}
			if !exploring && !busy {
				k.class, exploring = 0, true
				c.explore = true
			}
		}
		ks = append(ks, k)
	}
	// Sort the candidates and their keys together.
	for i := 1; i < len(cs); i++ {
		for j := i; j > 0; j-- {
			a, b := ks[j], ks[j-1]
			less := a.class < b.class || a.class == b.class && (a.p95 < b.p95 ||
				a.p95 == b.p95 && byPriority(&cs[j], &cs[j-1]))
			if !less {
				break
			}
			ks[j], ks[j-1] = ks[j-1], ks[j]
			cs[j], cs[j-1] = cs[j-1], cs[j]
		}
	}
	switch ks[0].class {
	case 0:
		setReasons(cs, "no recent latency: exploring")
	case 1:
		setReasons(cs, "lowest p95 latency ("+ks[0].p95.Round(time.Millisecond).String()+")")
	default:
		setReasons(cs, "no recent latency anywhere")
	}
}

// CostStrategy sends requests to the cheapest deployment by the request's
// estimated cost (Input.EstimatedCost): it matters across the models of a
// tier or fallback stage, since deployments of one model share its price.
// Ties go by priority.
type CostStrategy struct{}

var _ Strategy = CostStrategy{}

// Name implements Strategy.
func (CostStrategy) Name() string { return StrategyCost }

// Order implements Strategy. A model cheaper in both input and output is
// cheaper whatever the request's size, so the estimate is only made when
// prices cross.
func (CostStrategy) Order(cs []Candidate, in *Input) {
	if len(cs) == 0 {
		return
	}
	sortCandidates(cs, func(a, b *Candidate) bool {
		pa, pb := &a.Model.Pricing, &b.Model.Pricing
		if pa.InputPerMTok == pb.InputPerMTok && pa.OutputPerMTok == pb.OutputPerMTok {
			return byPriority(a, b)
		}
		if pa.InputPerMTok <= pb.InputPerMTok && pa.OutputPerMTok <= pb.OutputPerMTok {
			return true
		}
		if pb.InputPerMTok <= pa.InputPerMTok && pb.OutputPerMTok <= pa.OutputPerMTok {
			return false
		}
		ca, cb := in.EstimatedCost(a), in.EstimatedCost(b)
		return ca < cb || ca == cb && byPriority(a, b)
	})
	setReasons(cs, "lowest estimated cost")
}
