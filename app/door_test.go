package app

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/llmgateway/llmgateway/config"
	pb "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
	"github.com/llmgateway/llmgateway/interceptors/auth"
	"github.com/llmgateway/llmgateway/state/redistest"
	"github.com/llmgateway/llmgateway/surface/httperr"
)

// syncBuffer collects log output written from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// apiKey is a key made for a test: the key callers send and its config
// entry.
type apiKey struct {
	id, key, hash string
}

func newKey(t testing.TB, id string) apiKey {
	t.Helper()
	k, h, err := auth.Generate(id)
	if err != nil {
		t.Fatal(err)
	}
	return apiKey{id: id, key: k, hash: h}
}

// entry is the key's config entry with extra YAML flow-mapping fields.
func (k apiKey) entry(extra string) string {
	e := "  - {id: " + k.id + ", secret_sha256: " + k.hash
	if extra != "" {
		e += ", " + extra
	}
	return e + "}\n"
}

// doorBase is the providers and models of the door's tests: gpt-4.1 at
// $2/$8 per million tokens, and a slow model for requests held in flight.
const doorBase = `
server:
  drain_timeout: 5s
  max_request_bytes: 65536
providers:
  - name: sim-a
    type: simulator
  - name: sim-slow
    type: simulator
    simulator:
      tokens_per_second: 20
models:
  - name: gpt-4.1
    aliases: [gpt-4]
    deployments: [{provider: sim-a}]
    pricing: {input_per_mtok: 2, output_per_mtok: 8}
  - name: deepseek-v3.2
    aliases: [deepseek-chat]
    deployments: [{provider: sim-a}]
    pricing: {input_per_mtok: 0.28, output_per_mtok: 0.42}
  - name: slow-model
    deployments: [{provider: sim-slow}]
    pricing: {input_per_mtok: 2, output_per_mtok: 8}
`

// startDoor runs a gateway on cfgYAML, logging to logs when non-nil.
func startDoor(t *testing.T, cfgYAML string, logs io.Writer) *running {
	t.Helper()
	cfg, err := config.Parse([]byte(cfgYAML))
	if err != nil {
		t.Fatal(err)
	}
	return startCfg(t, cfg, logs)
}

func startCfg(t *testing.T, cfg *config.Config, logs io.Writer) *running {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	if logs != nil {
		logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	gw, err := FromConfig(cfg, logger, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	return serveGateway(t, gw)
}

// shutdown stops r and waits for Serve to return (flushing the ledger).
func (r *running) shutdown(t *testing.T) {
	t.Helper()
	r.conn.Close()
	r.stop()
	if err := r.wait(t); err != nil {
		t.Fatalf("Serve() = %v", err)
	}
}

func withKey(ctx context.Context, key string) context.Context {
	if key == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+key)
}

// call is one chat request as a test sends it on any surface.
type call struct {
	auth      string // the Authorization value; "" for none
	model     string
	content   string
	maxTokens int
	reply     string // the simulator's reply, when set
}

func (c call) withDefaults() call {
	if c.model == "" {
		c.model = "gpt-4.1"
	}
	if c.content == "" {
		c.content = "hello there"
	}
	if c.maxTokens == 0 {
		c.maxTokens = 16
	}
	return c
}

// result is how a surface answered: the HTTP status (gRPC codes mapped as
// the HTTP surfaces map them), the reason (the ErrorInfo reason, or for
// the OpenAI surface its error code), whether it said when to retry, and
// the message.
type result struct {
	status     int
	reason     string
	retryAfter bool
	quota      bool // a QuotaFailure detail (gRPC only)
	message    string
	costUSD    float64
}

// surfaceClient sends a chat request on one surface.
type surfaceClient struct {
	name string
	chat func(t *testing.T, r *running, c call) result
}

func bearer(key string) string {
	if key == "" {
		return ""
	}
	return "Bearer " + key
}

var surfaces = []surfaceClient{
	{"grpc", grpcChat},
	{"rest", restChat},
	{"openai", openaiChat},
}

func grpcChat(t *testing.T, r *running, c call) result {
	t.Helper()
	c = c.withDefaults()
	ctx := tctx(t)
	if c.auth != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", c.auth)
	}
	mt := int32(c.maxTokens)
	req := &pb.ChatRequest{Model: c.model, MaxTokens: &mt, Messages: []*pb.Message{{Role: "user", Content: c.content}}}
	if c.reply != "" {
		req.Metadata = map[string]string{"simulator.reply": c.reply}
	}
	resp, err := r.client.Chat(ctx, req)
	if err == nil {
		return result{status: 200, costUSD: resp.GetCostUsd()}
	}
	return fromStatus(status.Convert(err))
}

