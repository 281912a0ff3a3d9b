package budget

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
	"github.com/llmgateway/llmgateway/interceptors/auth"
	"github.com/llmgateway/llmgateway/interceptors/internal/chatcall"
	"github.com/llmgateway/llmgateway/llm"
	"github.com/llmgateway/llmgateway/state"
	"github.com/llmgateway/llmgateway/surface/httperr"
)

// PriceFunc returns the price of a model, named as the caller named it
// (name, alias, or a virtual model such as "auto", for which it should
// answer the highest price the model may resolve to).
type PriceFunc func(model string) (llm.Pricing, bool)

// DefaultMaxTokens is the completion reserved for a request without
// max_tokens, unless WithDefaultMaxTokens says otherwise.
const DefaultMaxTokens = 1024

type options struct {
	defaultMaxTokens int64
	now              func() time.Time
}

// Option configures a Guard.
type Option func(*options)

// WithDefaultMaxTokens sets the completion tokens reserved for a request
// that sets no max_tokens. Default: DefaultMaxTokens.
func WithDefaultMaxTokens(n int64) Option { return func(o *options) { o.defaultMaxTokens = n } }

// WithClock sets the clock that picks the day and month. Default:
// time.Now.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// Guard enforces budgets. Create it with New.
type Guard struct {
	b     state.Budget
	price PriceFunc
	opts  options
	// calendar is the day and month of the last call; calls compute a
	// new one only when its day has passed.
	calendar atomic.Pointer[calendar]
	// windows remembers each key's windows of the last calendar it
	// called in.
	windows *chatcall.PerKey[*keyWindows]
}

