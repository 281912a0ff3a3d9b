package simulator_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/llmgateway/llmgateway/llm"
	"github.com/llmgateway/llmgateway/providers/simulator"
)

const testTimeout = 10 * time.Second

func testContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

func newProvider(t testing.TB, cfg simulator.Config, opts ...simulator.Option) *simulator.Provider {
	t.Helper()
	p, err := simulator.New(cfg, opts...)
	if err != nil {
		t.Fatalf("New(%+v) = %v", cfg, err)
	}
	return p
}

// noSleep skips every wait.
func noSleep(ctx context.Context, _ time.Duration) error { return ctx.Err() }

// recorder records the waits a provider asks for and skips them.
type recorder struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (r *recorder) sleep(ctx context.Context, d time.Duration) error {
	r.mu.Lock()
	r.waits = append(r.waits, d)
	r.mu.Unlock()
	return ctx.Err()
}

func (r *recorder) recorded() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.waits)
}

func userRequest(model, text string) *llm.Request {
	return &llm.Request{
		Model:    model,
		Messages: []llm.Message{{Role: llm.RoleUser, Content: text}},
	}
}

func withMetadata(req *llm.Request, kv ...string) *llm.Request {
	req.Metadata = map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		req.Metadata[kv[i]] = kv[i+1]
	}
	return req
}

// collect streams req and returns the assembled response and the chunks.
func collect(t *testing.T, p *simulator.Provider, req *llm.Request) (*llm.Response, []llm.Chunk) {
	t.Helper()
	s, err := p.ChatStream(testContext(t), req)
	if err != nil {
		t.Fatalf("ChatStream() = %v", err)
	}
	defer s.Close()
	var chunks []llm.Chunk
	var a llm.Assembler
	for {
		c, err := s.Recv()
		if err == io.EOF {
			return a.Response(), chunks
		}
		if err != nil {
			t.Fatalf("Recv() after %d chunks = %v", len(chunks), err)
		}
		chunks = append(chunks, c)
		a.Add(&c)
	}
}

func chat(t *testing.T, p *simulator.Provider, req *llm.Request) *llm.Response {
	t.Helper()
	resp, err := p.Chat(testContext(t), req)
	if err != nil {
		t.Fatalf("Chat() = %v", err)
	}
	return resp
}

func upstream(t *testing.T, err error) *llm.UpstreamError {
	t.Helper()
	ue, ok := llm.AsUpstream(err)
	if !ok {
		t.Fatalf("error %v (%T) is not an *llm.UpstreamError", err, err)
	}
	return ue
}

func TestNewValidatesConfig(t *testing.T) {
	tests := []struct {
		name string
		give simulator.Config
		want string // substring of the error; "" for none
	}{
		{name: "zero", give: simulator.Config{}},
		{name: "full", give: simulator.Config{
			Name: "sim", TokensPerSecond: 50, Seed: 7,
			Latency: simulator.LatencyDist{P50: 100 * time.Millisecond, P99: time.Second},
			Faults:  simulator.Faults{ErrorRate: 0.5, RateLimitRate: 0.5, RetryAfter: time.Second, SlowFactor: 2},
		}},
		{name: "fixed latency", give: simulator.Config{Latency: simulator.LatencyDist{P50: time.Second, P99: time.Second}}},
		{name: "negative rate", give: simulator.Config{TokensPerSecond: -1}, want: "tokens per second is -1"},
		{name: "infinite rate", give: simulator.Config{TokensPerSecond: math.Inf(1)}, want: "tokens per second is +Inf"},
		{name: "negative p50", give: simulator.Config{Latency: simulator.LatencyDist{P50: -1}}, want: "latency p50 is -1ns"},
		{name: "p99 below p50", give: simulator.Config{Latency: simulator.LatencyDist{P50: time.Second, P99: time.Millisecond}}, want: "below p50"},
		{name: "p99 without p50", give: simulator.Config{Latency: simulator.LatencyDist{P99: time.Second}}, want: "want a positive p50"},
		{name: "error rate above 1", give: simulator.Config{Faults: simulator.Faults{ErrorRate: 1.5}}, want: "error rate is 1.5, want a share in [0, 1]"},
		{name: "negative cut rate", give: simulator.Config{Faults: simulator.Faults{CutRate: -0.1}}, want: "cut rate is -0.1"},
		{name: "NaN timeout rate", give: simulator.Config{Faults: simulator.Faults{TimeoutRate: math.NaN()}}, want: "timeout rate is NaN"},
		{name: "rates above 1", give: simulator.Config{Faults: simulator.Faults{ErrorRate: 0.6, OverloadRate: 0.6}}, want: "fault rates sum to 1.2"},
		{name: "negative retry after", give: simulator.Config{Faults: simulator.Faults{RetryAfter: -time.Second}}, want: "retry after is -1s"},
		{name: "negative slow factor", give: simulator.Config{Faults: simulator.Faults{SlowFactor: -2}}, want: "slow factor is -2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := simulator.New(tt.give)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("New(%+v) = %v, want no error", tt.give, err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("New(%+v) = %v, want an error containing %q", tt.give, err, tt.want)
			}
		})
	}
}

