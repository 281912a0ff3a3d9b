package openai

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// decodeChunks are stream chunks the hand-written chunk reader must read
// as encoding/json does, each marked with whether it reads them itself
// (fast) or leaves them to encoding/json.
var decodeChunks = []struct {
	name string
	give string
	fast bool
}{
	{"content", `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","system_fingerprint":"fp","choices":[{"index":0,"delta":{"content":"Hel"},"logprobs":null,"finish_reason":null}]}`, true},
	{"role first", `{"id":"c","model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"finish_reason":null}]}`, true},
	{"finish", `{"id":"c","model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`, true},
	{"usage only", `{"id":"c","model":"m","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15,"prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":1}}}`, true},
	{"tool call start", `{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_order","arguments":""}}]}}]}`, true},
	{"tool call args", `{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"id\":"}}]}}]}`, true},
	{"tool call no index", `{"choices":[{"delta":{"tool_calls":[{"id":"a","function":{"name":"f"}},{"index":null,"id":"b"}]}}]}`, true},
	{"legacy function call", `{"choices":[{"delta":{"function_call":{"name":"f","arguments":"{}"}}}]}`, true},
	{"refusal", `{"choices":[{"index":0,"delta":{"refusal":"I can\u0027t"}}]}`, true},
	{"nulls", `{"model":null,"choices":null,"usage":null,"error":null}`, true},
	{"delta null", `{"choices":[{"index":0,"delta":null,"finish_reason":null}]}`, true},
	{"several choices", `{"choices":[{"index":1,"delta":{"content":"b"}},{"index":0,"delta":{"content":"a"}}]}`, true},
	{"escapes", `{"choices":[{"delta":{"content":"a\"b\\c\n\u00e9\ud83d\ude42 \ud83d"}}]}`, true},
	{"empty tool calls", `{"choices":[{"delta":{"tool_calls":[]}}]}`, true},
	{"empty object", `{}`, true},

	// Left to encoding/json.
	{"content parts", `{"choices":[{"delta":{"content":[{"type":"text","text":"Hi"}]}}]}`, false},
	{"error object", `{"error":{"message":"overloaded","type":"server_error"}}`, false},
	{"key case", `{"Choices":[{"Delta":{"Content":"x"}}]}`, false},
	{"repeated member", `{"model":"a","model":"b"}`, false},
	{"choice null", `{"choices":[null]}`, false},
	{"tool call null", `{"choices":[{"delta":{"tool_calls":[null]}}]}`, false},
	{"deep unknown", `{"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, false},

	// Errors, from encoding/json.
	{"not JSON", `data`, false},
	{"truncated", `{"choices":[{"delta":`, false},
	{"trailing data", `{"choices":[]} x`, false},
	{"two documents", `{}{}`, false},
	{"content a number", `{"choices":[{"delta":{"content":1}}]}`, false},
	{"index a string", `{"choices":[{"index":"0"}]}`, false},
	{"tool index fractional", `{"choices":[{"delta":{"tool_calls":[{"index":0.5}]}}]}`, false},
}

func TestDecodeChunkByHand(t *testing.T) {
	for _, tt := range decodeChunks {
		t.Run(tt.name, func(t *testing.T) {
			var r jsonReader
			r.Reset([]byte(tt.give))
			var fast chatChunk
			if got := r.chatChunk(&fast) && r.End(); got != tt.fast {
				t.Errorf("read by hand = %v, want %v", got, tt.fast)
			}
			checkChunk(t, []byte(tt.give))
		})
	}
}

// checkChunk holds the stream's decoding of b, through the reader or
// its fallback, to that of a fresh encoding/json decode, for a stream
// whose previous chunk left choices behind to reuse.
func checkChunk(t *testing.T, b []byte) {
	t.Helper()
	var want chatChunk
	wantErr := decodeChunkStd(b, &want)

	s := &stream{provider: "p"}
	s.wire.Choices = append(make([]chunkChoice[string], 0, 4), chunkChoice[string]{Index: 3, Delta: chunkDelta[string]{Content: "stale"}})
	err := s.decodeWire(b)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("decodeWire(%q) error = %v, want %v", b, err, wantErr)
	}
	if err != nil {
		if err.Error() != wantErr.Error() {
			t.Errorf("decodeWire(%q) error = %q, want %q", b, err, wantErr)
		}
		return
	}
	// The stream reuses its choices, so it has [] where a fresh decode
	// has nil.
	if diff := cmp.Diff(want, s.wire, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("decodeWire(%q) mismatch (-encoding/json +stream):\n%s", b, diff)
	}
}

// decodeChunkStd decodes a chunk as the stream did before it read chunks
// by hand: encoding/json, then content parts on a type error.
func decodeChunkStd(b []byte, w *chatChunk) error {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	err := dec.Decode(w)
	if err == nil && dec.More() {
		return errors.New("data holds more than one JSON value")
	}
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		var parts chunkOf[textContent]
		if err = json.Unmarshal(b, &parts); err == nil {
			*w = toStringContent(&parts)
		}
	}
	return err
}

func FuzzDecodeChunk(f *testing.F) {
	for _, tt := range decodeChunks {
		f.Add(tt.give)
	}
	f.Fuzz(func(t *testing.T, in string) {
		checkChunk(t, []byte(in))
	})
}
