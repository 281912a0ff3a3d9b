package load

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Sample is the outcome of one request.
type Sample struct {
	// Start is when the request was sent, from the start of the run.
	Start time.Duration
	// Latency is the time from sending the request to reading the last
	// byte of the response.
	Latency time.Duration
	// TTFT and TTLT are the times to the first and to the last chunk
	// carrying content, for streams; zero otherwise.
	TTFT, TTLT time.Duration
	// Chunks counts the content chunks of a stream.
	Chunks int
	// Err says why the request failed; "" when it succeeded.
	Err string
}

// Doer sends one request and reports its outcome; Start is filled in by
// the caller. It must honour ctx and return within its own timeout.
type Doer func(ctx context.Context) Sample

// Plan is the shape of one run.
type Plan struct {
	// Rate is the number of requests started per second. Required.
	Rate int
	// Warmup is sent at Rate before the measured interval and left out
	// of the summary. Default: 0.
	Warmup time.Duration
	// Duration is the measured interval. Required.
	Duration time.Duration
	// Count, when > 0, ends the run once that many requests (warm-up
	// included) have been started, even before Warmup + Duration.
	// Default: 0, no bound.
	Count int
	// MaxInFlight bounds the requests in flight; a request due while
	// that many are outstanding is not sent and counts as failed
	// ("in-flight limit"), so an overloaded target cannot exhaust the
	// machine. Default: 20000.
	MaxInFlight int
}

const defaultMaxInFlight = 20000

func (p *Plan) validate() error {
	switch {
	case p.Rate <= 0:
		return fmt.Errorf("rate is %d, want > 0 requests per second", p.Rate)
	case p.Duration <= 0:
		return fmt.Errorf("duration is %v, want > 0", p.Duration)
	case p.Warmup < 0:
		return fmt.Errorf("warm-up is %v, want >= 0", p.Warmup)
	case p.Count < 0:
		return fmt.Errorf("count is %d, want >= 0 (0 means no bound)", p.Count)
	case p.MaxInFlight < 0:
		return fmt.Errorf("max in flight is %d, want >= 0 (0 means %d)", p.MaxInFlight, defaultMaxInFlight)
	}
	return nil
}

func (p *Plan) maxInFlight() int {
	if p.MaxInFlight == 0 {
		return defaultMaxInFlight
	}
	return p.MaxInFlight
}

// errInFlight is the Err of a request not sent because of MaxInFlight.
const errInFlight = "not sent: in-flight limit reached"

// Run sends requests with do at plan.Rate for plan.Warmup then
// plan.Duration, waits for the requests in flight, and returns the samples
// of the measured interval in the order they were sent. It returns early,
// with what it has, when ctx ends.
func Run(ctx context.Context, plan Plan, do Doer) ([]Sample, error) {
	if err := plan.validate(); err != nil {
		return nil, err
	}
	total := plan.Warmup + plan.Duration
	pacer := vegeta.ConstantPacer{Freq: plan.Rate, Per: time.Second}
	var (
		mu      sync.Mutex
		samples = make([]Sample, 0, int(float64(plan.Rate)*plan.Duration.Seconds()*1.05)+16)
		wg      sync.WaitGroup
		sem     = make(chan struct{}, plan.maxInFlight())
	)
	record := func(s Sample) {
		if s.Start < plan.Warmup {
			return
		}
		s.Start -= plan.Warmup
		mu.Lock()
		samples = append(samples, s)
		mu.Unlock()
	}
	began := time.Now()
	var hits uint64
	timer := time.NewTimer(0)
	defer timer.Stop()
loop:
	for {
		elapsed := time.Since(began)
		if elapsed >= total || plan.Count > 0 && hits >= uint64(plan.Count) {
			break
		}
		wait, stop := pacer.Pace(elapsed, hits)
		if stop {
			break
		}
		if wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				break loop
			case <-timer.C:
			}
		}
		hits++
		start := time.Since(began)
		select {
		case sem <- struct{}{}:
		default:
			record(Sample{Start: start, Err: errInFlight})
			continue
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			s := do(ctx)
			s.Start = start
			record(s)
		}()
	}
	wg.Wait()
	slices.SortFunc(samples, func(a, b Sample) int { return int(a.Start - b.Start) })
	return samples, ctx.Err()
}