func TestChatIsDeterministic(t *testing.T) {
	p1 := newProvider(t, simulator.Config{Seed: 1})
	p2 := newProvider(t, simulator.Config{Seed: 2, Latency: simulator.LatencyDist{P50: time.Millisecond, P99: 5 * time.Millisecond}}, simulator.WithSleep(noSleep))
	req := userRequest("sim-large", "What is the capital of France?")

	first, second := chat(t, p1, req), chat(t, p2, req)
	if diff := cmp.Diff(first, second, cmpopts.IgnoreFields(llm.Response{}, "ID")); diff != "" {
		t.Errorf("Chat() twice differs (-first +second):\n%s", diff)
	}
	if again := chat(t, p1, req); again.ID == first.ID {
		t.Errorf("Chat() ID = %q twice, want a new id per response", again.ID)
	}
	if !strings.Contains(first.Message.Content, "sim-large") {
		t.Errorf("Chat() content = %q, want it to mention the model", first.Message.Content)
	}
	if first.Model != "sim-large" {
		t.Errorf("Chat() model = %q, want %q", first.Model, "sim-large")
	}

	others := []*llm.Request{
		userRequest("sim-large", "What is the capital of Spain?"),
		userRequest("sim-small", "What is the capital of France?"),
		{Model: "sim-large", Messages: []llm.Message{
			{Role: llm.RoleSystem, Content: "Be brief."},
			{Role: llm.RoleUser, Content: "What is the capital of France?"},
		}},
	}
	seen := map[string]bool{first.Message.Content: true}
	for _, o := range others {
		got := chat(t, p1, o).Message.Content
		if seen[got] {
			t.Errorf("Chat(%+v) content = %q, also the answer to another request", o.Messages, got)
		}
		seen[got] = true
	}
}

func TestStreamMatchesChat(t *testing.T) {
	weather := llm.Tool{
		Name:       "get_weather",
		Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"}},"required":["city","days"]}`),
	}
	tests := []struct {
		name string
		give *llm.Request
	}{
		{name: "text", give: userRequest("m", "hello")},
		{name: "max tokens", give: &llm.Request{Model: "m", Messages: userRequest("m", "hi").Messages, MaxTokens: 5}},
		{name: "stop", give: &llm.Request{Model: "m", Messages: userRequest("m", "hi").Messages, Stop: []string{"from"}}},
		{name: "stop at start", give: &llm.Request{Model: "m", Messages: userRequest("m", "hi").Messages, Stop: []string{"Sim"}}},
		{name: "tool call", give: &llm.Request{Model: "m", Messages: userRequest("m", "weather?").Messages, Tools: []llm.Tool{weather}}},
		{name: "tool call truncated", give: &llm.Request{Model: "m", Messages: userRequest("m", "weather?").Messages, Tools: []llm.Tool{weather}, MaxTokens: 4}},
		{name: "fixed reply", give: withMetadata(userRequest("m", "x"), simulator.MetadataReply, "  Fixed   reply\nwith lines ")},
		{name: "empty reply", give: withMetadata(userRequest("m", "x"), simulator.MetadataReply, "")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProvider(t, simulator.Config{TokensPerSecond: 1000}, simulator.WithSleep(noSleep))
			want := chat(t, p, tt.give)
			got, chunks := collect(t, p, tt.give)
			if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(llm.Response{}, "ID"), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("streamed response differs from Chat() (-chat +stream):\n%s", diff)
			}
			if len(chunks) == 0 {
				t.Fatal("stream sent no chunks")
			}
			last := chunks[len(chunks)-1]
			if last.HasContent() || last.FinishReason == "" || last.Usage == nil {
				t.Errorf("final chunk = %+v, want only a finish reason and usage", last)
			}
			tokens := chunks[:len(chunks)-1]
			if int64(len(tokens)) != want.Usage.CompletionTokens {
				t.Errorf("stream sent %d token chunks, want CompletionTokens = %d", len(tokens), want.Usage.CompletionTokens)
			}
			for i, c := range tokens {
				if !c.HasContent() || c.FinishReason != "" || c.Usage != nil {
					t.Errorf("chunk %d = %+v, want one token and nothing else", i, c)
				}
				if c.Model != "m" {
					t.Errorf("chunk %d model = %q, want %q", i, c.Model, "m")
				}
			}
		})
	}
}

func TestChatUsage(t *testing.T) {
	p := newProvider(t, simulator.Config{})
	short := chat(t, p, userRequest("m", "hi"))
	long := chat(t, p, userRequest("m", strings.Repeat("many words here ", 100)))
	if short.Usage.PromptTokens < 5 {
		t.Errorf("PromptTokens for one short message = %d, want at least 5 (text plus overhead)", short.Usage.PromptTokens)
	}
	if long.Usage.PromptTokens < 400 {
		t.Errorf("PromptTokens for 1600 characters = %d, want at least 400", long.Usage.PromptTokens)
	}
	words := int64(len(strings.Fields(short.Message.Content)))
	if short.Usage.CompletionTokens != words {
		t.Errorf("CompletionTokens = %d, want %d (one per word of %q)", short.Usage.CompletionTokens, words, short.Message.Content)
	}
	if short.Usage.ReasoningTokens != 0 || short.Usage.CachedTokens != 0 {
		t.Errorf("Usage = %+v, want no reasoning or cached tokens", short.Usage)
	}
	withTool := userRequest("m", "hi")
	withTool.Tools = []llm.Tool{{Name: "f", Description: strings.Repeat("d", 400)}}
	withTool.ToolChoice = &llm.ToolChoice{Mode: llm.ToolChoiceNone}
	if got := chat(t, p, withTool).Usage.PromptTokens; got < short.Usage.PromptTokens+100 {
		t.Errorf("PromptTokens with a 400-character tool = %d, want at least %d", got, short.Usage.PromptTokens+100)
	}
}

