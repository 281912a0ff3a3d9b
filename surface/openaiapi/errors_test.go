package openaiapi

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"

	llmgatewayv1 "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
	"github.com/llmgateway/llmgateway/surface/httperr"
)

func errorInfo(t testing.TB, reason string) *errdetails.ErrorInfo {
	t.Helper()
	return &errdetails.ErrorInfo{Reason: reason, Domain: httperr.Domain}
}

func retryInfo(d time.Duration) *errdetails.RetryInfo {
	return &errdetails.RetryInfo{RetryDelay: durationpb.New(d)}
}

func badRequest(field string) *errdetails.BadRequest {
	return &errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
		{Field: field, Description: "bad"},
		{Field: "other", Description: "also bad"},
	}}
}

func TestErrorMapping(t *testing.T) {
	tests := []struct {
		name           string
		code           codes.Code
		details        []protoadapt.MessageV1
		wantStatus     int
		wantType       string
		wantCode       string // "" means null
		wantParam      string // "" means null
		wantRetryAfter string
		wantRetryMs    string
		wantNoRetry    bool
	}{
		{name: "invalid argument with field", code: codes.InvalidArgument,
			details:    []protoadapt.MessageV1{errorInfo(t, httperr.ReasonInvalidArgument), badRequest("messages[1].role")},
			wantStatus: 400, wantType: "invalid_request_error", wantCode: "invalid_argument", wantParam: "messages[1].role"},
		{name: "invalid argument bare", code: codes.InvalidArgument, wantStatus: 400, wantType: "invalid_request_error"},
		{name: "failed precondition", code: codes.FailedPrecondition, wantStatus: 400, wantType: "invalid_request_error"},
		{name: "out of range", code: codes.OutOfRange, wantStatus: 400, wantType: "invalid_request_error"},
		{name: "unauthenticated", code: codes.Unauthenticated, details: []protoadapt.MessageV1{errorInfo(t, httperr.ReasonUnauthenticated)},
			wantStatus: 401, wantType: "authentication_error", wantCode: "invalid_api_key"},
		{name: "permission denied", code: codes.PermissionDenied, details: []protoadapt.MessageV1{errorInfo(t, httperr.ReasonPermissionDenied)},
			wantStatus: 403, wantType: "permission_error", wantCode: "permission_denied"},
		{name: "model not found", code: codes.NotFound, details: []protoadapt.MessageV1{errorInfo(t, httperr.ReasonModelNotFound)},
			wantStatus: 404, wantType: "invalid_request_error", wantCode: "model_not_found", wantParam: "model"},
		{name: "conflict", code: codes.Aborted, wantStatus: 409, wantType: "invalid_request_error"},
		{name: "rate limited with retry info", code: codes.ResourceExhausted,
			details:    []protoadapt.MessageV1{errorInfo(t, httperr.ReasonRateLimited), retryInfo(1500 * time.Millisecond)},
			wantStatus: 429, wantType: "rate_limit_error", wantCode: "rate_limit_exceeded", wantRetryAfter: "2", wantRetryMs: "1500"},
		{name: "upstream rate limited", code: codes.ResourceExhausted,
			details:    []protoadapt.MessageV1{errorInfo(t, httperr.ReasonUpstreamRateLimit), retryInfo(30 * time.Second)},
			wantStatus: 429, wantType: "rate_limit_error", wantCode: "rate_limit_exceeded", wantRetryAfter: "30", wantRetryMs: "30000"},
		{name: "resource exhausted without reason", code: codes.ResourceExhausted,
			wantStatus: 429, wantType: "rate_limit_error", wantCode: "rate_limit_exceeded"},
		{name: "budget exceeded", code: codes.ResourceExhausted, details: []protoadapt.MessageV1{errorInfo(t, httperr.ReasonBudgetExceeded)},
			wantStatus: 429, wantType: "rate_limit_error", wantCode: "insufficient_quota", wantNoRetry: true},
		{name: "request too large", code: codes.ResourceExhausted, details: []protoadapt.MessageV1{errorInfo(t, httperr.ReasonRequestTooLarge)},
			wantStatus: 413, wantType: "invalid_request_error", wantCode: "request_too_large"},
		{name: "no upstream", code: codes.Unavailable,
			details:    []protoadapt.MessageV1{errorInfo(t, httperr.ReasonNoUpstream), retryInfo(250 * time.Millisecond)},
			wantStatus: 503, wantType: "api_error", wantCode: "no_upstream_available", wantRetryAfter: "1", wantRetryMs: "250"},
		{name: "deadline", code: codes.DeadlineExceeded, wantStatus: 504, wantType: "api_error"},
		{name: "unimplemented", code: codes.Unimplemented, wantStatus: 501, wantType: "api_error"},
		{name: "internal", code: codes.Internal, details: []protoadapt.MessageV1{errorInfo(t, httperr.ReasonUpstreamError)},
			wantStatus: 500, wantType: "api_error", wantCode: "upstream_error"},
		{name: "unknown", code: codes.Unknown, wantStatus: 500, wantType: "api_error"},
		{name: "data loss", code: codes.DataLoss, wantStatus: 500, wantType: "api_error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := status.New(tt.code, "boom: "+tt.name)
			if len(tt.details) > 0 {
				var err error
				if st, err = st.WithDetails(tt.details...); err != nil {
					t.Fatalf("WithDetails() = %v", err)
				}
			}
			hn := newHarness(t, &fakeGateway{chat: func(context.Context, *llmgatewayv1.ChatRequest) (*llmgatewayv1.ChatResponse, error) {
				return nil, st.Err()
			}})
			resp, body := hn.post(t, `{"model":"m","messages":[{"role":"user","content":"hi"}]}`)
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status for %v = %d, want %d", tt.code, resp.StatusCode, tt.wantStatus)
			}
			wantMsg := "boom: " + tt.name
			if httperr.Sanitize(st) != st {
				// Not raised by the gateway's service: the text is not shown.
				wantMsg = "the gateway could not complete the request; try again"
			}
			want := map[string]any{"error": map[string]any{
				"message": wantMsg,
				"type":    tt.wantType,
				"code":    nullOr(tt.wantCode),
				"param":   nullOr(tt.wantParam),
			}}
			if diff := cmp.Diff(want, decodeJSON(t, body)); diff != "" {
				t.Errorf("error body for %v mismatch (-want +got):\n%s", tt.code, diff)
			}
			if got := resp.Header.Get("Retry-After"); got != tt.wantRetryAfter {
				t.Errorf("Retry-After = %q, want %q", got, tt.wantRetryAfter)
			}
			if got := resp.Header.Get("Retry-After-Ms"); got != tt.wantRetryMs {
				t.Errorf("Retry-After-Ms = %q, want %q", got, tt.wantRetryMs)
			}
			if got, want := resp.Header.Get("X-Should-Retry") == "false", tt.wantNoRetry; got != want {
				t.Errorf("X-Should-Retry: false set = %v, want %v", got, want)
			}
		})
	}
}

