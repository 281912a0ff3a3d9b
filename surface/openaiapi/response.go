package openaiapi

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	llmgatewayv1 "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
)

// Response headers with what the gateway knows beyond OpenAI's fields.
const (
	headerProvider = "X-Llmgateway-Provider"
	headerModel    = "X-Llmgateway-Model"
	headerCost     = "X-Llmgateway-Cost-Usd"
	headerAttempts = "X-Llmgateway-Attempts"
)

const finishError = "error"

func (h *Handler) chatCompletions(w http.ResponseWriter, r *http.Request) {
	// The body is needed only until it is parsed: parseChat copies what it
	// keeps, so the buffer goes back to the pool before the call.
	buf := h.getBuffer()
	e := h.readBody(w, r, buf)
	var p *parsedChat
	if e == nil {
		p, e = parseChat(buf.Bytes())
	}
	h.putBuffer(buf)
	if e != nil {
		h.writeError(w, e)
		return
	}
	ctx, e := outgoingContext(r.Context(), r)
	if e != nil {
		h.writeError(w, e)
		return
	}
	if p.stream {
		h.chatStream(ctx, w, p)
		return
	}
	h.chat(ctx, w, p)
}

// chat answers a unary chat completion.
func (h *Handler) chat(ctx context.Context, w http.ResponseWriter, p *parsedChat) {
	var hdr, trl metadata.MD
	resp, err := h.client.Chat(ctx, p.req, grpc.Header(&hdr), grpc.Trailer(&trl))
	copyMetadata(w.Header(), hdr, trl)
	if err != nil {
		h.writeError(w, fromStatus(err))
		return
	}
	if resp.GetFinishReason() == finishError {
		h.writeError(w, &apiError{
			status:  http.StatusBadGateway,
			Message: "the upstream failed while generating the response",
			Type:    typeAPI,
			Code:    codeUpstreamError,
		})
		return
	}
	setGatewayHeaders(w.Header(), resp.GetProvider(), resp.GetModel(), resp.GetCostUsd(), resp.GetRoute())

	created := h.opts.now().Unix()
	if c := resp.GetCreated(); c != nil && c.IsValid() {
		created = c.GetSeconds()
	}
	// The body is written before the buffer goes back to the pool: a
	// ResponseWriter does not keep what it is given.
	body := appendCompletion(h.getChunkBuffer(), h.completionID(resp.GetId()), created, resp)
	h.writeJSON(w, http.StatusOK, body)
	h.putChunkBuffer(body)
}

// setGatewayHeaders sets the x-llmgateway-* response headers.
func setGatewayHeaders(hd http.Header, provider, model string, cost float64, route *llmgatewayv1.Route) {
	if provider != "" {
		hd.Set(headerProvider, provider)
	}
	if model != "" {
		hd.Set(headerModel, model)
	}
	hd.Set(headerCost, string(appendFloat(nil, cost)))
	hd.Set(headerAttempts, strconv.Itoa(len(route.GetAttempts())))
}

// completionID returns OpenAI's form of the gateway's response id, or a new
// id when the gateway gave none.
func (h *Handler) completionID(id string) string {
	if id == "" {
		id = h.opts.newID()
	}
	if strings.HasPrefix(id, "chatcmpl-") {
		return id
	}
	return "chatcmpl-" + id
}

// finishReason returns OpenAI's finish reason for the gateway's; the
// gateway uses OpenAI's names, and an empty one means a normal stop.
func finishReason(r string) string {
	if r == "" {
		return "stop"
	}
	return r
}