func TestChatMaxTokens(t *testing.T) {
	p := newProvider(t, simulator.Config{})
	full := chat(t, p, userRequest("m", "tell me more"))
	n := int(full.Usage.CompletionTokens)
	tests := []struct {
		give       int
		wantText   string
		wantTokens int64
		wantFinish llm.FinishReason
	}{
		{give: 3, wantText: "Simulated reply from ", wantTokens: 3, wantFinish: llm.FinishLength},
		{give: n - 1, wantText: full.Message.Content[:strings.LastIndex(full.Message.Content, " ")+1], wantTokens: int64(n - 1), wantFinish: llm.FinishLength},
		{give: n, wantText: full.Message.Content, wantTokens: int64(n), wantFinish: llm.FinishStop},
		{give: n + 10, wantText: full.Message.Content, wantTokens: int64(n), wantFinish: llm.FinishStop},
	}
	for _, tt := range tests {
		req := userRequest("m", "tell me more")
		req.MaxTokens = tt.give
		got := chat(t, p, req)
		if got.Message.Content != tt.wantText || got.Usage.CompletionTokens != tt.wantTokens || got.FinishReason != tt.wantFinish {
			t.Errorf("Chat(MaxTokens %d) = %q, %d tokens, %q; want %q, %d, %q", tt.give,
				got.Message.Content, got.Usage.CompletionTokens, got.FinishReason, tt.wantText, tt.wantTokens, tt.wantFinish)
		}
	}
}

func TestChatStopSequences(t *testing.T) {
	p := newProvider(t, simulator.Config{})
	full := chat(t, p, userRequest("m", "tell me more")).Message.Content
	fields := strings.Fields(full)
	word := fields[5] // a generated word, after "Simulated reply from m."
	at := strings.Index(full, word)
	tests := []struct {
		name       string
		stop       []string
		max        int
		wantText   string
		wantFinish llm.FinishReason
	}{
		{name: "absent", stop: []string{"zzz"}, wantText: full, wantFinish: llm.FinishStop},
		{name: "word", stop: []string{word}, wantText: full[:at], wantFinish: llm.FinishStop},
		{name: "earliest of several", stop: []string{word, "reply"}, wantText: "Simulated ", wantFinish: llm.FinishStop},
		{name: "empty ignored", stop: []string{"", "from"}, wantText: "Simulated reply ", wantFinish: llm.FinishStop},
		{name: "max tokens first", stop: []string{word}, max: 2, wantText: "Simulated reply ", wantFinish: llm.FinishLength},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := userRequest("m", "tell me more")
			req.Stop, req.MaxTokens = tt.stop, tt.max
			got := chat(t, p, req)
			if got.Message.Content != tt.wantText || got.FinishReason != tt.wantFinish {
				t.Errorf("Chat(Stop %q) = %q, %q; want %q, %q", tt.stop, got.Message.Content, got.FinishReason, tt.wantText, tt.wantFinish)
			}
			if want := int64(len(strings.Fields(tt.wantText))); got.Usage.CompletionTokens != want {
				t.Errorf("Chat(Stop %q) CompletionTokens = %d, want %d", tt.stop, got.Usage.CompletionTokens, want)
			}
		})
	}
}

