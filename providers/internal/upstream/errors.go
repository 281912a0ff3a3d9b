package upstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/llmgateway/llmgateway/llm"
)

// MaxErrorBodySize is how much of an error response's body
// ErrorFromResponse reads.
const MaxErrorBodySize = 64 << 10

// maxMessageLen bounds the raw-body snippet kept as a message when the
// adapter could not extract one.
const maxMessageLen = 512

// IsContextLengthMessage reports whether msg reads like an upstream's
// "request too large for the context window" error.
func IsContextLengthMessage(msg string) bool {
	msg = strings.ToLower(msg)
	for _, p := range [...]string{
		"context_length_exceeded",              // OpenAI, Azure error code
		"maximum context length",               // OpenAI, vLLM, Mistral
		"context length exceeded",              // OpenAI-compatible servers
		"reduce the length of the messages",    // OpenAI
		"too many tokens",                      // Cohere
		"prompt is too long",                   // Anthropic
		"exceeds the maximum number of tokens", // Gemini
		"exceeds the available context size",   // llama.cpp
		"input is too long",                    // Bedrock-style servers
	} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

// ErrorFromResponse turns a non-2xx response into an *llm.UpstreamError.
// It reads at most MaxErrorBodySize bytes of the body and closes it.
//
// The kind and retryability come from llm.KindForStatus, except that a
// 4xx whose message reads like a context-window overflow is
// KindContextLength (not retryable). extract pulls the upstream's message
// out of the body; when it is nil or returns "", a cleaned prefix of the
// body is kept instead. The message is stored in Message, for logs only.
// RetryAfter is read from the headers as RetryAfter describes.
func ErrorFromResponse(provider string, resp *http.Response, extract func(body []byte) string) *llm.UpstreamError {
	body, readErr := io.ReadAll(io.LimitReader(resp.Body, MaxErrorBodySize))
	resp.Body.Close()

	kind, retryable := llm.KindForStatus(resp.StatusCode)
	var msg string
	if extract != nil {
		msg = extract(body)
	}
	if msg == "" {
		msg = Snippet(body)
	}
	ue := &llm.UpstreamError{
		Provider:   provider,
		Kind:       kind,
		StatusCode: resp.StatusCode,
		Retryable:  retryable,
		RetryAfter: RetryAfter(resp.Header, resp.StatusCode, time.Now()),
		Message:    msg,
	}
	if readErr != nil {
		ue.Err = fmt.Errorf("reading error body: %w", readErr)
	}
	if kind == llm.KindBadRequest && (IsContextLengthMessage(msg) || IsContextLengthMessage(string(body))) {
		ue.Kind = llm.KindContextLength
		ue.Retryable = false
	}
	return ue
}

// ErrorObjectFromResponse is ErrorFromResponse for an adapter that parses
// its provider's error body into an object: parse returns nil when the body
// is not one, describe gives the object's message. It returns the error
// and the object (nil when there was none), for the adapter to refine the
// error with what the object says.
func ErrorObjectFromResponse[E any](provider string, resp *http.Response, parse func(body []byte) *E, describe func(*E) string) (*llm.UpstreamError, *E) {
	var obj *E
	ue := ErrorFromResponse(provider, resp, func(b []byte) string {
		obj = parse(b)
		if obj == nil {
			return ""
		}
		return describe(obj)
	})
	return ue, obj
}

// KindError returns the error of the given kind, retryable as the kind
// is, for an upstream answer of HTTP status status (0 for none) that
// reported msg: an error object sent with a 2xx status, or in a stream.
func KindError(provider string, kind llm.ErrorKind, status int, msg string) *llm.UpstreamError {
	return &llm.UpstreamError{
		Provider:   provider,
		Kind:       kind,
		StatusCode: status,
		Retryable:  kind.Retryable(),
		Message:    msg,
	}
}

// Malformed returns the KindMalformed error, caused by err, for an
// upstream answer (with HTTP status status) that could not be understood.
func Malformed(provider string, status int, msg string, err error) *llm.UpstreamError {
	ue := KindError(provider, llm.KindMalformed, status, msg)
	ue.Err = err
	return ue
}

// Describe formats an upstream's error message for logs: msg, then, in
// parentheses, the attributes given as name and value pairs, leaving out
// those without a value, as in "Overloaded (type=overloaded_error,
// request_id=req_1)".
func Describe(msg string, attrs ...string) string {
	sep := " ("
	for i := 0; i+1 < len(attrs); i += 2 {
		if attrs[i+1] == "" {
			continue
		}
		msg += sep + attrs[i] + "=" + attrs[i+1]
		sep = ", "
	}
	if sep == ", " {
		msg += ")"
	}
	return strings.TrimSpace(msg)
}

// Snippet returns a single-line, valid UTF-8 prefix of body, of at most
// 512 bytes and "..." when cut, for a message in logs.
func Snippet(body []byte) string {
	s := strings.Join(strings.Fields(string(bytes.ToValidUTF8(body, []byte("?")))), " ")
	if len(s) <= maxMessageLen {
		return s
	}
	cut := maxMessageLen
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// RetryAfter returns how long the upstream asked us to wait, from, in
// order of preference:
//
//   - retry-after-ms: milliseconds (OpenAI, Anthropic);
//   - Retry-After: delay seconds or an HTTP date (llm.ParseRetryAfter);
//   - on a 429 only, OpenAI's x-ratelimit-reset-requests and
//     x-ratelimit-reset-tokens (durations such as "1s", "6m0s", "20ms"): the
//     reset of the limit that x-ratelimit-remaining-* shows exhausted, or
//     the later of the two when neither shows which.
//
// It returns 0 when none is present and valid.
func RetryAfter(h http.Header, status int, now time.Time) time.Duration {
	if v := h.Get("Retry-After-Ms"); v != "" {
		if ms, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && ms > 0 && ms < float64(1<<62)/float64(time.Millisecond) {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	if d := llm.ParseRetryAfter(strings.TrimSpace(h.Get("Retry-After")), now); d > 0 {
		return d
	}
	if status != http.StatusTooManyRequests {
		return 0
	}
	reqReset := parseResetDuration(h.Get("X-Ratelimit-Reset-Requests"))
	tokReset := parseResetDuration(h.Get("X-Ratelimit-Reset-Tokens"))
	reqOut := strings.TrimSpace(h.Get("X-Ratelimit-Remaining-Requests")) == "0"
	tokOut := strings.TrimSpace(h.Get("X-Ratelimit-Remaining-Tokens")) == "0"
	switch {
	case reqOut && !tokOut && reqReset > 0:
		return reqReset
	case tokOut && !reqOut && tokReset > 0:
		return tokReset
	}
	return max(reqReset, tokReset)
}

// parseResetDuration reads an x-ratelimit-reset-* value: a Go-style
// duration ("6m0s", "20ms", "1.5s") or plain seconds.
func parseResetDuration(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if d, err := time.ParseDuration(v); err == nil {
		return max(d, 0)
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil && secs > 0 && secs < float64(1<<62)/float64(time.Second) {
		return time.Duration(secs * float64(time.Second))
	}
	return 0
}

// FromTransportError turns an error from sending a request or reading a
// response body into an *llm.UpstreamError:
//
//   - ctx cancelled: KindCanceled, not retryable;
//   - ctx deadline exceeded (or ctx cancelled with a cause wrapping
//     context.DeadlineExceeded), or a network timeout: KindTimeout,
//     retryable;
//   - anything else (connection refused or reset, EOF, unexpected EOF, DNS
//     or TLS failure): KindConnection, retryable.
//
// An *llm.UpstreamError is returned as it is. The request URL is dropped
// from *url.Error causes, since some APIs carry credentials in it.
func FromTransportError(ctx context.Context, provider string, err error) *llm.UpstreamError {
	if ue, ok := llm.AsUpstream(err); ok {
		return ue
	}
	cause := err
	var uerr *url.Error
	if errors.As(err, &uerr) && uerr.Err != nil {
		cause = uerr.Err
	}
	ue := &llm.UpstreamError{Provider: provider, Err: cause}
	switch {
	case ctx != nil && ctx.Err() != nil:
		if errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
			ue.Kind = llm.KindTimeout
			ue.Retryable = true
			if c := context.Cause(ctx); c != context.DeadlineExceeded && !errors.Is(cause, c) {
				ue.Err = fmt.Errorf("%w (%w)", cause, c)
			}
		} else {
			ue.Kind = llm.KindCanceled
		}
	case isTimeout(err):
		ue.Kind = llm.KindTimeout
		ue.Retryable = true
	case errors.Is(err, context.Canceled):
		ue.Kind = llm.KindCanceled
	default:
		ue.Kind = llm.KindConnection
		ue.Retryable = true
	}
	return ue
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
