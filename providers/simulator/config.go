package simulator

import (
	"context"
	"fmt"
	"math"
	"time"
)

// Config configures a simulated deployment.
type Config struct {
	// Name is the provider name reported in errors (llm.UpstreamError's
	// Provider). Default "simulator".
	Name string
	// TokensPerSecond is the pace of a stream after its first token. Zero
	// (the default) sends tokens without delay.
	TokensPerSecond float64
	// Latency is the time to the first token, and the base latency of a
	// unary call. The zero value means none.
	Latency LatencyDist
	// Faults are the initial fault rates; Provider.SetFaults changes them.
	// The zero value injects no fault.
	Faults Faults
	// Seed seeds the random source that draws latencies and faults, so that
	// a run with the same requests in the same order is reproducible. It
	// does not affect reply text, which depends only on the request.
	Seed int64
}

// LatencyDist is a latency distribution: lognormal, fitted so that its
// median is P50 and its 99th percentile P99.
//
// P99 equal to zero or to P50 makes the latency a fixed P50; a zero P50
// (with a zero P99) means no latency. Samples are capped at ten times P99.
type LatencyDist struct {
	P50 time.Duration
	P99 time.Duration
}

// Faults are the shares of requests the simulator answers with a failure.
// Each rate is in [0, 1] and the rates sum to at most 1: a request draws one
// outcome, so ErrorRate 0.1 with RateLimitRate 0.2 fails 30% of requests.
// A rate of 1 fails every request.
type Faults struct {
	// ErrorRate is the share answered like an HTTP 500 (llm.KindServer,
	// retryable). Default 0.
	ErrorRate float64
	// RateLimitRate is the share answered like an HTTP 429 with RetryAfter
	// (llm.KindRateLimited, retryable). Default 0.
	RateLimitRate float64
	// RetryAfter is the wait a rate-limited answer asks for. Default 1s.
	RetryAfter time.Duration
	// OverloadRate is the share answered like an HTTP 503
	// (llm.KindOverloaded, retryable). Default 0.
	OverloadRate float64
	// TimeoutRate is the share that never answer: the call blocks until its
	// context ends, then returns llm.KindTimeout when the deadline passed or
	// llm.KindCanceled when it was cancelled. A call whose context never
	// ends never returns. Default 0.
	TimeoutRate float64
	// CutRate is the share whose connection drops part-way: a stream sends
	// some of its tokens, then Recv returns llm.KindConnection (retryable);
	// a unary call returns that error after the same wait. Default 0.
	CutRate float64
	// SlowFactor multiplies the sampled first-token latency and the time
	// between stream tokens; 5 makes the provider five times slower. Zero
	// (the default) and 1 mean normal speed.
	SlowFactor float64
}

// defaultRetryAfter is the Retry-After of a rate-limited answer when
// Faults.RetryAfter is zero.
const defaultRetryAfter = time.Second

// validate reports the first invalid field of f.
func (f *Faults) validate() error {
	rates := []struct {
		name string
		v    float64
	}{
		{"error rate", f.ErrorRate},
		{"rate limit rate", f.RateLimitRate},
		{"overload rate", f.OverloadRate},
		{"timeout rate", f.TimeoutRate},
		{"cut rate", f.CutRate},
	}
	var sum float64
	for _, r := range rates {
		if math.IsNaN(r.v) || r.v < 0 || r.v > 1 {
			return fmt.Errorf("%s is %v, want a share in [0, 1]", r.name, r.v)
		}
		sum += r.v
	}
	if sum > 1+1e-9 {
		return fmt.Errorf("fault rates sum to %v, want at most 1 (each request draws one outcome)", sum)
	}
	if f.RetryAfter < 0 {
		return fmt.Errorf("retry after is %v, want 0 (default 1s) or more", f.RetryAfter)
	}
	if math.IsNaN(f.SlowFactor) || math.IsInf(f.SlowFactor, 0) || f.SlowFactor < 0 {
		return fmt.Errorf("slow factor is %v, want 0 (normal speed) or a positive multiplier", f.SlowFactor)
	}
	return nil
}

// random reports whether applying f needs a random draw.
func (f *Faults) random() bool {
	return f.ErrorRate > 0 || f.RateLimitRate > 0 || f.OverloadRate > 0 || f.TimeoutRate > 0 || f.CutRate > 0
}

// slow returns the effective slow factor.
func (f *Faults) slow() float64 {
	if f.SlowFactor == 0 {
		return 1
	}
	return f.SlowFactor
}

// retryAfter returns the effective Retry-After.
func (f *Faults) retryAfter() time.Duration {
	if f.RetryAfter == 0 {
		return defaultRetryAfter
	}
	return f.RetryAfter
}

// z99 is the standard normal quantile of 0.99.
const z99 = 2.3263478740408408

// validate reports whether d describes a distribution.
func (d LatencyDist) validate() error {
	switch {
	case d.P50 < 0:
		return fmt.Errorf("latency p50 is %v, want 0 or more", d.P50)
	case d.P99 < 0:
		return fmt.Errorf("latency p99 is %v, want 0 or more", d.P99)
	case d.P99 != 0 && d.P99 < d.P50:
		return fmt.Errorf("latency p99 %v is below p50 %v, want p99 >= p50 (or 0 for a fixed latency)", d.P99, d.P50)
	case d.P50 == 0 && d.P99 != 0:
		return fmt.Errorf("latency p50 is 0 with p99 %v, want a positive p50 to fit the distribution", d.P99)
	}
	return nil
}

// sampler draws latencies from a LatencyDist.
type sampler struct {
	median float64 // nanoseconds
	sigma  float64 // of ln(latency); 0 for a fixed latency
	max    float64 // nanoseconds
}

func newSampler(d LatencyDist) sampler {
	s := sampler{median: float64(d.P50)}
	if d.P99 > d.P50 {
		s.sigma = math.Log(float64(d.P99)/float64(d.P50)) / z99
		s.max = 10 * float64(d.P99)
	}
	return s
}

// at returns the latency at standard normal deviate z.
func (s sampler) at(z float64) time.Duration {
	if s.sigma == 0 {
		return time.Duration(s.median)
	}
	v := s.median * math.Exp(s.sigma*z)
	if v > s.max {
		v = s.max
	}
	return time.Duration(v)
}

// SleepFunc waits for d or until ctx ends, whichever comes first. It returns
// nil after the full wait and ctx.Err() when ctx ended first. A zero or
// negative d returns at once (ctx.Err()).
type SleepFunc func(ctx context.Context, d time.Duration) error

// Option customises a Provider.
type Option func(*options)

type options struct {
	sleep SleepFunc
}

var defaultOptions = options{sleep: sleep}

// WithSleep replaces the real timer the provider waits on, so that tests can
// record the latencies it draws, or skip the waits, without real time
// passing. fn must honour its SleepFunc contract.
func WithSleep(fn SleepFunc) Option {
	return func(o *options) {
		if fn != nil {
			o.sleep = fn
		}
	}
}

// sleep is the default SleepFunc: a timer stopped when ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
