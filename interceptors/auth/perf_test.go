package auth

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"google.golang.org/grpc/metadata"
)

func TestNeedsKeyAgreesWithPublic(t *testing.T) {
	methods := []string{
		"/grpc.health.v1.Health/Check",
		"/grpc.health.v1.Health/Watch",
		"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
		"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
		"grpc.health.v1.Health/Check",
		"/grpc.health.v1.HealthX/Check",
		"/grpc.health.v1/Health/Check",
		"/grpc.health.v1.Health",
		"/llmgateway.v1.LLMGatewayService/Chat",
		"/", "", "nonsense",
	}
	for _, m := range methods {
		c := interceptors.NewServerCallMeta(m, nil, nil)
		// The selector used to match on the name CallMeta formats.
		if got, want := needsKey.Match(context.Background(), c), !Public(c.FullMethod()); got != want {
			t.Errorf("needsKey(%q) = %v, want %v", m, got, want)
		}
	}
}

func TestHashSecret(t *testing.T) {
	for _, n := range []int{0, 1, 40, MaxSecretLen, MaxSecretLen + 1, 300} {
		s := strings.Repeat("a", n)
		if got, want := HashSecret(s), sha256.Sum256([]byte(s)); got != want {
			t.Errorf("HashSecret(%d bytes) = %x, want %x", n, got, want)
		}
	}
}

func TestAuthenticateAddsKeyIDToLogFields(t *testing.T) {
	a, key := newAuth(t)
	for _, n := range []int{0, 3, logFieldsRoom} { // pairs of fields the call has
		var fields logging.Fields
		for i := range n {
			fields = append(fields, fmt.Sprintf("f%d", i), i)
		}
		ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer "+key))
		ctx = logging.InjectFields(ctx, fields)
		if _, err := a.Authenticate(ctx); err != nil {
			t.Fatal(err)
		}
		want := append(logging.Fields{"key_id", "cs_bot"}, fields...)
		if diff := cmp.Diff(want, logging.ExtractFields(ctx)); diff != "" {
			t.Errorf("fields with %d pairs before (-want +got):\n%s", n, diff)
		}
	}
}
