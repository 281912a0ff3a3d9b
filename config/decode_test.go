package config

import (
	"testing"
)

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		give string
		want []wantProblem
	}{
		{
			name: "unknown top-level key",
			give: okProviders + okModels + "colour: {}\n",
			want: []wantProblem{{path: "colour", msg: `unknown key "colour" (valid keys here: server, providers, models, routing, keys, ledger, state, telemetry)`, line: 3}},
		},
		{
			name: "unknown server key",
			give: "server:\n  grpc_adress: ':9090'\n" + okProviders + okModels,
			want: []wantProblem{{path: "server.grpc_adress", msg: `unknown key "grpc_adress"; did you mean "grpc_addr"? (valid keys here: grpc_addr, http_addr, drain_timeout, max_request_bytes, max_in_flight, max_concurrent_streams, keepalive, http, tls)`, line: 2}},
		},
		{
			name: "camel case key",
			give: "providers: [{name: sim-a, type: simulator, baseURL: x}]\n" + okModels,
			want: []wantProblem{{path: "providers[0].baseURL", msg: `did you mean "base_url"?`, line: 1}},
		},
		{
			name: "unknown keys deep and many",
			give: `
providers:
  - name: sim-a
    type: simulator
    simulator: {latency: {p50: 1ms, p95: 2ms}, colour: blue}
models:
  - name: m
    deployments: [{provider: sim-a, wieght: 2}]
    pricing: {input: 1}
`,
			want: []wantProblem{
				{path: "providers[0].simulator.latency.p95", msg: `unknown key "p95"; did you mean "p99"? (valid keys here: p50, p99)`, line: 5},
				{path: "providers[0].simulator.colour", msg: `unknown key "colour" (valid keys here: tokens_per_second, latency,`, line: 5},
				{path: "models[0].deployments[0].wieght", msg: `did you mean "weight"?`, line: 8},
				{path: "models[0].pricing.input", msg: `unknown key "input"`, line: 9},
			},
		},
		{
			name: "bad durations",
			give: `
server: {drain_timeout: 30}
providers: [{name: sim-a, type: simulator, timeout: 30 seconds}]
models: [{name: m, deployments: [{provider: sim-a, timeout: 1.5}]}]
`,
			want: []wantProblem{
				{path: "server.drain_timeout", msg: `got the bare number 30, want a duration with a unit, such as "30s"`, line: 2},
				{path: "providers[0].timeout", msg: `invalid duration "30 seconds": want a number with a unit, such as "30s"`, line: 3},
				{path: "models[0].deployments[0].timeout", msg: "got the bare number 1.5", line: 4},
			},
		},
		{
			name: "wrong scalar types",
			give: `
server: {max_request_bytes: lots}
providers: [{name: sim-a, type: simulator, simulator: {error_rate: high, seed: 1.5}}]
models: [{name: m, deployments: [{provider: sim-a, weight: [1]}]}]
`,
			want: []wantProblem{
				{path: "server.max_request_bytes", msg: `got the text "lots", want a whole number`, line: 2},
				{path: "providers[0].simulator.error_rate", msg: `got the text "high", want a number`, line: 3},
				{path: "providers[0].simulator.seed", msg: "got the number 1.5, want a whole number", line: 3},
				{path: "models[0].deployments[0].weight", msg: "got a list, want a whole number", line: 4},
			},
		},
		{
			name: "whole numbers written as floats",
			give: "server: {max_request_bytes: 4.0e6}\n" + okProviders +
				"models: [{name: m, deployments: [{provider: sim-a, weight: 2.0, priority: 1e40}]}]\n",
			want: []wantProblem{{path: "models[0].deployments[0].priority", msg: "the number 1e40 is out of range", line: 3}},
		},
		{
			name: "wrong shapes",
			give: `
server: [1]
providers: {name: sim-a}
models:
  - name: m
    aliases: gpt
    deployments: [{provider: sim-a}]
`,
			want: []wantProblem{
				{path: "server", msg: "got a list, want a mapping with the keys grpc_addr, http_addr, drain_timeout, max_request_bytes", line: 2},
				{path: "providers", msg: "got a mapping, want a list", line: 3},
				{path: "models[0].aliases", msg: `got the text "gpt", want a list`, line: 6},
			},
		},
		{
			name: "long value",
			give: "providers: [{name: sim-a, type: simulator, timeout: a-rather-long-bad-value}]\n" + okModels,
			want: []wantProblem{{path: "providers[0].timeout", msg: `invalid duration "a-rather-long-bad-value"`, line: 1}},
		},
		{
			name: "not a mapping",
			give: "- a\n- b\n",
			want: []wantProblem{{path: "", msg: "got a list, want a mapping with the keys server, providers, models", line: 1}},
		},
		{
			name: "inside merged mappings",
			give: okProviders + `
models:
  - name: m
    <<: {deployments: [{provider: sim-a, wieght: 1}]}
  - name: n
    <<: [{aliases: [x]}, {pricing: {input_per_mtok: cheap}}]
    deployments: [{provider: sim-a}]
`,
			want: []wantProblem{
				{path: "models[0].deployments[0].wieght", msg: `did you mean "weight"?`, line: 5},
				{path: "models[1].pricing.input_per_mtok", msg: `got the text "cheap", want a number`, line: 7},
			},
		},
		{
			name: "a scalar",
			give: "hello\n",
			want: []wantProblem{{path: "", msg: `got the text "hello", want a mapping with the keys server, providers, models`, line: 1}},
		},
		{
			name: "key given twice",
			give: "server:\n  grpc_addr: ':1'\n  grpc_addr: ':2'\n" + okProviders + okModels,
			want: []wantProblem{{path: "server.grpc_addr", msg: `key "grpc_addr" is given twice (first at line 2)`, line: 3}},
		},
		{
			name: "map key given twice",
			give: "providers: [{name: sim-a, type: openai, headers: {A: x, A: y}}]\n" + okModels,
			want: []wantProblem{{path: `providers[0].headers["A"]`, msg: `key "A" is given twice (first at line 1)`, line: 1}},
		},
		{
			name: "two documents",
			give: okProviders + okModels + "---\nserver: {}\n",
			want: []wantProblem{{msg: "a second YAML document starts here, but the config must be a single document", line: 3}},
		},
		{
			name: "empty",
			give: "",
			want: []wantProblem{{msg: "the config is empty"}},
		},
		{
			name: "only comments",
			give: "# nothing here\n\n",
			want: []wantProblem{{msg: "the config is empty"}},
		},
		{
			name: "syntax error",
			give: "server:\n  grpc_addr: ':1'\n http_addr: x\n",
			want: []wantProblem{{msg: "invalid YAML: did not find expected key", line: 2}},
		},
		{
			name: "syntax error without a line",
			give: "providers: *nope\n",
			want: []wantProblem{{msg: "invalid YAML: unknown anchor 'nope' referenced"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkProblems(t, problems(t, tt.give), tt.want)
		})
	}
}

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"abc", "", 3},
		{"", "abc", 3},
		{"kitten", "sitting", 3},
		{"weight", "wieght", 2},
		{"same", "same", 0},
	}
	for _, tt := range tests {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestLocate(t *testing.T) {
	const give = `
providers:
  - name: a
    headers:
      X-Y: z
models:
  - &base
    name: m
    deployments:
      - provider: a
  - <<: *base
    name: n
`
	root, err := parseNode([]byte(give))
	if err != nil {
		t.Fatalf("parseNode() error: %v", err)
	}
	tests := []struct {
		give      path
		wantLine  int
		wantFound bool
	}{
		{give: path{}, wantLine: 2, wantFound: true},
		{give: path{"providers"}, wantLine: 2, wantFound: true},
		{give: path{"providers", 0}, wantLine: 3, wantFound: true},
		{give: path{"providers", 0, "headers", mapKey("X-Y")}, wantLine: 5, wantFound: true},
		{give: path{"providers", 0, "timeout"}, wantLine: 3, wantFound: false},
		{give: path{"providers", 3, "name"}, wantLine: 2, wantFound: false},
		{give: path{"models", 1, "name"}, wantLine: 12, wantFound: true},
		// Through the merge key, to the anchored mapping's entry.
		{give: path{"models", 1, "deployments", 0, "provider"}, wantLine: 10, wantFound: true},
		{give: path{"server"}, wantLine: 2, wantFound: false},
	}
	for _, tt := range tests {
		_, line, found := locate(root, tt.give)
		if line != tt.wantLine || found != tt.wantFound {
			t.Errorf("locate(%v) = line %d, %v, want line %d, %v", tt.give, line, found, tt.wantLine, tt.wantFound)
		}
	}
	if _, line, found := locate(nil, path{"server"}); line != 0 || found {
		t.Errorf("locate(nil) = line %d, %v, want 0, false", line, found)
	}
}

func TestPathString(t *testing.T) {
	tests := []struct {
		give path
		want string
	}{
		{give: nil, want: ""},
		{give: path{"server", "grpc_addr"}, want: "server.grpc_addr"},
		{give: path{"models", 3, "aliases", 0}, want: "models[3].aliases[0]"},
		{give: path{"providers", 0, "models", mapKey("gpt-4.1")}, want: `providers[0].models["gpt-4.1"]`},
		{give: path{}.field("a").index(1).key("k").field("b"), want: `a[1]["k"].b`},
	}
	for _, tt := range tests {
		if got := tt.give.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.give, got, tt.want)
		}
	}
	// Appending to a shared prefix must not clobber a sibling path.
	base := make(path, 0, 8).field("models")
	a, b := base.index(0), base.index(1)
	if a.String() != "models[0]" || b.String() != "models[1]" {
		t.Errorf("sibling paths = %q, %q, want models[0], models[1]", a, b)
	}
}
