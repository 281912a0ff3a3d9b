package auth

import (
	"context"
	"errors"
	"strings"
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/llmgateway/llmgateway/surface/httperr"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParseKey(t *testing.T) {
	tests := []struct {
		give       string
		wantID     string
		wantSecret string
		wantErr    string
	}{
		{"sk-cs_bot-AbC123_x", "cs_bot", "AbC123_x", ""},
		{"sk-a-b-c", "", "", "the secret must be"},
		{"pk-cs_bot-abc", "", "", `does not start with "sk-"`},
		{"sk-cs_bot", "", "", "no - between id and secret"},
		{"sk--abc", "", "", "the id must be"},
		{"sk-cs bot-abc", "", "", "the id must be"},
		{"sk-cs_bot-", "", "", "the secret must be"},
		{"sk-" + strings.Repeat("a", 65) + "-abc", "", "", "the id must be"},
		{"sk-a-" + strings.Repeat("b", 129), "", "", "the secret must be"},
		{"", "", "", `does not start with "sk-"`},
	}
	for _, tt := range tests {
		id, secret, err := ParseKey(tt.give)
		if id != tt.wantID || secret != tt.wantSecret || (err == nil) != (tt.wantErr == "") ||
			err != nil && (!strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrMalformedKey)) {
			t.Errorf("ParseKey(%q) = %q, %q, %v; want %q, %q, error containing %q", tt.give, id, secret, err, tt.wantID, tt.wantSecret, tt.wantErr)
		}
	}
}

func TestGenerate(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		key, hash, err := Generate("cs_bot")
		if err != nil {
			t.Fatal(err)
		}
		id, secret, err := ParseKey(key)
		if err != nil || id != "cs_bot" || len(secret) != secretLen {
			t.Fatalf("Generate() = %q: ParseKey = %q, %q, %v", key, id, secret, err)
		}
		h, err := ParseSecretSHA256(hash)
		if err != nil || h != HashSecret(secret) {
			t.Fatalf("Generate() hash %q does not match the secret (%v)", hash, err)
		}
		if seen[secret] {
			t.Fatal("Generate() repeated a secret")
		}
		seen[secret] = true
	}
	if _, _, err := Generate("bad-id"); err == nil {
		t.Error("Generate(bad-id) = nil error")
	}
	for _, give := range []string{"Customer Service!", "", "--", strings.Repeat("x", 100)} {
		id := NewID(give)
		if !ValidID(id) || len(id) > 31 {
			t.Errorf("NewID(%q) = %q, want a valid id of at most 31 characters", give, id)
		}
	}
	if id := NewID("Customer Service!"); !strings.HasPrefix(id, "customer_service_") {
		t.Errorf("NewID(Customer Service!) = %q", id)
	}
}

func newAuth(t testing.TB) (*Authenticator, string) {
	t.Helper()
	key, hash, err := Generate("cs_bot")
	if err != nil {
		t.Fatal(err)
	}
	h, _ := ParseSecretSHA256(hash)
	a, err := New([]Key{{ID: "cs_bot", SecretSHA256: h, Admin: true}, {ID: "other", SecretSHA256: HashSecret("other")}})
	if err != nil {
		t.Fatal(err)
	}
	return a, key
}