func fromStatus(st *status.Status) result {
	res := result{status: httperr.Status(st), reason: httperr.Reason(st), message: st.Message()}
	for _, d := range st.Details() {
		switch d.(type) {
		case *errdetails.RetryInfo:
			res.retryAfter = true
		case *errdetails.QuotaFailure:
			res.quota = true
		}
	}
	return res
}

func postJSON(t *testing.T, url, authz string, body any) (*http.Response, []byte) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(tctx(t), http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, out
}

func chatBody(c call) map[string]any {
	body := map[string]any{
		"model":      c.model,
		"max_tokens": c.maxTokens,
		"messages":   []map[string]string{{"role": "user", "content": c.content}},
	}
	if c.reply != "" {
		body["metadata"] = map[string]string{"simulator.reply": c.reply}
	}
	return body
}

func restChat(t *testing.T, r *running, c call) result {
	t.Helper()
	c = c.withDefaults()
	resp, body := postJSON(t, "http://"+r.httpAddr+"/api/v1/chat", c.auth, chatBody(c))
	res := result{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After") != ""}
	if resp.StatusCode == 200 {
		var v struct {
			CostUSD float64 `json:"cost_usd"`
		}
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatalf("REST body %s: %v", body, err)
		}
		res.costUSD = v.CostUSD
		return res
	}
	var v struct {
		Message string  `json:"message"`
		CostUSD float64 `json:"cost_usd"`
		Details []struct {
			Type   string `json:"@type"`
			Reason string `json:"reason"`
		} `json:"details"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("REST body %s: %v", body, err)
	}
	res.message, res.costUSD = v.Message, v.CostUSD
	for _, d := range v.Details {
		if strings.HasSuffix(d.Type, "ErrorInfo") {
			res.reason = d.Reason
		}
	}
	return res
}

func openaiChat(t *testing.T, r *running, c call) result {
	t.Helper()
	c = c.withDefaults()
	resp, body := postJSON(t, "http://"+r.httpAddr+"/v1/chat/completions", c.auth, chatBody(c))
	res := result{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After") != ""}
	if resp.StatusCode == 200 {
		return res
	}
	var v struct {
		Error struct {
			Message string `json:"message"`
			Code    string `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("OpenAI body %s: %v", body, err)
	}
	res.message, res.reason = v.Error.Message, v.Error.Code
	return res
}

// wantReason is the reason each surface reports for a gateway reason:
// the ErrorInfo reason, or the OpenAI surface's error code.
func wantReason(surface, reason string) string {
	if surface != "openai" {
		return reason
	}
	switch reason {
	case httperr.ReasonUnauthenticated:
		return "invalid_api_key"
	case httperr.ReasonRateLimited:
		return "rate_limit_exceeded"
	case httperr.ReasonBudgetExceeded:
		return "insufficient_quota"
	}
	return strings.ToLower(reason)
}

