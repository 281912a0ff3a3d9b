package telemetrytest

import (
	"context"

	"google.golang.org/grpc/metadata"
)

// metadataFrom returns the first value of each incoming metadata key.
func metadataFrom(ctx context.Context) (map[string]string, bool) {
	md, ok := metadata.FromIncomingContext(ctx)
	if !ok {
		return nil, false
	}
	out := make(map[string]string, len(md))
	for k, vs := range md {
		if len(vs) > 0 {
			out[k] = vs[0]
		}
	}
	return out, true
}