func TestAuthenticate(t *testing.T) {
	a, key := newAuth(t)
	_, secret, _ := ParseKey(key)
	tests := []struct {
		name    string
		give    []string // authorization values
		wantID  string
		wantMsg string
	}{
		{"valid", []string{"Bearer " + key}, "cs_bot", ""},
		{"scheme in any case", []string{"bearer " + key}, "cs_bot", ""},
		{"missing", nil, "", "missing API key"},
		{"two headers", []string{"Bearer " + key, "Bearer " + key}, "", "exactly one"},
		{"oversized", []string{"Bearer " + key + strings.Repeat("x", MaxHeaderLen)}, "", "too long"},
		{"no scheme", []string{key}, "", `must be "Bearer`},
		{"basic", []string{"Basic " + key}, "", `must be "Bearer`},
		{"wrong prefix", []string{"Bearer " + strings.Replace(key, "sk-", "ak-", 1)}, "", "malformed API key"},
		{"wrong secret", []string{"Bearer sk-cs_bot-" + strings.Repeat("A", len(secret))}, "", "invalid API key"},
		{"unknown id", []string{"Bearer sk-nobody-" + secret}, "", "invalid API key"},
		{"another key's secret", []string{"Bearer sk-cs_bot-other"}, "", "invalid API key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			md := metadata.MD{}
			for _, v := range tt.give {
				md.Append("authorization", v)
			}
			ctx, err := a.Authenticate(metadata.NewIncomingContext(context.Background(), md))
			if tt.wantMsg != "" {
				st := status.Convert(err)
				if st.Code() != codes.Unauthenticated || !strings.Contains(st.Message(), tt.wantMsg) || httperr.Reason(st) != httperr.ReasonUnauthenticated {
					t.Fatalf("Authenticate() = %v, want Unauthenticated (UNAUTHENTICATED) containing %q", err, tt.wantMsg)
				}
				if strings.Contains(st.Message(), secret) {
					t.Errorf("message %q repeats the secret", st.Message())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			k, ok := FromContext(ctx)
			if !ok || k.ID != tt.wantID || !k.Admin {
				t.Errorf("FromContext() = %+v, %v; want key %s", k, ok, tt.wantID)
			}
		})
	}
}

func TestNewRejectsBadKeys(t *testing.T) {
	if _, err := New([]Key{{ID: "a"}, {ID: "a"}}); err == nil {
		t.Error("New(duplicate ids) = nil error")
	}
	if _, err := New([]Key{{ID: "a-b"}}); err == nil {
		t.Error("New(invalid id) = nil error")
	}
}

func TestInterceptorsSkipProbes(t *testing.T) {
	a, key := newAuth(t)
	unary := a.UnaryServerInterceptor()
	tests := []struct {
		method   string
		md       metadata.MD
		wantCode codes.Code
	}{
		{"/grpc.health.v1.Health/Check", nil, codes.OK},
		{"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", nil, codes.OK},
		{"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", nil, codes.OK},
		{"/llmgateway.v1.LLMGatewayService/ListModels", nil, codes.Unauthenticated},
		{"/llmgateway.v1.LLMGatewayService/Chat", metadata.Pairs("authorization", "Bearer "+key), codes.OK},
		{"/other.Service/Method", nil, codes.Unauthenticated},
	}
	for _, tt := range tests {
		ctx := metadata.NewIncomingContext(context.Background(), tt.md)
		called := false
		_, err := unary(ctx, nil, &grpc.UnaryServerInfo{FullMethod: tt.method}, func(context.Context, any) (any, error) {
			called = true
			return nil, nil
		})
		if status.Code(err) != tt.wantCode || called != (tt.wantCode == codes.OK) {
			t.Errorf("%s: %v (handler called %v), want %v", tt.method, err, called, tt.wantCode)
		}
	}
}

func benchmarkAuthenticate(b *testing.B, header func(key string) string) {
	a, key := newAuth(b)
	ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", header(key)))
	b.ReportAllocs()
	for b.Loop() {
		_, _ = a.Authenticate(ctx)
	}
}

// The three benchmarks show that a valid key, a wrong secret and an
// unknown id take the same time: the same hash and the same comparison.
func BenchmarkAuthenticate(b *testing.B) {
	b.Run("valid", func(b *testing.B) { benchmarkAuthenticate(b, func(k string) string { return "Bearer " + k }) })
	b.Run("wrong secret", func(b *testing.B) {
		benchmarkAuthenticate(b, func(k string) string { return "Bearer " + k[:len(k)-4] + "XXXX" })
	})
	b.Run("unknown id", func(b *testing.B) {
		benchmarkAuthenticate(b, func(k string) string { return "Bearer " + strings.Replace(k, "cs_bot", "nobody", 1) })
	})
}
