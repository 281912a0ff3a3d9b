package app

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	pb "github.com/llmgateway/llmgateway/gen/llmgateway/v1"
	"github.com/llmgateway/llmgateway/surface/httperr"
)

// withServer adds settings to doorBase's server section.
func withServer(settings string) string {
	return strings.Replace(doorBase, "max_request_bytes: 65536", "max_request_bytes: 65536\n  "+settings, 1)
}

// holdStream starts a stream on slow-model that lasts about 10 s and
// returns once its first event arrived; cancel ends it.
func holdStream(t *testing.T, fg *fileGateway) (cancel func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(tctx(t))
	mt := int32(200)
	st, err := fg.client.ChatStream(ctx, &pb.ChatRequest{Model: "slow-model", MaxTokens: &mt,
		Metadata: map[string]string{"simulator.reply": strings.Repeat("word ", 250)},
		Messages: []*pb.Message{{Role: "user", Content: "a long answer"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err != nil {
		t.Fatal(err)
	}
	return cancel
}

// TestLoadShedding: with max_in_flight 2 and two long streams in flight,
// a third request on any surface is refused at once with Unavailable (503)
// and a retry delay, while health checks still answer.
func TestLoadShedding(t *testing.T) {
	fg := serveFile(t, withServer("max_in_flight: 2"), serveOpts{})
	stop1, stop2 := holdStream(t, fg), holdStream(t, fg)
	if n, _ := fg.gw.InFlight(); n != 2 {
		t.Fatalf("InFlight() = %d with two streams held, want 2", n)
	}
	hc := &http.Client{}
	defer hc.CloseIdleConnections()
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("grpc/stream=%v", stream), func(t *testing.T) {
			start := time.Now()
			_, err := grpcCall(tctx(t), fg, hc, "", "gpt-4.1", stream)
			st := status.Convert(err)
			var retry time.Duration
			for _, d := range st.Details() {
				if ri, ok := d.(*errdetails.RetryInfo); ok {
					retry = ri.GetRetryDelay().AsDuration()
				}
			}
			if st.Code() != codes.Unavailable || httperr.Reason(st) != httperr.ReasonOverloaded || retry <= 0 {
				t.Errorf("call = %v (reason %q, retry %v), want Unavailable OVERLOADED with a retry delay", err, httperr.Reason(st), retry)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("refusal took %v, want it at once", d)
			}
		})
		for _, s := range []struct {
			name string
			path string
		}{{"rest", "/api/v1/chat"}, {"openai", "/v1/chat/completions"}} {
			t.Run(fmt.Sprintf("%s/stream=%v", s.name, stream), func(t *testing.T) {
				path := s.path
				body := map[string]any{"model": "gpt-4.1", "messages": []map[string]string{{"role": "user", "content": "hi"}}}
				if stream && s.name == "rest" {
					path += ":stream"
				} else if stream {
					body["stream"] = true
				}
				start := time.Now()
				resp, err := httpPost(tctx(t), hc, "http://"+fg.httpAddr+path, "", body)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
					!strings.Contains(string(b), "in flight") {
					t.Errorf("POST %s = %d (Retry-After %q) %s, want 503 with Retry-After naming the in-flight limit", path, resp.StatusCode, resp.Header.Get("Retry-After"), b)
				}
				if d := time.Since(start); d > 3*time.Second {
					t.Errorf("refusal took %v, want it at once", d)
				}
			})
		}
	}
	if resp, err := healthpb.NewHealthClient(fg.conn).Check(tctx(t), &healthpb.HealthCheckRequest{}); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health Check while full = %v, %v; want SERVING", resp, err)
	}
	if _, shed := fg.gw.InFlight(); shed != 6 {
		t.Errorf("InFlight() counted %d refusals, want 6", shed)
	}
	stop1()
	stop2()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := grpcCall(tctx(t), fg, hc, "", "gpt-4.1", false)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("requests still refused after the held ones ended: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestHTTPSurfacesNotHeldByStreamCap: with one stream per gRPC connection,
// the HTTP surfaces still carry as many requests at once as max_in_flight
// allows: the gRPC stream cap bounds gRPC connections, not the in-process
// channel.
func TestHTTPSurfacesNotHeldByStreamCap(t *testing.T) {
	fg := serveFile(t, withServer("max_in_flight: 4\n  max_concurrent_streams: 1"), serveOpts{})
	ctx, cancel := context.WithCancel(tctx(t))
	defer cancel()
	hc := &http.Client{}
	defer hc.CloseIdleConnections()
	errc := make(chan error, 4)
	for i := range 4 {
		go func() {
			path, body := "/api/v1/chat:stream", map[string]any{"model": "slow-model", "max_tokens": 200,
				"metadata": map[string]string{"simulator.reply": strings.Repeat("word ", 250)},
				"messages": []map[string]string{{"role": "user", "content": "long"}}}
			if i%2 == 1 {
				path, body["stream"] = "/v1/chat/completions", true
			}
			resp, err := httpPost(ctx, hc, "http://"+fg.httpAddr+path, "", body)
			if err == nil {
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			errc <- err
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, shed := fg.gw.InFlight()
		if n == 4 {
			break
		}
		if shed > 0 || time.Now().After(deadline) {
			t.Fatalf("InFlight() = %d, %d refused; want 4 HTTP streams in flight at once", n, shed)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	for range 4 {
		<-errc
	}
}

// dialRaw opens a TCP connection to addr that the test closes.
func dialRaw(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// closedWithin reports whether the server closes conn within d, reading
// (and discarding) whatever it sends.
func closedWithin(conn net.Conn, d time.Duration) bool {
	_ = conn.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, conn)
	return err == nil || !isTimeout(err)
}

// TestSlowClientsAreCut: a client that sends its headers, or its body, a
// byte at a time is cut off by the read timeouts, and one that keeps an
// idle connection by the idle timeout, while the gateway keeps serving
// others.
func TestSlowClientsAreCut(t *testing.T) {
	fg := serveFile(t, withServer("http: {read_header_timeout: 300ms, read_timeout: 300ms, idle_timeout: 300ms}"), serveOpts{})
	trickle := func(conn net.Conn, prefix string, stop <-chan struct{}) {
		if _, err := io.WriteString(conn, prefix); err != nil {
			return
		}
		for strings.HasPrefix(prefix, "POST") {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if _, err := conn.Write([]byte("a")); err != nil {
				return
			}
		}
	}
	tests := []struct {
		name   string
		prefix string
	}{
		{"headers", "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nX-Slow: "},
		{"body", "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"model\": \""},
		{"idle connection", "GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n"}, // answered, then kept idle
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := dialRaw(t, fg.httpAddr)
			stop := make(chan struct{})
			defer close(stop)
			go trickle(conn, tt.prefix, stop)
			if !closedWithin(conn, 10*time.Second) {
				t.Fatalf("a client trickling its %s was not cut off within 10s", tt.name)
			}
			if resp, err := http.Get("http://" + fg.httpAddr + "/healthz"); err != nil || resp.StatusCode != 200 {
				t.Errorf("GET /healthz beside the slow client = %v, %v", resp, err)
			} else {
				resp.Body.Close()
			}
		})
	}
}

// TestHTTPTimeoutsSpareStreams: the write timeout cuts a slow unary
// answer but not a stream, the read timeout does not cut a stream whose
// body was read, and a stream on a connection that just carried a
// request under the write timeout is not cut by its deadline.
func TestHTTPTimeoutsSpareStreams(t *testing.T) {
	fg := serveFile(t, withServer("http: {read_timeout: 300ms, write_timeout: 500ms}"), serveOpts{})
	// One connection, reused for every request.
	hc := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1}}
	defer hc.CloseIdleConnections()
	slow := func(stream bool) map[string]any {
		return map[string]any{"model": "slow-model", "max_tokens": 30, "stream": stream,
			"metadata": map[string]string{"simulator.reply": strings.Repeat("word ", 40)},
			"messages": []map[string]string{{"role": "user", "content": "long"}}}
	}
	for _, path := range []string{"/v1/models", "/api/v1/models"} {
		resp, err := hc.Get("http://" + fg.httpAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	// Streams of 1.5 s, well past both timeouts.
	for _, path := range []string{"/v1/chat/completions", "/api/v1/chat:stream"} {
		body := slow(true)
		if path != "/v1/chat/completions" {
			delete(body, "stream")
		}
		resp, err := httpPost(tctx(t), hc, "http://"+fg.httpAddr+path, "", body)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(resp.Body)
		var last string
		for sc.Scan() {
			if l := strings.TrimSpace(sc.Text()); l != "" {
				last = l
			}
		}
		resp.Body.Close()
		if err := sc.Err(); err != nil || resp.StatusCode != 200 || !strings.Contains(last, "[DONE]") && !strings.Contains(last, `"final"`) {
			t.Errorf("POST %s = %d, last line %q, %v; want a complete stream", path, resp.StatusCode, last, err)
		}
	}
	// A unary answer of 1.5 s is cut by the write timeout.
	unary := slow(false)
	delete(unary, "stream")
	resp, err := httpPost(tctx(t), hc, "http://"+fg.httpAddr+"/api/v1/chat", "", unary)
	var b []byte
	if err == nil {
		b, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Errorf("a 1.5 s unary answer under a 500ms write timeout = %d %s, want the connection cut", resp.StatusCode, b)
	}
}

// TestHeaderLimit: headers over max_header_bytes get 431.
func TestHeaderLimit(t *testing.T) {
	fg := serveFile(t, withServer("http: {max_header_bytes: 4096}"), serveOpts{})
	req, err := http.NewRequestWithContext(tctx(t), http.MethodGet, "http://"+fg.httpAddr+"/healthz", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Big", strings.Repeat("a", 16<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("GET with 16 KiB of headers = %d, want 431", resp.StatusCode)
	}
}

// h2conn is a raw HTTP/2 connection to the gRPC listener, for what a gRPC
// client does not let a test do.
type h2conn struct {
	fr       *http2.Framer
	settings map[http2.SettingID]uint32
}

func dialH2(t *testing.T, addr string) *h2conn {
	t.Helper()
	conn := dialRaw(t, addr)
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	c := &h2conn{fr: http2.NewFramer(conn, conn), settings: map[http2.SettingID]uint32{}}
	if err := c.fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		if sf, ok := f.(*http2.SettingsFrame); ok && !sf.IsAck() {
			_ = sf.ForeachSetting(func(s http2.Setting) error { c.settings[s.ID] = s.Val; return nil })
			if err := c.fr.WriteSettingsAck(); err != nil {
				t.Fatal(err)
			}
			return c
		}
	}
}

// TestGRPCListenerLimits: the gRPC listener announces the stream cap and
// the header limit, and enforces the keepalive policy: pings more often
// than min_time get the connection closed with too_many_pings.
func TestGRPCListenerLimits(t *testing.T) {
	tests := []struct {
		name      string
		give      string
		pingEvery time.Duration
		wantAway  bool
	}{
		{"pings slower than min_time", "keepalive: {min_time: 10ms, permit_without_stream: true}", 60 * time.Millisecond, false},
		{"pings faster than min_time", "keepalive: {min_time: 1m, permit_without_stream: true}", 60 * time.Millisecond, true},
		{"pings without a call", "keepalive: {min_time: 10ms}", 60 * time.Millisecond, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fg := serveFile(t, withServer("max_concurrent_streams: 7\n  http: {max_header_bytes: 8192}\n  "+tt.give), serveOpts{})
			c := dialH2(t, fg.grpcAddr)
			if got := c.settings[http2.SettingMaxConcurrentStreams]; got != 7 {
				t.Errorf("SETTINGS_MAX_CONCURRENT_STREAMS = %d, want 7", got)
			}
			if got := c.settings[http2.SettingMaxHeaderListSize]; got != 8192+grpcHeaderSlack {
				t.Errorf("SETTINGS_MAX_HEADER_LIST_SIZE = %d, want %d", got, 8192+grpcHeaderSlack)
			}
			away := make(chan *http2.GoAwayFrame, 1)
			go func() {
				defer close(away)
				for {
					f, err := c.fr.ReadFrame()
					if err != nil {
						return
					}
					if ga, ok := f.(*http2.GoAwayFrame); ok {
						away <- ga
						return
					}
				}
			}()
			for i := range 6 {
				if err := c.fr.WritePing(false, [8]byte{byte(i)}); err != nil {
					break // closed after a GOAWAY
				}
				time.Sleep(tt.pingEvery)
			}
			select {
			case ga := <-away:
				if !tt.wantAway {
					t.Fatalf("GOAWAY %v %q, want the connection kept", ga, ga.DebugData())
				}
				if ga == nil || ga.ErrCode != http2.ErrCodeEnhanceYourCalm || string(ga.DebugData()) != "too_many_pings" {
					t.Errorf("GOAWAY = %v, want ENHANCE_YOUR_CALM too_many_pings", ga)
				}
			case <-time.After(500 * time.Millisecond):
				if tt.wantAway {
					t.Error("no GOAWAY after pings faster than min_time")
				}
			}
		})
	}
}
