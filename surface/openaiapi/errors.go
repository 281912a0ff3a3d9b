package openaiapi

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/llmgateway/llmgateway/surface/httperr"
)

// OpenAI's error types.
const (
	typeInvalidRequest = "invalid_request_error"
	typeAuthentication = "authentication_error"
	typePermission     = "permission_error"
	typeRateLimit      = "rate_limit_error"
	typeAPI            = "api_error"
)

// OpenAI's error codes that this surface sets.
const (
	codeRateLimitExceeded = "rate_limit_exceeded"
	codeInsufficientQuota = "insufficient_quota"
	codeRequestTooLarge   = "request_too_large"
	codeModelNotFound     = "model_not_found"
	codeInvalidAPIKey     = "invalid_api_key"
	codeUpstreamError     = "upstream_error"
)

// apiError is an error in OpenAI's shape, with the HTTP status and headers
// that go with it.
type apiError struct {
	status  int
	Message string
	Type    string
	Param   string // "" encodes as null
	Code    string // "" encodes as null
	// retryAfter, when positive, becomes the Retry-After and retry-after-ms
	// headers.
	retryAfter time.Duration
	// noRetry sets x-should-retry: false, which the OpenAI SDKs honour
	// instead of retrying a 429 or 5xx that will not go away by itself.
	noRetry bool
}

// errorBody is the wire form of an apiError.
type errorBody struct {
	Error errorObject `json:"error"`
}

type errorObject struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// marshal returns the JSON body {"error":{...}}.
func (e *apiError) marshal() []byte {
	b, err := json.Marshal(errorBody{Error: errorObject{
		Message: e.Message,
		Type:    e.Type,
		Param:   nullable(e.Param),
		Code:    nullable(e.Code),
	}})
	if err != nil { // unreachable: the value holds only strings
		return []byte(`{"error":{"message":"internal error","type":"api_error","param":null,"code":null}}`)
	}
	return b
}

// writeError answers e as an HTTP error response.
func (h *Handler) writeError(w http.ResponseWriter, e *apiError) {
	hdr := w.Header()
	if e.retryAfter > 0 {
		secs := int64(math.Ceil(e.retryAfter.Seconds()))
		hdr.Set("Retry-After", strconv.FormatInt(secs, 10))
		hdr.Set("Retry-After-Ms", strconv.FormatInt(e.retryAfter.Milliseconds(), 10))
	}
	if e.noRetry {
		hdr.Set("X-Should-Retry", "false")
	}
	h.writeJSON(w, e.status, e.marshal())
}

// fromStatus converts a gRPC error from the gateway to an apiError.
func fromStatus(err error) *apiError {
	st := httperr.Sanitize(status.Convert(err))
	code := httperr.Status(st)
	e := &apiError{status: code, Message: st.Message(), Type: typeForStatus(code)}
	if e.Message == "" {
		e.Message = http.StatusText(code)
		if e.Message == "" {
			e.Message = st.Code().String()
		}
	}
	reason := httperr.Reason(st)
	e.Code = codeForReason(reason, st.Code())
	if reason == httperr.ReasonBudgetExceeded {
		e.noRetry = true
	}
	if reason == httperr.ReasonModelNotFound {
		e.Param = "model"
	}
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.BadRequest:
			if v := d.GetFieldViolations(); len(v) > 0 && e.Param == "" {
				e.Param = v[0].GetField()
			}
		case *errdetails.RetryInfo:
			if rd := d.GetRetryDelay(); rd != nil && rd.IsValid() {
				e.retryAfter = rd.AsDuration()
			}
		}
	}
	return e
}

// typeForStatus returns OpenAI's error type for an HTTP status.
func typeForStatus(code int) string {
	switch {
	case code == http.StatusUnauthorized:
		return typeAuthentication
	case code == http.StatusForbidden:
		return typePermission
	case code == http.StatusTooManyRequests:
		return typeRateLimit
	case code >= 400 && code < 500:
		return typeInvalidRequest
	}
	return typeAPI
}

// codeForReason returns OpenAI's error code for a gateway ErrorInfo reason:
// OpenAI's own code where it has one, else the reason in lower case.
func codeForReason(reason string, c codes.Code) string {
	switch reason {
	case httperr.ReasonBudgetExceeded:
		return codeInsufficientQuota
	case httperr.ReasonRateLimited, httperr.ReasonUpstreamRateLimit:
		return codeRateLimitExceeded
	case httperr.ReasonRequestTooLarge:
		return codeRequestTooLarge
	case httperr.ReasonModelNotFound:
		return codeModelNotFound
	case httperr.ReasonUnauthenticated:
		return codeInvalidAPIKey
	case "":
		if c == codes.ResourceExhausted {
			return codeRateLimitExceeded
		}
		return ""
	}
	return strings.ToLower(reason)
}

func isMaxBytes(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}

func tooLarge(limit int64) *apiError {
	return &apiError{
		status:  http.StatusRequestEntityTooLarge,
		Message: "request body exceeds the limit of " + strconv.FormatInt(limit, 10) + " bytes",
		Type:    typeInvalidRequest,
		Code:    codeRequestTooLarge,
	}
}

// invalid returns a 400 invalid_request_error about param.
func invalid(param, msg string) *apiError {
	if param != "" {
		msg = param + ": " + msg
	}
	return &apiError{status: http.StatusBadRequest, Message: msg, Type: typeInvalidRequest, Param: param}
}
