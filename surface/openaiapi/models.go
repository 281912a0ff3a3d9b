package openaiapi

import (
	"encoding/json"
	"net/http"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	llmgatewayv1 "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
)

// defaultOwner is the owned_by of models no provider serves, such as the
// virtual "auto".
const defaultOwner = "llmgateway"

// model is OpenAI's model object. Created is 0: the gateway does not know
// when a model was published.
type model struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

type modelList struct {
	Object string  `json:"object"`
	Data   []model `json:"data"`
}

func (h *Handler) listModels(w http.ResponseWriter, r *http.Request) {
	models, ok := h.fetchModels(w, r)
	if !ok {
		return
	}
	h.writeValue(w, &modelList{Object: "list", Data: models})
}

func (h *Handler) getModel(w http.ResponseWriter, r *http.Request, id string) {
	models, ok := h.fetchModels(w, r)
	if !ok {
		return
	}
	for i := range models {
		if models[i].ID == id {
			h.writeValue(w, &models[i])
			return
		}
	}
	h.writeError(w, &apiError{
		status:  http.StatusNotFound,
		Message: "The model '" + id + "' does not exist; GET /v1/models lists the models you may use",
		Type:    typeInvalidRequest,
		Param:   "model",
		Code:    codeModelNotFound,
	})
}

// fetchModels lists the gateway's models as OpenAI model objects, each
// alias as an entry of its own. On failure it answers the error and
// reports false.
func (h *Handler) fetchModels(w http.ResponseWriter, r *http.Request) ([]model, bool) {
	ctx, e := outgoingContext(r.Context(), r)
	if e != nil {
		h.writeError(w, e)
		return nil, false
	}
	var hdr, trl metadata.MD
	resp, err := h.client.ListModels(ctx, &llmgatewayv1.ListModelsRequest{}, grpc.Header(&hdr), grpc.Trailer(&trl))
	copyMetadata(w.Header(), hdr, trl)
	if err != nil {
		h.writeError(w, fromStatus(err))
		return nil, false
	}
	return modelsFromProto(resp.GetModels()), true
}

func modelsFromProto(infos []*llmgatewayv1.ModelInfo) []model {
	out := make([]model, 0, len(infos))
	seen := make(map[string]struct{}, len(infos))
	add := func(id, owner string) {
		if id == "" {
			return
		}
		if _, dup := seen[id]; dup {
			return
		}
		seen[id] = struct{}{}
		out = append(out, model{ID: id, Object: "model", OwnedBy: owner})
	}
	for _, m := range infos {
		owner := defaultOwner
		if p := m.GetProviders(); len(p) > 0 && p[0] != "" {
			owner = p[0]
		}
		add(m.GetName(), owner)
		for _, a := range m.GetAliases() {
			add(a, owner)
		}
	}
	return out
}

// writeValue answers 200 with v as JSON.
func (h *Handler) writeValue(w http.ResponseWriter, v any) {
	body, err := json.Marshal(v)
	if err != nil { // unreachable: the values hold only strings and numbers
		h.writeError(w, &apiError{status: http.StatusInternalServerError, Message: "encoding response: " + err.Error(), Type: typeAPI})
		return
	}
	h.writeJSON(w, http.StatusOK, body)
}