func TestChatToolCalls(t *testing.T) {
	weather := llm.Tool{
		Name: "get_weather",
		Parameters: json.RawMessage(`{
			"type": "object",
			"properties": {
				"city": {"type": "string"},
				"days": {"type": "integer"},
				"unit": {"enum": ["celsius", "fahrenheit"]},
				"hourly": {"type": ["boolean", "null"]},
				"where": {"type": "object", "properties": {"lat": {"type": "number"}}, "required": ["lat"]},
				"tags": {"type": "array", "items": {"type": "string"}},
				"optional": {"type": "string"}
			},
			"required": ["city", "days", "unit", "hourly", "where", "tags"]
		}`),
	}
	clock := llm.Tool{Name: "get_time"}
	user := []llm.Message{{Role: llm.RoleUser, Content: "Weather in Paris?"}}
	afterTool := append(slices.Clone(user),
		llm.Message{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "call_1", Name: "get_weather", Arguments: "{}"}}},
		llm.Message{Role: llm.RoleTool, ToolCallID: "call_1", Content: `{"temp": 21}`},
	)
	tests := []struct {
		name     string
		messages []llm.Message
		tools    []llm.Tool
		choice   *llm.ToolChoice
		wantTool string // "" for a text answer
	}{
		{name: "auto calls the first tool", messages: user, tools: []llm.Tool{weather, clock}, wantTool: "get_weather"},
		{name: "explicit auto", messages: user, tools: []llm.Tool{weather, clock}, choice: &llm.ToolChoice{Mode: llm.ToolChoiceAuto}, wantTool: "get_weather"},
		{name: "named function", messages: user, tools: []llm.Tool{weather, clock}, choice: &llm.ToolChoice{Mode: llm.ToolChoiceFunction, Name: "get_time"}, wantTool: "get_time"},
		{name: "none answers text", messages: user, tools: []llm.Tool{weather}, choice: &llm.ToolChoice{Mode: llm.ToolChoiceNone}},
		{name: "tool result answers text", messages: afterTool, tools: []llm.Tool{weather}},
		{name: "required calls after a tool result", messages: afterTool, tools: []llm.Tool{weather, clock}, choice: &llm.ToolChoice{Mode: llm.ToolChoiceRequired}, wantTool: "get_weather"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProvider(t, simulator.Config{})
			req := &llm.Request{Model: "m", Messages: tt.messages, Tools: tt.tools, ToolChoice: tt.choice}
			got := chat(t, p, req)
			if tt.wantTool == "" {
				if len(got.Message.ToolCalls) != 0 || got.Message.Content == "" || got.FinishReason != llm.FinishStop {
					t.Errorf("Chat() = %+v, %q; want a text answer", got.Message, got.FinishReason)
				}
				return
			}
			if len(got.Message.ToolCalls) != 1 || got.FinishReason != llm.FinishToolCalls || got.Message.Content != "" {
				t.Fatalf("Chat() = %+v, %q; want one call to %s", got.Message, got.FinishReason, tt.wantTool)
			}
			call := got.Message.ToolCalls[0]
			if call.Name != tt.wantTool || !strings.HasPrefix(call.ID, "call_") {
				t.Errorf("Chat() call = %+v, want a call to %s with an id", call, tt.wantTool)
			}
			if again := chat(t, p, req); !cmp.Equal(again.Message, got.Message) {
				t.Errorf("Chat() again = %+v, want %+v", again.Message, got.Message)
			}
			var args map[string]any
			if err := json.Unmarshal([]byte(call.Arguments), &args); err != nil {
				t.Fatalf("arguments %s are not a JSON object: %v", call.Arguments, err)
			}
			if tt.wantTool == "get_time" {
				if call.Arguments != "{}" {
					t.Errorf("arguments = %s, want {} for a tool without parameters", call.Arguments)
				}
				return
			}
			if _, ok := args["city"].(string); !ok {
				t.Errorf("arguments %s: city is not a string", call.Arguments)
			}
			if d, ok := args["days"].(float64); !ok || d != math.Trunc(d) {
				t.Errorf("arguments %s: days is not an integer", call.Arguments)
			}
			if u := args["unit"]; u != "celsius" && u != "fahrenheit" {
				t.Errorf("arguments %s: unit is not one of the enum", call.Arguments)
			}
			if _, ok := args["hourly"].(bool); !ok {
				t.Errorf("arguments %s: hourly is not a boolean", call.Arguments)
			}
			if w, ok := args["where"].(map[string]any); !ok || w["lat"] == nil {
				t.Errorf("arguments %s: where is not an object with lat", call.Arguments)
			}
			if tags, ok := args["tags"].([]any); !ok || len(tags) != 1 {
				t.Errorf("arguments %s: tags is not a one-item array", call.Arguments)
			}
			if _, ok := args["optional"]; ok {
				t.Errorf("arguments %s include an optional property", call.Arguments)
			}
		})
	}
}

func TestReplyMetadata(t *testing.T) {
	p := newProvider(t, simulator.Config{})
	req := withMetadata(userRequest("m", "x"), simulator.MetadataReply, "Exactly this.")
	req.Tools = []llm.Tool{{Name: "f"}}
	got := chat(t, p, req)
	if got.Message.Content != "Exactly this." || len(got.Message.ToolCalls) != 0 || got.Usage.CompletionTokens != 2 {
		t.Errorf("Chat(reply %q) = %+v, %d tokens; want the text, 2 tokens", "Exactly this.", got.Message, got.Usage.CompletionTokens)
	}
}

