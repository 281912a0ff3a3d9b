package openaiapi

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"

	llmgatewayv1 "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
)

// The appenders in this file write JSON without reflection for the
// per-chunk streaming path.

const hexDigits = "0123456789abcdef"

// appendString appends s to dst as a JSON string. Invalid UTF-8 becomes
// U+FFFD, as encoding/json does; U+2028 and U+2029 are escaped so that the
// output is also safe to embed in JavaScript.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendFloat appends f as a JSON number; NaN and infinities, which JSON
// cannot carry, become 0.
func appendFloat(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		f = 0
	}
	return strconv.AppendFloat(dst, f, 'f', -1, 64)
}

// appendUsage appends OpenAI's usage object for u (nil counts as zero).
func appendUsage(dst []byte, u *llmgatewayv1.Usage) []byte {
	total := u.GetTotalTokens()
	if total == 0 {
		total = u.GetPromptTokens() + u.GetCompletionTokens()
	}
	dst = append(dst, `{"prompt_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.GetPromptTokens()), 10)
	dst = append(dst, `,"completion_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.GetCompletionTokens()), 10)
	dst = append(dst, `,"total_tokens":`...)
	dst = strconv.AppendInt(dst, int64(total), 10)
	dst = append(dst, `,"prompt_tokens_details":{"cached_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.GetCachedTokens()), 10)
	dst = append(dst, `},"completion_tokens_details":{"reasoning_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.GetReasoningTokens()), 10)
	return append(dst, `}}`...)
}

// routeJSON is the encoding of a Route in the llmgateway extension object:
// proto field names, as the REST facade's documents use.
var routeJSON = protojson.MarshalOptions{UseProtoNames: true}

// appendGatewayInfo appends the non-standard llmgateway object
// {"provider","cost_usd","route"} that responses carry besides OpenAI's
// fields; the SDKs ignore it.
func appendGatewayInfo(dst []byte, provider string, cost float64, route *llmgatewayv1.Route) []byte {
	dst = append(dst, `{"provider":`...)
	dst = appendString(dst, provider)
	dst = append(dst, `,"cost_usd":`...)
	dst = appendFloat(dst, cost)
	if route != nil {
		if b, err := routeJSON.Marshal(route); err == nil {
			// protojson varies its whitespace on purpose; compact it so
			// the output is stable.
			var c bytes.Buffer
			if json.Compact(&c, b) == nil {
				dst = append(dst, `,"route":`...)
				dst = append(dst, c.Bytes()...)
			}
		}
	}
	return append(dst, '}')
}
