package openaiapi

import (
	"math"
	"strconv"
	"unicode/utf8"

	llmgatewayv1 "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
	"github.com/llmgateway/llmgateway/internal/jsonw"
)

// The appenders in this file write JSON without reflection, for the
// unary response and the per-chunk streaming path.

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

// appendGatewayInfo appends the non-standard llmgateway object
// {"provider","cost_usd","route"} that responses carry besides OpenAI's
// fields; the SDKs ignore it.
func appendGatewayInfo(dst []byte, provider string, cost float64, route *llmgatewayv1.Route) []byte {
	dst = append(dst, `{"provider":`...)
	dst = appendString(dst, provider)
	dst = append(dst, `,"cost_usd":`...)
	dst = appendFloat(dst, cost)
	if route != nil && validRoute(route) {
		dst = append(dst, `,"route":`...)
		dst = appendRoute(dst, route)
	}
	return append(dst, '}')
}

// appendRoute appends route as protojson encodes it with proto field
// names (as the REST facade's documents show it): fields in declaration
// order, those with zero values left out, latencies as Duration strings.
// It is written by hand because protojson's reflection cost as much as
// the rest of the response's encoding.
func appendRoute(dst []byte, route *llmgatewayv1.Route) []byte {
	dst = append(dst, '{')
	n := len(dst)
	dst = appendStringField(dst, n, "requested_model", route.GetRequestedModel())
	dst = appendStringField(dst, n, "resolved_model", route.GetResolvedModel())
	dst = appendStringField(dst, n, "strategy", route.GetStrategy())
	dst = appendStringField(dst, n, "tier", route.GetTier())
	dst = appendStringField(dst, n, "rule", route.GetRule())
	if attempts := route.GetAttempts(); len(attempts) > 0 {
		dst = appendFieldName(dst, n, "attempts")
		dst = append(dst, '[')
		for i, a := range attempts {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendAttempt(dst, a)
		}
		dst = append(dst, ']')
	}
	return append(dst, '}')
}

func appendAttempt(dst []byte, a *llmgatewayv1.RouteAttempt) []byte {
	dst = append(dst, '{')
	n := len(dst)
	dst = appendStringField(dst, n, "provider", a.GetProvider())
	dst = appendStringField(dst, n, "model", a.GetModel())
	dst = appendStringField(dst, n, "upstream_model", a.GetUpstreamModel())
	dst = appendStringField(dst, n, "outcome", a.GetOutcome())
	if l := a.GetLatency(); l != nil {
		dst = appendFieldName(dst, n, "latency")
		dst = appendDuration(dst, l.GetSeconds(), l.GetNanos())
	}
	dst = appendStringField(dst, n, "reason", a.GetReason())
	dst = appendStringField(dst, n, "error", a.GetError())
	if c := a.GetStatusCode(); c != 0 {
		dst = appendFieldName(dst, n, "status_code")
		dst = strconv.AppendInt(dst, int64(c), 10)
	}
	return append(dst, '}')
}

// appendFieldName appends "name": after a comma, unless the object opened
// at start is still empty.
func appendFieldName(dst []byte, start int, name string) []byte {
	if len(dst) > start {
		dst = append(dst, ',')
	}
	dst = append(dst, '"')
	dst = append(dst, name...)
	return append(dst, '"', ':')
}

// appendStringField appends "name":"value" unless value is empty, as
// protojson leaves out zero values.
func appendStringField(dst []byte, start int, name, value string) []byte {
	if value == "" {
		return dst
	}
	return appendString(appendFieldName(dst, start, name), value)
}

// Bounds of a google.protobuf.Duration that protojson accepts.
const (
	maxDurationSeconds = 315576000000
	maxDurationNanos   = 999999999
)

