#!/usr/bin/env bash
# The overhead benchmark of `make bench`, end to end on a fresh machine:
# builds the gateway, the upstream simulator (llmsim), the debug gateway and
# the harness; installs the peer (Portkey AI Gateway, pinned in bench/peer)
# into a temporary folder with npm ci; raises the open-file limit for the
# 10,000-stream scale test; runs the harness, which prints one table and
# writes bench/results/latest.json. Extra arguments go to the harness
# (bin/overhead -h lists them).
#
#   BENCH_QUICK=1   short points at low rates: a smoke run of a few minutes
#   BENCH_PEER=0    run without the peer (no Node.js or npm needed)
#
# Every server listens on 127.0.0.1 only, and every load is bounded in
# time: about 20 minutes for the full plan (see docs/BENCHMARKS.md).
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}

# The scale test holds 10,000 streams open through one gateway, with the
# upstream over plain HTTP/1.1 (a descriptor per stream out of the gateway)
# and over HTTPS/HTTP/2 (a few). On gRPC the streams share a few
# connections in; on the OpenAI-compatible surface each holds one: about
# 20,500 descriptors in the gateway with HTTP/1.1 out. The harness skips a
# case the open-file limit cannot carry, saying so; root may raise the
# limit here.
ulimit -Hn 1048576 2>/dev/null || true
ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 21000 ]; then
	echo "bench: note: the open-file limit is $(ulimit -n): the 10,000-stream scale test skips the OpenAI surface with a plain HTTP/1.1 upstream (it needs about 21,000)" >&2
fi

echo "bench: building bin/llmgateway, bin/llmsim, bin/llmgateway-debug, bin/floorproxy, bin/overhead" >&2
CGO_ENABLED=0 $GO build -trimpath -o bin/llmgateway ./cmd/llmgateway
CGO_ENABLED=0 $GO build -trimpath -o bin/llmsim ./cmd/llmsim
CGO_ENABLED=0 $GO build -trimpath -o bin/llmgateway-debug ./bench/cmd/llmgateway-debug
CGO_ENABLED=0 $GO build -trimpath -o bin/floorproxy ./bench/cmd/floorproxy
$GO build -o bin/overhead ./bench/cmd/overhead

args=()
if [ "${BENCH_QUICK:-0}" = 1 ]; then
	args+=(--quick)
fi
if [ "${BENCH_PEER:-1}" != 0 ]; then
	if command -v node >/dev/null && command -v npm >/dev/null; then
		peer_dir=$(mktemp -d -t llmgateway-bench-peer-XXXXXX)
		trap 'rm -rf "$peer_dir"' EXIT
		cp bench/peer/package.json bench/peer/package-lock.json bench/peer/loopback.mjs "$peer_dir"/
		echo "bench: installing the peer ($(node -p 'require("./bench/peer/package.json").dependencies["@portkey-ai/gateway"]' 2>/dev/null | sed 's/^/@portkey-ai\/gateway@/')) into $peer_dir" >&2
		(cd "$peer_dir" && npm ci --no-audit --no-fund --loglevel=error)
		args+=(--peer-dir "$peer_dir")
	else
		echo "bench: node or npm not found: running without the peer" >&2
	fi
fi
bin/overhead "${args[@]}" "$@"
