package openai

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// decodeBodies are response bodies the hand-written decoder must read as
// encoding/json does, each marked with whether it reads them itself
// (fast) or leaves them to encoding/json.
var decodeBodies = []struct {
	name string
	give string
	fast bool
}{
	{"text", unaryTextBody, true},
	{"tool call", unaryToolBody, true},
	{"bench text", benchTextResponse, true},
	{"bench tools", benchToolResponse, true},
	{"unknown members of every kind", `{"id":"a","x":{"y":[1,-2.5e3,true,false,null,"s",{}]},"choices":[{"index":0,"z":[],"message":{"role":"assistant","content":"hi","audio":null,"annotations":[{"type":"url_citation"}]},"finish_reason":"stop","logprobs":{"content":[]}}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3,"prompt_tokens_details":{"audio_tokens":0,"cached_tokens":5}}}`, true},
	{"nulls", `{"id":null,"model":null,"choices":[{"index":null,"message":{"content":null,"refusal":null,"tool_calls":null,"function_call":null},"finish_reason":null}],"usage":null,"error":null}`, true},
	{"null details", `{"choices":[],"usage":{"prompt_tokens":null,"prompt_tokens_details":null,"completion_tokens_details":null,"prompt_cache_hit_tokens":null}}`, true},
	{"message null", `{"choices":[{"index":0,"message":null}]}`, true},
	{"escapes and unicode", `{"id":"a\"b\\c\/d\u00e9\ud83d\ude42","model":"m\u0000","choices":[{"index":0,"message":{"content":"line\nnext\ttab \u2028 é漢字🙂 \ud83d alone","refusal":"no \"way\""},"finish_reason":"stop"}]}`, true},
	{"invalid UTF-8", "{\"id\":\"a\xffb\",\"choices\":[{\"message\":{\"content\":\"x\xc3(\xed\xa0\x80y\"}}]}", true},
	{"whitespace everywhere", " \n{ \"id\" : \"a\" ,\r\n\t\"choices\" : [ { \"index\" : 0 , \"message\" : { \"content\" : \"x\" } } ] } \n", true},
	{"numbers", `{"choices":[{"index":-0,"message":{}}],"usage":{"prompt_tokens":9223372036854775807,"completion_tokens":0,"prompt_cache_hit_tokens":-3,"completion_tokens_details":{"reasoning_tokens":12}}}`, true},
	{"DeepSeek usage", `{"choices":[],"usage":{"prompt_tokens":100,"completion_tokens":5,"total_tokens":105,"prompt_cache_hit_tokens":64,"prompt_cache_miss_tokens":36}}`, true},
	{"nested tool calls", `{"choices":[{"index":0,"message":{"content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":{\"b\":[1,2]}}"}},{"id":"c2","type":"custom","function":{"name":"g","arguments":"","extra":1}},{}]},"finish_reason":"tool_calls"}]}`, true},
	{"empty tool calls", `{"choices":[{"message":{"tool_calls":[]}}]}`, true},
	{"legacy function call", `{"choices":[{"index":0,"message":{"content":null,"function_call":{"name":"f","arguments":"{}"}},"finish_reason":"function_call"}]}`, true},
	{"several choices", `{"choices":[{"index":1,"message":{"content":"b"}},{"index":0,"message":{"content":"a"}}]}`, true},
	{"content parts", `{"choices":[{"message":{"content":[{"type":"thinking","thinking":[]},{"text":"Hi","type":"text"},{"type":"output_text","text":" there"},{"type":"image","text":"no"},{"type":null,"text":"no"},{"type":"text","text":null},{}]}}]}`, true},
	{"empty parts", `{"choices":[{"message":{"content":[]}}]}`, true},
	{"unusual finish reason", `{"choices":[{"finish_reason":"eos_token"}]}`, true},
	{"empty object", `{}`, true},

	// Left to encoding/json.
	{"null body", `null`, false},
	{"key case", `{"ID":"a","Choices":[{"Message":{"Content":"x"}}]}`, false},
	{"key folds by Unicode", "{\"choice\u017f\":[{\"message\":{\"content\":\"x\"}}]}", false},
	{"escaped key", `{"\u0069d":"a","choices":[]}`, false},
	{"repeated member", `{"id":"a","id":"b","choices":[]}`, false},
	{"repeated usage merges", `{"usage":{"prompt_tokens":1},"usage":{"completion_tokens":2}}`, false},
	{"error object", `{"error":{"message":"upstream provider failed","code":502}}`, false},
	{"choice null", `{"choices":[null]}`, false},
	{"tool call null", `{"choices":[{"message":{"tool_calls":[null]}}]}`, false},
	{"part null", `{"choices":[{"message":{"content":[null]}}]}`, false},
	{"deep unknown", `{"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `,"choices":[]}`, false},

	// Errors, from encoding/json.
	{"not JSON", `<html>gateway</html>`, false},
	{"truncated", `{"id":"a","choices":[`, false},
	{"trailing data", `{"choices":[]} x`, false},
	{"two documents", `{"choices":[]}{}`, false},
	{"content a number", `{"choices":[{"index":0,"message":{"content":42}}]}`, false},
	{"content an object", `{"choices":[{"message":{"content":{}}}]}`, false},
	{"index fractional", `{"choices":[{"index":1.5}]}`, false},
	{"index a string", `{"choices":[{"index":"0"}]}`, false},
	{"tokens too large", `{"usage":{"prompt_tokens":9223372036854775808}}`, false},
	{"tokens exponent", `{"usage":{"prompt_tokens":1e3}}`, false},
	{"id a number", `{"id":1}`, false},
	{"choices an object", `{"choices":{}}`, false},
	{"trailing comma", `{"choices":[],}`, false},
	{"bad escape", `{"id":"\q"}`, false},
	{"bad escape in unknown", `{"x":"\q","choices":[]}`, false},
	{"control character", "{\"id\":\"a\tb\"}", false},
	{"leading zero", `{"x":01,"choices":[]}`, false},
	{"byte order mark", "\xef\xbb\xbf{}", false},
}

func TestDecodeChatResponse(t *testing.T) {
	for _, tt := range decodeBodies {
		t.Run(tt.name, func(t *testing.T) {
			var r jsonReader
			r.Reset([]byte(tt.give))
			var fast chatResponse
			if got := r.chatResponse(&fast) && r.End(); got != tt.fast {
				t.Errorf("decoded by hand = %v, want %v", got, tt.fast)
			}
			checkDecode(t, []byte(tt.give))
		})
	}
}

// checkDecode checks that DecodeJSON gives what json.Unmarshal gives, and
// that the hand-written decoder never accepts what encoding/json does not
// read the same way.
func checkDecode(t *testing.T, b []byte) {
	t.Helper()
	var want chatResponse
	wantErr := json.Unmarshal(b, &want)

	var got chatResponse
	err := got.DecodeJSON(b)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("DecodeJSON(%q) error = %v, want %v", b, err, wantErr)
	}
	if err != nil {
		if err.Error() != wantErr.Error() {
			t.Errorf("DecodeJSON(%q) error = %q, want %q", b, err, wantErr)
		}
		return
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("DecodeJSON(%q) mismatch (-json.Unmarshal +DecodeJSON):\n%s", b, diff)
	}

	var r jsonReader
	r.Reset(b)
	var fast chatResponse
	if r.chatResponse(&fast) && r.End() {
		if diff := cmp.Diff(want, fast); diff != "" {
			t.Errorf("hand-decoded %q mismatch (-json.Unmarshal +hand):\n%s", b, diff)
		}
	}
}

func FuzzDecodeChatResponse(f *testing.F) {
	for _, tt := range decodeBodies {
		f.Add(tt.give)
	}
	f.Fuzz(func(t *testing.T, in string) {
		checkDecode(t, []byte(in))
	})
}
