package openaiapi

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"

	"google.golang.org/protobuf/encoding/protojson"

	llmgatewayv1 "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
	"github.com/llmgateway/llmgateway/internal/jsonw"
)

// The appenders in this file write JSON without reflection for the
// per-chunk streaming path.

// appendString appends s to dst as a JSON string (see jsonw.AppendString).
func appendString(dst []byte, s string) []byte { return jsonw.AppendString(dst, s) }

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
