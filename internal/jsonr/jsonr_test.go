package jsonr

import (
	"encoding/json"
	"strings"
	"testing"
)

// The tests below hold the Reader to its contract: whatever it
// accepts, encoding/json accepts too and reads the same way.

var readerStringSeeds = []string{
	`""`, `"plain"`, `"q\"uote\\back\/slash"`, `"\b\f\n\r\t"`, `"\u0041\u00e9\u6f22"`,
	`"\ud83d\ude42"`, `"\ud83d"`, `"\ud83dx"`, `"\ude42\ud83d"`, `"\ud83d\u0041"`, `"\ud83d\ud83d\ude42"`,
	`"é漢字🙂"`, "\"bad\xffutf8\xc3\"", "\"\xed\xa0\x80\"", `"\x"`, `"\u12"`, `"\u12G4"`, "\"ctl\x01\"",
	`"unterminated`, `"trailing\`, `"a" `, ` "a"`, `"a""b"`, `'a'`, `null`, `1`,
}

func FuzzReaderString(f *testing.F) {
	for _, s := range readerStringSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		r := Reader{data: []byte(in)}
		got := r.Str()
		ok := r.End()
		var want string
		err := json.Unmarshal([]byte(in), &want)
		isString := strings.HasPrefix(strings.TrimLeft(in, " \t\r\n"), `"`)
		switch {
		case ok && err != nil:
			t.Fatalf("reader accepts %q, which encoding/json rejects: %v", in, err)
		case ok && got != want:
			t.Fatalf("reader reads %q as %q, encoding/json as %q", in, got, want)
		case !ok && err == nil && isString:
			t.Fatalf("reader rejects %q, a string encoding/json reads as %q", in, want)
		}
	})
}

var readerNumberSeeds = []string{
	`0`, `-0`, `7`, `-12`, `1.5`, `-0.25`, `1e3`, `1E-3`, `2.5e+10`, `9223372036854775807`, `9223372036854775808`,
	`-9223372036854775808`, `-9223372036854775809`, `01`, `-`, `1.`, `.5`, `1e`, `1e+`, `+1`, `0x10`, `1e400`,
	`-1e400`, `4.9e-325`, ` 3 `, `3 4`, `NaN`, `Infinity`,
}

func FuzzReaderNumber(f *testing.F) {
	for _, s := range readerNumberSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if strings.TrimSpace(in) == "null" {
			return // callers read null apart
		}
		r := Reader{data: []byte(in)}
		gotInt := r.Int64()
		okInt := r.End()
		var wantInt int64
		errInt := json.Unmarshal([]byte(in), &wantInt)
		if okInt != (errInt == nil) || okInt && gotInt != wantInt {
			t.Errorf("int64 of %q = %d, accepted %v; encoding/json gives %d, error %v", in, gotInt, okInt, wantInt, errInt)
		}

		r = Reader{data: []byte(in)}
		gotFloat := r.Float64()
		okFloat := r.End()
		var wantFloat float64
		errFloat := json.Unmarshal([]byte(in), &wantFloat)
		if okFloat != (errFloat == nil) || okFloat && gotFloat != wantFloat {
			t.Errorf("float64 of %q = %v, accepted %v; encoding/json gives %v, error %v", in, gotFloat, okFloat, wantFloat, errFloat)
		}
	})
}

var readerValueSeeds = []string{
	`{}`, `[]`, `{"a":[1,2,{"b":null}],"c":true,"d":false,"e":"x\n"}`, `[1,]`, `[,1]`, `{"a":1,}`, `{,}`,
	`{"a" 1}`, `{"a":}`, `{1:2}`, `[1 2]`, `{"a":1}}`, `[[[]]]`, `tru`, `nul`, `falsey`, `nullx`, "\t[ 1 , 2 ]\r\n",
	`{"\u0061":1}`, `[` + strings.Repeat(`[`, MaxDepth) + strings.Repeat(`]`, MaxDepth+1),
	"[\"a\x00\"]", "\xef\xbb\xbf{}", ``, ` `,
}

func FuzzReaderSkip(f *testing.F) {
	for _, s := range readerValueSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		r := Reader{data: []byte(in)}
		r.Skip()
		ok := r.End()
		valid := json.Valid([]byte(in))
		if ok && !valid {
			t.Fatalf("reader accepts %q, which is not valid JSON", in)
		}
		if !ok && valid && strings.Count(in, "[")+strings.Count(in, "{") < MaxDepth {
			t.Fatalf("reader rejects %q, which is valid JSON", in)
		}
	})
}

func TestReaderObjectAndArray(t *testing.T) {
	r := Reader{data: []byte(` { "a" : [ 1 , 2 ] , "b" : { } , "c" : null } `)}
	var keys []string
	var sum int64
	if !r.Open('{') {
		t.Fatal("open('{') = false")
	}
	for i := 0; r.More('}', i); i++ {
		k := string(r.Key())
		keys = append(keys, k)
		switch k {
		case "a":
			r.Open('[')
			for j := 0; r.More(']', j); j++ {
				sum += r.Int64()
			}
		default:
			r.Skip()
		}
	}
	if !r.End() {
		t.Fatal("reader failed on a valid document")
	}
	if got := strings.Join(keys, ","); got != "a,b,c" || sum != 3 {
		t.Errorf("keys %q, sum %d; want a,b,c and 3", got, sum)
	}

	for _, in := range []string{`{"a":1 "b":2}`, `{"a\n":1}`, `{"a\u0062":1}`, `{"a":1,}`, `[1,]`} {
		r := Reader{data: []byte(in)}
		if r.Peek() == '{' {
			r.Open('{')
			for i := 0; r.More('}', i); i++ {
				r.Key()
				r.Skip()
			}
		} else {
			r.Open('[')
			for i := 0; r.More(']', i); i++ {
				r.Skip()
			}
		}
		if r.End() {
			t.Errorf("reader accepts %q, want a failure", in)
		}
	}
}

func TestReaderUnknownFolds(t *testing.T) {
	tests := []struct {
		give     string
		wantFail bool
	}{
		{"other", false},
		{"Other", false},
		{"ID", true},
		{"Id", true},
		{"\u212aeys", true}, // KELVIN SIGN folds to k
		{"\u212aex", false},
		{"name\u017f", true}, // LONG S folds to s
	}
	for _, tt := range tests {
		r := Reader{data: []byte(`1`)}
		r.Unknown([]byte(tt.give), "id", "keys", "names")
		if r.Failed() != tt.wantFail {
			t.Errorf("unknown(%q) failed = %v, want %v", tt.give, r.Failed(), tt.wantFail)
		}
	}
}
