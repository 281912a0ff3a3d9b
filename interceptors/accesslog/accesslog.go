package accesslog

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	pb "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
	"github.com/llmgateway/llmgateway/interceptors/accounting"
	"github.com/llmgateway/llmgateway/interceptors/internal/chatcall"
)

// logger adapts slog to the middleware's Logger, demoting probe calls.
func logger(l *slog.Logger) logging.Logger {
	return logging.LoggerFunc(func(ctx context.Context, lvl logging.Level, msg string, fields ...any) {
		l.Log(ctx, slog.Level(lvl), msg, fields...)
	})
}

// levels maps codes to levels: errors the caller caused are Info,
// the gateway's own failures Warn or Error, as the middleware does.
func levels(code codes.Code) logging.Level { return logging.DefaultServerCodeToLevel(code) }

func options() []logging.Option {
	return []logging.Option{
		logging.WithLogOnEvents(logging.FinishCall),
		logging.WithLevels(levels),
		logging.WithDurationField(func(d time.Duration) logging.Fields { return logging.Fields{"latency_ms", millis(d)} }),
		logging.WithDisableLoggingFields(logging.ComponentFieldKey, logging.MethodTypeFieldKey),
		logging.WithFieldsFromContext(traceFields),
	}
}

// millis returns d in milliseconds, to the microsecond.
func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// traceFields returns the trace id of the call's span, when it has one,
// so that a log line leads to its trace.
func traceFields(ctx context.Context) logging.Fields {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		return logging.Fields{"trace_id", sc.TraceID().String()}
	}
	return nil
}

// chatFields returns what a chat call's log line says beyond the
// middleware's fields: the surface, the model asked for and the one that
// answered, the provider, the attempts, the tokens and cost, and for
// streams the time to first content. It never includes the messages.
func chatFields(start func() time.Time) chatcall.Admit {
	return func(ctx context.Context, req *pb.ChatRequest, _ bool) (func(chatcall.Outcome), error) {
		begin := start()
		surface, requested := accounting.Surface(ctx), req.GetModel()
		return func(out chatcall.Outcome) {
			f := logging.Fields{"surface", surface, "requested_model", requested}
			if out.Model != "" {
				f = append(f, "model", out.Model)
			}
			if out.Provider != "" {
				f = append(f, "provider", out.Provider, "upstream_model", out.UpstreamModel, "attempts", out.Attempts)
			}
			if out.Answered {
				f = append(f, "prompt_tokens", out.Usage.PromptTokens, "completion_tokens", out.Usage.CompletionTokens, "cost_usd", out.CostUSD)
			}
			if !out.FirstContent.IsZero() {
				f = append(f, "ttft_ms", millis(out.FirstContent.Sub(begin)))
			}
			logging.AddFields(ctx, f)
		}, nil
	}
}

// isProbe reports whether the call is a health check or reflection.
func isProbe(c interceptors.CallMeta) bool {
	return c.Service == "grpc.health.v1.Health" || strings.HasPrefix(c.Service, "grpc.reflection.")
}

func demoted(l *slog.Logger) *slog.Logger {
	return slog.New(debugHandler{l.Handler()})
}

// debugHandler logs every record at debug level.
type debugHandler struct{ slog.Handler }

func (h debugHandler) Enabled(ctx context.Context, _ slog.Level) bool {
	return h.Handler.Enabled(ctx, slog.LevelDebug)
}

func (h debugHandler) Handle(ctx context.Context, r slog.Record) error {
	r.Level = slog.LevelDebug
	return h.Handler.Handle(ctx, r)
}

// UnaryServerInterceptor logs unary calls to l.
func UnaryServerInterceptor(l *slog.Logger) grpc.UnaryServerInterceptor {
	normal := logging.UnaryServerInterceptor(logger(l), options()...)
	probe := logging.UnaryServerInterceptor(logger(demoted(l)), options()...)
	chat := chatcall.UnaryServerInterceptor(chatFields(time.Now))
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if isProbe(interceptors.NewServerCallMeta(info.FullMethod, nil, req)) {
			return probe(ctx, req, info, handler)
		}
		if info.FullMethod != chatcall.MethodChat {
			return normal(ctx, req, info, handler)
		}
		return normal(ctx, req, info, func(ctx context.Context, req any) (any, error) {
			return chat(ctx, req, info, handler)
		})
	}
}

// StreamServerInterceptor logs streaming calls to l.
func StreamServerInterceptor(l *slog.Logger) grpc.StreamServerInterceptor {
	normal := logging.StreamServerInterceptor(logger(l), options()...)
	probe := logging.StreamServerInterceptor(logger(demoted(l)), options()...)
	chat := chatcall.StreamServerInterceptor(chatFields(time.Now))
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if isProbe(interceptors.NewServerCallMeta(info.FullMethod, info, nil)) {
			return probe(srv, ss, info, handler)
		}
		if info.FullMethod != chatcall.MethodChatStream {
			return normal(srv, ss, info, handler)
		}
		return normal(srv, ss, info, func(srv any, ss grpc.ServerStream) error {
			return chat(srv, ss, info, handler)
		})
	}
}
