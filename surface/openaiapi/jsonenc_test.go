package openaiapi

import (
	"encoding/json"
	"testing"
)

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", `q"uote\back`, "nl\n\r\t\b\f\x00\x1f", "<&>", "é漢字🙂", "\u2028\u2029", "bad\xffutf8\xc3", "\x7f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := appendString(nil, s)
		var decoded string
		if err := json.Unmarshal(got, &decoded); err != nil {
			t.Fatalf("appendString(%q) = %s, not a valid JSON string: %v", s, got, err)
		}
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var wantDecoded string
		if err := json.Unmarshal(want, &wantDecoded); err != nil {
			t.Fatal(err)
		}
		if decoded != wantDecoded {
			t.Errorf("appendString(%q) decodes to %q, want %q as encoding/json gives", s, decoded, wantDecoded)
		}
	})
}

func TestAppendFloat(t *testing.T) {
	tests := []struct {
		give float64
		want string
	}{
		{0, "0"},
		{0.5, "0.5"},
		{1.25e-7, "0.000000125"},
		{1234.5, "1234.5"},
	}
	for _, tt := range tests {
		if got := string(appendFloat(nil, tt.give)); got != tt.want {
			t.Errorf("appendFloat(%v) = %s, want %s", tt.give, got, tt.want)
		}
	}
}
