package accesslog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/peer"

	pb "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
	"github.com/llmgateway/llmgateway/interceptors/accounting"
	"github.com/llmgateway/llmgateway/interceptors/internal/chatcall"
)

// msg is the message of every access log line.
const msg = "finished call"

// UnaryServerInterceptor logs unary calls to l.
func UnaryServerInterceptor(l *slog.Logger) grpc.UnaryServerInterceptor {
	a := &accessLog{l: l, chat: chatcall.UnaryServerInterceptor(admitChat)}
	return a.unary
}

// StreamServerInterceptor logs streaming calls to l.
func StreamServerInterceptor(l *slog.Logger) grpc.StreamServerInterceptor {
	a := &streamLog{l: l, chat: chatcall.StreamServerInterceptor(admitChat)}
	return a.stream
}

// accessLog logs the unary calls; chat notes the outcome of Chat calls.
type accessLog struct {
	l    *slog.Logger
	chat grpc.UnaryServerInterceptor
}

func (a *accessLog) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	var c call
	ctx, ok := c.begin(ctx, a.l, info.FullMethod)
	if !ok {
		return handler(ctx, req)
	}
	var resp any
	var err error
	if info.FullMethod == chatcall.MethodChat {
		c.chat = new(chatNote)
		ctx = context.WithValue(ctx, chatKey{}, c.chat)
		resp, err = a.chat(ctx, req, info, handler)
	} else {
		resp, err = handler(ctx, req)
	}
	c.finish(ctx, a.l, err)
	return resp, err
}

// streamLog logs the streaming calls; chat notes the outcome of
// ChatStream calls.
type streamLog struct {
	l    *slog.Logger
	chat grpc.StreamServerInterceptor
}

func (a *streamLog) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	var c call
	ctx, ok := c.begin(ss.Context(), a.l, info.FullMethod)
	if !ok {
		return handler(srv, ss)
	}
	var err error
	if info.FullMethod == chatcall.MethodChatStream {
		c.chat = new(chatNote)
		ctx = context.WithValue(ctx, chatKey{}, c.chat)
		err = a.chat(srv, &stream{ServerStream: ss, ctx: ctx}, info, handler)
	} else {
		err = handler(srv, &stream{ServerStream: ss, ctx: ctx})
	}
	c.finish(ctx, a.l, err)
	return err
}

// stream gives the handler the context that collects the line's fields.
type stream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *stream) Context() context.Context { return s.ctx }

// call is what one call's line needs from the call's start.
type call struct {
	start           time.Time
	service, method string
	probe           bool
	// parent holds the logging fields in the context when the call
	// started (the request id); they come before those added during it.
	parent logging.Fields
	chat   *chatNote
}

// begin starts the call to fullMethod. It returns the context the call
// runs in, which collects the fields that logging.AddFields adds during
// the call, and false when l would log nothing whatever the outcome, in
// which case the call is not logged and costs nothing more.
func (c *call) begin(ctx context.Context, l *slog.Logger, fullMethod string) (context.Context, bool) {
	c.start = time.Now()
	c.service, c.method = splitMethod(fullMethod)
	c.probe = isProbe(c.service)
	// DefaultServerCodeToLevel logs at most at error level; probes only
	// at debug.
	top := slog.LevelError
	if c.probe {
		top = slog.LevelDebug
	}
	if !l.Enabled(ctx, top) {
		return ctx, false
	}
	c.parent = logging.ExtractFields(ctx)
	return logging.InjectFields(ctx, nil), true
}

// finish logs the line of the call that ended with err in ctx, the
// context begin returned.
//
// The fields, their order and their values are those that
// go-grpc-middleware's logging interceptor wrote with the options this
// package used to pass it: the trace id, the service and method, the
// context's fields, the peer, the start time and deadline, the fields
// added during the call (the newest first, the chat fields last of all),
// the code, the error and the latency, where the first field of a key
// wins.
func (c *call) finish(ctx context.Context, l *slog.Logger, err error) {
	latency := time.Since(c.start)
	if errors.Is(err, io.EOF) {
		err = nil
	}
	code := logging.DefaultErrorToCode(err)
	level := slog.Level(logging.DefaultServerCodeToLevel(code))
	if c.probe {
		level = slog.LevelDebug
	}
	if !l.Enabled(ctx, level) {
		return
	}
	var buf [32]slog.Attr
	f := attrs(buf[:0])
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		f = append(f, slog.String("trace_id", sc.TraceID().String()))
	}
	f = append(f,
		slog.String("protocol", "grpc"),
		slog.String(logging.ServiceFieldKey, c.service),
		slog.String(logging.MethodFieldKey, c.method))
	f = f.addFields(c.parent)
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		f = f.add("peer.address", slog.StringValue(peerAddress(p.Addr)))
	}
	f = f.add("grpc.start_time", slog.StringValue(c.start.Format(time.RFC3339)))
	if d, ok := ctx.Deadline(); ok {
		f = f.add("grpc.request.deadline", slog.StringValue(d.Format(time.RFC3339)))
	}
	if c.chat != nil && c.chat.done {
		f = c.chat.addTo(f)
	}
	f = f.addFields(logging.ExtractFields(ctx))
	f = f.add("grpc.code", slog.StringValue(code.String()))
	if err != nil {
		f = f.add("grpc.error", slog.StringValue(errorText(err)))
	}
	f = f.add("latency_ms", slog.Float64Value(millis(latency)))
	l.LogAttrs(ctx, level, msg, f...)
}