// New returns a Guard on b, pricing models with price.
func New(b state.Budget, price PriceFunc, opts ...Option) *Guard {
	o := options{defaultMaxTokens: DefaultMaxTokens, now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	if price == nil {
		price = func(string) (llm.Pricing, bool) { return llm.Pricing{}, false }
	}
	return &Guard{b: b, price: price, opts: o,
		windows: chatcall.NewPerKey(func(*auth.Key) *keyWindows { return new(keyWindows) })}
}

// Windows returns the budget windows of k at t: its day and month, where
// it has a budget for them.
func Windows(k *auth.Key, t time.Time) []state.Window { return newCalendar(t).windows(k) }

// calendar is the UTC day and month around some time, as windows of no
// limit.
type calendar struct {
	start      time.Time // of the day
	day, month state.Window
}

func newCalendar(t time.Time) *calendar {
	day := state.Day(t, 0)
	return &calendar{start: day.Start(), day: day, month: state.Month(t, 0)}
}

// covers reports whether t falls in c's day (and so in its month).
func (c *calendar) covers(t time.Time) bool { return !t.Before(c.start) && t.Before(c.day.End) }

// windows returns k's windows in c: its day and month, where it has a
// budget for them.
func (c *calendar) windows(k *auth.Key) []state.Window {
	var ws []state.Window
	if k.DailyUSD > 0 {
		w := c.day
		w.Limit = state.NanoUSD(k.DailyUSD)
		ws = append(ws, w)
	}
	if k.MonthlyUSD > 0 {
		w := c.month
		w.Limit = state.NanoUSD(k.MonthlyUSD)
		ws = append(ws, w)
	}
	return ws
}

// keyWindows holds a key's windows of the last calendar it called in.
type keyWindows struct{ last atomic.Pointer[datedWindows] }

type datedWindows struct {
	cal *calendar
	ws  []state.Window
}

// windowsAt returns Windows(k, t), computing the calendar once per day
// and a key's windows once per calendar. The slice is shared between
// calls: state.Budget implementations only read it.
func (g *Guard) windowsAt(k *auth.Key, t time.Time) []state.Window {
	cal := g.calendar.Load()
	if cal == nil || !cal.covers(t) {
		cal = newCalendar(t)
		g.calendar.Store(cal)
	}
	kw := g.windows.Get(k)
	if last := kw.last.Load(); last != nil && last.cal == cal {
		return last.ws
	}
	ws := cal.windows(k)
	kw.last.Store(&datedWindows{cal: cal, ws: ws})
	return ws
}

func (g *Guard) admit(ctx context.Context, req *pb.ChatRequest, _ bool) (func(chatcall.Outcome), error) {
	k, ok := auth.FromContext(ctx)
	if !ok || !(k.DailyUSD > 0 || k.MonthlyUSD > 0) { // no windows
		return nil, nil
	}
	windows := g.windowsAt(k, g.opts.now())
	prompt, completion := chatcall.EstimateTokens(req, g.opts.defaultMaxTokens)
	price, _ := g.price(req.GetModel())
	estimate := state.NanoUSD(price.Cost(llm.Usage{PromptTokens: prompt, CompletionTokens: completion}))
	settle, ex, err := g.b.Reserve(ctx, k.ID, windows, estimate)
	if err != nil {
		return nil, chatcall.StateError(err, "the budget")
	}
	if ex != nil {
		return nil, exceeded(ex, estimate)
	}
	model := req.GetModel()
	return func(out chatcall.Outcome) {
		var cost int64
		switch {
		case out.Answered:
			cost = state.NanoUSD(out.CostUSD)
		case out.StreamedTokens > 0:
			m := model
			if out.Model != "" {
				m = out.Model
			}
			p, _ := g.price(m)
			cost = state.NanoUSD(p.Cost(llm.Usage{PromptTokens: prompt, CompletionTokens: out.StreamedTokens}))
		}
		settle(cost)
	}, nil
}

// exceeded is the status for a reservation that did not fit.
func exceeded(ex *state.Exceeded, estimate int64) error {
	period, limitName := "daily", "daily_usd"
	if ex.Window.ID != "" && ex.Window.ID[0] == 'm' {
		period, limitName = "monthly", "monthly_usd"
	}
	limit := state.USD(ex.Window.Limit)
	resets := ex.Window.End.UTC().Format(time.RFC3339)
	var msg string
	if estimate > ex.Window.Limit {
		msg = fmt.Sprintf("this request's estimated cost of %s exceeds this API key's whole %s budget of %s: lower max_tokens or shorten the prompt",
			usd(state.USD(estimate)), period, usd(limit))
	} else {
		msg = fmt.Sprintf("this API key's %s budget of %s is used up: %s spent and %s held by requests in flight, and this request may cost up to %s; the budget resets at %s",
			period, usd(limit), usd(state.USD(ex.Spent)), usd(state.USD(ex.Reserved)), usd(state.USD(estimate)), resets)
	}
	st := status.New(codes.ResourceExhausted, msg)
	if ds, err := st.WithDetails(
		&errdetails.ErrorInfo{Reason: httperr.ReasonBudgetExceeded, Domain: httperr.Domain,
			Metadata: map[string]string{"limit": limitName, "resets_at": resets}},
		&errdetails.QuotaFailure{Violations: []*errdetails.QuotaFailure_Violation{{
			Subject:     "api_key",
			Description: fmt.Sprintf("%s budget of %s exhausted; resets at %s", period, usd(limit), resets),
		}}},
	); err == nil {
		st = ds
	}
	return st.Err()
}

// usd formats dollars with cents, and with up to six decimals where the
// cents alone would hide the amount.
func usd(v float64) string {
	s := strconv.FormatFloat(v, 'f', 6, 64)
	s = strings.TrimRight(s, "0")
	if i := strings.IndexByte(s, '.'); len(s)-i-1 < 2 {
		s += strings.Repeat("0", 2-(len(s)-i-1))
	}
	return "$" + s
}

// UnaryServerInterceptor guards Chat calls.
func (g *Guard) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return chatcall.UnaryServerInterceptor(g.admit)
}

// StreamServerInterceptor guards ChatStream calls.
func (g *Guard) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return chatcall.StreamServerInterceptor(g.admit)
}
