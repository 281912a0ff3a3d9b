package allowlist

import (
	"context"
	"fmt"
	"strings"

	middleware "github.com/grpc-ecosystem/go-grpc-middleware/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	pb "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
	"github.com/llmgateway/llmgateway/interceptors/auth"
	"github.com/llmgateway/llmgateway/interceptors/internal/chatcall"
	"github.com/llmgateway/llmgateway/llm"
	"github.com/llmgateway/llmgateway/surface/httperr"
)

// Resolver returns the canonical name of a model name or alias, ignoring
// case; ok is false for names the gateway does not know.
type Resolver func(model string) (canonical string, ok bool)

// Checker enforces allowlists. Create it with New.
type Checker struct {
	resolve Resolver
	lists   *chatcall.PerKey[*list]
}

// New returns a Checker that resolves aliases with resolve, which must
// answer the same for the same name: a key's allowlist is resolved once.
func New(resolve Resolver) *Checker {
	if resolve == nil {
		resolve = func(string) (string, bool) { return "", false }
	}
	c := &Checker{resolve: resolve}
	c.lists = chatcall.NewPerKey(c.compile)
	return c
}

// list is a key's allowlist made ready for matching.
type list struct {
	patterns []pattern
	// filter is the list as a model filter for routing, made once.
	filter func(model string) bool
}

// pattern is an entry of an allowlist: a glob in lower case, or a name
// with the canonical name it resolves to.
type pattern struct {
	glob      bool
	text      string
	canonical string
	resolved  bool
}

// compile makes k's allowlist ready for matching.
func (c *Checker) compile(k *auth.Key) *list {
	l := &list{patterns: make([]pattern, len(k.Models))}
	for i, p := range k.Models {
		if isGlob(p) {
			l.patterns[i] = pattern{glob: true, text: strings.ToLower(p)}
			continue
		}
		cp, ok := c.resolve(p)
		l.patterns[i] = pattern{text: p, canonical: cp, resolved: ok}
	}
	l.filter = func(model string) bool { return c.allows(l, model) }
	return l
}

// Allowed reports whether k may use model (a name or alias).
func (c *Checker) Allowed(k *auth.Key, model string) bool {
	if len(k.Models) == 0 {
		return true
	}
	return c.allows(c.lists.Get(k), model)
}

// allows reports whether l lets a key use model: a glob matching its
// canonical name, or a name that is or resolves to it, ignoring case.
func (c *Checker) allows(l *list, model string) bool {
	canonical, ok := c.resolve(model)
	if !ok {
		canonical = model
	}
	lower := ""
	for _, p := range l.patterns {
		if p.glob {
			if lower == "" {
				lower = strings.ToLower(canonical)
			}
			if match(p.text, lower) {
				return true
			}
			continue
		}
		if strings.EqualFold(p.text, canonical) || p.resolved && strings.EqualFold(p.canonical, canonical) {
			return true
		}
	}
	return false
}

func (c *Checker) check(ctx context.Context, req *pb.ChatRequest, _ bool) (func(chatcall.Outcome), error) {
	k, ok := auth.FromContext(ctx)
	if !ok || c.Allowed(k, req.GetModel()) {
		return nil, nil
	}
	model := req.GetModel()
	shown := fmt.Sprintf("%q", model)
	if canonical, ok := c.resolve(model); ok && canonical != model {
		shown += fmt.Sprintf(" (%s)", canonical)
	}
	return nil, httperr.New(codes.PermissionDenied, httperr.ReasonPermissionDenied,
		fmt.Sprintf("this API key may not use model %s; it may use: %s", shown, strings.Join(k.Models, ", ")),
		map[string]string{"model": model})
}

// UnaryServerInterceptor checks Chat requests and filters ListModels.
func (c *Checker) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	chat := chatcall.UnaryServerInterceptor(c.check)
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if info.FullMethod != chatcall.MethodListModels {
			return chat(c.withFilter(ctx), req, info, handler)
		}
		resp, err := handler(ctx, req)
		k, ok := auth.FromContext(ctx)
		lm, isList := resp.(*pb.ListModelsResponse)
		if err != nil || !ok || !isList || len(k.Models) == 0 {
			return resp, err
		}
		kept := make([]*pb.ModelInfo, 0, len(lm.GetModels()))
		for _, m := range lm.GetModels() {
			if c.Allowed(k, m.GetName()) {
				kept = append(kept, m)
			}
		}
		return &pb.ListModelsResponse{Models: kept}, nil
	}
}

// StreamServerInterceptor checks ChatStream requests.
func (c *Checker) StreamServerInterceptor() grpc.StreamServerInterceptor {
	chat := chatcall.StreamServerInterceptor(c.check)
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if ctx := c.withFilter(ss.Context()); ctx != ss.Context() {
			w := middleware.WrapServerStream(ss)
			w.WrappedContext = ctx
			ss = w
		}
		return chat(srv, ss, info, handler)
	}
}

// withFilter puts the caller's allowlist in ctx for routing, so that
// fallbacks and the tiers of virtual models stay within it too.
func (c *Checker) withFilter(ctx context.Context) context.Context {
	k, ok := auth.FromContext(ctx)
	if !ok || len(k.Models) == 0 {
		return ctx
	}
	return llm.WithModelFilter(ctx, c.lists.Get(k).filter)
}

func isGlob(p string) bool { return strings.ContainsAny(p, "*?") }

// Match reports whether name matches pattern, ignoring ASCII case: * in
// the pattern matches any run of characters (slashes too), ? any one.
func Match(pattern, name string) bool { return match(strings.ToLower(pattern), strings.ToLower(name)) }

// match is Match on a pattern and a name already in lower case.
func match(p, n string) bool {
	// Iterative wildcard matching with one backtrack point.
	pi, ni, star, mark := 0, 0, -1, 0
	for ni < len(n) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == n[ni]):
			pi++
			ni++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, ni
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			ni = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}