// TestDoorOnEverySurface proves each rule of the door on gRPC, the REST
// facade and the OpenAI-compatible surface.
func TestDoorOnEverySurface(t *testing.T) {
	keys := map[string]apiKey{}
	var yaml strings.Builder
	yaml.WriteString(doorBase + "keys:\n")
	for _, s := range surfaces {
		for _, k := range []struct{ name, extra string }{
			{"plain", ""},
			{"acl", "models: [gpt-4.1, 'deep*']"},
			{"rpm", "rpm: 2"},
			{"tpm", "tpm: 10"},
			{"conc", "max_concurrent: 1"},
			{"budget", "budget: {daily_usd: 0.005}"},
		} {
			ak := newKey(t, s.name+"_"+k.name)
			keys[ak.id] = ak
			yaml.WriteString(ak.entry(k.extra))
		}
	}
	var logs syncBuffer
	r := startDoor(t, yaml.String()+"ledger: {path: "+filepath.Join(t.TempDir(), "usage.db")+"}\n", &logs)

	for _, s := range surfaces {
		key := func(name string) string { return keys[s.name+"_"+name].key }
		t.Run(s.name, func(t *testing.T) {
			check := func(t *testing.T, got result, wantStatus int, reason string) {
				t.Helper()
				if got.status != wantStatus || reason != "" && got.reason != wantReason(s.name, reason) {
					t.Fatalf("%s: status %d reason %q (%s), want %d %q", s.name, got.status, got.reason, got.message, wantStatus, wantReason(s.name, reason))
				}
			}
			t.Run("unauthenticated", func(t *testing.T) {
				wrong := keys[s.name+"_plain"]
				id, _, _ := auth.ParseKey(wrong.key)
				tests := []struct {
					name string
					give string
				}{
					{"no key", ""},
					{"not bearer", "Basic " + wrong.key},
					{"wrong prefix", "Bearer pk-" + id + "-abc"},
					{"no secret", "Bearer sk-" + id},
					{"bad characters", "Bearer sk-" + id + "-ab$cd"},
					{"oversized", "Bearer sk-" + id + "-" + strings.Repeat("a", 600)},
					{"unknown id", "Bearer sk-nobody-" + strings.Repeat("a", 40)},
					{"wrong secret", "Bearer sk-" + id + "-" + strings.Repeat("a", 40)},
				}
				for _, tt := range tests {
					t.Run(tt.name, func(t *testing.T) {
						got := s.chat(t, r, call{auth: tt.give})
						check(t, got, 401, httperr.ReasonUnauthenticated)
						if strings.Contains(got.message, wrong.key[10:]) {
							t.Errorf("message %q repeats the key", got.message)
						}
					})
				}
				if got := s.chat(t, r, call{auth: bearer(key("plain"))}); got.status != 200 {
					t.Fatalf("valid key: %+v", got)
				}
			})
			t.Run("model allowlist", func(t *testing.T) {
				check(t, s.chat(t, r, call{auth: bearer(key("acl")), model: "slow-model"}), 403, httperr.ReasonPermissionDenied)
				check(t, s.chat(t, r, call{auth: bearer(key("acl")), model: "gpt-4"}), 200, "") // an alias of gpt-4.1
				check(t, s.chat(t, r, call{auth: bearer(key("acl")), model: "deepseek-chat"}), 200, "")
			})
			t.Run("rpm", func(t *testing.T) {
				for range 2 {
					check(t, s.chat(t, r, call{auth: bearer(key("rpm"))}), 200, "")
				}
				got := s.chat(t, r, call{auth: bearer(key("rpm"))})
				check(t, got, 429, httperr.ReasonRateLimited)
				if !got.retryAfter || !strings.Contains(got.message, "rpm") {
					t.Errorf("rpm refusal %+v: want a retry delay and a message naming rpm", got)
				}
			})
			t.Run("tpm", func(t *testing.T) {
				// The first request may take the whole allowance and more;
				// the next waits until it is repaid.
				check(t, s.chat(t, r, call{auth: bearer(key("tpm")), maxTokens: 50}), 200, "")
				got := s.chat(t, r, call{auth: bearer(key("tpm")), maxTokens: 5})
				check(t, got, 429, httperr.ReasonRateLimited)
				if !got.retryAfter || !strings.Contains(got.message, "tpm") {
					t.Errorf("tpm refusal %+v: want a retry delay and a message naming tpm", got)
				}
			})
			t.Run("max_concurrent", func(t *testing.T) {
				ctx, cancel := context.WithCancel(tctx(t))
				defer cancel()
				mt := int32(60)
				st, err := r.client.ChatStream(withKey(ctx, key("conc")), &pb.ChatRequest{Model: "slow-model", MaxTokens: &mt,
					Metadata: map[string]string{"simulator.reply": strings.Repeat("word ", 60)},
					Messages: []*pb.Message{{Role: "user", Content: "long answer"}}})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := st.Recv(); err != nil {
					t.Fatal(err)
				}
				got := s.chat(t, r, call{auth: bearer(key("conc"))})
				check(t, got, 429, httperr.ReasonRateLimited)
				if !got.retryAfter || !strings.Contains(got.message, "max_concurrent") {
					t.Errorf("concurrency refusal %+v: want a retry delay and a message naming max_concurrent", got)
				}
				cancel() // the held request ends: its slot frees
				deadline := time.Now().Add(10 * time.Second)
				for s.chat(t, r, call{auth: bearer(key("conc"))}).status != 200 {
					if time.Now().After(deadline) {
						t.Fatal("the slot of a cancelled stream was never freed")
					}
					time.Sleep(20 * time.Millisecond)
				}
			})
			t.Run("budget", func(t *testing.T) {
				// 1000 tokens at $8 per million cannot fit a $0.005 budget.
				got := s.chat(t, r, call{auth: bearer(key("budget")), maxTokens: 1000})
				check(t, got, 429, httperr.ReasonBudgetExceeded)
				if s.name == "grpc" && !got.quota {
					t.Errorf("budget refusal has no QuotaFailure detail: %+v", got)
				}
				if !strings.Contains(got.message, "daily budget") {
					t.Errorf("budget message %q does not name the daily budget", got.message)
				}
				// Spend it: each request costs about $0.0002.
				reply := strings.Repeat("word ", 30)
				var spent float64
				for i := 0; ; i++ {
					got := s.chat(t, r, call{auth: bearer(key("budget")), maxTokens: 20, reply: reply})
					if got.status == 429 {
						check(t, got, 429, httperr.ReasonBudgetExceeded)
						break
					}
					check(t, got, 200, "")
					spent += got.costUSD
					if i > 100 {
						t.Fatal("the budget never ran out")
					}
				}
				if s.name != "openai" && (spent > 0.005 || spent < 0.004) {
					t.Errorf("spent $%.6f of a $0.005 budget before the refusal, want between $0.004 and $0.005", spent)
				}
			})
		})
	}
	leaks := []string{"hello there", "long answer"}
	for _, k := range keys {
		_, secret, _ := auth.ParseKey(k.key)
		leaks = append(leaks, secret)
	}
	for _, leak := range leaks {
		if strings.Contains(logs.String(), leak) {
			t.Errorf("the logs contain %q", leak)
		}
	}
}

