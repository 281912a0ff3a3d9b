package httperr

import (
	"net/http"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Domain is the ErrorInfo domain of every error the gateway itself raises.
const Domain = "llmgateway"

// ErrorInfo reasons the gateway sets on its status errors. They are part of
// the API: clients may switch on them.
const (
	ReasonInvalidArgument   = "INVALID_ARGUMENT"
	ReasonRequestTooLarge   = "REQUEST_TOO_LARGE"
	ReasonModelNotFound     = "MODEL_NOT_FOUND"
	ReasonNoUpstream        = "NO_UPSTREAM_AVAILABLE"
	ReasonUpstreamRateLimit = "UPSTREAM_RATE_LIMITED"
	ReasonUpstreamError     = "UPSTREAM_ERROR"
	ReasonUnauthenticated   = "UNAUTHENTICATED"
	ReasonPermissionDenied  = "PERMISSION_DENIED"
	ReasonRateLimited       = "RATE_LIMITED"
	ReasonBudgetExceeded    = "BUDGET_EXCEEDED"
	ReasonOverloaded        = "OVERLOADED"
)

// Reason returns the ErrorInfo reason of st, or "" when it has none from
// the gateway's domain.
func Reason(st *status.Status) string {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == Domain {
			return info.GetReason()
		}
	}
	return ""
}

// Status returns the HTTP status for st.
func Status(st *status.Status) int {
	if st.Code() == codes.ResourceExhausted && Reason(st) == ReasonRequestTooLarge {
		return http.StatusRequestEntityTooLarge
	}
	return FromCode(st.Code())
}

// FromCode returns the HTTP status for a gRPC code, as google.rpc.Code
// documents it.
func FromCode(c codes.Code) int {
	switch c {
	case codes.OK:
		return http.StatusOK
	case codes.Canceled:
		return 499 // client closed request
	case codes.InvalidArgument, codes.OutOfRange:
		return http.StatusBadRequest
	case codes.FailedPrecondition:
		return http.StatusBadRequest
	case codes.DeadlineExceeded:
		return http.StatusGatewayTimeout
	case codes.NotFound:
		return http.StatusNotFound
	case codes.AlreadyExists, codes.Aborted:
		return http.StatusConflict
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests
	case codes.Unimplemented:
		return http.StatusNotImplemented
	case codes.Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// New returns a status error with an ErrorInfo detail carrying reason and
// optional metadata.
func New(c codes.Code, reason, msg string, md map[string]string) error {
	st := status.New(c, msg)
	if ds, err := st.WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: Domain, Metadata: md}); err == nil {
		st = ds
	}
	return st.Err()
}

// internalMessage replaces the text of failures that did not come from the
// gateway's service, such as the surfaces' own connection to the gRPC
// listener breaking: that text can describe the gateway's internals.
const internalMessage = "the gateway could not complete the request; try again"

// Sanitize returns st, or, when st is an Unavailable, Unknown or Internal
// status that carries no ErrorInfo of the gateway's domain (so the
// service did not raise it deliberately), the same code with a generic
// message.
func Sanitize(st *status.Status) *status.Status {
	switch st.Code() {
	case codes.Unavailable, codes.Unknown, codes.Internal:
	default:
		return st
	}
	if Reason(st) != "" {
		return st
	}
	return status.New(st.Code(), internalMessage)
}
