package openai

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"testing"

	"github.com/llmgateway/llmgateway/llm"
)

// checkAppendJSON holds r.AppendJSON to encoding/json: an error where it
// errs, otherwise JSON that decodes to the same value, and the same bytes
// where no string holds a character the two escape differently.
func checkAppendJSON(t *testing.T, r *chatRequest) {
	t.Helper()
	var want bytes.Buffer
	enc := json.NewEncoder(&want)
	enc.SetEscapeHTML(false)
	wantErr := enc.Encode(r)
	got, err := r.AppendJSON(nil)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("AppendJSON error = %v, encoding/json's = %v", err, wantErr)
	}
	if err != nil {
		return
	}
	var gv, wv any
	if err := json.Unmarshal(got, &gv); err != nil {
		t.Fatalf("AppendJSON wrote invalid JSON %s: %v", got, err)
	}
	if err := json.Unmarshal(want.Bytes(), &wv); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gv, wv) {
		t.Fatalf("AppendJSON = %s\nencoding/json = %s", got, want.Bytes())
	}
	// Byte for byte too, unless escapes may differ: \b and \f, which
	// jsonw writes as \u0008 and \u000c.
	if w := want.Bytes(); !bytes.Contains(w, []byte(`\b`)) && !bytes.Contains(w, []byte(`\f`)) {
		if w := bytes.TrimSuffix(want.Bytes(), []byte("\n")); !bytes.Equal(got, w) {
			t.Errorf("AppendJSON = %s\nencoding/json = %s", got, w)
		}
	}
}

func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	tests := map[string]*chatRequest{
		"empty":   {},
		"minimal": {Model: "gpt-4o", Messages: []chatMessage{{Role: "user", Content: ptr("hi")}}},
		"every field": {
			Model: "gpt-4o-mini",
			Messages: []chatMessage{
				{Role: "system", Content: ptr("You are <helpful> & \"kind\"\n\ttabs \u2028 line sep é漢字🙂")},
				{Role: "user", Content: ptr(""), Name: "ann"},
				{Role: "assistant", ToolCalls: []wireToolCall{{ID: "call_1", Type: "function", Function: wireFunction{Name: "get", Arguments: `{"a":1}`}}}},
				{Role: "tool", Content: ptr(`{"ok":true}`), ToolCallID: "call_1"},
			},
			MaxTokens:   256,
			Temperature: ptr(0.7),
			TopP:        ptr(1.0),
			Stop:        []string{"\n\n", "END"},
			Tools: []chatTool{
				{Type: "function", Function: toolFunction{Name: "get", Description: "Gets.", Parameters: json.RawMessage(" {\n \"type\" : \"object\", \"properties\": {\"a\": {\"type\":\"integer\"}} } "), Strict: ptr(true)}},
				{Type: "function", Function: toolFunction{Name: "bare"}},
			},
			ToolChoice:    &toolChoice{mode: llm.ToolChoiceFunction, name: "get"},
			User:          "u-1",
			Stream:        true,
			StreamOptions: &streamOptions{IncludeUsage: true},
		},
		"tool choice mode":    {Messages: []chatMessage{}, ToolChoice: &toolChoice{mode: llm.ToolChoiceRequired}},
		"empty stop":          {Stop: []string{}},
		"include usage false": {StreamOptions: &streamOptions{}},
		"invalid UTF-8":       {Model: "m\xff", Messages: []chatMessage{{Role: "user", Content: ptr("a\xc3(b")}}},
		"control characters":  {Messages: []chatMessage{{Role: "user", Content: ptr("\x00\x01\b\f\x1f\x7f")}}},
		"invalid parameters":  {Tools: []chatTool{{Type: "function", Function: toolFunction{Name: "f", Parameters: json.RawMessage(`{"a":`)}}}},
		"NaN temperature":     {Temperature: ptr(math.NaN())},
		"infinite top_p":      {TopP: ptr(math.Inf(1))},
	}
	for _, f := range []float64{0, -0.0, 1, 0.1, 2.5, 1e-6, 9.99e-7, 1e-7, 1.5e-10, 1e20, 1e21, 1.5e300, -3e-8, 123456789.125} {
		tests["float "+json.Number(string(mustMarshal(t, f))).String()] = &chatRequest{Temperature: ptr(f), TopP: ptr(-f)}
	}
	for name, r := range tests {
		t.Run(name, func(t *testing.T) { checkAppendJSON(t, r) })
	}
}

// TestToolChoiceJSON pins tool_choice's wire form, which encoding/json
// takes from the same appendJSON and so cannot check.
func TestToolChoiceJSON(t *testing.T) {
	for _, tt := range []struct {
		tc   toolChoice
		want string
	}{
		{toolChoice{mode: llm.ToolChoiceAuto}, `"auto"`},
		{toolChoice{mode: llm.ToolChoiceNone}, `"none"`},
		{toolChoice{mode: llm.ToolChoiceRequired}, `"required"`},
		{toolChoice{mode: llm.ToolChoiceFunction, name: "get_order"}, `{"type":"function","function":{"name":"get_order"}}`},
		{toolChoice{mode: llm.ToolChoiceFunction, name: "a\"b<&>é"}, `{"type":"function","function":{"name":"a\"b<&>é"}}`},
	} {
		if got := string(tt.tc.appendJSON(nil)); got != tt.want {
			t.Errorf("appendJSON(%+v) = %s, want %s", tt.tc, got, tt.want)
		}
		if got, err := json.Marshal(tt.tc); err != nil || !json.Valid(got) {
			t.Errorf("json.Marshal(%+v) = %s, %v, want valid JSON", tt.tc, got, err)
		}
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func FuzzAppendJSON(f *testing.F) {
	f.Add("gpt-4o", "hello", "get", `{"type":"object"}`, 0.7, 256)
	f.Add("m\xff", "\b\f\u2028<>&", "", ` [ 1 , 2 ] `, 1e-7, 0)
	f.Fuzz(func(t *testing.T, model, content, tool, params string, temp float64, maxTokens int) {
		r := &chatRequest{
			Model:       model,
			Messages:    []chatMessage{{Role: "user", Content: &content, Name: tool}},
			MaxTokens:   maxTokens,
			Temperature: &temp,
			Stop:        []string{content},
		}
		if tool != "" {
			r.Tools = []chatTool{{Type: "function", Function: toolFunction{Name: tool, Parameters: json.RawMessage(params)}}}
			r.ToolChoice = &toolChoice{mode: llm.ToolChoiceFunction, name: tool}
		}
		checkAppendJSON(t, r)
	})
}
