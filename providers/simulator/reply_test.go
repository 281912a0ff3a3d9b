package simulator

import (
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/llmgateway/llmgateway/llm"
)

func TestTruncateText(t *testing.T) {
	const text = "  Alpha beta\ngamma  delta."
	tests := []struct {
		name       string
		max        int
		stops      []string
		wantText   string
		wantTokens int
		wantFinish llm.FinishReason
	}{
		{name: "whole", wantText: text, wantTokens: 4, wantFinish: llm.FinishStop},
		{name: "max one", max: 1, wantText: "  Alpha ", wantTokens: 1, wantFinish: llm.FinishLength},
		{name: "max fits exactly", max: 4, wantText: text, wantTokens: 4, wantFinish: llm.FinishStop},
		{name: "stop mid-word", stops: []string{"mma"}, wantText: "  Alpha beta\nga", wantTokens: 3, wantFinish: llm.FinishStop},
		{name: "stop across tokens", stops: []string{"beta\ngamma"}, wantText: "  Alpha ", wantTokens: 1, wantFinish: llm.FinishStop},
		{name: "stop needs more tokens than max", max: 2, stops: []string{"beta\ngamma"}, wantText: "  Alpha beta\n", wantTokens: 2, wantFinish: llm.FinishLength},
		{name: "stop completing first wins", stops: []string{"beta\ngamma  delta", "gamma"}, wantText: "  Alpha beta\n", wantTokens: 2, wantFinish: llm.FinishStop},
		{name: "stop at start", stops: []string{"  Al"}, wantText: "", wantTokens: 0, wantFinish: llm.FinishStop},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gotText, gotTokens, gotFinish := truncateText(text, tt.max, tt.stops)
			if gotText != tt.wantText || gotTokens != tt.wantTokens || gotFinish != tt.wantFinish {
				t.Errorf("truncateText(%q, %d, %q) = %q, %d, %q; want %q, %d, %q", text, tt.max, tt.stops,
					gotText, gotTokens, gotFinish, tt.wantText, tt.wantTokens, tt.wantFinish)
			}
		})
	}
}

func TestArgTokensKeepRunes(t *testing.T) {
	const args = `{"city":"Zürich — 東京"}`
	n := 0
	for i := 0; i < len(args); {
		end := nextArgToken(args, i)
		if !utf8.ValidString(args[i:end]) {
			t.Errorf("token %q at %d splits a UTF-8 sequence", args[i:end], i)
		}
		i = end
		n++
	}
	got, tokens, finish := truncateArgs(args, 0)
	if got != args || tokens != n+1 || finish != llm.FinishToolCalls {
		t.Errorf("truncateArgs(%q, 0) = %q, %d, %q; want it whole, %d tokens, tool_calls", args, got, tokens, finish, n+1)
	}
	got, tokens, finish = truncateArgs(args, 3)
	if got != args[:nextArgToken(args, nextArgToken(args, 0))] || tokens != 3 || finish != llm.FinishLength {
		t.Errorf("truncateArgs(%q, 3) = %q, %d, %q; want two argument tokens, 3 tokens, length", args, got, tokens, finish)
	}
}

func TestToolArguments(t *testing.T) {
	tests := []struct {
		name string
		give string
		want string // the arguments' shape: each value checked by kind
	}{
		{name: "none", give: ``, want: `{}`},
		{name: "null", give: `null`, want: `{}`},
		{name: "no required", give: `{"type":"object","properties":{"a":{"type":"string"}}}`, want: `{}`},
		{name: "const", give: `{"properties":{"v":{"const": {"x": 1}}},"required":["v"]}`, want: `{"v":{"x":1}}`},
		{name: "single enum", give: `{"properties":{"v":{"enum":[ "only" ]}},"required":["v"]}`, want: `{"v":"only"}`},
		{name: "null type", give: `{"properties":{"v":{"type":"null"}},"required":["v"]}`, want: `{"v":null}`},
		{name: "array without items", give: `{"properties":{"v":{"type":"array"}},"required":["v"]}`, want: `{"v":[]}`},
		{name: "boolean schema", give: `{"properties":{"v":true},"required":["v"]}`},
		{name: "undeclared property", give: `{"required":["v"]}`},
		{name: "ref not followed", give: `{"properties":{"a":{"$ref":"#"}},"required":["a"]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := toolArguments(json.RawMessage(tt.give), 12345)
			if err != nil {
				t.Fatalf("toolArguments(%s) = %v", tt.give, err)
			}
			if !json.Valid([]byte(got)) {
				t.Fatalf("toolArguments(%s) = %s, not valid JSON", tt.give, got)
			}
			if tt.want != "" && got != tt.want {
				t.Errorf("toolArguments(%s) = %s, want %s", tt.give, got, tt.want)
			}
		})
	}
}

func TestToolArgumentsRecursionIsBounded(t *testing.T) {
	// A schema whose required object nests itself, inline, deeper than the bound.
	inner := `{"type":"object","properties":{},"required":[]}`
	for range 20 {
		inner = `{"type":"object","properties":{"n":` + inner + `},"required":["n"]}`
	}
	got, err := toolArguments(json.RawMessage(inner), 1)
	if err != nil || !json.Valid([]byte(got)) {
		t.Fatalf("toolArguments(20 levels) = %s, %v; want valid JSON", got, err)
	}
	depth, maxDepth := 0, 0
	for _, c := range got {
		switch c {
		case '{':
			depth++
			maxDepth = max(maxDepth, depth)
		case '}':
			depth--
		}
	}
	if maxDepth > maxSchemaDepth+1 {
		t.Errorf("toolArguments(20 levels) nests %d objects, want at most %d", maxDepth, maxSchemaDepth+1)
	}
}
