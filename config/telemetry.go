package config

import (
	"cmp"
	"math"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Telemetry configures what the gateway tells the people who run it
// (YAML key telemetry): Prometheus metrics, OpenTelemetry traces and the
// log. Every field is optional.
type Telemetry struct {
	// Metrics configures the Prometheus metrics endpoint (YAML key
	// metrics). Default: see each field.
	Metrics Metrics `yaml:"metrics"`
	// Tracing configures OpenTelemetry tracing (YAML key tracing).
	// Default: off.
	Tracing Tracing `yaml:"tracing"`
	// Logging configures the log (YAML key logging). Default: see each
	// field.
	Logging Logging `yaml:"logging"`
}

// Metrics configures the Prometheus metrics endpoint.
type Metrics struct {
	// Enabled serves the metrics (YAML key enabled). Default: true.
	Enabled bool `yaml:"enabled"`
	// Path is the URL path of the metrics (YAML key path), served to GET.
	// On the HTTP listener it must not fall under the gateway's own
	// routes (/api/, /v1/, /healthz, /readyz). Default: "/metrics".
	Path string `yaml:"path"`
	// ListenAddr serves the metrics on a listener of their own, host:port,
	// instead of the HTTP listener (YAML key listen_addr), so that they
	// can stay on an internal network. It must differ from
	// server.grpc_addr and server.http_addr. Default: "", the HTTP
	// listener.
	ListenAddr string `yaml:"listen_addr"`
	// KeyLabels names the key labels (keys[].labels) that become labels
	// of the token, cost and refusal metrics, as key_<name> (YAML key
	// key_labels), like [team, app]. Their values come from the config's
	// keys, so they stay few; a key without the label counts as "".
	// At most 8. Default: none.
	KeyLabels []string `yaml:"key_labels"`
}

// Tracing configures OpenTelemetry tracing: spans for every call (the
// gRPC server, the HTTP surfaces) and every upstream attempt, exported
// over OTLP. The W3C traceparent of callers is continued and passed
// upstream.
type Tracing struct {
	// Enabled turns tracing on (YAML key enabled). Default: false.
	Enabled bool `yaml:"enabled"`
	// Exporter is the OTLP transport (YAML key exporter): otlp-grpc or
	// otlp-http. Default: otlp-grpc.
	Exporter string `yaml:"exporter"`
	// Endpoint is where spans are sent (YAML key endpoint): host:port of
	// the collector; for otlp-http also a full http or https URL, whose
	// path is used as is (a host:port gets /v1/traces). Default:
	// localhost:4317 for otlp-grpc, localhost:4318 for otlp-http.
	Endpoint string `yaml:"endpoint"`
	// Insecure sends spans without TLS (YAML key insecure). It cannot be
	// combined with an https endpoint URL. Default: false, TLS verified
	// against the system's roots.
	Insecure bool `yaml:"insecure"`
	// Headers are sent with every export (YAML key headers), such as a
	// vendor's API key; use ${NAME} to keep secrets out of the file.
	// Default: none.
	Headers map[string]string `yaml:"headers"`
	// SampleRatio is the share of new traces recorded, in [0, 1] (YAML key
	// sample_ratio). A call that arrives with a traceparent follows the
	// caller's sampling decision. Default: 1.
	SampleRatio float64 `yaml:"sample_ratio"`
	// ServiceName is the service.name of the spans (YAML key
	// service_name). Default: "llmgateway".
	ServiceName string `yaml:"service_name"`
}

// Logging configures the log: one JSON line per call, with its request
// id, key id, model, provider, status and latency. API keys, upstream
// keys and prompts are never logged unless PromptLogging says so.
type Logging struct {
	// Level is the least severe level logged (YAML key level): debug,
	// info, warn or error. The --log-level flag overrides it. Default:
	// info.
	Level string `yaml:"level"`
	// PromptLogging logs the prompts of some keys' calls (YAML key
	// prompt_logging), redacted by Redaction. Default: no prompt is ever
	// logged.
	PromptLogging PromptLogging `yaml:"prompt_logging"`
	// Redaction says what is masked in logged prompts (YAML key
	// redaction). Default: see each field.
	Redaction Redaction `yaml:"redaction"`
}

// PromptLogging opts keys in to prompt logging by their labels.
type PromptLogging struct {
	// Labels selects the keys whose prompts are logged: those whose
	// labels include every one of these (YAML key labels), like {team:
	// cs}. It must match at least one key. Default: none, no prompt is
	// logged.
	Labels map[string]string `yaml:"labels"`
	// MaxChars bounds each logged message, in characters, after redaction
	// (YAML key max_chars); the rest is cut and marked. Must be > 0.
	// Default: 2000.
	MaxChars int `yaml:"max_chars"`
}

// Redaction says what is masked in logged prompts.
type Redaction struct {
	// Builtin lists the built-in rules applied (YAML key builtin):
	// email, card_number (13 to 19 digits passing the Luhn check),
	// phone_number and api_key (sk-..., AIza..., AKIA..., bearer tokens
	// and long random-looking strings). Default: all four; [] turns them
	// off.
	Builtin []string `yaml:"builtin"`
	// Patterns are more regular expressions (RE2 syntax) whose matches
	// are masked (YAML key patterns), like "ORD-[0-9]{8}". Default: none.
	Patterns []string `yaml:"patterns"`
}

// The exporters of Tracing.
const (
	ExporterOTLPGRPC = "otlp-grpc"
	ExporterOTLPHTTP = "otlp-http"
)

// The built-in redaction rules.
const (
	RedactEmail  = "email"
	RedactCard   = "card_number"
	RedactPhone  = "phone_number"
	RedactAPIKey = "api_key"
)

// RedactionRules returns the names of the built-in redaction rules.
func RedactionRules() []string {
	return []string{RedactEmail, RedactCard, RedactPhone, RedactAPIKey}
}

// The defaults of the telemetry settings, as documented on the fields.
const (
	defaultMetricsPath     = "/metrics"
	defaultOTLPGRPCAddr    = "localhost:4317"
	defaultOTLPHTTPAddr    = "localhost:4318"
	defaultServiceName     = "llmgateway"
	defaultLogLevel        = "info"
	defaultPromptMaxChars  = 2000
	maxPromptMaxChars      = 1 << 20
	maxMetricKeyLabels     = 8
	maxRedactionPatternLen = 1024
)

// MetricLabel returns the Prometheus label name of the key label name:
// key_ followed by name with every . and - made _.
func MetricLabel(name string) string {
	return "key_" + strings.NewReplacer(".", "_", "-", "_").Replace(name)
}

func (v *validator) telemetry(p path, c *Config) {
	t := &c.Telemetry
	v.metrics(p.field("metrics"), &t.Metrics, c)
	v.tracing(p.field("tracing"), &t.Tracing)
	v.logging(p.field("logging"), &t.Logging, c)
}

// reservedPaths are the HTTP listener's own routes; the metrics path must
// stay clear of them.
var reservedPaths = []string{"/api/", "/v1/", "/healthz", "/readyz"}

func (v *validator) metrics(p path, m *Metrics, c *Config) {
	switch {
	case m.Path == "" && v.has(p.field("path")):
		v.addf(p.field("path"), "must not be empty (leave it out for the default, %s)", defaultMetricsPath)
	case m.Path == "":
	case !strings.HasPrefix(m.Path, "/") || m.Path == "/" || strings.ContainsAny(m.Path, " ?#{}") || !validHeaderValue(m.Path):
		v.addf(p.field("path"), "must be a URL path like /metrics, got %q", m.Path)
	case m.ListenAddr == "":
		for _, r := range reservedPaths {
			if r = strings.TrimSuffix(r, "/"); m.Path == r || strings.HasPrefix(m.Path, r+"/") {
				v.addf(p.field("path"), "%q is taken by the gateway's own routes on the HTTP listener (%s); pick another path or a listen_addr of its own", m.Path, r)
				break
			}
		}
	}
	if m.ListenAddr != "" {
		v.listenAddr(p.field("listen_addr"), m.ListenAddr)
		for _, other := range []struct{ name, addr string }{
			{"server.grpc_addr", cmp.Or(c.Server.GRPCAddr, defaultGRPCAddr)},
			{"server.http_addr", cmp.Or(c.Server.HTTPAddr, defaultHTTPAddr)},
		} {
			if addrsClash(m.ListenAddr, other.addr) {
				v.addf(p.field("listen_addr"), "%q clashes with %s %q: the metrics listener needs a port of its own", m.ListenAddr, other.name, other.addr)
			}
		}
	}
	if len(m.KeyLabels) > maxMetricKeyLabels {
		v.addf(p.field("key_labels"), "at most %d label names, got %d: every one multiplies the series of the token and cost metrics", maxMetricKeyLabels, len(m.KeyLabels))
	}
	seen := make(map[string]int, len(m.KeyLabels))
	for i, name := range m.KeyLabels {
		lp := p.field("key_labels").index(i)
		if !validLabelName(name) {
			v.addf(lp, "label names must be 1 to %d letters, digits, _ . or -, got %q", maxLabelNameLen, name)
			continue
		}
		ml := MetricLabel(name)
		if j, dup := seen[ml]; dup {
			v.addf(lp, "%q and key_labels[%d] (%q) are both the metric label %s", name, j, m.KeyLabels[j], ml)
			continue
		}
		seen[ml] = i
	}
}

func (v *validator) tracing(p path, t *Tracing) {
	exporter := cmp.Or(t.Exporter, ExporterOTLPGRPC)
	switch exporter {
	case ExporterOTLPGRPC, ExporterOTLPHTTP:
	default:
		v.addf(p.field("exporter"), "unknown exporter %q (want %s or %s)", t.Exporter, ExporterOTLPGRPC, ExporterOTLPHTTP)
	}
	ep := p.field("endpoint")
	switch {
	case t.Endpoint == "" && v.has(ep):
		v.addf(ep, "must not be empty (leave it out for the default)")
	case t.Endpoint == "":
	case strings.Contains(t.Endpoint, "://"):
		u, err := url.Parse(t.Endpoint)
		switch {
		case exporter != ExporterOTLPHTTP:
			v.addf(ep, "must be host:port for %s, like \"otel-collector:4317\", got %q", ExporterOTLPGRPC, t.Endpoint)
		case err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil:
			v.addf(ep, "must be host:port or an http(s) URL without query, like \"https://otlp.example.com/v1/traces\", got %q", t.Endpoint)
		case u.Scheme == "https" && t.Insecure:
			v.addf(p.field("insecure"), "conflicts with the https endpoint %q: use an http:// URL for plain text, or drop insecure", t.Endpoint)
		}
	default:
		host, port, err := net.SplitHostPort(t.Endpoint)
		if err != nil || host == "" {
			v.addf(ep, "must be host:port, like \"otel-collector:4317\", got %q", t.Endpoint)
		} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			v.addf(ep, "port must be a number from 1 to 65535, got %q", port)
		}
	}
	for _, name := range sortedKeys(t.Headers) {
		hp := p.field("headers").key(name)
		if !validHeaderName(name) {
			v.addf(hp, "%q is not a valid header name", name)
		}
		if !validHeaderValue(t.Headers[name]) {
			// Not echoed: it may be a secret.
			v.addf(hp, "the value contains control characters")
		}
	}
	if math.IsNaN(t.SampleRatio) || t.SampleRatio < 0 || t.SampleRatio > 1 {
		v.addf(p.field("sample_ratio"), "must be between 0 and 1, got %g", t.SampleRatio)
	}
	sp := p.field("service_name")
	if t.ServiceName == "" && v.has(sp) || len(t.ServiceName) > 255 || !validHeaderValue(t.ServiceName) {
		v.addf(sp, "must be 1 to 255 characters without control characters")
	}
}

