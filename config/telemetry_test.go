package config

import (
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fullTelemetry is the telemetry section of fullYAML.
func fullTelemetry() Telemetry {
	return Telemetry{
		Metrics: Metrics{Enabled: true, Path: "/internal/metrics", ListenAddr: "127.0.0.1:19100", KeyLabels: []string{"team", "app"}},
		Tracing: Tracing{
			Enabled:     true,
			Exporter:    ExporterOTLPHTTP,
			Endpoint:    "otel-collector:4318",
			Insecure:    true,
			Headers:     map[string]string{"X-Scope-OrgID": "tenant-1"},
			SampleRatio: 0.25,
			ServiceName: "llmgateway-eu",
		},
		Logging: Logging{
			Level:         "debug",
			PromptLogging: PromptLogging{Labels: map[string]string{"team": "cs"}, MaxChars: 500},
			Redaction:     Redaction{Builtin: []string{RedactEmail, RedactAPIKey}, Patterns: []string{"ORD-[0-9]{6}"}},
		},
	}
}

// defaultTelemetry is the telemetry section of a config that gives none.
func defaultTelemetry() Telemetry {
	return Telemetry{
		Metrics: Metrics{Enabled: true, Path: "/metrics"},
		Tracing: Tracing{Exporter: ExporterOTLPGRPC, Endpoint: "localhost:4317", SampleRatio: 1, ServiceName: "llmgateway"},
		Logging: Logging{
			Level:         "info",
			PromptLogging: PromptLogging{MaxChars: 2000},
			Redaction:     Redaction{Builtin: []string{RedactEmail, RedactCard, RedactPhone, RedactAPIKey}},
		},
	}
}

// telemetryKeys is a keys section whose key carries the label team: cs.
const telemetryKeys = "keys: [{id: cs_bot, secret_sha256: " + okSecret + ", labels: {team: cs}}]\n"

func TestTelemetryDefaults(t *testing.T) {
	tests := []struct {
		name string
		give string
		want Telemetry
	}{
		{"no section", "", defaultTelemetry()},
		{"metrics off", "telemetry: {metrics: {enabled: false}}", func() Telemetry {
			d := defaultTelemetry()
			d.Metrics.Enabled = false
			return d
		}()},
		{"otlp-http default endpoint", "telemetry: {tracing: {enabled: true, exporter: otlp-http}}", func() Telemetry {
			d := defaultTelemetry()
			d.Tracing.Enabled, d.Tracing.Exporter, d.Tracing.Endpoint = true, ExporterOTLPHTTP, "localhost:4318"
			return d
		}()},
		{"explicit zero sample ratio kept", "telemetry: {tracing: {sample_ratio: 0}}", func() Telemetry {
			d := defaultTelemetry()
			d.Tracing.SampleRatio = 0
			return d
		}()},
		{"builtin redaction turned off", "telemetry: {logging: {redaction: {builtin: []}}}", func() Telemetry {
			d := defaultTelemetry()
			d.Logging.Redaction.Builtin = []string{}
			return d
		}()},
		{"null means default", "telemetry: {metrics: {enabled: ~, path: ~}, tracing: {sample_ratio: ~}}", defaultTelemetry()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse([]byte(okProviders+okModels+tt.give), WithLookupEnv(env(nil)))
			if err != nil {
				t.Fatalf("Parse() error: %v", err)
			}
			if diff := cmp.Diff(tt.want, cfg.Telemetry); diff != "" {
				t.Errorf("Parse() telemetry mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTelemetryValidationErrors(t *testing.T) {
	base := okProviders + okModels
	tests := []struct {
		name string
		give string
		want []wantProblem
	}{
		{"empty path", "telemetry: {metrics: {path: ''}}", []wantProblem{{"telemetry.metrics.path", "must not be empty", 0}}},
		{"relative path", "telemetry: {metrics: {path: metrics}}", []wantProblem{{"telemetry.metrics.path", "URL path", 0}}},
		{"path with query", "telemetry: {metrics: {path: '/m?x=1'}}", []wantProblem{{"telemetry.metrics.path", "URL path", 0}}},
		{"path under the OpenAI routes", "telemetry: {metrics: {path: /v1/metrics}}", []wantProblem{{"telemetry.metrics.path", "gateway's own routes", 0}}},
		{"path is healthz", "telemetry: {metrics: {path: /healthz}}", []wantProblem{{"telemetry.metrics.path", "gateway's own routes", 0}}},
		{"listen_addr clashes with http", "server: {http_addr: ':8080'}\ntelemetry: {metrics: {listen_addr: ':8080'}}",
			[]wantProblem{{"telemetry.metrics.listen_addr", "clashes with server.http_addr", 0}}},
		{"listen_addr not host:port", "telemetry: {metrics: {listen_addr: '9100'}}", []wantProblem{{"telemetry.metrics.listen_addr", "host:port", 0}}},
		{"bad key label", "telemetry: {metrics: {key_labels: ['team name']}}", []wantProblem{{"telemetry.metrics.key_labels[0]", "label names", 0}}},
		{"key labels that collide", "telemetry: {metrics: {key_labels: [a.b, a-b]}}", []wantProblem{{"telemetry.metrics.key_labels[1]", "both the metric label key_a_b", 0}}},
		{"too many key labels", "telemetry: {metrics: {key_labels: [a, b, c, d, e, f, g, h, i]}}", []wantProblem{{"telemetry.metrics.key_labels", "at most 8", 0}}},
		{"unknown exporter", "telemetry: {tracing: {exporter: jaeger}}", []wantProblem{{"telemetry.tracing.exporter", `unknown exporter "jaeger"`, 0}}},
		{"grpc endpoint as URL", "telemetry: {tracing: {endpoint: 'http://c:4317'}}", []wantProblem{{"telemetry.tracing.endpoint", "must be host:port for otlp-grpc", 0}}},
		{"endpoint without port", "telemetry: {tracing: {endpoint: collector}}", []wantProblem{{"telemetry.tracing.endpoint", "host:port", 0}}},
		{"endpoint bad port", "telemetry: {tracing: {endpoint: 'c:99999'}}", []wantProblem{{"telemetry.tracing.endpoint", "1 to 65535", 0}}},
		{"http endpoint bad scheme", "telemetry: {tracing: {exporter: otlp-http, endpoint: 'ftp://c/v1/traces'}}", []wantProblem{{"telemetry.tracing.endpoint", "http(s) URL", 0}}},
		{"insecure https", "telemetry: {tracing: {exporter: otlp-http, endpoint: 'https://c/v1/traces', insecure: true}}",
			[]wantProblem{{"telemetry.tracing.insecure", "conflicts with the https endpoint", 0}}},
		{"bad header", "telemetry: {tracing: {headers: {'a b': x}}}", []wantProblem{{`telemetry.tracing.headers["a b"]`, "not a valid header name", 0}}},
		{"sample ratio above 1", "telemetry: {tracing: {sample_ratio: 1.5}}", []wantProblem{{"telemetry.tracing.sample_ratio", "between 0 and 1", 0}}},
		{"empty service name", "telemetry: {tracing: {service_name: ''}}", []wantProblem{{"telemetry.tracing.service_name", "1 to 255", 0}}},
		{"unknown level", "telemetry: {logging: {level: verbose}}", []wantProblem{{"telemetry.logging.level", "debug, info, warn or error", 0}}},
		{"prompt labels match no key", telemetryKeys + "telemetry: {logging: {prompt_logging: {labels: {team: sales}}}}",
			[]wantProblem{{"telemetry.logging.prompt_logging.labels", "no key has all of these labels", 0}}},
		{"prompt labels without keys", "telemetry: {logging: {prompt_logging: {labels: {team: cs}}}}",
			[]wantProblem{{"telemetry.logging.prompt_logging.labels", "no key has all of these labels", 0}}},
		{"zero max chars", "telemetry: {logging: {prompt_logging: {max_chars: 0}}}", []wantProblem{{"telemetry.logging.prompt_logging.max_chars", "between 1 and", 0}}},
		{"unknown builtin rule", "telemetry: {logging: {redaction: {builtin: [email, ssn]}}}",
			[]wantProblem{{"telemetry.logging.redaction.builtin[1]", `unknown rule "ssn"`, 0}}},
		{"builtin rule twice", "telemetry: {logging: {redaction: {builtin: [email, email]}}}",
			[]wantProblem{{"telemetry.logging.redaction.builtin[1]", "listed twice", 0}}},
		{"bad pattern", "telemetry: {logging: {redaction: {patterns: ['(a']}}}",
			[]wantProblem{{"telemetry.logging.redaction.patterns[0]", "not a valid regular expression", 0}}},
		{"pattern matching nothing at all", "telemetry: {logging: {redaction: {patterns: ['x*']}}}",
			[]wantProblem{{"telemetry.logging.redaction.patterns[0]", "matches the empty string", 0}}},
		{"typo", "telemetry: {metrics: {enable: true}}", []wantProblem{{"telemetry.metrics.enable", `did you mean "enabled"`, 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkProblems(t, problems(t, base+tt.give), tt.want)
		})
	}
}

func TestTelemetryValidConfigs(t *testing.T) {
	tests := []string{
		"telemetry: {metrics: {path: /internal/metrics}}",
		"telemetry: {metrics: {path: /v1/metrics, listen_addr: '127.0.0.1:9100'}}",
		"telemetry: {tracing: {enabled: true, exporter: otlp-http, endpoint: 'https://otlp.example.com/otlp/v1/traces'}}",
		"telemetry: {tracing: {enabled: true, exporter: otlp-http, endpoint: 'http://collector:4318', insecure: true}}",
		"telemetry: {tracing: {enabled: true, endpoint: 'collector:4317', insecure: true, sample_ratio: 0.01}}",
		telemetryKeys + "telemetry: {metrics: {key_labels: [team]}, logging: {prompt_logging: {labels: {team: cs}}}}",
	}
	for _, give := range tests {
		if _, err := Parse([]byte(okProviders+okModels+give), WithLookupEnv(env(nil))); err != nil {
			t.Errorf("Parse(%q) error: %v", give, err)
		}
	}
}

func TestMetricLabel(t *testing.T) {
	tests := []struct{ give, want string }{
		{"team", "key_team"},
		{"cost.center", "key_cost_center"},
		{"app-name", "key_app_name"},
	}
	for _, tt := range tests {
		if got := MetricLabel(tt.give); got != tt.want {
			t.Errorf("MetricLabel(%q) = %q, want %q", tt.give, got, tt.want)
		}
	}
}

func TestLabelsMatch(t *testing.T) {
	labels := map[string]string{"team": "cs", "app": "bot"}
	tests := []struct {
		give map[string]string
		want bool
	}{
		{map[string]string{"team": "cs"}, true},
		{map[string]string{"team": "cs", "app": "bot"}, true},
		{map[string]string{"team": "sales"}, false},
		{map[string]string{"region": "eu"}, false},
		{nil, true},
	}
	for _, tt := range tests {
		if got := LabelsMatch(labels, tt.give); got != tt.want {
			t.Errorf("LabelsMatch(%v, %v) = %v, want %v", labels, tt.give, got, tt.want)
		}
	}
}

// TestTelemetryFieldDocs holds telemetry.go's schema to the rule
// TestFieldDocs applies to config.go.
func TestTelemetryFieldDocs(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "telemetry.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	ast.Inspect(f, func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok {
			return true
		}
		st, ok := ts.Type.(*ast.StructType)
		if !ok {
			return true
		}
		for _, field := range st.Fields.List {
			tag := reflect.StructTag(strings.Trim(field.Tag.Value, "`"))
			key, _, _ := strings.Cut(tag.Get("yaml"), ",")
			doc := strings.Join(strings.Fields(field.Doc.Text()), " ")
			name := ts.Name.Name + "." + field.Names[0].Name
			checked++
			if !strings.Contains(doc, "(YAML key "+key) {
				t.Errorf("%s: doc comment does not name its YAML key %q", name, key)
			}
			if !strings.Contains(doc, "Default:") && !strings.Contains(doc, "Required") && !strings.Contains(doc, "required") {
				t.Errorf("%s: doc comment states neither its default nor that it is required", name)
			}
		}
		return true
	})
	if checked < 18 {
		t.Errorf("checked %d fields, want every field of telemetry.go", checked)
	}
}