func TestRequestValidation(t *testing.T) {
	msgs := []llm.Message{{Role: llm.RoleUser, Content: "hi"}}
	tests := []struct {
		name string
		give *llm.Request
		want string
	}{
		{name: "no model", give: &llm.Request{Messages: msgs}, want: "model is required"},
		{name: "no messages", give: &llm.Request{Model: "m"}, want: "at least one message"},
		{name: "bad role", give: &llm.Request{Model: "m", Messages: []llm.Message{{Role: "robot"}}}, want: `messages[0].role is "robot"`},
		{name: "negative max tokens", give: &llm.Request{Model: "m", Messages: msgs, MaxTokens: -1}, want: "max_tokens is -1"},
		{name: "unnamed tool", give: &llm.Request{Model: "m", Messages: msgs, Tools: []llm.Tool{{}}}, want: "tools[0].name is required"},
		{name: "bad parameters", give: &llm.Request{Model: "m", Messages: msgs, Tools: []llm.Tool{{Name: "f", Parameters: json.RawMessage("{")}}}, want: "tools[0].parameters (f) is not valid JSON"},
		{name: "non-object parameters", give: &llm.Request{Model: "m", Messages: msgs, Tools: []llm.Tool{{Name: "f", Parameters: json.RawMessage("[1]")}}}, want: "must be a JSON Schema object"},
		{name: "unknown function", give: &llm.Request{Model: "m", Messages: msgs, Tools: []llm.Tool{{Name: "f"}}, ToolChoice: &llm.ToolChoice{Mode: llm.ToolChoiceFunction, Name: "g"}}, want: `names function "g"`},
		{name: "unknown mode", give: &llm.Request{Model: "m", Messages: msgs, ToolChoice: &llm.ToolChoice{Mode: "maybe"}}, want: `mode is "maybe"`},
		{name: "required without tools", give: &llm.Request{Model: "m", Messages: msgs, ToolChoice: &llm.ToolChoice{Mode: llm.ToolChoiceRequired}}, want: "has no tools"},
		{name: "unknown fault", give: withMetadata(userRequest("m", "x"), simulator.MetadataFault, "explode"), want: `simulator.fault is "explode", want one of error`},
		{name: "bad latency", give: withMetadata(userRequest("m", "x"), simulator.MetadataLatency, "soon"), want: `simulator.latency is "soon"`},
		{name: "negative latency", give: withMetadata(userRequest("m", "x"), simulator.MetadataLatency, "-1s"), want: `simulator.latency is "-1s"`},
	}
	p := newProvider(t, simulator.Config{Name: "sim-a"})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := p.Chat(testContext(t), tt.give)
			ue := upstream(t, err)
			if ue.Kind != llm.KindBadRequest || ue.StatusCode != http.StatusBadRequest || ue.Retryable || ue.Provider != "sim-a" || !strings.Contains(ue.Message, tt.want) {
				t.Errorf("Chat() = %+v, want a 400 from sim-a saying %q", ue, tt.want)
			}
			if _, err := p.ChatStream(testContext(t), tt.give); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ChatStream() = %v, want an error saying %q", err, tt.want)
			}
		})
	}
}

// statusFaults are the faults answered like an HTTP error status.
var statusFaults = []struct {
	fault         string
	faults        simulator.Faults // rates that always give the fault
	wantKind      llm.ErrorKind
	wantStatus    int
	wantRetryable bool
	wantAfter     time.Duration
}{
	{simulator.FaultError, simulator.Faults{ErrorRate: 1}, llm.KindServer, 500, true, 0},
	{simulator.FaultRateLimit, simulator.Faults{RateLimitRate: 1}, llm.KindRateLimited, 429, true, time.Second},
	{simulator.FaultOverloaded, simulator.Faults{OverloadRate: 1}, llm.KindOverloaded, 503, true, 0},
	{simulator.FaultAuth, simulator.Faults{}, llm.KindAuth, 401, false, 0},
	{simulator.FaultBadRequest, simulator.Faults{}, llm.KindBadRequest, 400, false, 0},
}

func checkStatusFault(t *testing.T, call string, err error, wantKind llm.ErrorKind, wantStatus int, wantRetryable bool, wantAfter time.Duration) {
	t.Helper()
	ue := upstream(t, err)
	if ue.Provider != "sim" || ue.Kind != wantKind || ue.StatusCode != wantStatus || ue.Retryable != wantRetryable || ue.RetryAfter != wantAfter {
		t.Errorf("%s = %+v, want provider sim, %s, HTTP %d, retryable %t, retry after %v", call, ue, wantKind, wantStatus, wantRetryable, wantAfter)
	}
	if llm.IsRetryable(err) != wantRetryable {
		t.Errorf("IsRetryable(%s) = %t, want %t", call, !wantRetryable, wantRetryable)
	}
}

func TestFaultsForcedByMetadata(t *testing.T) {
	for _, tt := range statusFaults {
		t.Run(tt.fault, func(t *testing.T) {
			rec := &recorder{}
			p := newProvider(t, simulator.Config{Name: "sim"}, simulator.WithSleep(rec.sleep))
			req := withMetadata(userRequest("m", "x"), simulator.MetadataFault, tt.fault, simulator.MetadataLatency, "40ms")
			_, err := p.Chat(testContext(t), req)
			checkStatusFault(t, "Chat()", err, tt.wantKind, tt.wantStatus, tt.wantRetryable, tt.wantAfter)
			s, err := p.ChatStream(testContext(t), req)
			if s != nil {
				t.Errorf("ChatStream() returned a stream with error %v", err)
			}
			checkStatusFault(t, "ChatStream()", err, tt.wantKind, tt.wantStatus, tt.wantRetryable, tt.wantAfter)
			if got, want := rec.recorded(), []time.Duration{40 * time.Millisecond, 40 * time.Millisecond}; !slices.Equal(got, want) {
				t.Errorf("waits = %v, want %v (the fault comes after the latency)", got, want)
			}
		})
	}
}

func TestFaultsDrawnFromRates(t *testing.T) {
	for _, tt := range statusFaults {
		if tt.faults == (simulator.Faults{}) {
			continue
		}
		t.Run(tt.fault, func(t *testing.T) {
			p := newProvider(t, simulator.Config{Name: "sim", Faults: tt.faults})
			for range 20 {
				_, err := p.Chat(testContext(t), userRequest("m", "x"))
				checkStatusFault(t, "Chat()", err, tt.wantKind, tt.wantStatus, tt.wantRetryable, tt.wantAfter)
				_, err = p.ChatStream(testContext(t), userRequest("m", "x"))
				checkStatusFault(t, "ChatStream()", err, tt.wantKind, tt.wantStatus, tt.wantRetryable, tt.wantAfter)
			}
		})
	}
}

