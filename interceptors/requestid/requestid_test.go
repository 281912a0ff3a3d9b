package requestid

import (
	"context"
	"strings"
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRequestID(t *testing.T) {
	tests := []struct {
		name string
		give []string
		keep bool
	}{
		{"caller's id kept", []string{"req-123"}, true},
		{"none", nil, false},
		{"too long", []string{strings.Repeat("a", 129)}, false},
		{"spaces", []string{"a b"}, false},
		{"control characters", []string{"a\nb"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			md := metadata.MD{}
			for _, v := range tt.give {
				md.Append(Header, v)
			}
			ctx := metadata.NewIncomingContext(context.Background(), md)
			var got string
			_, err := UnaryServerInterceptor()(ctx, nil, &grpc.UnaryServerInfo{FullMethod: "/x/Y"}, func(ctx context.Context, _ any) (any, error) {
				got = FromContext(ctx)
				return nil, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if tt.keep && got != tt.give[0] || !tt.keep && (!valid(got) || len(got) < 16 || len(tt.give) > 0 && got == tt.give[0]) {
				t.Errorf("request id = %q (given %q), keep %v", got, tt.give, tt.keep)
			}
		})
	}
	if FromContext(context.Background()) != "" {
		t.Error("FromContext outside a call is not empty")
	}
}