// validRoute reports whether protojson can encode route: every string
// valid UTF-8 and every latency a valid Duration. The route was left out
// when protojson failed, and still is.
func validRoute(route *llmgatewayv1.Route) bool {
	if !utf8.ValidString(route.GetRequestedModel()) || !utf8.ValidString(route.GetResolvedModel()) ||
		!utf8.ValidString(route.GetStrategy()) || !utf8.ValidString(route.GetTier()) || !utf8.ValidString(route.GetRule()) {
		return false
	}
	for _, a := range route.GetAttempts() {
		if !utf8.ValidString(a.GetProvider()) || !utf8.ValidString(a.GetModel()) || !utf8.ValidString(a.GetUpstreamModel()) ||
			!utf8.ValidString(a.GetOutcome()) || !utf8.ValidString(a.GetReason()) || !utf8.ValidString(a.GetError()) {
			return false
		}
		if l := a.GetLatency(); l != nil {
			s, ns := l.GetSeconds(), l.GetNanos()
			if s < -maxDurationSeconds || s > maxDurationSeconds || ns < -maxDurationNanos || ns > maxDurationNanos ||
				s > 0 && ns < 0 || s < 0 && ns > 0 {
				return false
			}
		}
	}
	return true
}

// appendDuration appends a valid Duration as protojson does: seconds with
// 0, 3, 6 or 9 fractional digits, as few as keep it exact, and an "s".
func appendDuration(dst []byte, secs int64, nanos int32) []byte {
	dst = append(dst, '"')
	if secs < 0 || nanos < 0 {
		dst = append(dst, '-')
		secs, nanos = -secs, -nanos
	}
	dst = strconv.AppendInt(dst, secs, 10)
	if nanos != 0 {
		digits := 9
		switch {
		case nanos%1e6 == 0:
			nanos, digits = nanos/1e6, 3
		case nanos%1e3 == 0:
			nanos, digits = nanos/1e3, 6
		}
		dst = append(dst, '.')
		var frac [9]byte
		for i := digits - 1; i >= 0; i-- {
			frac[i] = byte('0' + nanos%10)
			nanos /= 10
		}
		dst = append(dst, frac[:digits]...)
	}
	return append(dst, 's', '"')
}

// appendCompletion appends OpenAI's chat.completion object for resp, with
// the given id and creation time.
func appendCompletion(dst []byte, id string, created int64, resp *llmgatewayv1.ChatResponse) []byte {
	msg := resp.GetMessage()
	calls := msg.GetToolCalls()
	dst = append(dst, `{"id":`...)
	dst = appendString(dst, id)
	dst = append(dst, `,"object":"chat.completion","created":`...)
	dst = strconv.AppendInt(dst, created, 10)
	dst = append(dst, `,"model":`...)
	dst = appendString(dst, resp.GetModel())
	dst = append(dst, `,"choices":[{"index":0,"message":{"role":"assistant","content":`...)
	// Content is null only when the message is all tool calls.
	if content := msg.GetContent(); content != "" || len(calls) == 0 {
		dst = appendString(dst, content)
	} else {
		dst = append(dst, "null"...)
	}
	dst = append(dst, `,"refusal":null`...)
	if len(calls) > 0 {
		dst = append(dst, `,"tool_calls":[`...)
		for i, c := range calls {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"id":`...)
			dst = appendString(dst, c.GetId())
			dst = append(dst, `,"type":"function","function":{"name":`...)
			dst = appendString(dst, c.GetFunction().GetName())
			dst = append(dst, `,"arguments":`...)
			dst = appendString(dst, c.GetFunction().GetArguments())
			dst = append(dst, `}}`...)
		}
		dst = append(dst, ']')
	}
	dst = append(dst, `},"finish_reason":`...)
	dst = appendString(dst, finishReason(resp.GetFinishReason()))
	dst = append(dst, `,"logprobs":null}],"usage":`...)
	dst = appendUsage(dst, resp.GetUsage())
	dst = append(dst, `,"llmgateway":`...)
	dst = appendGatewayInfo(dst, resp.GetProvider(), resp.GetCostUsd(), resp.GetRoute())
	return append(dst, '}')
}