func TestRetryAfterFollowsFaults(t *testing.T) {
	p := newProvider(t, simulator.Config{Name: "sim", Faults: simulator.Faults{RateLimitRate: 1, RetryAfter: 3 * time.Second}})
	_, err := p.Chat(testContext(t), userRequest("m", "x"))
	checkStatusFault(t, "Chat()", err, llm.KindRateLimited, 429, true, 3*time.Second)
}

func TestFaultShares(t *testing.T) {
	p := newProvider(t, simulator.Config{Seed: 42, Faults: simulator.Faults{ErrorRate: 0.2, RateLimitRate: 0.1, OverloadRate: 0.1, CutRate: 0.1}})
	const n = 5000
	counts := map[llm.ErrorKind]int{}
	for range n {
		_, err := p.Chat(testContext(t), userRequest("m", "x"))
		if err == nil {
			counts[""]++
			continue
		}
		counts[upstream(t, err).Kind]++
	}
	want := map[llm.ErrorKind]float64{"": 0.5, llm.KindServer: 0.2, llm.KindRateLimited: 0.1, llm.KindOverloaded: 0.1, llm.KindConnection: 0.1}
	for kind, share := range want {
		if got := float64(counts[kind]) / n; math.Abs(got-share) > 0.03 {
			t.Errorf("share of %q = %.3f, want %.2f ± 0.03 (counts %v)", kind, got, share, counts)
		}
	}
}

func TestSetFaults(t *testing.T) {
	p := newProvider(t, simulator.Config{})
	down := simulator.Faults{ErrorRate: 1}
	if err := p.SetFaults(down); err != nil {
		t.Fatalf("SetFaults(%+v) = %v", down, err)
	}
	if got := p.Faults(); got != down {
		t.Errorf("Faults() = %+v, want %+v", got, down)
	}
	if _, err := p.Chat(testContext(t), userRequest("m", "x")); !llm.IsRetryable(err) {
		t.Errorf("Chat() while down = %v, want a retryable error", err)
	}
	bad := simulator.Faults{RateLimitRate: 2}
	if err := p.SetFaults(bad); err == nil || !strings.Contains(err.Error(), "rate limit rate is 2") {
		t.Errorf("SetFaults(%+v) = %v, want an error naming the rate limit rate", bad, err)
	}
	if got := p.Faults(); got != down {
		t.Errorf("Faults() after a rejected SetFaults = %+v, want %+v unchanged", got, down)
	}
	if err := p.SetFaults(simulator.Faults{}); err != nil {
		t.Fatalf("SetFaults(none) = %v", err)
	}
	if _, err := p.Chat(testContext(t), userRequest("m", "x")); err != nil {
		t.Errorf("Chat() after recovery = %v, want success", err)
	}
}

func TestSetFaultsUnderLoad(t *testing.T) {
	p := newProvider(t, simulator.Config{TokensPerSecond: 1e6, Latency: simulator.LatencyDist{P50: time.Microsecond, P99: 10 * time.Microsecond}})
	ctx := testContext(t)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				var err error
				if s, serr := p.ChatStream(ctx, userRequest("m", "x")); serr != nil {
					err = serr
				} else {
					_, err = llm.Collect(s)
				}
				if ue, ok := llm.AsUpstream(err); err != nil && (!ok || (ue.Kind != llm.KindServer && ue.Kind != llm.KindRateLimited)) {
					select {
					case errs <- err:
					default:
					}
				}
			}
		})
	}
	drill := []simulator.Faults{{ErrorRate: 1}, {RateLimitRate: 0.5, SlowFactor: 5}, {}}
	for i := range 200 {
		if err := p.SetFaults(drill[i%len(drill)]); err != nil {
			t.Fatalf("SetFaults() = %v", err)
		}
		_ = p.Faults()
		time.Sleep(100 * time.Microsecond)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("request during the drill = %v, want success, a 500 or a 429", err)
	}
}

func TestTimeoutHonoursContext(t *testing.T) {
	tests := []struct {
		name     string
		faults   simulator.Faults
		metadata string
		cancel   bool
		wantKind llm.ErrorKind
		wantErr  error
	}{
		{name: "rate, deadline", faults: simulator.Faults{TimeoutRate: 1}, wantKind: llm.KindTimeout, wantErr: context.DeadlineExceeded},
		{name: "rate, cancel", faults: simulator.Faults{TimeoutRate: 1}, cancel: true, wantKind: llm.KindCanceled, wantErr: context.Canceled},
		{name: "metadata, deadline", metadata: simulator.FaultTimeout, wantKind: llm.KindTimeout, wantErr: context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProvider(t, simulator.Config{Name: "sim", Faults: tt.faults})
			req := userRequest("m", "x")
			if tt.metadata != "" {
				req = withMetadata(req, simulator.MetadataFault, tt.metadata)
			}
			for _, stream := range []bool{false, true} {
				ctx, cancel := context.WithTimeout(testContext(t), 50*time.Millisecond)
				if tt.cancel {
					time.AfterFunc(10*time.Millisecond, cancel)
				}
				start := time.Now()
				var err error
				if stream {
					_, err = p.ChatStream(ctx, req)
				} else {
					_, err = p.Chat(ctx, req)
				}
				cancel()
				if elapsed := time.Since(start); elapsed > 5*time.Second {
					t.Errorf("call (stream %t) returned after %v, want promptly after the context ended", stream, elapsed)
				}
				ue := upstream(t, err)
				if ue.Kind != tt.wantKind || ue.Retryable != tt.wantKind.Retryable() || !errors.Is(err, tt.wantErr) {
					t.Errorf("call (stream %t) = %+v, want %s wrapping %v", stream, ue, tt.wantKind, tt.wantErr)
				}
			}
		})
	}
}