// attrs are a line's fields, each key once.
type attrs []slog.Attr

// add appends key unless f has it already.
func (f attrs) add(key string, v slog.Value) attrs {
	for i := range f {
		if f[i].Key == key {
			return f
		}
	}
	return append(f, slog.Attr{Key: key, Value: v})
}

// addFields adds fs as slog would log them as arguments.
func (f attrs) addFields(fs logging.Fields) attrs {
	for it := fs.Iterator(); it.Next(); {
		k, v := it.At()
		f = f.add(k, slog.AnyValue(v))
	}
	return f
}

// peerAddress returns addr.String(), with one allocation instead of three
// for the common IPv4 TCP peer.
func peerAddress(addr net.Addr) string {
	a, ok := addr.(*net.TCPAddr)
	if !ok || a.Zone != "" {
		return addr.String()
	}
	ip := a.IP.To4()
	if ip == nil {
		return addr.String()
	}
	var buf [len("255.255.255.255:-9223372036854775808")]byte
	b := buf[:0]
	for i, octet := range ip {
		if i > 0 {
			b = append(b, '.')
		}
		b = strconv.AppendUint(b, uint64(octet), 10)
	}
	b = append(b, ':')
	return string(strconv.AppendInt(b, int64(a.Port), 10))
}

// errorText is fmt.Sprintf("%v", err) without fmt for plain errors.
func errorText(err error) string {
	if _, ok := err.(fmt.Formatter); ok {
		return fmt.Sprint(err)
	}
	return err.Error()
}

// millis returns d in milliseconds, to the microsecond.
func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// splitMethod returns the service and method of "/service/method", or
// "unknown" twice, as go-grpc-middleware's CallMeta has them.
func splitMethod(fullMethod string) (service, method string) {
	s := strings.TrimPrefix(fullMethod, "/")
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[:i], s[i+1:]
	}
	return "unknown", "unknown"
}

// isProbe reports whether service answers health checks or reflection.
func isProbe(service string) bool {
	return service == "grpc.health.v1.Health" || strings.HasPrefix(service, "grpc.reflection.")
}

// chatKey is the context key of a chat call's *chatNote.
type chatKey struct{}

// chatNote is what a chat call's line says beyond the other calls': the
// surface, the model asked for, when the call was admitted, and how it
// ended.
type chatNote struct {
	begin              time.Time
	surface, requested string
	out                chatcall.Outcome
	done               bool
}

// admitChat is the chatcall.Admit that notes the chat call's request in
// its chatNote and, through record, its outcome.
func admitChat(ctx context.Context, req *pb.ChatRequest, _ bool) (func(chatcall.Outcome), error) {
	n, ok := ctx.Value(chatKey{}).(*chatNote)
	if !ok {
		return nil, nil
	}
	n.begin, n.surface, n.requested = time.Now(), accounting.Surface(ctx), req.GetModel()
	return n.record, nil
}

// record notes the outcome. chatcall calls it on the goroutine of the
// interceptor, after the handler returned, so that finish reads it
// without a lock.
func (n *chatNote) record(out chatcall.Outcome) { n.out, n.done = out, true }

// addTo adds the chat fields: the surface, the model asked for and the
// one that answered, the provider, upstream model and attempts, the
// tokens and cost, and the time to first content. It never includes the
// messages.
func (n *chatNote) addTo(f attrs) attrs {
	out := &n.out
	f = f.add("surface", slog.StringValue(n.surface))
	f = f.add("requested_model", slog.StringValue(n.requested))
	if out.Model != "" {
		f = f.add("model", slog.StringValue(out.Model))
	}
	if out.Provider != "" {
		f = f.add("provider", slog.StringValue(out.Provider))
		f = f.add("upstream_model", slog.StringValue(out.UpstreamModel))
		f = f.add("attempts", slog.IntValue(out.Attempts))
	}
	if out.Answered {
		f = f.add("prompt_tokens", slog.Int64Value(out.Usage.PromptTokens))
		f = f.add("completion_tokens", slog.Int64Value(out.Usage.CompletionTokens))
		f = f.add("cost_usd", slog.Float64Value(out.CostUSD))
	}
	if !out.FirstContent.IsZero() {
		f = f.add("ttft_ms", slog.Float64Value(millis(out.FirstContent.Sub(n.begin))))
	}
	return f
}