// TestDoorStreams holds streams to the same rules as unary calls, on gRPC
// and the two HTTP surfaces' streaming endpoints.
func TestDoorStreams(t *testing.T) {
	rpm, bud := newKey(t, "srpm"), newKey(t, "sbudget")
	r := startDoor(t, doorBase+"keys:\n"+rpm.entry("rpm: 3")+bud.entry("budget: {daily_usd: 0.001}"), nil)
	mt := int32(16)
	grpcStream := func(key string, maxTokens int32) error {
		st, err := r.client.ChatStream(withKey(tctx(t), key), &pb.ChatRequest{Model: "gpt-4.1", MaxTokens: &maxTokens,
			Messages: []*pb.Message{{Role: "user", Content: "hi"}}})
		if err != nil {
			return err
		}
		for {
			if _, err := st.Recv(); err == io.EOF {
				return nil
			} else if err != nil {
				return err
			}
		}
	}
	restStream := func(key string) int {
		resp, _ := postJSON(t, "http://"+r.httpAddr+"/api/v1/chat:stream", bearer(key),
			map[string]any{"model": "gpt-4.1", "max_tokens": 16, "messages": []map[string]string{{"role": "user", "content": "hi"}}})
		return resp.StatusCode
	}
	openaiStream := func(key string) int {
		resp, _ := postJSON(t, "http://"+r.httpAddr+"/v1/chat/completions", bearer(key),
			map[string]any{"model": "gpt-4.1", "stream": true, "max_tokens": 16, "messages": []map[string]string{{"role": "user", "content": "hi"}}})
		return resp.StatusCode
	}
	if err := grpcStream(rpm.key, mt); err != nil {
		t.Fatal(err)
	}
	if code := restStream(rpm.key); code != 200 {
		t.Fatalf("REST stream = %d", code)
	}
	if code := openaiStream(rpm.key); code != 200 {
		t.Fatalf("OpenAI stream = %d", code)
	}
	if err := grpcStream(rpm.key, mt); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("4th stream of an rpm-3 key = %v, want ResourceExhausted", err)
	}
	if code := restStream(rpm.key); code != 429 {
		t.Errorf("REST stream over rpm = %d, want 429", code)
	}
	if code := openaiStream(rpm.key); code != 429 {
		t.Errorf("OpenAI stream over rpm = %d, want 429", code)
	}
	if err := grpcStream(bud.key, 1000); status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "budget") {
		t.Errorf("stream over budget = %v, want ResourceExhausted naming the budget", err)
	}
	if err := grpcStream("", mt); status.Code(err) != codes.Unauthenticated {
		t.Errorf("stream without key = %v, want Unauthenticated", err)
	}
}

