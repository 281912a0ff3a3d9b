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
	keys  map[string]*entry
	dummy [32]byte
}

// entry is a key with what the logs need of it, boxed once rather than
// per call.
type entry struct {
	key   *Key
	logID any // key.ID
}

// New returns an Authenticator for keys, which need unique valid ids.
func New(keys []Key) (*Authenticator, error) {
	a := &Authenticator{keys: make(map[string]*entry, len(keys))}
	for i := range keys {
		k := keys[i]
		if !ValidID(k.ID) {
			return nil, fmt.Errorf("key %d: invalid id %q", i, k.ID)
		}
		if _, dup := a.keys[k.ID]; dup {
			return nil, fmt.Errorf("key %d: id %q is used twice", i, k.ID)
		}
		a.keys[k.ID] = &entry{key: &k, logID: k.ID}
	}
	_, _ = rand.Read(a.dummy[:])
	return a, nil
}

// Public services, whose methods need no key.
const (
	healthService           = "grpc.health.v1.Health"
	reflectionService       = "grpc.reflection.v1.ServerReflection"
	reflectionAlpha1Service = "grpc.reflection.v1alpha.ServerReflection"
)

// Public reports whether a method needs no key: gRPC health checks and
// server reflection, so that probes and grpcurl list/describe work.
func Public(fullMethod string) bool {
	return strings.HasPrefix(fullMethod, "/"+healthService+"/") ||
		strings.HasPrefix(fullMethod, "/"+reflectionService+"/") ||
		strings.HasPrefix(fullMethod, "/"+reflectionAlpha1Service+"/")
}

// publicService reports whether the methods of service (a full method's
// part between its slashes) need no key; Public("/"+service+"/"+method)
// is publicService(service).
func publicService(service string) bool {
	return service == healthService || service == reflectionService || service == reflectionAlpha1Service
}

// needsKey matches the calls to authenticate. It reads the call's
// service rather than CallMeta.FullMethod, which formats the name anew
// (with fmt) on every call.
var needsKey = selector.MatchFunc(func(_ context.Context, c interceptors.CallMeta) bool {
	return !publicService(c.Service)
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
	e, ok := a.check(id, secret)
	if !ok {
		return nil, unauthenticated("invalid API key")
	}
	// AddFields appends the fields already in the context to ours: room
	// for them up front saves growing the slice.
	f := make(logging.Fields, 2, 2+logFieldsRoom)
	f[0], f[1] = "key_id", e.logID
	logging.AddFields(ctx, f)
	return NewContext(ctx, e.key), nil
}

// logFieldsRoom is the room made for the logging fields already in the
// context when the key id is added: the request id's key and value.
const logFieldsRoom = 2

// check returns the key with id if secret is its secret. It hashes and
// compares the same way whether or not id exists.
func (a *Authenticator) check(id, secret string) (*entry, bool) {
	h := HashSecret(secret)
	e, found := a.keys[id]
	want := &a.dummy
	if found {
		want = &e.key.SecretSHA256
	}
	match := subtle.ConstantTimeCompare(h[:], want[:]) == 1
	return e, match && found
}
