package ratelimit

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
	"github.com/llmgateway/llmgateway/interceptors/auth"
	"github.com/llmgateway/llmgateway/interceptors/internal/chatcall"
	"github.com/llmgateway/llmgateway/state"
	"github.com/llmgateway/llmgateway/surface/httperr"
)

// DefaultMaxTokens is the completion reserved for a request without
// max_tokens, unless WithDefaultMaxTokens says otherwise.
const DefaultMaxTokens = 1024

type options struct {
	defaultMaxTokens int64
	logger           *slog.Logger
}

// Option configures a Limiter.
type Option func(*options)

// WithDefaultMaxTokens sets the completion tokens reserved for a request
// that sets no max_tokens. Default: DefaultMaxTokens.
func WithDefaultMaxTokens(n int64) Option { return func(o *options) { o.defaultMaxTokens = n } }

// WithLogger sets the logger. Default: discard.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// Limiter enforces rpm and tpm. Create it with New.
type Limiter struct {
	lim  state.Limiter
	opts options
	keys *chatcall.PerKey[*keyLimits]
}

// New returns a Limiter on lim.
func New(lim state.Limiter, opts ...Option) *Limiter {
	o := options{defaultMaxTokens: DefaultMaxTokens, logger: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		opt(&o)
	}
	return &Limiter{lim: lim, opts: o, keys: chatcall.NewPerKey(newKeyLimits)}
}

func perMinute(n int64) state.Rate { return state.Rate{Limit: n, Period: time.Minute} }

// Response headers of the limits.
const (
	headerLimitRequests     = "x-ratelimit-limit-requests"
	headerRemainingRequests = "x-ratelimit-remaining-requests"
	headerLimitTokens       = "x-ratelimit-limit-tokens"
	headerRemainingTokens   = "x-ratelimit-remaining-tokens"
)

// keyLimits is what the limits of a key need on every call, derived once.
type keyLimits struct {
	rpmKey, tpmKey     string // state keys
	rpm, tpm           state.Rate
	rpmLimit, tpmLimit string // header values
}

func newKeyLimits(k *auth.Key) *keyLimits {
	return &keyLimits{
		rpmKey: "rpm:" + k.ID, tpmKey: "tpm:" + k.ID,
		rpm: perMinute(k.RPM), tpm: perMinute(k.TPM),
		rpmLimit: strconv.FormatInt(k.RPM, 10), tpmLimit: strconv.FormatInt(k.TPM, 10),
	}
}

func (l *Limiter) admit(ctx context.Context, req *pb.ChatRequest, _ bool) (func(chatcall.Outcome), error) {
	k, ok := auth.FromContext(ctx)
	if !ok || k.RPM <= 0 && k.TPM <= 0 {
		return nil, nil
	}
	kl := l.keys.Get(k)
	var rpmLeft, tpmLeft int64
	if k.RPM > 0 {
		d, err := l.lim.Take(ctx, kl.rpmKey, kl.rpm, 1)
		if err != nil {
			return nil, chatcall.StateError(err, "the rpm limit")
		}
		if !d.Allowed {
			return nil, chatcall.RateLimited(
				fmt.Sprintf("this API key made its %d requests per minute (rpm): retry in %s", k.RPM, round(d.RetryAfter)),
				"rpm", d.RetryAfter)
		}
		rpmLeft = d.Remaining
	}
	var prompt, reserved int64
	if k.TPM > 0 {
		var completion int64
		prompt, completion = chatcall.EstimateTokens(req, l.opts.defaultMaxTokens)
		reserved = prompt + completion
		d, err := l.lim.Take(ctx, kl.tpmKey, kl.tpm, reserved)
		if err != nil {
			l.giveBackRPM(ctx, k, kl)
			return nil, chatcall.StateError(err, "the tpm limit")
		}
		if !d.Allowed {
			l.giveBackRPM(ctx, k, kl)
			return nil, chatcall.RateLimited(
				fmt.Sprintf("this API key used its %d tokens per minute (tpm): this request reserves about %d (prompt estimate + max_tokens); retry in %s",
					k.TPM, reserved, round(d.RetryAfter)),
				"tpm", d.RetryAfter)
		}
		tpmLeft = d.Remaining
	}
	chatcall.SetHeader(ctx, headers(k, kl, rpmLeft, tpmLeft))
	return func(out chatcall.Outcome) {
		if out.Err != nil && httperr.Reason(status.Convert(out.Err)) == httperr.ReasonBudgetExceeded {
			l.giveBackRPM(ctx, k, kl)
		}
		if k.TPM <= 0 {
			return
		}
		var used int64
		switch {
		case out.Answered:
			used = out.Usage.Total()
		case out.StreamedTokens > 0:
			used = prompt + out.StreamedTokens
		}
		l.adjust(ctx, kl.tpmKey, kl.tpm, used-reserved)
	}, nil
}

// giveBackRPM returns the request taken from k's rpm allowance, if it has
// one.
func (l *Limiter) giveBackRPM(ctx context.Context, k *auth.Key, kl *keyLimits) {
	if k.RPM > 0 {
		l.adjust(ctx, kl.rpmKey, kl.rpm, -1)
	}
}

// headers returns the response headers of the limits k has: each limit
// and what is left of it after this call.
func headers(k *auth.Key, kl *keyLimits, rpmLeft, tpmLeft int64) metadata.MD {
	// As metadata.Pairs would build it, less an allocation per value: one
	// string holds both counts, and one array every value (each header
	// gets a full slice of one element, so that appending copies).
	var digits [2 * 20]byte
	b := strconv.AppendInt(digits[:0], rpmLeft, 10)
	n := len(b)
	left := string(strconv.AppendInt(b, tpmLeft, 10))
	v := &[4]string{kl.rpmLimit, left[:n], kl.tpmLimit, left[n:]}
	md := make(metadata.MD, 4)
	if k.RPM > 0 {
		md[headerLimitRequests], md[headerRemainingRequests] = v[0:1:1], v[1:2:2]
	}
	if k.TPM > 0 {
		md[headerLimitTokens], md[headerRemainingTokens] = v[2:3:3], v[3:4:4]
	}
	return md
}

// adjust settles after the call, which may have been cancelled: the
// settlement must still happen.
func (l *Limiter) adjust(ctx context.Context, key string, r state.Rate, delta int64) {
	if err := l.lim.Adjust(chatcall.Detached(ctx), key, r, delta); err != nil {
		l.opts.logger.Warn("rate limit not settled", "limit", key, "delta", delta, "error", err)
	}
}

// round shows a wait to a human: to the millisecond under a second, else
// to a tenth of a second.
func round(d time.Duration) time.Duration {
	if d < time.Second {
		return max(d.Round(time.Millisecond), time.Millisecond)
	}
	return d.Round(100 * time.Millisecond)
}

// UnaryServerInterceptor limits Chat calls.
func (l *Limiter) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return chatcall.UnaryServerInterceptor(l.admit)
}

// StreamServerInterceptor limits ChatStream calls.
func (l *Limiter) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return chatcall.StreamServerInterceptor(l.admit)
}
