package accesslog

import (
	"context"
	"log/slog"
	"strings"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
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
		logging.WithDurationField(logging.DurationToDurationField),
		logging.WithDisableLoggingFields(logging.ComponentFieldKey, logging.MethodTypeFieldKey),
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
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if isProbe(interceptors.NewServerCallMeta(info.FullMethod, nil, req)) {
			return probe(ctx, req, info, handler)
		}
		return normal(ctx, req, info, handler)
	}
}

// StreamServerInterceptor logs streaming calls to l.
func StreamServerInterceptor(l *slog.Logger) grpc.StreamServerInterceptor {
	normal := logging.StreamServerInterceptor(logger(l), options()...)
	probe := logging.StreamServerInterceptor(logger(demoted(l)), options()...)
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if isProbe(interceptors.NewServerCallMeta(info.FullMethod, info, nil)) {
			return probe(srv, ss, info, handler)
		}
		return normal(srv, ss, info, handler)
	}
}
