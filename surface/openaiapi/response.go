package openaiapi

import (
	"context"
	"encoding/json"
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

// chatCompletion is OpenAI's chat.completion object.
type chatCompletion struct {
	ID         string          `json:"id"`
	Object     string          `json:"object"`
	Created    int64           `json:"created"`
	Model      string          `json:"model"`
	Choices    []choice        `json:"choices"`
	Usage      json.RawMessage `json:"usage"`
	LLMGateway json.RawMessage `json:"llmgateway,omitempty"`
}

type choice struct {
	Index        int             `json:"index"`
	Message      responseMessage `json:"message"`
	FinishReason string          `json:"finish_reason"`
	Logprobs     *struct{}       `json:"logprobs"`
}

type responseMessage struct {
	Role      string             `json:"role"`
	Content   *string            `json:"content"`
	Refusal   *string            `json:"refusal"`
	ToolCalls []responseToolCall `json:"tool_calls,omitempty"`
}

type responseToolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

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
	msg := resp.GetMessage()
	out := chatCompletion{
		ID:      h.completionID(resp.GetId()),
		Object:  "chat.completion",
		Created: created,
		Model:   resp.GetModel(),
		Choices: []choice{{
			Message: responseMessage{
				Role:      "assistant",
				ToolCalls: responseToolCalls(msg.GetToolCalls()),
			},
			FinishReason: finishReason(resp.GetFinishReason()),
		}},
		Usage:      appendUsage(nil, resp.GetUsage()),
		LLMGateway: appendGatewayInfo(nil, resp.GetProvider(), resp.GetCostUsd(), resp.GetRoute()),
	}
	if content := msg.GetContent(); content != "" || len(out.Choices[0].Message.ToolCalls) == 0 {
		out.Choices[0].Message.Content = &content
	}
	body, err := json.Marshal(&out)
	if err != nil { // unreachable: every field is a plain value or valid JSON
		h.writeError(w, &apiError{status: http.StatusInternalServerError, Message: "encoding response: " + err.Error(), Type: typeAPI})
		return
	}
	h.writeJSON(w, http.StatusOK, body)
}

func responseToolCalls(calls []*llmgatewayv1.ToolCall) []responseToolCall {
	if len(calls) == 0 {
		return nil
	}
	out := make([]responseToolCall, len(calls))
	for i, c := range calls {
		out[i].ID = c.GetId()
		out[i].Type = "function"
		out[i].Function.Name = c.GetFunction().GetName()
		out[i].Function.Arguments = c.GetFunction().GetArguments()
	}
	return out
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
