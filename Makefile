# llmgateway: the two commands that matter are `make run` and `make test`.
SHELL := /bin/bash
GO ?= go
TOOLS_BIN := $(CURDIR)/.tools/bin
export PATH := $(TOOLS_BIN):$(PATH)

.PHONY: all build run test test-sdk vet lint generate check-generate tools bench clean

all: build

## build: the gateway binary at bin/llmgateway
build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/llmgateway ./cmd/llmgateway

## run: the gateway on its embedded default config (simulator providers, no keys, no network)
run:
	$(GO) run ./cmd/llmgateway $(ARGS)

## test: vet, lint, the gen/ freshness check, the OpenAI Node SDK against a real gateway, and the whole Go test suite with the race detector
test: deps vet check-generate test-sdk check-deploy
	LLMGATEWAY_REQUIRE_REDIS=1 $(GO) test -race -count=1 -timeout 30m ./...

## deps: redis-server (Debian package), which the shared-state tests start on a loopback port
.PHONY: deps
deps:
	command -v redis-server >/dev/null || (apt-get update && apt-get install -y redis-server)

## test-sdk: the official OpenAI Node SDK (pinned in sdk/node) against bin/llmgateway
test-sdk: build
	cd sdk/node && npm ci --silent --no-audit --no-fund && LLMGATEWAY_BIN=$(CURDIR)/bin/llmgateway node --test

## check-deploy: the Dockerfile against `make build` and the Kubernetes manifests against the API types (deploy/, its own Go module)
.PHONY: check-deploy
check-deploy:
	cd deploy && $(GO) vet ./... && $(GO) test -race -count=1 -timeout 20m ./...

vet:
	$(GO) vet ./...

## lint: buf lint, gofmt and go vet
lint: tools vet
	buf lint
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^gen/')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

## tools: the pinned code generators and grpcurl from tools/go.mod, into .tools/bin
tools: $(TOOLS_BIN)/.stamp
$(TOOLS_BIN)/.stamp: tools/go.mod tools/go.sum
	cd tools && GOBIN=$(TOOLS_BIN) $(GO) install tool
	touch $@

## generate: regenerate gen/ from proto/ with the pinned tools
generate: tools
	buf lint
	buf generate

## check-generate: fail when gen/ is not what proto/ generates, or lint fails
check-generate: lint
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	buf generate --output "$$tmp" && \
	if ! diff -r "$$tmp/gen" gen >/dev/null; then \
		echo "gen/ is stale: run 'make generate' and commit the result"; diff -r "$$tmp/gen" gen | head -40; exit 1; \
	fi; echo "gen/ is fresh"

## bench: the overhead benchmark against the Portkey peer, end to end (bench/run.sh: builds, installs the peer with npm, about 20 minutes; BENCH_QUICK=1 for a smoke run of about 2); one table, and bench/results/latest.json; see docs/BENCHMARKS.md
bench:
	GO=$(GO) bench/run.sh

## bench-micro: Go micro-benchmarks of the hot path with -benchmem (compare revisions with benchstat)
.PHONY: bench-micro
bench-micro:
	$(GO) test -run '^$$' -bench . -benchmem ./...

## drill: the fault drill (a minute at 300 req/s per run, gateway against baseline); see docs/DRILL.md
drill:
	$(GO) run ./bench/drill

clean:
	rm -rf bin .tools
