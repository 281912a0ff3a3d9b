package routing

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/llmgateway/llmgateway/llm"
)

func autoRouter(t testing.TB, opts ...Option) (*Router, map[string]*scriptProvider) {
	t.Helper()
	provs := map[string]*scriptProvider{}
	for _, n := range []string{"oa", "an", "go", "ds", "az"} {
		provs[n] = &scriptProvider{name: n}
	}
	models := []Model{
		{Name: "gpt-4.1", Deployments: []Deployment{{Provider: "oa", UpstreamModel: "gpt-4.1", Weight: 1}, {Provider: "az", UpstreamModel: "gpt-4.1", Weight: 1, Priority: 1}},
			Pricing: llm.Pricing{InputPerMTok: 2, OutputPerMTok: 8}},
		{Name: "claude-sonnet-4.5", Deployments: []Deployment{{Provider: "an", UpstreamModel: "claude", Weight: 1}},
			Pricing: llm.Pricing{InputPerMTok: 3, OutputPerMTok: 15}},
		{Name: "gpt-4.1-mini", Deployments: []Deployment{{Provider: "oa", UpstreamModel: "gpt-4.1-mini", Weight: 1}},
			Pricing: llm.Pricing{InputPerMTok: 0.4, OutputPerMTok: 1.6}},
		{Name: "gemini-2.5-flash", Deployments: []Deployment{{Provider: "go", UpstreamModel: "gemini", Weight: 1}},
			Pricing: llm.Pricing{InputPerMTok: 0.3, OutputPerMTok: 2.5}},
		{Name: "deepseek-v3.2", Deployments: []Deployment{{Provider: "ds", UpstreamModel: "deepseek-chat", Weight: 1}},
			Pricing: llm.Pricing{InputPerMTok: 0.28, OutputPerMTok: 0.42}},
	}
	cat, err := NewCatalog(models)
	if err != nil {
		t.Fatal(err)
	}
	pm := map[string]Provider{}
	for n, p := range provs {
		pm[n] = p
	}
	auto := VirtualModel{Name: "auto", Tiers: map[Tier]TierPolicy{
		TierSimple:   {Models: []string{"gemini-2.5-flash", "deepseek-v3.2"}, Strategy: CostStrategy{}, Fallbacks: []string{"gpt-4.1-mini"}},
		TierStandard: {Models: []string{"gpt-4.1-mini"}},
		TierComplex:  {Models: []string{"gpt-4.1", "claude-sonnet-4.5"}, Strategy: PriorityStrategy{}},
	}}
	r, err := New(cat, pm, append([]Option{WithVirtualModel(auto)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return r, provs
}

func TestAutoRouting(t *testing.T) {
	r, _ := autoRouter(t)
	tests := []struct {
		name         string
		model        string
		give         string
		tools        bool
		wantTier     string
		wantRule     string
		wantModel    string
		wantStrategy string
	}{
		{name: "simple goes to the cheapest simple model", model: "auto", give: "帮我查询订单 A-1001 的物流",
			wantTier: "simple", wantRule: "simple-keywords", wantModel: "deepseek-v3.2", wantStrategy: "cost"},
		{name: "standard", model: "AUTO", give: standardAsk,
			wantTier: "standard", wantRule: "default", wantModel: "gpt-4.1-mini", wantStrategy: "weighted"},
		{name: "complex", model: "auto", give: "Please analyze our refund data and explain the trend step by step",
			wantTier: "complex", wantRule: "complex-keywords", wantModel: "gpt-4.1", wantStrategy: "priority"},
		{name: "tools", model: "auto", give: standardAsk, tools: true,
			wantTier: "standard", wantRule: "tools", wantModel: "gpt-4.1-mini", wantStrategy: "weighted"},
		{name: "a plain model is not classified", model: "gpt-4.1", give: "analyze",
			wantModel: "gpt-4.1", wantStrategy: "weighted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := &llm.Request{Messages: []llm.Message{userMsg(tt.give)}}
			if tt.tools {
				req.Tools = []llm.Tool{{Name: "lookup_order"}}
			}
			for _, stream := range []bool{false, true} {
				var route Route
				var model string
				if stream {
					s, err := r.ChatStream(testCtx(t), tt.model, req)
					if err != nil {
						t.Fatal(err)
					}
					llm.Collect(s)
					route, model = s.Route(), s.Model().Name
				} else {
					res, err := r.Chat(testCtx(t), tt.model, req)
					if err != nil {
						t.Fatal(err)
					}
					route, model = res.Route, res.Model.Name
				}
				got := []string{route.Tier, route.Rule, model, route.Resolved, route.Strategy, route.Requested}
				want := []string{tt.wantTier, tt.wantRule, tt.wantModel, tt.wantModel, tt.wantStrategy, tt.model}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("stream %v: tier, rule, model, resolved, strategy, requested (-want +got):\n%s", stream, diff)
				}
			}
		})
	}
}

func TestAutoTierFailsOver(t *testing.T) {
	r, provs := autoRouter(t)
	provs["ds"].def = reply{err: serverErr("ds")}
	provs["go"].def = reply{err: upErr("go", llm.KindOverloaded, 503)}
	res, err := r.Chat(testCtx(t), "auto", &llm.Request{Messages: []llm.Message{userMsg("翻译：谢谢")}})
	if err != nil {
		t.Fatal(err)
	}
	// Both simple models fail; the tier's fallback answers.
	if diff := cmp.Diff([]string{"ds:error", "go:error", "oa:ok"}, outcomes(res.Route.Attempts)); diff != "" {
		t.Errorf("attempts (-want +got):\n%s", diff)
	}
	if res.Model.Name != "gpt-4.1-mini" || res.Route.Tier != "simple" {
		t.Errorf("answered by %s in tier %s", res.Model.Name, res.Route.Tier)
	}
}

func TestAutoFailureNamesVirtualModel(t *testing.T) {
	r, provs := autoRouter(t, WithRetry(RetryPolicy{MaxAttempts: 2}))
	for _, p := range provs {
		p.def = reply{err: serverErr(p.name)}
	}
	_, err := r.Chat(testCtx(t), "auto", &llm.Request{Messages: []llm.Message{userMsg("hi")}})
	nr, ok := err.(*NoRouteError)
	if !ok || nr.Model != "auto" || !strings.Contains(err.Error(), `"auto"`) {
		t.Errorf("Chat() error = %v, want a NoRouteError for auto", err)
	}
}

func TestVirtualModels(t *testing.T) {
	r, _ := autoRouter(t)
	vs := r.VirtualModels()
	if len(vs) != 1 || vs[0].Name != "auto" {
		t.Errorf("VirtualModels() = %+v, want auto", vs)
	}
	if _, err := r.Chat(testCtx(t), "autopilot", hello()); err == nil {
		t.Error("an unknown name resolved")
	}
}
