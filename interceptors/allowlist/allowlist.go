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
}

// New returns a Checker that resolves aliases with resolve.
func New(resolve Resolver) *Checker {
	if resolve == nil {
		resolve = func(string) (string, bool) { return "", false }
	}
	return &Checker{resolve: resolve}
}

// Allowed reports whether k may use model (a name or alias).
func (c *Checker) Allowed(k *auth.Key, model string) bool {
	if len(k.Models) == 0 {
		return true
	}
	canonical, ok := c.resolve(model)
	if !ok {
		canonical = model
	}
	for _, p := range k.Models {
		if isGlob(p) {
			if Match(p, canonical) {
				return true
			}
			continue
		}
		if strings.EqualFold(p, canonical) {
			return true
		}
		if cp, ok := c.resolve(p); ok && strings.EqualFold(cp, canonical) {
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
	return llm.WithModelFilter(ctx, func(model string) bool { return c.Allowed(k, model) })
}

func isGlob(p string) bool { return strings.ContainsAny(p, "*?") }

// Match reports whether name matches pattern, ignoring ASCII case: * in
// the pattern matches any run of characters (slashes too), ? any one.
func Match(pattern, name string) bool {
	p, n := strings.ToLower(pattern), strings.ToLower(name)
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
