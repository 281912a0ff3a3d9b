package llm

import (
	"testing"
	"unicode/utf8"
)

// estimateTokensByByte is EstimateTokens as it was before it read eight
// ASCII bytes at a time: the reference the fast path must match.
func estimateTokensByByte(s string) int64 {
	var ascii, other int64
	for i := 0; i < len(s); {
		if s[i] < utf8.RuneSelf {
			ascii++
			i++
			continue
		}
		_, n := utf8.DecodeRuneInString(s[i:])
		other++
		i += n
	}
	return (ascii+3)/4 + other
}

func FuzzEstimateTokens(f *testing.F) {
	for _, s := range []string{"", "a", "abcdefgh", "abcdefghi", "Hello, wörld: 漢字 and emoji 🙂 at the end", "\xff\xfe", "12345678\x80", "é" + "abcdefghijklmnop"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := EstimateTokens(s), estimateTokensByByte(s); got != want {
			t.Fatalf("EstimateTokens(%q) = %d, want %d", s, got, want)
		}
	})
}
