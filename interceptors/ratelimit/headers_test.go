package ratelimit

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/metadata"

	"github.com/llmgateway/llmgateway/interceptors/auth"
)

func TestHeaders(t *testing.T) {
	tests := []struct {
		name             string
		give             *auth.Key
		rpmLeft, tpmLeft int64
		want             metadata.MD
	}{
		{"rpm and tpm", &auth.Key{ID: "k", RPM: 600, TPM: 90000}, 599, 88765, metadata.Pairs(
			"x-ratelimit-limit-requests", "600", "x-ratelimit-remaining-requests", "599",
			"x-ratelimit-limit-tokens", "90000", "x-ratelimit-remaining-tokens", "88765")},
		{"rpm only", &auth.Key{ID: "k", RPM: 10}, 0, 0, metadata.Pairs(
			"x-ratelimit-limit-requests", "10", "x-ratelimit-remaining-requests", "0")},
		{"tpm only", &auth.Key{ID: "k", TPM: 1 << 40}, 0, 1<<40 - 1, metadata.Pairs(
			"x-ratelimit-limit-tokens", "1099511627776", "x-ratelimit-remaining-tokens", "1099511627775")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := headers(tt.give, newKeyLimits(tt.give), tt.rpmLeft, tt.tpmLeft)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("headers() (-want +got):\n%s", diff)
			}
			// A value appended to one header must not show in another.
			for name := range got {
				got[name] = append(got[name], "x")
			}
			for name, vs := range got {
				if len(vs) != 2 || vs[0] != tt.want[name][0] {
					t.Errorf("after appending to every header, %s = %q", name, vs)
				}
			}
		})
	}
}
