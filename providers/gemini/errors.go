package gemini

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/llmgateway/llmgateway/llm"
	"github.com/llmgateway/llmgateway/providers/internal/upstream"
)

// wireError is the error object of a Google API error body
// ({"error":{...}}), also sent inside a stream.
type wireError struct {
	// Code is the HTTP status as a number (a string from some proxies).
	Code    json.RawMessage `json:"code"`
	Message string          `json:"message"`
	// Status is the google.rpc.Code name, such as RESOURCE_EXHAUSTED.
	Status  string        `json:"status"`
	Details []errorDetail `json:"details"`
}

// errorDetail is one of the typed details of an error; only the fields of
// google.rpc.ErrorInfo (reason) and google.rpc.RetryInfo (retryDelay) are
// read.
type errorDetail struct {
	Type       string `json:"@type"`
	Reason     string `json:"reason"`
	RetryDelay string `json:"retryDelay"`
}

// code returns the error's numeric code, or 0.
func (e *wireError) code() int {
	raw := bytes.Trim(bytes.TrimSpace(e.Code), `"`)
	n, err := strconv.Atoi(string(raw))
	if err != nil {
		return 0
	}
	return n
}

// reason returns the reason of the error's google.rpc.ErrorInfo, if any.
func (e *wireError) reason() string {
	for _, d := range e.Details {
		if strings.HasSuffix(d.Type, "google.rpc.ErrorInfo") && d.Reason != "" {
			return d.Reason
		}
	}
	return ""
}

// retryDelay returns the delay of the error's google.rpc.RetryInfo (a
// protobuf Duration in JSON: "30s", "1.5s"), or 0.
func (e *wireError) retryDelay() time.Duration {
	for _, d := range e.Details {
		if !strings.HasSuffix(d.Type, "google.rpc.RetryInfo") {
			continue
		}
		v := strings.TrimSpace(d.RetryDelay)
		if secs, ok := strings.CutSuffix(v, "s"); ok {
			f, err := strconv.ParseFloat(secs, 64)
			if err == nil && f > 0 && f < float64(1<<62)/float64(time.Second) {
				return time.Duration(f * float64(time.Second))
			}
		}
	}
	return 0
}

// describe formats the error for logs.
func (e *wireError) describe() string {
	return upstream.Describe(strings.TrimSpace(e.Message), "status", e.Status, "reason", e.reason())
}

// errorBody is a Google API error body.
type errorBody struct {
	Error *wireError `json:"error"`
}

// parseErrorBody extracts the error object from an error response body:
// {"error":{...}}, or [{"error":{...}}] as the streaming method answers
// without alt=sse. It returns nil when the body is neither.
func parseErrorBody(b []byte) *wireError {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		var bodies []errorBody
		if json.Unmarshal(b, &bodies) != nil {
			return nil
		}
		for _, body := range bodies {
			if body.Error != nil {
				return body.Error
			}
		}
		return nil
	}
	var body errorBody
	if json.Unmarshal(b, &body) != nil {
		return nil
	}
	return body.Error
}

// errorFromResponse maps a non-2xx response, reading Google's error body.
func (c *Client) errorFromResponse(_ context.Context, resp *http.Response) *llm.UpstreamError {
	ue, obj := upstream.ErrorObjectFromResponse(c.name, resp, parseErrorBody, (*wireError).describe)
	if obj != nil {
		if kind, ok := kindForError(obj); ok {
			ue.Kind, ue.Retryable = kind, kind.Retryable()
		}
		if ue.RetryAfter == 0 {
			ue.RetryAfter = obj.retryDelay()
		}
	}
	return ue
}

// errorFromObject builds the error for an error object that came with a
// successful HTTP status, in a stream or a unary body.
func errorFromObject(provider string, e *wireError, status int) *llm.UpstreamError {
	kind, ok := kindForError(e)
	if !ok {
		kind = llm.KindServer
		if code := e.code(); code >= 400 && code <= 599 {
			kind, _ = llm.KindForStatus(code)
		}
		if kind == llm.KindBadRequest && upstream.IsContextLengthMessage(e.Message) {
			kind = llm.KindContextLength
		}
	}
	ue := upstream.KindError(provider, kind, status, e.describe())
	ue.RetryAfter = e.retryDelay()
	return ue
}

// kindForError classifies an error from its google.rpc status, where the
// status says more than the HTTP code: ok is false when it does not.
//
// FAILED_PRECONDITION is what Gemini answers when the API is not available
// to the key's project (billing not enabled, unsupported region): a
// property of the deployment, like a refused key, so it is KindAuth and
// another deployment may be tried.
func kindForError(e *wireError) (llm.ErrorKind, bool) {
	switch e.Status {
	case "RESOURCE_EXHAUSTED":
		return llm.KindRateLimited, true
	case "UNAVAILABLE":
		return llm.KindOverloaded, true
	case "PERMISSION_DENIED", "UNAUTHENTICATED", "FAILED_PRECONDITION":
		return llm.KindAuth, true
	case "NOT_FOUND":
		return llm.KindNotFound, true
	case "DEADLINE_EXCEEDED":
		return llm.KindTimeout, true
	case "INTERNAL", "UNKNOWN", "CANCELLED", "ABORTED", "DATA_LOSS":
		return llm.KindServer, true
	case "INVALID_ARGUMENT", "OUT_OF_RANGE":
		// An invalid API key is INVALID_ARGUMENT with ErrorInfo reason
		// API_KEY_INVALID.
		if strings.HasPrefix(e.reason(), "API_KEY_") || strings.Contains(strings.ToLower(e.Message), "api key not valid") {
			return llm.KindAuth, true
		}
		if isContextLength(e.Message) {
			return llm.KindContextLength, true
		}
		return llm.KindBadRequest, true
	}
	return "", false
}

// isContextLength reports whether msg reads like Gemini's "The input token
// count (N) exceeds the maximum number of tokens allowed (M)".
func isContextLength(msg string) bool {
	if upstream.IsContextLengthMessage(msg) {
		return true
	}
	m := strings.ToLower(msg)
	return strings.Contains(m, "token count") && strings.Contains(m, "exceed")
}