func TestContextEndsDuringLatency(t *testing.T) {
	p := newProvider(t, simulator.Config{Latency: simulator.LatencyDist{P50: time.Hour}})
	ctx, cancel := context.WithTimeout(testContext(t), 20*time.Millisecond)
	defer cancel()
	_, err := p.Chat(ctx, userRequest("m", "x"))
	if ue := upstream(t, err); ue.Kind != llm.KindTimeout || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Chat() = %+v, want a timeout", ue)
	}
	done, cancelDone := context.WithCancel(testContext(t))
	cancelDone()
	if _, err := p.ChatStream(done, userRequest("m", "x")); upstream(t, err).Kind != llm.KindCanceled {
		t.Errorf("ChatStream(cancelled ctx) = %v, want canceled", err)
	}
}

func TestCutStreams(t *testing.T) {
	t.Run("metadata", func(t *testing.T) {
		p := newProvider(t, simulator.Config{Name: "sim"}, simulator.WithSleep(noSleep))
		full := chat(t, p, userRequest("m", "x"))
		n := int(full.Usage.CompletionTokens)
		req := withMetadata(userRequest("m", "x"), simulator.MetadataFault, simulator.FaultCut)
		s, err := p.ChatStream(testContext(t), req)
		if err != nil {
			t.Fatalf("ChatStream() = %v", err)
		}
		defer s.Close()
		var text strings.Builder
		for {
			c, err := s.Recv()
			if err != nil {
				ue := upstream(t, err)
				if ue.Kind != llm.KindConnection || !ue.Retryable || !errors.Is(err, syscall.ECONNRESET) {
					t.Errorf("Recv() = %+v, want a retryable connection reset", ue)
				}
				break
			}
			if c.FinishReason != "" {
				t.Fatalf("Recv() = %+v, want the stream cut before its end", c)
			}
			text.WriteString(c.Content)
		}
		if got := countWords(text.String()); got != n/2 {
			t.Errorf("cut stream sent %d tokens (%q), want %d of %d", got, text.String(), n/2, n)
		}
		if !strings.HasPrefix(full.Message.Content, text.String()) {
			t.Errorf("cut stream text %q is not a prefix of %q", text.String(), full.Message.Content)
		}
		if _, err := s.Recv(); upstream(t, err).Kind != llm.KindConnection {
			t.Errorf("Recv() after the cut = %v, want the same error", err)
		}
		_, err = p.Chat(testContext(t), req)
		if ue := upstream(t, err); ue.Kind != llm.KindConnection || ue.Provider != "sim" {
			t.Errorf("Chat() = %+v, want a connection error", ue)
		}
	})
	t.Run("rate", func(t *testing.T) {
		p := newProvider(t, simulator.Config{Seed: 3, Faults: simulator.Faults{CutRate: 1}}, simulator.WithSleep(noSleep))
		n := int(chat(t, newProvider(t, simulator.Config{}), userRequest("m", "x")).Usage.CompletionTokens)
		for range 50 {
			s, err := p.ChatStream(testContext(t), userRequest("m", "x"))
			if err != nil {
				t.Fatalf("ChatStream() = %v", err)
			}
			sent := 0
			for {
				_, err := s.Recv()
				if err != nil {
					if upstream(t, err).Kind != llm.KindConnection {
						t.Errorf("Recv() = %v, want a connection error", err)
					}
					break
				}
				sent++
			}
			s.Close()
			if sent < 1 || sent >= n {
				t.Errorf("cut stream sent %d of %d tokens, want some but not all", sent, n)
			}
		}
	})
}

func countWords(s string) int { return len(strings.Fields(s)) }

func TestLatencyDistribution(t *testing.T) {
	tests := []struct {
		name    string
		give    simulator.LatencyDist
		slow    float64
		wantP50 time.Duration
		wantP99 time.Duration
	}{
		{name: "lognormal", give: simulator.LatencyDist{P50: 100 * time.Millisecond, P99: time.Second}, wantP50: 100 * time.Millisecond, wantP99: time.Second},
		{name: "slow", give: simulator.LatencyDist{P50: 100 * time.Millisecond, P99: time.Second}, slow: 5, wantP50: 500 * time.Millisecond, wantP99: 5 * time.Second},
		{name: "fixed", give: simulator.LatencyDist{P50: 80 * time.Millisecond}, wantP50: 80 * time.Millisecond, wantP99: 80 * time.Millisecond},
		{name: "fixed by equal percentiles", give: simulator.LatencyDist{P50: 80 * time.Millisecond, P99: 80 * time.Millisecond}, wantP50: 80 * time.Millisecond, wantP99: 80 * time.Millisecond},
		{name: "none", give: simulator.LatencyDist{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			p := newProvider(t, simulator.Config{Seed: 9, Latency: tt.give, Faults: simulator.Faults{SlowFactor: tt.slow}}, simulator.WithSleep(rec.sleep))
			const n = 20000
			req := withMetadata(userRequest("m", "x"), simulator.MetadataReply, "one")
			for range n {
				chat(t, p, req)
			}
			waits := rec.recorded()
			slices.Sort(waits)
			p50, p99 := waits[n/2], waits[n*99/100]
			if !near(p50, tt.wantP50, 0.1) || !near(p99, tt.wantP99, 0.2) {
				t.Errorf("sampled p50, p99 = %v, %v; want %v ± 10%%, %v ± 20%%", p50, p99, tt.wantP50, tt.wantP99)
			}
			if maxWait := waits[n-1]; maxWait > 10*tt.wantP99 {
				t.Errorf("longest wait = %v, want at most 10 × p99 = %v", maxWait, 10*tt.wantP99)
			}
		})
	}
}