// TestProbesNeedNoKey checks that health checks and reflection (what
// grpcurl list and describe use) work without a key while the service
// itself refuses calls without one.
func TestProbesNeedNoKey(t *testing.T) {
	k := newKey(t, "acl")
	r := startDoor(t, doorBase+"keys:\n"+k.entry("models: [gpt-4.1]"), nil)
	resp, err := healthpb.NewHealthClient(r.conn).Check(tctx(t), &healthpb.HealthCheckRequest{})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health Check without key = %v, %v; want SERVING", resp, err)
	}
	rc, err := reflectpb.NewServerReflectionClient(r.conn).ServerReflectionInfo(tctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Send(&reflectpb.ServerReflectionRequest{MessageRequest: &reflectpb.ServerReflectionRequest_FileContainingSymbol{
		FileContainingSymbol: "llmgateway.v1.LLMGatewayService"}}); err != nil {
		t.Fatal(err)
	}
	if rresp, err := rc.Recv(); err != nil || rresp.GetFileDescriptorResponse() == nil {
		t.Errorf("reflection describe without key = %v, %v", rresp, err)
	}
	rc.CloseSend()
	if _, err := r.client.ListModels(tctx(t), &pb.ListModelsRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("ListModels without key = %v, want Unauthenticated", err)
	}
	// ListModels lists only the models the key may use.
	lm, err := r.client.ListModels(withKey(tctx(t), k.key), &pb.ListModelsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(lm.GetModels()) != 1 || lm.GetModels()[0].GetName() != "gpt-4.1" {
		t.Errorf("ListModels for a gpt-4.1 key = %v, want only gpt-4.1", lm.GetModels())
	}
	if resp, err := http.Get("http://" + r.httpAddr + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Errorf("GET /healthz = %v, %v", resp, err)
	} else {
		resp.Body.Close()
	}
}

// waitUsage polls GetUsage with key until the ledger holds n requests.
func waitUsage(t *testing.T, r *running, key string, n int64) *pb.GetUsageResponse {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		u, err := r.client.GetUsage(withKey(tctx(t), key), &pb.GetUsageRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if u.GetTotal().GetRequests() >= n {
			return u
		}
		if time.Now().After(deadline) {
			t.Fatalf("ledger holds %d requests, want %d", u.GetTotal().GetRequests(), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestUsage(t *testing.T) {
	alice, bob, root := newKey(t, "alice"), newKey(t, "bob"), newKey(t, "root")
	dbPath := filepath.Join(t.TempDir(), "usage.db")
	r := startDoor(t, doorBase+"keys:\n"+
		alice.entry("labels: {team: cs, app: bot}, rpm: 2")+bob.entry("")+root.entry("admin: true")+
		"ledger: {path: "+dbPath+"}\n", nil)

	for _, c := range []struct {
		s   surfaceClient
		key apiKey
	}{{surfaces[0], alice}, {surfaces[1], alice}, {surfaces[2], bob}} {
		if got := c.s.chat(t, r, call{auth: bearer(c.key.key)}); got.status != 200 {
			t.Fatalf("%s chat = %+v", c.s.name, got)
		}
	}
	// A refusal is recorded too.
	if got := grpcChat(t, r, call{auth: bearer(alice.key)}); got.status != 429 {
		t.Fatalf("3rd request of an rpm-2 key = %+v, want 429", got)
	}
	all := waitUsage(t, r, root.key, 4)
	byKey := map[string]int64{}
	for _, b := range all.GetByKey() {
		byKey[b.GetName()] = b.GetTotals().GetRequests()
	}
	if byKey["alice"] != 3 || byKey["bob"] != 1 || all.GetTotal().GetErrors() != 1 {
		t.Errorf("admin usage by key = %v (errors %d), want alice 3, bob 1, 1 error", byKey, all.GetTotal().GetErrors())
	}
	if all.GetTotal().GetCostUsd() <= 0 || all.GetTotal().GetPromptTokens() <= 0 || len(all.GetByDay()) != 1 ||
		len(all.GetByModel()) != 1 || all.GetByProvider()[0].GetName() != "sim-a" {
		t.Errorf("admin usage = %v", all)
	}

	own, err := r.client.GetUsage(withKey(tctx(t), alice.key), &pb.GetUsageRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(own.GetByKey()) != 1 || own.GetByKey()[0].GetName() != "alice" || own.GetTotal().GetRequests() != 3 {
		t.Errorf("alice's own usage = %v, want only alice's 3 requests", own)
	}
	if _, err := r.client.GetUsage(withKey(tctx(t), alice.key), &pb.GetUsageRequest{KeyId: "bob"}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("alice reading bob's usage = %v, want PermissionDenied", err)
	}
	if u, err := r.client.GetUsage(withKey(tctx(t), root.key), &pb.GetUsageRequest{KeyId: "bob"}); err != nil || u.GetTotal().GetRequests() != 1 {
		t.Errorf("admin reading bob's usage = %v, %v; want bob's 1 request", u, err)
	}
	now := time.Now()
	_, err = r.client.GetUsage(withKey(tctx(t), alice.key), &pb.GetUsageRequest{
		StartTime: timestamppb.New(now), EndTime: timestamppb.New(now.Add(-time.Hour))})
	if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "start_time") {
		t.Errorf("inverted range = %v, want InvalidArgument naming start_time", err)
	}
	if _, err := r.client.GetUsage(tctx(t), &pb.GetUsageRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("GetUsage without key = %v, want Unauthenticated", err)
	}

	get := func(path, key string) (int, []byte) {
		req, _ := http.NewRequestWithContext(tctx(t), http.MethodGet, "http://"+r.httpAddr+path, nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	code, body := get("/api/v1/usage", alice.key)
	var rest struct {
		Total struct {
			Requests string `json:"requests"`
		} `json:"total"`
		ByKey []struct {
			Name string `json:"name"`
		} `json:"by_key"`
	}
	if err := json.Unmarshal(body, &rest); code != 200 || err != nil || rest.Total.Requests != "3" || len(rest.ByKey) != 1 {
		t.Errorf("GET /api/v1/usage as alice = %d %s", code, body)
	}
	inverted := fmt.Sprintf("/api/v1/usage?start_time=%s&end_time=%s", now.UTC().Format(time.RFC3339), now.Add(-time.Hour).UTC().Format(time.RFC3339))
	if code, body := get(inverted, alice.key); code != 400 || !bytes.Contains(body, []byte("start_time")) {
		t.Errorf("GET inverted range = %d %s, want 400 naming start_time", code, body)
	}
	if code, _ := get("/api/v1/usage?key_id=bob", alice.key); code != 403 {
		t.Errorf("GET bob's usage as alice = %d, want 403", code)
	}
	if code, _ := get("/api/v1/usage", ""); code != 401 {
		t.Errorf("GET usage without key = %d, want 401", code)
	}

	// The records hold what the issue lists, with the surface each call
	// came in on.
	r.shutdown(t)
	db, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT key_id, labels, surface, method, requested_model, model, provider, attempts,
		prompt_tokens, completion_tokens, cost_usd, latency_ms, status, request_id FROM requests ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var key, labels, surface, method, req, model, prov, status, rid string
		var attempts, pt, ct int
		var cost, lat float64
		if err := rows.Scan(&key, &labels, &surface, &method, &req, &model, &prov, &attempts, &pt, &ct, &cost, &lat, &status, &rid); err != nil {
			t.Fatal(err)
		}
		if lat <= 0 || rid == "" || status == "OK" && (pt == 0 || ct == 0 || cost <= 0 || attempts != 1 || prov != "sim-a") {
			t.Errorf("record %s/%s/%s: tokens %d/%d, cost %v, latency %v, attempts %d, provider %q, request id %q",
				key, surface, status, pt, ct, cost, lat, attempts, prov, rid)
		}
		got = append(got, strings.Join([]string{key, labels, surface, method, req, model, status}, " "))
	}
	want := []string{
		`alice {"app":"bot","team":"cs"} grpc chat gpt-4.1 gpt-4.1 OK`,
		`alice {"app":"bot","team":"cs"} rest chat gpt-4.1 gpt-4.1 OK`,
		`bob {} openai chat gpt-4.1 gpt-4.1 OK`,
		`alice {"app":"bot","team":"cs"} grpc chat gpt-4.1 gpt-4.1 ResourceExhausted`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("records:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestBudgetUnderConcurrency sends 200 concurrent requests against a small
// budget: the spend may pass the budget only by what the admitted requests
// cost beyond their reservations.
func TestBudgetUnderConcurrency(t *testing.T) {
	k := newKey(t, "team")
	const budget = 0.002
	r := startDoor(t, doorBase+"keys:\n"+k.entry(fmt.Sprintf("budget: {daily_usd: %v}", budget)), nil)
	reply := strings.Repeat("word ", 40)
	var ok, refused atomic.Int64
	var mu sync.Mutex
	var costs []float64
	var wg sync.WaitGroup
	for range 200 {
		wg.Go(func() {
			mt := int32(20)
			resp, err := r.client.Chat(withKey(tctx(t), k.key), &pb.ChatRequest{Model: "gpt-4.1", MaxTokens: &mt,
				Metadata: map[string]string{"simulator.reply": reply},
				Messages: []*pb.Message{{Role: "user", Content: "what is the status of order 1234?"}}})
			switch {
			case err == nil:
				ok.Add(1)
				mu.Lock()
				costs = append(costs, resp.GetCostUsd())
				mu.Unlock()
			case httperr.Reason(status.Convert(err)) == httperr.ReasonBudgetExceeded:
				refused.Add(1)
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	// Each request reserves its prompt estimate plus 20 output tokens;
	// the simulator counts the prompt in its own way, so allow each
	// admitted request an overshoot of 20 prompt tokens at $2 per million.
	const perRequestOvershoot = 20 * 2.0 / 1e6
	var spent float64
	for _, c := range costs {
		spent += c
	}
	bound := budget + float64(len(costs))*perRequestOvershoot
	t.Logf("200 requests: %d admitted, %d refused, $%.6f spent of $%.4f (bound $%.6f)", ok.Load(), refused.Load(), spent, budget, bound)
	if spent > bound {
		t.Errorf("spent $%.6f, more than the budget plus the in-flight reservations allow ($%.6f)", spent, bound)
	}
	if ok.Load() == 0 || refused.Load() == 0 || ok.Load()+refused.Load() != 200 {
		t.Errorf("%d admitted and %d refused, want both, adding up to 200", ok.Load(), refused.Load())
	}
}

// TestBudgetSurvivesRestart spends a budget, restarts the gateway on the
// same ledger, and finds the budget still spent.
func TestBudgetSurvivesRestart(t *testing.T) {
	k := newKey(t, "team")
	cfgYAML := doorBase + "keys:\n" + k.entry("budget: {daily_usd: 0.001, monthly_usd: 10}") +
		"ledger: {path: " + filepath.Join(t.TempDir(), "usage.db") + "}\n"
	r := startDoor(t, cfgYAML, nil)
	reply := strings.Repeat("word ", 40)
	for i := 0; ; i++ {
		got := grpcChat(t, r, call{auth: bearer(k.key), maxTokens: 20, reply: reply})
		if got.status == 429 {
			break
		}
		if got.status != 200 || i > 50 {
			t.Fatalf("request %d: %+v", i, got)
		}
	}
	r.shutdown(t)
	r2 := startDoor(t, cfgYAML, nil)
	if got := grpcChat(t, r2, call{auth: bearer(k.key), maxTokens: 20, reply: reply}); got.status != 429 || got.reason != httperr.ReasonBudgetExceeded {
		t.Errorf("after a restart: %+v, want the budget still exhausted", got)
	}
}

// TestTwoInstancesShareRedis runs two gateways on one Redis: a per-key
// rate limit, concurrency cap and budget hold across both.
func TestTwoInstancesShareRedis(t *testing.T) {
	addr := redistest.New(t)
	rpm, conc, bud := newKey(t, "rpm"), newKey(t, "conc"), newKey(t, "budget")
	const budget = 0.002
	yaml := doorBase + "keys:\n" + rpm.entry("rpm: 4") + conc.entry("max_concurrent: 1") +
		bud.entry(fmt.Sprintf("budget: {daily_usd: %v}", budget)) +
		"state: {backend: redis, redis: {addr: '" + addr + "', prefix: '" + redistest.Prefix(t) + "', failure_mode: closed}}\n"
	a := startDoor(t, yaml, nil)
	b := startDoor(t, yaml, nil)

	for i, g := range []*running{a, b, a, b} {
		if got := grpcChat(t, g, call{auth: bearer(rpm.key)}); got.status != 200 {
			t.Fatalf("request %d: %+v", i+1, got)
		}
	}
	for name, g := range map[string]*running{"a": a, "b": b} {
		if got := restChat(t, g, call{auth: bearer(rpm.key)}); got.status != 429 || got.reason != httperr.ReasonRateLimited {
			t.Errorf("5th request of an rpm-4 key on %s = %+v, want 429 RATE_LIMITED", name, got)
		}
	}

	ctx, cancel := context.WithCancel(tctx(t))
	defer cancel()
	mt := int32(60)
	st, err := a.client.ChatStream(withKey(ctx, conc.key), &pb.ChatRequest{Model: "slow-model", MaxTokens: &mt,
		Metadata: map[string]string{"simulator.reply": strings.Repeat("word ", 60)},
		Messages: []*pb.Message{{Role: "user", Content: "long"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err != nil {
		t.Fatal(err)
	}
	if got := openaiChat(t, b, call{auth: bearer(conc.key)}); got.status != 429 {
		t.Errorf("request on b while a holds the only slot = %+v, want 429", got)
	}
	cancel()

	reply := strings.Repeat("word ", 40)
	var spent float64
	admitted := 0
	for i := 0; ; i++ {
		g := []*running{a, b}[i%2]
		got := grpcChat(t, g, call{auth: bearer(bud.key), maxTokens: 20, reply: reply})
		if got.status == 429 {
			if got.reason != httperr.ReasonBudgetExceeded {
				t.Fatalf("refusal %+v, want BUDGET_EXCEEDED", got)
			}
			// The other instance refuses too.
			other := []*running{a, b}[(i+1)%2]
			if got := grpcChat(t, other, call{auth: bearer(bud.key), maxTokens: 20, reply: reply}); got.status != 429 {
				t.Errorf("the other instance = %+v, want the shared budget exhausted there too", got)
			}
			break
		}
		if got.status != 200 || i > 100 {
			t.Fatalf("request %d: %+v", i, got)
		}
		spent += got.costUSD
		admitted++
	}
	if spent > budget || spent < budget/2 || admitted < 4 {
		t.Errorf("two instances spent $%.6f in %d requests of a $%v budget", spent, admitted, budget)
	}
}

func TestRedisFailureModes(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	k := newKey(t, "k")
	for _, tt := range []struct {
		mode       string
		wantStatus int
	}{{"open", 200}, {"closed", 503}} {
		t.Run(tt.mode, func(t *testing.T) {
			var logs syncBuffer
			r := startDoor(t, doorBase+"keys:\n"+k.entry("rpm: 100")+
				"state: {backend: redis, redis: {addr: '"+dead+"', timeout: 100ms, failure_mode: "+tt.mode+"}}\n", &logs)
			for _, s := range surfaces {
				if got := s.chat(t, r, call{auth: bearer(k.key)}); got.status != tt.wantStatus {
					t.Errorf("%s with Redis down, failing %s = %+v, want %d", s.name, tt.mode, got, tt.wantStatus)
				}
			}
			if !strings.Contains(logs.String(), "redis unreachable") {
				t.Errorf("Redis outage not logged:\n%s", logs.String())
			}
		})
	}
}

func TestOpenModeIsLoud(t *testing.T) {
	var logs syncBuffer
	r := startDoor(t, doorBase, &logs)
	if got := grpcChat(t, r, call{}); got.status != 200 {
		t.Fatalf("open gateway chat = %+v", got)
	}
	if !strings.Contains(logs.String(), "NO API KEYS CONFIGURED") {
		t.Errorf("open mode not announced:\n%s", logs.String())
	}
	// Everyone is an admin of an open gateway.
	if u := waitUsage(t, r, "", 1); len(u.GetByKey()) != 1 || u.GetByKey()[0].GetName() != "" {
		t.Errorf("open usage = %v", u)
	}
}

func TestRequestID(t *testing.T) {
	k := newKey(t, "k")
	r := startDoor(t, doorBase+"keys:\n"+k.entry(""), nil)
	var hdr metadata.MD
	ctx := metadata.AppendToOutgoingContext(withKey(tctx(t), k.key), "x-request-id", "req-123")
	if _, err := r.client.ListModels(ctx, &pb.ListModelsRequest{}, grpc.Header(&hdr)); err != nil {
		t.Fatal(err)
	}
	if got := hdr.Get("x-request-id"); len(got) != 1 || got[0] != "req-123" {
		t.Errorf("x-request-id = %v, want the caller's", got)
	}
	resp, _ := postJSON(t, "http://"+r.httpAddr+"/v1/chat/completions", bearer(k.key),
		map[string]any{"model": "gpt-4.1", "messages": []map[string]string{{"role": "user", "content": "hi"}}})
	if resp.Header.Get("X-Request-Id") == "" {
		t.Error("OpenAI surface answered without X-Request-Id")
	}
}
