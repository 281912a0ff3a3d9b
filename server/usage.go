package server

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
	"github.com/llmgateway/llmgateway/ledger"
	"github.com/llmgateway/llmgateway/surface/httperr"
)

// defaultUsageRange is how far back GetUsage reports when the request
// gives no start_time.
const defaultUsageRange = 30 * 24 * time.Hour

// UsageReader answers usage queries; *ledger.Ledger is one.
type UsageReader interface {
	Usage(ctx context.Context, q ledger.Query) (*ledger.Report, error)
}

// Caller tells who makes a call: the id of the key that authenticated it
// and whether that key is an admin. An open gateway (no keys) calls
// everyone an admin.
type Caller func(ctx context.Context) (keyID string, admin bool)

// WithUsage serves GetUsage from r, scoped by whoami: a key reads its own
// usage, an admin everyone's. Default: GetUsage answers Unimplemented.
func WithUsage(r UsageReader, whoami Caller) Option {
	return func(o *options) { o.usage, o.whoami = r, whoami }
}

// GetUsage implements pb.LLMGatewayServiceServer.
func (s *Server) GetUsage(ctx context.Context, req *pb.GetUsageRequest) (*pb.GetUsageResponse, error) {
	if s.opts.usage == nil || s.opts.whoami == nil {
		return nil, status.Error(codes.Unimplemented, "usage reporting is not enabled on this gateway")
	}
	var v violations
	end := s.opts.now()
	if req.GetEndTime() != nil {
		if err := req.GetEndTime().CheckValid(); err != nil {
			v.add("end_time", "not a valid timestamp: %v", err)
		}
		end = req.GetEndTime().AsTime()
	}
	start := end.Add(-defaultUsageRange)
	if req.GetStartTime() != nil {
		if err := req.GetStartTime().CheckValid(); err != nil {
			v.add("start_time", "not a valid timestamp: %v", err)
		}
		start = req.GetStartTime().AsTime()
	}
	if len(v) == 0 && !start.Before(end) {
		v.add("start_time", "must be before end_time, got start_time %s and end_time %s",
			start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339))
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	keyID, admin := s.opts.whoami(ctx)
	q := ledger.Query{Start: start, End: end, KeyID: req.GetKeyId(), Model: req.GetModel(), Provider: req.GetProvider()}
	if !admin {
		if q.KeyID != "" && q.KeyID != keyID {
			return nil, httperr.New(codes.PermissionDenied, httperr.ReasonPermissionDenied,
				"this API key may read only its own usage: leave key_id empty, or use an admin key", nil)
		}
		q.KeyID = keyID
	}
	rep, err := s.opts.usage.Usage(ctx, q)
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return nil, toStatus(s.opts.logger, err)
		}
		s.opts.logger.Error("usage query failed", "error", err)
		return nil, status.Error(codes.Unavailable, "the usage ledger cannot be read right now; retry shortly")
	}
	return &pb.GetUsageResponse{
		StartTime:  timestamppb.New(start),
		EndTime:    timestamppb.New(end),
		Total:      totalsToPB(rep.Total),
		ByKey:      bucketsToPB(rep.ByKey),
		ByModel:    bucketsToPB(rep.ByModel),
		ByProvider: bucketsToPB(rep.ByProvider),
		ByDay:      bucketsToPB(rep.ByDay),
	}, nil
}

func totalsToPB(t ledger.Totals) *pb.UsageTotals {
	return &pb.UsageTotals{
		Requests:         t.Requests,
		Errors:           t.Errors,
		PromptTokens:     t.PromptTokens,
		CompletionTokens: t.CompletionTokens,
		CachedTokens:     t.CachedTokens,
		ReasoningTokens:  t.ReasoningTokens,
		CacheWriteTokens: t.CacheWriteTokens,
		CostUsd:          t.CostUSD,
	}
}

func bucketsToPB(bs []ledger.Bucket) []*pb.UsageBucket {
	out := make([]*pb.UsageBucket, len(bs))
	for i, b := range bs {
		out[i] = &pb.UsageBucket{Name: b.Name, Totals: totalsToPB(b.Totals)}
	}
	return out
}