func (v *validator) logging(p path, l *Logging, c *Config) {
	switch l.Level {
	case "", "debug", "info", "warn", "error":
	default:
		v.addf(p.field("level"), "must be debug, info, warn or error, got %q", l.Level)
	}
	pp := p.field("prompt_logging")
	pl := &l.PromptLogging
	for _, name := range sortedKeys(pl.Labels) {
		if !validLabelName(name) {
			v.addf(pp.field("labels").key(name), "label names must be 1 to %d letters, digits, _ . or -, got %q", maxLabelNameLen, name)
		}
	}
	if len(pl.Labels) > 0 && !slices.ContainsFunc(c.Keys, func(k Key) bool { return LabelsMatch(k.Labels, pl.Labels) }) {
		v.addf(pp.field("labels"), "no key has all of these labels, so no prompt would be logged; check the keys' labels")
	}
	if pl.MaxChars < 0 || pl.MaxChars == 0 && v.has(pp.field("max_chars")) || pl.MaxChars > maxPromptMaxChars {
		v.addf(pp.field("max_chars"), "must be between 1 and %d, got %d", maxPromptMaxChars, pl.MaxChars)
	}
	rp := p.field("redaction")
	seen := make(map[string]bool)
	for i, b := range l.Redaction.Builtin {
		switch {
		case !slices.Contains(RedactionRules(), b):
			v.addf(rp.field("builtin").index(i), "unknown rule %q (want %s)", b, strings.Join(RedactionRules(), ", "))
		case seen[b]:
			v.addf(rp.field("builtin").index(i), "%q is listed twice", b)
		}
		seen[b] = true
	}
	for i, pat := range l.Redaction.Patterns {
		ip := rp.field("patterns").index(i)
		if len(pat) > maxRedactionPatternLen {
			v.addf(ip, "must be at most %d characters", maxRedactionPatternLen)
			continue
		}
		re, err := regexp.Compile(pat)
		switch {
		case err != nil:
			v.addf(ip, "not a valid regular expression (RE2 syntax): %v", err)
		case re.MatchString(""):
			v.addf(ip, "%q matches the empty string, which would mask between every character", pat)
		}
	}
}

