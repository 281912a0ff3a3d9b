package telemetrytest

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	collectorpb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// Span is one received span, flattened.
type Span struct {
	Name                     string
	Kind                     string
	TraceID, SpanID, Parent  string // hex; Parent "" for a root span
	Attributes, Resource     map[string]string
	StatusCode, StatusDetail string
}

// String formats s on one line, for failure messages.
func (s Span) String() string {
	keys := make([]string, 0, len(s.Attributes))
	for k := range s.Attributes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "%q %s trace=%s span=%s parent=%s status=%s", s.Name, s.Kind, s.TraceID, s.SpanID, s.Parent, s.StatusCode)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%s", k, s.Attributes[k])
	}
	return b.String()
}

// Collector receives OTLP trace exports.
type Collector struct {
	collectorpb.UnimplementedTraceServiceServer

	// Endpoint is where to send spans: host:port for gRPC, a URL for
	// HTTP.
	Endpoint string

	mu      sync.Mutex
	spans   []Span
	headers map[string]string
}

// NewGRPC starts a collector serving OTLP over gRPC on a loopback port
// until the test ends.
func NewGRPC(t testing.TB) *Collector {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &Collector{Endpoint: lis.Addr().String()}
	s := grpc.NewServer()
	collectorpb.RegisterTraceServiceServer(s, c)
	done := make(chan struct{})
	go func() { _ = s.Serve(lis); close(done) }()
	t.Cleanup(func() { s.Stop(); <-done })
	return c
}

// NewHTTP starts a collector serving OTLP over HTTP (protobuf, at
// /v1/traces or any other path) until the test ends.
func NewHTTP(t testing.TB) *Collector {
	t.Helper()
	c := &Collector{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		req := new(collectorpb.ExportTraceServiceRequest)
		if err == nil {
			err = proto.Unmarshal(body, req)
		}
		if err != nil || r.Method != http.MethodPost {
			http.Error(w, fmt.Sprintf("bad export: %v", err), http.StatusBadRequest)
			return
		}
		h := map[string]string{"path": r.URL.Path}
		for k := range r.Header {
			h[strings.ToLower(k)] = r.Header.Get(k)
		}
		c.add(req, h)
		out, _ := proto.Marshal(&collectorpb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	t.Cleanup(srv.Close)
	c.Endpoint = srv.URL + "/v1/traces"
	return c
}

// Export implements the OTLP gRPC trace service.
func (c *Collector) Export(ctx context.Context, req *collectorpb.ExportTraceServiceRequest) (*collectorpb.ExportTraceServiceResponse, error) {
	h := map[string]string{}
	if md, ok := metadataFrom(ctx); ok {
		for k, v := range md {
			h[k] = v
		}
	}
	c.add(req, h)
	return &collectorpb.ExportTraceServiceResponse{}, nil
}

func (c *Collector) add(req *collectorpb.ExportTraceServiceRequest, headers map[string]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.headers = headers
	for _, rs := range req.GetResourceSpans() {
		res := attrs(rs.GetResource().GetAttributes())
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				c.spans = append(c.spans, Span{
					Name:         s.GetName(),
					Kind:         strings.TrimPrefix(s.GetKind().String(), "SPAN_KIND_"),
					TraceID:      hex.EncodeToString(s.GetTraceId()),
					SpanID:       hex.EncodeToString(s.GetSpanId()),
					Parent:       hex.EncodeToString(s.GetParentSpanId()),
					Attributes:   attrs(s.GetAttributes()),
					Resource:     res,
					StatusCode:   strings.TrimPrefix(s.GetStatus().GetCode().String(), "STATUS_CODE_"),
					StatusDetail: s.GetStatus().GetMessage(),
				})
			}
		}
	}
}

func attrs(kvs []*commonpb.KeyValue) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		v := kv.GetValue()
		switch x := v.GetValue().(type) {
		case *commonpb.AnyValue_StringValue:
			m[kv.GetKey()] = x.StringValue
		case *commonpb.AnyValue_IntValue:
			m[kv.GetKey()] = fmt.Sprint(x.IntValue)
		case *commonpb.AnyValue_DoubleValue:
			m[kv.GetKey()] = fmt.Sprint(x.DoubleValue)
		case *commonpb.AnyValue_BoolValue:
			m[kv.GetKey()] = fmt.Sprint(x.BoolValue)
		default:
			m[kv.GetKey()] = v.String()
		}
	}
	return m
}

// Spans returns the spans received so far.
func (c *Collector) Spans() []Span {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Span(nil), c.spans...)
}

// Headers returns the headers of the last export, lower-cased; an HTTP
// export's path is under "path".
func (c *Collector) Headers() map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.headers
}

// Wait waits up to 10 s for a span satisfying cond and returns it.
func (c *Collector) Wait(t testing.TB, what string, cond func(Span) bool) Span {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, s := range c.Spans() {
			if cond(s) {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s among the spans received:\n%s", what, Format(c.Spans()))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Format lists spans one per line.
func Format(spans []Span) string {
	var b strings.Builder
	for _, s := range spans {
		b.WriteString("  ")
		b.WriteString(s.String())
		b.WriteByte('\n')
	}
	return b.String()
}
