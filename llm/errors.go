package llm

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// ErrorKind classifies an upstream failure independently of the provider.
type ErrorKind string

// The kinds of upstream failure.
const (
	// KindBadRequest: the upstream rejected our request (HTTP 400/422).
	// Not retryable; when the caller's input passed validation it is the
	// gateway's bug.
	KindBadRequest ErrorKind = "bad_request"
	// KindAuth: the upstream refused our credentials (401/403).
	KindAuth ErrorKind = "auth"
	// KindNotFound: the upstream does not know the model (404).
	KindNotFound ErrorKind = "not_found"
	// KindContextLength: the request is too large for the model.
	KindContextLength ErrorKind = "context_length"
	// KindRateLimited: the upstream asked us to slow down (429).
	KindRateLimited ErrorKind = "rate_limited"
	// KindOverloaded: the upstream is overloaded (503, 529).
	KindOverloaded ErrorKind = "overloaded"
	// KindServer: the upstream failed (500, 502, 504 and other 5xx).
	KindServer ErrorKind = "server"
	// KindTimeout: the upstream did not answer in time (408, or our own
	// attempt timeout).
	KindTimeout ErrorKind = "timeout"
	// KindConnection: the connection failed or was reset.
	KindConnection ErrorKind = "connection"
	// KindMalformed: the upstream's answer could not be parsed.
	KindMalformed ErrorKind = "malformed"
	// KindContentFilter: the upstream refused the content.
	KindContentFilter ErrorKind = "content_filter"
	// KindCanceled: the caller went away. (A passed deadline is
	// KindTimeout.)
	KindCanceled ErrorKind = "canceled"
)

// UpstreamError is the one error type adapters return for upstream
// failures. Message holds the upstream's own message for logs; it may
// contain account details and is never sent to the gateway's callers.
type UpstreamError struct {
	Provider   string
	Kind       ErrorKind
	StatusCode int // the upstream's HTTP status; 0 when there was none
	Retryable  bool
	// RetryAfter is how long the upstream asked us to wait; 0 when it did
	// not say.
	RetryAfter time.Duration
	Message    string
	Err        error // the underlying cause, if any
}

func (e *UpstreamError) Error() string {
	s := e.Provider + ": " + string(e.Kind)
	if e.StatusCode != 0 {
		s += " (HTTP " + strconv.Itoa(e.StatusCode) + ")"
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *UpstreamError) Unwrap() error { return e.Err }

// Summary describes the error without the upstream's message, for callers.
func (e *UpstreamError) Summary() string {
	s := string(e.Kind)
	if e.StatusCode != 0 {
		s += " (HTTP " + strconv.Itoa(e.StatusCode) + ")"
	}
	return s
}

// AsUpstream returns err as an *UpstreamError, if it is one.
func AsUpstream(err error) (*UpstreamError, bool) {
	var ue *UpstreamError
	ok := errors.As(err, &ue)
	return ue, ok
}

// IsRetryable reports whether err is an upstream error worth trying again,
// on the same or another deployment.
func IsRetryable(err error) bool {
	ue, ok := AsUpstream(err)
	return ok && ue.Retryable
}

// KindForStatus maps an HTTP status of an upstream's error response to a
// kind and whether it is retryable, following the rules every adapter
// shares: 408, 429, 500, 502, 503, 504 and 529 are retryable; other 4xx
// are not.
func KindForStatus(status int) (ErrorKind, bool) {
	switch status {
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		return KindBadRequest, false
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusPaymentRequired:
		return KindAuth, false
	case http.StatusNotFound:
		return KindNotFound, false
	case http.StatusRequestEntityTooLarge:
		return KindContextLength, false
	case http.StatusRequestTimeout:
		return KindTimeout, true
	case http.StatusTooManyRequests:
		return KindRateLimited, true
	case http.StatusServiceUnavailable, 529:
		return KindOverloaded, true
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusGatewayTimeout:
		return KindServer, true
	}
	switch {
	case status >= 500:
		return KindServer, true
	case status >= 400:
		return KindBadRequest, false
	}
	return KindMalformed, false
}

// ParseRetryAfter reads a Retry-After header value: delay seconds or an
// HTTP date. It returns 0 when v is empty, malformed or in the past.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// Errorf returns an *UpstreamError of the given kind with retryability
// taken from the kind.
func Errorf(provider string, kind ErrorKind, format string, args ...any) *UpstreamError {
	return &UpstreamError{
		Provider:  provider,
		Kind:      kind,
		Retryable: kind.Retryable(),
		Message:   fmt.Sprintf(format, args...),
	}
}

// Retryable reports whether failures of kind k are worth another attempt.
func (k ErrorKind) Retryable() bool {
	switch k {
	case KindRateLimited, KindOverloaded, KindServer, KindTimeout, KindConnection, KindMalformed:
		return true
	}
	return false
}