// LabelsMatch reports whether labels include every name and value of
// want.
func LabelsMatch(labels, want map[string]string) bool {
	for k, w := range want {
		if got, ok := labels[k]; !ok || got != w {
			return false
		}
	}
	return true
}

func applyTelemetryDefaults(c *Config, root *yaml.Node) {
	t := &c.Telemetry
	p := path{"telemetry"}
	m := &t.Metrics
	if !m.Enabled && !present(root, p.field("metrics").field("enabled")) {
		m.Enabled = true
	}
	m.Path = cmp.Or(m.Path, defaultMetricsPath)

	tr := &t.Tracing
	tr.Exporter = cmp.Or(tr.Exporter, ExporterOTLPGRPC)
	if tr.Endpoint == "" {
		tr.Endpoint = defaultOTLPGRPCAddr
		if tr.Exporter == ExporterOTLPHTTP {
			tr.Endpoint = defaultOTLPHTTPAddr
		}
	}
	if tr.SampleRatio == 0 && !present(root, p.field("tracing").field("sample_ratio")) {
		tr.SampleRatio = 1
	}
	tr.ServiceName = cmp.Or(tr.ServiceName, defaultServiceName)

	l := &t.Logging
	l.Level = cmp.Or(l.Level, defaultLogLevel)
	l.PromptLogging.MaxChars = cmp.Or(l.PromptLogging.MaxChars, defaultPromptMaxChars)
	if l.Redaction.Builtin == nil && !present(root, p.field("logging").field("redaction").field("builtin")) {
		l.Redaction.Builtin = RedactionRules()
	}
}
