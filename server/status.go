package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/llmgateway/llmgateway/llm"
	"github.com/llmgateway/llmgateway/routing"
	"github.com/llmgateway/llmgateway/surface/httperr"
)

// toStatus turns an error from routing into the status the caller sees.
// It is the one place where internal errors become codes. Upstream
// messages, URLs and keys never reach the caller: only error kinds and
// HTTP statuses do.
func toStatus(logger *slog.Logger, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var unknown *routing.UnknownModelError
	if errors.As(err, &unknown) {
		return httperr.New(codes.NotFound, httperr.ReasonModelNotFound,
			fmt.Sprintf("unknown model %q: call ListModels (GET /api/v1/models or GET /v1/models) to see the models and aliases you may use", unknown.Name),
			map[string]string{"model": unknown.Name})
	}
	switch {
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "request cancelled by the client")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "the request's deadline passed before an upstream answered")
	}
	var nr *routing.NoRouteError
	if !errors.As(err, &nr) {
		logger.Error("internal error", "error", err)
		return status.Error(codes.Internal, "internal error")
	}
	if ue, ok := llm.AsUpstream(nr.Last); ok {
		switch ue.Kind {
		case llm.KindContextLength:
			return httperr.New(codes.InvalidArgument, httperr.ReasonInvalidArgument,
				fmt.Sprintf("the request is too long for model %q: shorten the messages or lower max_tokens", nr.Model), nil)
		case llm.KindContentFilter:
			return httperr.New(codes.InvalidArgument, httperr.ReasonInvalidArgument,
				fmt.Sprintf("the upstream for model %q refused the request's content", nr.Model), nil)
		case llm.KindBadRequest:
			// Our validation passed it, so the gateway built a request the
			// upstream would not take: our bug, not the caller's.
			return httperr.New(codes.Internal, httperr.ReasonUpstreamError,
				fmt.Sprintf("the upstream for model %q rejected the request the gateway built (%s)", nr.Model, ue.Summary()), nil)
		}
	}
	if wait, ok := nr.RateLimited(); ok {
		st := status.New(codes.ResourceExhausted, fmt.Sprintf("every upstream of model %q is rate limited: %s", nr.Model, summary(nr.Attempts)))
		if wait <= 0 {
			wait = time.Second
		}
		if ds, err := st.WithDetails(
			&errdetails.ErrorInfo{Reason: httperr.ReasonUpstreamRateLimit, Domain: httperr.Domain, Metadata: map[string]string{"model": nr.Model}},
			&errdetails.RetryInfo{RetryDelay: durationpb.New(wait)},
		); err == nil {
			st = ds
		}
		return st.Err()
	}
	msg := fmt.Sprintf("no upstream available for model %q", nr.Model)
	if len(nr.Attempts) > 0 {
		msg += ": " + summary(nr.Attempts)
	}
	return httperr.New(codes.Unavailable, httperr.ReasonNoUpstream, msg, map[string]string{"model": nr.Model})
}

// summary lists attempts as "provider: error" without upstream messages.
func summary(atts []routing.Attempt) string {
	parts := make([]string, 0, len(atts))
	for _, a := range atts {
		if a.Outcome == routing.OutcomeOK {
			continue
		}
		parts = append(parts, a.Provider+": "+a.Error)
	}
	return fmt.Sprintf("%d attempt(s) failed (%s)", len(parts), strings.Join(parts, "; "))
}