func nullOr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func TestFromStatusHTTPCodesMatchHTTPErr(t *testing.T) {
	for c := codes.OK; c <= codes.Unauthenticated; c++ {
		st := status.New(c, "x")
		if got, want := fromStatus(st.Err()).status, httperr.Status(st); got != want {
			t.Errorf("fromStatus(%v).status = %d, want %d", c, got, want)
		}
	}
}

func TestFromStatusEmptyMessage(t *testing.T) {
	got := fromStatus(status.Error(codes.PermissionDenied, ""))
	if got.Message != http.StatusText(http.StatusForbidden) {
		t.Errorf("fromStatus(PermissionDenied, \"\").Message = %q, want %q", got.Message, http.StatusText(http.StatusForbidden))
	}
}

// A failure the gateway's service did not raise (the hop to the gRPC
// listener breaking) must not show its text, which names internals.
func TestFromStatusHidesTransportErrors(t *testing.T) {
	err := status.Error(codes.Unavailable, "connection error: desc = \"transport: authentication handshake failed: x509: certificate signed by unknown authority\"")
	got := fromStatus(err)
	if got.status != http.StatusServiceUnavailable || strings.Contains(got.Message, "x509") || strings.Contains(got.Message, "transport") {
		t.Errorf("fromStatus(transport error) = %d %q, want 503 without internals", got.status, got.Message)
	}
	own := httperr.New(codes.Unavailable, httperr.ReasonNoUpstream, `no upstream available for model "m"`, nil)
	if got := fromStatus(own); got.Message != `no upstream available for model "m"` {
		t.Errorf("fromStatus(the service's own Unavailable) = %q, want its message kept", got.Message)
	}
}
