package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"strconv"
	"strings"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	grpcauth "github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/selector"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/llmgateway/llmgateway/surface/httperr"
)

// MaxHeaderLen bounds the Authorization value; longer ones are refused
// without being parsed.
const MaxHeaderLen = 512

type ctxKey struct{}

// FromContext returns the key that authenticated the call in ctx; false
// when the gateway runs open (no keys) or outside a call.
func FromContext(ctx context.Context) (*Key, bool) {
	k, ok := ctx.Value(ctxKey{}).(*Key)
	return k, ok
}

// NewContext returns ctx carrying k as the caller's key.
func NewContext(ctx context.Context, k *Key) context.Context {
	return context.WithValue(ctx, ctxKey{}, k)
}

// Authenticator checks API keys. Create it with New; it is safe for
// concurrent use.
type Authenticator struct {
	keys  map[string]*Key
	dummy [32]byte
}

// New returns an Authenticator for keys, which need unique valid ids.
func New(keys []Key) (*Authenticator, error) {
	a := &Authenticator{keys: make(map[string]*Key, len(keys))}
	for i := range keys {
		k := keys[i]
		if !ValidID(k.ID) {
			return nil, fmt.Errorf("key %d: invalid id %q", i, k.ID)
		}
		if _, dup := a.keys[k.ID]; dup {
			return nil, fmt.Errorf("key %d: id %q is used twice", i, k.ID)
		}
		a.keys[k.ID] = &k
	}
	_, _ = rand.Read(a.dummy[:])
	return a, nil
}

// Public reports whether a method needs no key: gRPC health checks and
// server reflection, so that probes and grpcurl list/describe work.
func Public(fullMethod string) bool {
	return strings.HasPrefix(fullMethod, "/grpc.health.v1.Health/") ||
		strings.HasPrefix(fullMethod, "/grpc.reflection.v1.ServerReflection/") ||
		strings.HasPrefix(fullMethod, "/grpc.reflection.v1alpha.ServerReflection/")
}

var needsKey = selector.MatchFunc(func(_ context.Context, c interceptors.CallMeta) bool {
	return !Public(c.FullMethod())
})

// UnaryServerInterceptor authenticates unary calls other than public ones.
func (a *Authenticator) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return selector.UnaryServerInterceptor(grpcauth.UnaryServerInterceptor(a.Authenticate), needsKey)
}

// StreamServerInterceptor authenticates streaming calls other than public
// ones.
func (a *Authenticator) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return selector.StreamServerInterceptor(grpcauth.StreamServerInterceptor(a.Authenticate), needsKey)
}

func unauthenticated(msg string) error {
	return httperr.New(codes.Unauthenticated, httperr.ReasonUnauthenticated, msg, nil)
}

// Authenticate is the AuthFunc: it reads the bearer key from the
// authorization metadata and returns a context carrying its Key.
func (a *Authenticator) Authenticate(ctx context.Context) (context.Context, error) {
	vals := metadata.ValueFromIncomingContext(ctx, "authorization")
	switch {
	case len(vals) == 0:
		return nil, unauthenticated(`missing API key: send it as "Authorization: Bearer sk-<id>-<secret>"`)
	case len(vals) > 1:
		return nil, unauthenticated("send exactly one Authorization header, got " + strconv.Itoa(len(vals)))
	case len(vals[0]) > MaxHeaderLen:
		return nil, unauthenticated(fmt.Sprintf("the Authorization header is too long (%d bytes, at most %d)", len(vals[0]), MaxHeaderLen))
	}
	scheme, token, ok := strings.Cut(strings.TrimSpace(vals[0]), " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return nil, unauthenticated(`the Authorization header must be "Bearer sk-<id>-<secret>"`)
	}
	id, secret, err := ParseKey(strings.TrimSpace(token))
	if err != nil {
		return nil, unauthenticated(err.Error())
	}
	k, ok := a.check(id, secret)
	if !ok {
		return nil, unauthenticated("invalid API key")
	}
	logging.AddFields(ctx, logging.Fields{"key_id", k.ID})
	return NewContext(ctx, k), nil
}

// check returns the key with id if secret is its secret. It hashes and
// compares the same way whether or not id exists.
func (a *Authenticator) check(id, secret string) (*Key, bool) {
	h := HashSecret(secret)
	k, found := a.keys[id]
	want := &a.dummy
	if found {
		want = &k.SecretSHA256
	}
	match := subtle.ConstantTimeCompare(h[:], want[:]) == 1
	return k, match && found
}