func near(got, want time.Duration, tolerance float64) bool {
	return math.Abs(float64(got-want)) <= tolerance*float64(want)
}

func TestTiming(t *testing.T) {
	rec := &recorder{}
	p := newProvider(t, simulator.Config{TokensPerSecond: 10, Latency: simulator.LatencyDist{P50: 200 * time.Millisecond}}, simulator.WithSleep(rec.sleep))
	req := withMetadata(userRequest("m", "x"), simulator.MetadataReply, "one two three four")

	chat(t, p, req)
	if got, want := rec.recorded(), []time.Duration{200*time.Millisecond + 3*100*time.Millisecond}; !slices.Equal(got, want) {
		t.Errorf("Chat() waits = %v, want %v (latency, then three more tokens at 10/s)", got, want)
	}

	rec.waits = nil
	collect(t, p, req)
	if got, want := rec.recorded(), []time.Duration{200 * time.Millisecond, 100 * time.Millisecond, 100 * time.Millisecond, 100 * time.Millisecond}; !slices.Equal(got, want) {
		t.Errorf("stream waits = %v, want %v", got, want)
	}

	rec.waits = nil
	req.Metadata[simulator.MetadataLatency] = "1.5s"
	if err := p.SetFaults(simulator.Faults{SlowFactor: 2}); err != nil {
		t.Fatal(err)
	}
	collect(t, p, req)
	if got, want := rec.recorded(), []time.Duration{1500 * time.Millisecond, 200 * time.Millisecond, 200 * time.Millisecond, 200 * time.Millisecond}; !slices.Equal(got, want) {
		t.Errorf("stream waits with latency %s and slow factor 2 = %v, want %v", "1.5s", got, want)
	}
}

func TestCloseDuringRecv(t *testing.T) {
	// Real timers: one token, then an hour until the next.
	p := newProvider(t, simulator.Config{TokensPerSecond: 1.0 / 3600})
	s, err := p.ChatStream(testContext(t), userRequest("m", "x"))
	if err != nil {
		t.Fatalf("ChatStream() = %v", err)
	}
	if _, err := s.Recv(); err != nil {
		t.Fatalf("first Recv() = %v", err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := s.Recv()
		errc <- err
	}()
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			time.Sleep(10 * time.Millisecond)
			if err := s.Close(); err != nil {
				t.Errorf("Close() = %v, want nil", err)
			}
		})
	}
	select {
	case err := <-errc:
		ue := upstream(t, err)
		if ue.Kind != llm.KindCanceled || ue.Retryable || !errors.Is(err, context.Canceled) {
			t.Errorf("Recv() during Close = %+v, want canceled", ue)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Recv() still blocked 5s after Close()")
	}
	wg.Wait()
	if _, err := s.Recv(); err == nil || err == io.EOF {
		t.Errorf("Recv() after Close() = %v, want an error", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close() again = %v, want nil", err)
	}
}

func TestStreamDeadline(t *testing.T) {
	p := newProvider(t, simulator.Config{TokensPerSecond: 1.0 / 3600})
	ctx, cancel := context.WithTimeout(testContext(t), 30*time.Millisecond)
	defer cancel()
	s, err := p.ChatStream(ctx, userRequest("m", "x"))
	if err != nil {
		t.Fatalf("ChatStream() = %v", err)
	}
	defer s.Close()
	if _, err := s.Recv(); err != nil {
		t.Fatalf("first Recv() = %v", err)
	}
	_, err = s.Recv()
	if ue := upstream(t, err); ue.Kind != llm.KindTimeout || !ue.Retryable || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Recv() past the deadline = %+v, want a retryable timeout", ue)
	}
}

func TestCloseBeforeRecv(t *testing.T) {
	p := newProvider(t, simulator.Config{})
	s, err := p.ChatStream(testContext(t), userRequest("m", "x"))
	if err != nil {
		t.Fatalf("ChatStream() = %v", err)
	}
	s.Close()
	if _, err := s.Recv(); upstream(t, err).Kind != llm.KindCanceled {
		t.Errorf("Recv() after Close() = %v, want canceled", err)
	}
}

func TestStreamAfterEOF(t *testing.T) {
	p := newProvider(t, simulator.Config{})
	s, err := p.ChatStream(testContext(t), userRequest("m", "x"))
	if err != nil {
		t.Fatalf("ChatStream() = %v", err)
	}
	if _, err := llm.Collect(s); err != nil {
		t.Fatalf("Collect() = %v", err)
	}
	for range 2 {
		if _, err := s.Recv(); err != io.EOF {
			t.Errorf("Recv() after the end = %v, want io.EOF", err)
		}
	}
}
