package server

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
	"github.com/llmgateway/llmgateway/ledger"
)

// fakeUsage records the query it gets and answers a fixed report.
type fakeUsage struct {
	got ledger.Query
	err error
}

func (f *fakeUsage) Usage(_ context.Context, q ledger.Query) (*ledger.Report, error) {
	f.got = q
	if f.err != nil {
		return nil, f.err
	}
	t := ledger.Totals{Requests: 3, Errors: 1, PromptTokens: 30, CompletionTokens: 20, CachedTokens: 5, ReasoningTokens: 2, CacheWriteTokens: 1, CostUSD: 0.5}
	return &ledger.Report{
		Total:      t,
		ByKey:      []ledger.Bucket{{Name: "alice", Totals: t}},
		ByModel:    []ledger.Bucket{{Name: "gpt-4.1", Totals: t}},
		ByProvider: []ledger.Bucket{{Name: "openai", Totals: t}},
		ByDay:      []ledger.Bucket{{Name: "2025-03-01", Totals: t}},
	}, nil
}

func TestGetUsage(t *testing.T) {
	now := time.Date(2025, 3, 31, 12, 0, 0, 0, time.UTC)
	caller := func(id string, admin bool) Caller {
		return func(context.Context) (string, bool) { return id, admin }
	}
	tests := []struct {
		name      string
		whoami    Caller
		give      *pb.GetUsageRequest
		wantCode  codes.Code
		wantQuery ledger.Query
	}{
		{"defaults for a key", caller("alice", false), &pb.GetUsageRequest{}, codes.OK,
			ledger.Query{Start: now.Add(-30 * 24 * time.Hour), End: now, KeyID: "alice"}},
		{"own key named", caller("alice", false), &pb.GetUsageRequest{KeyId: "alice", Model: "gpt-4.1", Provider: "openai"}, codes.OK,
			ledger.Query{Start: now.Add(-30 * 24 * time.Hour), End: now, KeyID: "alice", Model: "gpt-4.1", Provider: "openai"}},
		{"another key", caller("alice", false), &pb.GetUsageRequest{KeyId: "bob"}, codes.PermissionDenied, ledger.Query{}},
		{"admin sees all", caller("root", true), &pb.GetUsageRequest{}, codes.OK,
			ledger.Query{Start: now.Add(-30 * 24 * time.Hour), End: now}},
		{"admin names a key", caller("root", true), &pb.GetUsageRequest{KeyId: "bob"}, codes.OK,
			ledger.Query{Start: now.Add(-30 * 24 * time.Hour), End: now, KeyID: "bob"}},
		{"range", caller("root", true), &pb.GetUsageRequest{StartTime: timestamppb.New(now.Add(-time.Hour)), EndTime: timestamppb.New(now.Add(-time.Minute))}, codes.OK,
			ledger.Query{Start: now.Add(-time.Hour), End: now.Add(-time.Minute)}},
		{"start only", caller("root", true), &pb.GetUsageRequest{StartTime: timestamppb.New(now.Add(-time.Hour))}, codes.OK,
			ledger.Query{Start: now.Add(-time.Hour), End: now}},
		{"inverted range", caller("root", true), &pb.GetUsageRequest{StartTime: timestamppb.New(now), EndTime: timestamppb.New(now.Add(-time.Hour))}, codes.InvalidArgument, ledger.Query{}},
		{"empty range", caller("root", true), &pb.GetUsageRequest{StartTime: timestamppb.New(now), EndTime: timestamppb.New(now)}, codes.InvalidArgument, ledger.Query{}},
		{"invalid timestamp", caller("root", true), &pb.GetUsageRequest{EndTime: &timestamppb.Timestamp{Seconds: 1, Nanos: -1}}, codes.InvalidArgument, ledger.Query{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeUsage{}
			s := New(nil, WithUsage(fake, tt.whoami), WithClock(func() time.Time { return now }))
			resp, err := s.GetUsage(context.Background(), tt.give)
			if got := status.Code(err); got != tt.wantCode {
				t.Fatalf("GetUsage(%v) code = %v (%v), want %v", tt.give, got, err, tt.wantCode)
			}
			if tt.wantCode != codes.OK {
				if fake.got != (ledger.Query{}) {
					t.Errorf("GetUsage(%v) queried the ledger (%+v) although it failed", tt.give, fake.got)
				}
				return
			}
			if diff := cmp.Diff(tt.wantQuery, fake.got); diff != "" {
				t.Errorf("GetUsage(%v) query mismatch (-want +got):\n%s", tt.give, diff)
			}
			totals := &pb.UsageTotals{Requests: 3, Errors: 1, PromptTokens: 30, CompletionTokens: 20, CachedTokens: 5, ReasoningTokens: 2, CacheWriteTokens: 1, CostUsd: 0.5}
			want := &pb.GetUsageResponse{
				StartTime:  timestamppb.New(tt.wantQuery.Start),
				EndTime:    timestamppb.New(tt.wantQuery.End),
				Total:      totals,
				ByKey:      []*pb.UsageBucket{{Name: "alice", Totals: totals}},
				ByModel:    []*pb.UsageBucket{{Name: "gpt-4.1", Totals: totals}},
				ByProvider: []*pb.UsageBucket{{Name: "openai", Totals: totals}},
				ByDay:      []*pb.UsageBucket{{Name: "2025-03-01", Totals: totals}},
			}
			if diff := cmp.Diff(want, resp, protocmp.Transform()); diff != "" {
				t.Errorf("GetUsage(%v) mismatch (-want +got):\n%s", tt.give, diff)
			}
		})
	}
}

func TestGetUsageErrors(t *testing.T) {
	admin := func(context.Context) (string, bool) { return "", true }
	if _, err := New(nil).GetUsage(context.Background(), &pb.GetUsageRequest{}); status.Code(err) != codes.Unimplemented {
		t.Errorf("GetUsage without a ledger = %v, want Unimplemented", err)
	}
	s := New(nil, WithUsage(&fakeUsage{err: errors.New("disk I/O error")}, admin))
	_, err := s.GetUsage(context.Background(), &pb.GetUsageRequest{})
	if st := status.Convert(err); st.Code() != codes.Unavailable || st.Message() == "" {
		t.Errorf("GetUsage on a failing ledger = %v, want Unavailable", err)
	}
	s = New(nil, WithUsage(&fakeUsage{err: context.Canceled}, admin))
	if _, err := s.GetUsage(context.Background(), &pb.GetUsageRequest{}); status.Code(err) != codes.Canceled {
		t.Errorf("GetUsage cancelled = %v, want Canceled", err)
	}
}
