package llm

import (
	"testing"
	"unicode/utf8"
)

// estimateTokensByRune is the rule EstimateTokens implements, written
// the plain way: ranging over a string yields each ASCII byte as itself and
// each other character, or each byte of invalid UTF-8, as one rune of
// utf8.RuneSelf or more.
func estimateTokensByRune(s string) int64 {
	var ascii, other int64
	for _, r := range s {
		if r < utf8.RuneSelf {
			ascii++
		} else {
			other++
		}
	}
	return (ascii+3)/4 + other
}

func FuzzEstimateTokens(f *testing.F) {
	for _, s := range []string{"", "a", "abcdefgh", "abcdefghi", "Hello, wörld: 漢字 and emoji 🙂 at the end", "\xff\xfe", "12345678\x80", "é" + "abcdefghijklmnop"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := EstimateTokens(s), estimateTokensByRune(s); got != want {
			t.Fatalf("EstimateTokens(%q) = %d, want %d", s, got, want)
		}
	})
}
