package routing

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/llmgateway/llmgateway/llm"
)

// ErrNoDeployment is wrapped by NoRouteError when a model has no
// deployment left to try.
var ErrNoDeployment = errors.New("no deployment available")

// UnknownModelError reports a model name that is neither a model nor an
// alias.
type UnknownModelError struct {
	Name string
}

func (e *UnknownModelError) Error() string { return fmt.Sprintf("unknown model %q", e.Name) }

// NoRouteError reports that every deployment tried failed (or none could
// be tried). Last is the last attempt's error, an *llm.UpstreamError when an
// upstream answered.
type NoRouteError struct {
	Model    string
	Attempts []Attempt
	Last     error
}

func (e *NoRouteError) Error() string {
	var b strings.Builder
	tried, skipped := 0, 0
	for _, a := range e.Attempts {
		if a.Outcome == OutcomeSkipped {
			skipped++
		} else {
			tried++
		}
	}
	fmt.Fprintf(&b, "no upstream could answer for model %q after %d attempt(s)", e.Model, tried)
	if skipped > 0 {
		fmt.Fprintf(&b, " and %d deployment(s) skipped", skipped)
	}
	if e.Last != nil {
		b.WriteString(": ")
		b.WriteString(e.Last.Error())
	}
	return b.String()
}

func (e *NoRouteError) Unwrap() error {
	if e.Last == nil {
		return ErrNoDeployment
	}
	return e.Last
}

// RateLimited reports whether every failed or skipped attempt was refused
// for rate or overload with a Retry-After (or skipped while cooling down
// after one), and the shortest such wait: the caller may then be told to
// come back rather than that nothing works.
func (e *NoRouteError) RateLimited() (time.Duration, bool) {
	var wait time.Duration
	n := 0
	for _, a := range e.Attempts {
		switch a.Outcome {
		case OutcomeError, OutcomeSkipped:
		default:
			continue
		}
		if a.Kind != llm.KindRateLimited {
			return 0, false
		}
		if n == 0 || a.RetryAfter < wait {
			wait = a.RetryAfter
		}
		n++
	}
	return wait, n > 0
}

// failover reports whether another deployment may succeed where one failed
// with err: upstream failures that are retryable, and those tied to the
// deployment (its credentials, its model name), but not those caused by
// the request itself (too long, refused content, malformed) or by the
// caller going away.
func failover(err error) bool {
	ue, ok := llm.AsUpstream(err)
	if !ok {
		return false
	}
	switch ue.Kind {
	case llm.KindAuth, llm.KindNotFound:
		return true
	case llm.KindCanceled, llm.KindBadRequest, llm.KindContextLength, llm.KindContentFilter:
		return false
	}
	return ue.Retryable
}
