package redact

import (
	"context"
	"log/slog"
)

// errorKeys are the attribute keys whose string values are redacted
// besides error values: the gateway's and go-grpc-middleware's.
var errorKeys = map[string]bool{"error": true, "err": true, "grpc.error": true}

// Handler returns a slog.Handler that passes records to h with r applied
// to their errors: every attribute holding an error, and the string
// attributes error, err and grpc.error. Upstreams sometimes echo the key
// they were sent in an error message; this keeps it out of the log. Other
// attributes pass untouched, and records without such attributes cost one
// pass over their attributes.
func Handler(h slog.Handler, r *Redactor) slog.Handler { return &handler{next: h, r: r} }

type handler struct {
	next slog.Handler
	r    *Redactor
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *handler) Handle(ctx context.Context, rec slog.Record) error {
	sensitive := false
	rec.Attrs(func(a slog.Attr) bool {
		sensitive = isSensitive(a)
		return !sensitive
	})
	if !sensitive {
		return h.next.Handle(ctx, rec)
	}
	out := slog.NewRecord(rec.Time, rec.Level, rec.Message, rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(as))
	for i, a := range as {
		red[i] = h.attr(a)
	}
	return &handler{next: h.next.WithAttrs(red), r: h.r}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{next: h.next.WithGroup(name), r: h.r}
}

func isSensitive(a slog.Attr) bool {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindAny:
		_, ok := v.Any().(error)
		return ok
	case slog.KindString:
		return errorKeys[a.Key]
	case slog.KindGroup:
		for _, g := range v.Group() {
			if isSensitive(g) {
				return true
			}
		}
	}
	return false
}

// attr returns a with its error redacted.
func (h *handler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindAny:
		if err, ok := v.Any().(error); ok && err != nil {
			return slog.String(a.Key, h.r.String(err.Error()))
		}
	case slog.KindString:
		if errorKeys[a.Key] {
			return slog.String(a.Key, h.r.String(v.String()))
		}
	case slog.KindGroup:
		g := v.Group()
		out := make([]any, len(g))
		for i, ga := range g {
			out[i] = h.attr(ga)
		}
		return slog.Group(a.Key, out...)
	}
	return a
}
