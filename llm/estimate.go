package llm

import "unicode/utf8"

// EstimateTokens estimates how many tokens s holds without a tokenizer:
// about four bytes of ASCII text per token, and one token per character of
// other scripts (CJK text runs close to one token per character). It is
// used to reserve limits and budgets before a call and to price streams
// that end before the upstream reported usage, never to bill a completed
// call.
func EstimateTokens(s string) int64 {
	var ascii, other int64
	for i := 0; i < len(s); {
		// Eight bytes at a time while they are all ASCII: the compiler
		// makes the eight loads one.
		for ; i+8 <= len(s); i += 8 {
			w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
				uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
			if w&0x8080808080808080 != 0 {
				break
			}
			ascii += 8
		}
		if i == len(s) {
			break
		}
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

// EstimatePromptTokens estimates the input tokens of req: its messages'
// text, tool-call arguments and tool definitions, plus a few tokens of
// framing per message.
func EstimatePromptTokens(req *Request) int64 {
	const perMessage = 4
	var n int64
	for i := range req.Messages {
		m := &req.Messages[i]
		n += perMessage + EstimateTokens(m.Content) + EstimateTokens(m.Name)
		for _, tc := range m.ToolCalls {
			n += EstimateTokens(tc.Name) + EstimateTokens(tc.Arguments)
		}
	}
	for _, t := range req.Tools {
		n += EstimateTokens(t.Name) + EstimateTokens(t.Description) + EstimateTokens(string(t.Parameters))
	}
	return n + 3
}
