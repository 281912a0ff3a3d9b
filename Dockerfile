# The llmgateway container image: a static binary on a distroless base, run
# as a non-root user. Without arguments it serves the embedded default
# config (simulator providers); pass --config FILE to run your own.
#
#   docker build -t llmgateway .
#   docker run --rm -p 9090:9090 -p 8080:8080 llmgateway
#
# Multi-arch: docker buildx build --platform linux/amd64,linux/arm64 .
# The build stage runs on the build machine and cross-compiles.

FROM --platform=$BUILDPLATFORM golang:1.26 AS build
ARG TARGETOS
ARG TARGETARCH
ENV GOOS=$TARGETOS GOARCH=$TARGETARCH
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The same build as `make build` (deploy/dockerfile_test.go keeps them equal).
RUN CGO_ENABLED=0 go build -trimpath -o bin/llmgateway ./cmd/llmgateway

FROM gcr.io/distroless/static-debian13:nonroot
COPY --from=build /src/bin/llmgateway /usr/local/bin/llmgateway
# nonroot in distroless, numeric so that Kubernetes' runAsNonRoot can check it.
USER 65532:65532
# 9090: gRPC (with grpc.health.v1); 8080: HTTP (REST, OpenAI-compatible
# /v1, /healthz, /readyz).
EXPOSE 9090 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
	CMD ["/usr/local/bin/llmgateway", "healthcheck", "--url", "http://127.0.0.1:8080/healthz", "--timeout", "3s"]
ENTRYPOINT ["/usr/local/bin/llmgateway"]