// Percentiles are latency percentiles, by the nearest-rank method.
type Percentiles struct {
	P50  time.Duration `json:"p50_ns"`
	P90  time.Duration `json:"p90_ns"`
	P99  time.Duration `json:"p99_ns"`
	P999 time.Duration `json:"p999_ns"`
	Max  time.Duration `json:"max_ns"`
}

// Sub returns p − q, percentile by percentile: the overhead of a path
// with percentiles p over a path with percentiles q.
func (p Percentiles) Sub(q Percentiles) Percentiles {
	return Percentiles{P50: p.P50 - q.P50, P90: p.P90 - q.P90, P99: p.P99 - q.P99, P999: p.P999 - q.P999, Max: p.Max - q.Max}
}

// PercentilesOf returns the percentiles of d, which it sorts. The zero
// value when d is empty.
func PercentilesOf(d []time.Duration) Percentiles {
	if len(d) == 0 {
		return Percentiles{}
	}
	slices.Sort(d)
	at := func(q float64) time.Duration {
		i := int(math.Ceil(q*float64(len(d)))) - 1
		return d[max(0, min(i, len(d)-1))]
	}
	return Percentiles{P50: at(0.50), P90: at(0.90), P99: at(0.99), P999: at(0.999), Max: d[len(d)-1]}
}

// Summary summarises the samples of one run.
type Summary struct {
	// Sent counts the requests of the measured interval; OK those that
	// succeeded.
	Sent int `json:"sent"`
	OK   int `json:"ok"`
	// Achieved is the rate at which requests were actually sent.
	Achieved float64 `json:"achieved_rps"`
	// Latency is over the successful requests.
	Latency Percentiles `json:"latency"`
	// TTFT and TTLT are over the successful streams; zero for unary runs.
	TTFT Percentiles `json:"ttft"`
	TTLT Percentiles `json:"ttlt"`
	// MinChunks is the fewest content chunks a successful stream had.
	MinChunks int `json:"min_chunks"`
	// ChunkGap is the median, over the successful streams of two chunks
	// or more, of the mean time between their content chunks. A relay
	// that buffers shows a gap well below the upstream's delay.
	ChunkGap time.Duration `json:"chunk_gap_ns"`
	// Errors counts the failures by message, at most ten distinct ones.
	Errors map[string]int `json:"errors,omitempty"`
}

// SuccessRate is OK / Sent, 0 when nothing was sent.
func (s *Summary) SuccessRate() float64 {
	if s.Sent == 0 {
		return 0
	}
	return float64(s.OK) / float64(s.Sent)
}

// maxErrorKinds bounds Summary.Errors.
const maxErrorKinds = 10

// Summarize summarises the samples of a measured interval of length d.
func Summarize(samples []Sample, d time.Duration) Summary {
	s := Summary{Sent: len(samples)}
	if d > 0 {
		s.Achieved = float64(len(samples)) / d.Seconds()
	}
	var lat, ttft, ttlt, gaps []time.Duration
	for i := range samples {
		x := &samples[i]
		if x.Err != "" {
			if s.Errors == nil {
				s.Errors = make(map[string]int)
			}
			if _, ok := s.Errors[x.Err]; ok || len(s.Errors) < maxErrorKinds {
				s.Errors[x.Err]++
			} else {
				s.Errors["other errors"]++
			}
			continue
		}
		s.OK++
		lat = append(lat, x.Latency)
		if x.Chunks > 0 {
			ttft = append(ttft, x.TTFT)
			ttlt = append(ttlt, x.TTLT)
			if s.MinChunks == 0 || x.Chunks < s.MinChunks {
				s.MinChunks = x.Chunks
			}
			if x.Chunks > 1 {
				gaps = append(gaps, (x.TTLT-x.TTFT)/time.Duration(x.Chunks-1))
			}
		}
	}
	s.Latency = PercentilesOf(lat)
	s.TTFT = PercentilesOf(ttft)
	s.TTLT = PercentilesOf(ttlt)
	if len(gaps) > 0 {
		sort.Slice(gaps, func(i, j int) bool { return gaps[i] < gaps[j] })
		s.ChunkGap = gaps[len(gaps)/2]
	}
	return s
}

// errorText shortens err to a stable message for Summary.Errors: context
// deadlines and cancellations become one message each.
func errorText(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	msg := err.Error()
	if len(msg) > 160 {
		msg = msg[:160]
	}
	return msg
}
