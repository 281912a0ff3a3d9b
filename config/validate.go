package config

import (
	"cmp"
	"fmt"
	"math"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"gopkg.in/yaml.v3"
)

// validator collects every problem with a decoded config. root, the
// document's node tree, tells which keys the file sets (so that an explicit
// 0 can be told from an omitted field) and on which line; it may be nil,
// in which case every zero value counts as omitted.
type validator struct {
	root *yaml.Node
	errs []FieldError
}

func (v *validator) addf(p path, format string, args ...any) {
	_, line, _ := locate(v.root, p)
	v.errs = append(v.errs, FieldError{Path: p.String(), Line: line, Message: fmt.Sprintf(format, args...)})
}

// has reports whether the file gives a non-null value at p.
func (v *validator) has(p path) bool {
	return present(v.root, p)
}

func present(root *yaml.Node, p path) bool {
	n, _, ok := locate(root, p)
	return ok && !isNull(n)
}

func (v *validator) config(c *Config) {
	v.server(path{"server"}, &c.Server)
	v.providers(path{"providers"}, c)
	v.models(path{"models"}, c)
	v.routing(path{"routing"}, c)
	v.door(c)
	v.telemetry(path{"telemetry"}, c)
}

func (v *validator) server(p path, s *Server) {
	v.listenAddr(p.field("grpc_addr"), s.GRPCAddr)
	v.listenAddr(p.field("http_addr"), s.HTTPAddr)
	grpcAddr := cmp.Or(s.GRPCAddr, defaultGRPCAddr)
	httpAddr := cmp.Or(s.HTTPAddr, defaultHTTPAddr)
	if addrsClash(grpcAddr, httpAddr) {
		v.addf(p.field("http_addr"), "%q clashes with grpc_addr %q: the two listeners need different ports", httpAddr, grpcAddr)
	}
	v.positiveDuration(p.field("drain_timeout"), s.DrainTimeout)
	if s.MaxRequestBytes < 0 || s.MaxRequestBytes == 0 && v.has(p.field("max_request_bytes")) {
		v.addf(p.field("max_request_bytes"), "must be > 0, got %d", s.MaxRequestBytes)
	}
	v.positiveInt(p.field("max_in_flight"), int64(s.MaxInFlight))
	v.positiveInt(p.field("max_concurrent_streams"), int64(s.MaxConcurrentStreams))
	if s.MaxConcurrentStreams > math.MaxUint32 {
		v.addf(p.field("max_concurrent_streams"), "must be at most %d, got %d", uint32(math.MaxUint32), s.MaxConcurrentStreams)
	}

	kp, ka := p.field("keepalive"), &s.Keepalive
	v.positiveDuration(kp.field("min_time"), ka.MinTime)
	v.nonNegativeDuration(kp.field("max_connection_idle"), ka.MaxConnectionIdle)
	v.nonNegativeDuration(kp.field("max_connection_age"), ka.MaxConnectionAge)
	if ka.Time < time.Second && (ka.Time != 0 || v.has(kp.field("time"))) {
		v.addf(kp.field("time"), "must be at least 1s, got %s (leave it out for the default, 2h)", ka.Time)
	}
	v.positiveDuration(kp.field("timeout"), ka.Timeout)

	hp, hl := p.field("http"), &s.HTTP
	v.positiveDuration(hp.field("read_header_timeout"), hl.ReadHeaderTimeout)
	v.positiveDuration(hp.field("read_timeout"), hl.ReadTimeout)
	v.nonNegativeDuration(hp.field("write_timeout"), hl.WriteTimeout)
	v.positiveDuration(hp.field("idle_timeout"), hl.IdleTimeout)
	v.positiveInt(hp.field("max_header_bytes"), int64(hl.MaxHeaderBytes))

	tp, tc := p.field("tls"), &s.TLS
	switch {
	case tc.CertFile != "" && tc.KeyFile == "":
		v.addf(tp.field("key_file"), "required with cert_file: the PEM file of the certificate's private key")
	case tc.CertFile == "" && tc.KeyFile != "":
		v.addf(tp.field("cert_file"), "required with key_file: the PEM file of the server certificate")
	}
	if tc.ClientCAFile != "" && tc.CertFile == "" {
		v.addf(tp.field("client_ca_file"), "needs cert_file and key_file: client certificates are verified over TLS")
	}
}

// listenAddr checks a host:port to listen on; "" stands for the default.
func (v *validator) listenAddr(p path, addr string) {
	if addr == "" {
		return
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.addf(p, "must be host:port, like \":9090\" or \"127.0.0.1:9090\", got %q", addr)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		v.addf(p, "port must be a number from 0 to 65535, got %q", port)
	}
}

// addrsClash reports whether listening on both a and b must fail: the same
// fixed port on the same or an overlapping (wildcard) host.
func addrsClash(a, b string) bool {
	ha, pa, errA := net.SplitHostPort(a)
	hb, pb, errB := net.SplitHostPort(b)
	if errA != nil || errB != nil || pa != pb || pa == "0" {
		return false
	}
	wildcard := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	return ha == hb || wildcard(ha) || wildcard(hb)
}

// positiveDuration checks a duration that must be > 0 when given.
func (v *validator) positiveDuration(p path, d time.Duration) {
	if d < 0 || d == 0 && v.has(p) {
		v.addf(p, "must be > 0, got %s (leave it out for the default)", d)
	}
}

func (v *validator) nonNegativeDuration(p path, d time.Duration) {
	if d < 0 {
		v.addf(p, "must be >= 0, got %s", d)
	}
}

func (v *validator) nonNegative(p path, f float64) {
	if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		v.addf(p, "must be a number >= 0, got %g", f)
	}
}

func (v *validator) rate(p path, f float64) {
	if math.IsNaN(f) || f < 0 || f > 1 {
		v.addf(p, "must be between 0 and 1, got %g", f)
	}
}

func (v *validator) providers(p path, c *Config) {
	if len(c.Providers) == 0 {
		v.addf(p, "at least one provider is required")
		return
	}
	seen := make(map[string]int, len(c.Providers))
	for i := range c.Providers {
		pp := p.index(i)
		prov := &c.Providers[i]
		if prov.Name != "" {
			if j, dup := seen[prov.Name]; dup {
				v.addf(pp.field("name"), "%q is already the name of providers[%d]", prov.Name, j)
			} else {
				seen[prov.Name] = i
			}
		}
		v.provider(pp, prov, c)
	}
}

func (v *validator) provider(p path, prov *Provider, c *Config) {
	switch {
	case prov.Name == "":
		v.addf(p.field("name"), "required")
	case !validProviderName(prov.Name):
		v.addf(p.field("name"), "must be 1 to 64 lowercase letters, digits, _ . or -, starting with a letter or digit, got %q", prov.Name)
	}

	known := slices.Contains(ProviderTypes(), prov.Type)
	switch {
	case prov.Type == "":
		v.addf(p.field("type"), "required, one of: %s", typeList())
	case !known:
		v.addf(p.field("type"), "unknown type %q (want one of: %s)", prov.Type, typeList())
	}
	sim := prov.Type == TypeSimulator

	switch {
	case sim && prov.BaseURL != "":
		v.addf(p.field("base_url"), "not allowed for simulator providers")
	case prov.BaseURL != "":
		v.baseURL(p.field("base_url"), prov.BaseURL)
	case prov.Type == TypeAzure:
		v.addf(p.field("base_url"), "required for azure providers: the resource endpoint, like https://my-resource.openai.azure.com")
	}

	switch {
	case prov.APIKeyEnv == "":
	case sim:
		v.addf(p.field("api_key_env"), "not allowed for simulator providers, which take no key")
	case !isEnvName(prov.APIKeyEnv):
		// The value is not echoed: it may be the key itself.
		v.addf(p.field("api_key_env"), "must be the name of an environment variable (letters, digits and _), like OPENAI_API_KEY; the key itself belongs in that variable, never in the file")
	}

	if len(prov.Headers) > 0 && sim {
		v.addf(p.field("headers"), "not allowed for simulator providers")
	}
	for _, name := range sortedKeys(prov.Headers) {
		hp := p.field("headers").key(name)
		if !validHeaderName(name) {
			v.addf(hp, "invalid HTTP header name %q", name)
		}
		if !validHeaderValue(prov.Headers[name]) {
			v.addf(hp, "the value must not contain line breaks or other control characters")
		}
	}

	switch {
	case prov.CAFile == "":
	case sim:
		v.addf(p.field("ca_file"), "not allowed for simulator providers")
	case strings.HasPrefix(prov.BaseURL, "http://"):
		v.addf(p.field("ca_file"), "needs an https base_url: the CAs verify the upstream's TLS certificate, and %q is plain http", prov.BaseURL)
	}

	v.positiveDuration(p.field("timeout"), prov.Timeout)

	switch {
	case prov.Type == TypeAzure && prov.APIVersion == "":
		v.addf(p.field("api_version"), "required for azure providers, like \"2024-10-21\"")
	case prov.Type != TypeAzure && prov.APIVersion != "" && known:
		v.addf(p.field("api_version"), "only allowed for azure providers")
	}

	if prov.DefaultMaxTokens < 0 || prov.DefaultMaxTokens == 0 && v.has(p.field("default_max_tokens")) {
		v.addf(p.field("default_max_tokens"), "must be > 0, got %d", prov.DefaultMaxTokens)
	}

	for _, name := range sortedKeys(prov.Models) {
		mp := p.field("models").key(name)
		switch upstream := prov.Models[name]; {
		case upstream == "":
			v.addf(mp, "the upstream model name must not be empty")
		case !validModelName(upstream):
			v.addf(mp, "the upstream model name must not contain spaces or control characters, got %q", upstream)
		}
		if name == "" {
			v.addf(mp, "the gateway model name must not be empty")
			continue
		}
		if slices.ContainsFunc(c.Models, func(m Model) bool { return m.Name == name }) {
			continue
		}
		if m, ok := c.ModelByName(name); ok {
			if strings.EqualFold(m.Name, name) {
				v.addf(mp, "no model named %q in models; did you mean %q?", name, m.Name)
			} else {
				v.addf(mp, "%q is an alias of %s; map the model's name instead", name, m.Name)
			}
			continue
		}
		v.addf(mp, "no model named %q in models", name)
	}

	if prov.Simulator != nil {
		if !sim && known {
			v.addf(p.field("simulator"), "only allowed for simulator providers (this one is %s)", prov.Type)
		}
		v.simulator(p.field("simulator"), prov.Simulator)
	}
}

func (v *validator) baseURL(p path, raw string) {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		v.addf(p, "must be an absolute http or https URL, got %q", raw)
		return
	}
	if u.User != nil {
		v.addf(p, "must not contain credentials: put the key in the environment variable api_key_env names")
		return
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		v.addf(p, "must not have a query or fragment, got %q", raw)
	}
}

func (v *validator) simulator(p path, s *Simulator) {
	v.nonNegative(p.field("tokens_per_second"), s.TokensPerSecond)
	lp := p.field("latency")
	v.nonNegativeDuration(lp.field("p50"), s.Latency.P50)
	v.nonNegativeDuration(lp.field("p99"), s.Latency.P99)
	switch {
	case s.Latency.P99 > 0 && s.Latency.P50 == 0:
		v.addf(lp.field("p99"), "needs p50 as well")
	case s.Latency.P99 > 0 && s.Latency.P99 < s.Latency.P50:
		v.addf(lp.field("p99"), "must be >= p50 (%s), got %s", s.Latency.P50, s.Latency.P99)
	}
	v.rate(p.field("error_rate"), s.ErrorRate)
	v.rate(p.field("rate_limit_rate"), s.RateLimitRate)
	v.nonNegativeDuration(p.field("retry_after"), s.RetryAfter)
	v.rate(p.field("overload_rate"), s.OverloadRate)
	v.rate(p.field("timeout_rate"), s.TimeoutRate)
	v.rate(p.field("cut_rate"), s.CutRate)
	// A request draws one outcome, so the fault rates are shares of one
	// whole.
	if sum := s.ErrorRate + s.RateLimitRate + s.OverloadRate + s.TimeoutRate + s.CutRate; sum > 1+1e-9 {
		v.addf(p, "the fault rates (error, rate_limit, overload, timeout, cut) are shares of all requests and must add up to at most 1, got %g", sum)
	}
	sf := s.SlowFactor
	if math.IsNaN(sf) || math.IsInf(sf, 0) || sf < 0 || sf == 0 && v.has(p.field("slow_factor")) {
		v.addf(p.field("slow_factor"), "must be a number > 0, got %g", sf)
	}
}

func (v *validator) models(p path, c *Config) {
	if len(c.Models) == 0 {
		v.addf(p, "at least one model is required")
		return
	}
	// owner maps every name and alias, lowercased, to the model that has
	// it and how that model spells it.
	type claimed struct {
		model int
		as    string
	}
	owner := make(map[string]claimed, len(c.Models)*2)
	claim := func(np path, name string, i int, what string) {
		switch {
		case name == "":
			v.addf(np, "required")
			return
		case !validModelName(name):
			v.addf(np, "must not contain spaces or control characters, got %q", name)
			return
		case strings.EqualFold(name, "auto"):
			v.addf(np, "%q is reserved for automatic routing; choose another %s", name, what)
			return
		}
		key := strings.ToLower(name)
		if prev, dup := owner[key]; dup {
			if prev.as == name {
				v.addf(np, "%q is already the name or alias of models[%d]", name, prev.model)
			} else {
				v.addf(np, "%q is already the name or alias of models[%d], as %q (names and aliases ignore case)", name, prev.model, prev.as)
			}
			return
		}
		owner[key] = claimed{model: i, as: name}
	}
	for i := range c.Models {
		mp := p.index(i)
		m := &c.Models[i]
		claim(mp.field("name"), m.Name, i, "name")
		for j, a := range m.Aliases {
			claim(mp.field("aliases").index(j), a, i, "alias")
		}
		v.deployments(mp.field("deployments"), m, c)
		v.pricing(mp.field("pricing"), &m.Pricing)
	}
}

func (v *validator) deployments(p path, m *Model, c *Config) {
	if len(m.Deployments) == 0 {
		v.addf(p, "at least one deployment is required")
		return
	}
	var names []string
	for _, prov := range c.Providers {
		names = append(names, prov.Name)
	}
	known := strings.Join(names, ", ")
	first := make(map[[2]string]int, len(m.Deployments))
	positive := false
	for i := range m.Deployments {
		dp := p.index(i)
		d := &m.Deployments[i]
		prov, ok := c.ProviderByName(d.Provider)
		switch {
		case d.Provider == "":
			v.addf(dp.field("provider"), "required (known: %s)", known)
		case !ok:
			v.addf(dp.field("provider"), "unknown provider %q (known: %s)", d.Provider, known)
		}
		if d.Model != "" && !validModelName(d.Model) {
			v.addf(dp.field("model"), "must not contain spaces or control characters, got %q", d.Model)
		}
		if ok {
			k := [2]string{d.Provider, upstreamModel(d, m, prov)}
			if j, dup := first[k]; dup {
				v.addf(dp, "same provider and upstream model (%s/%s) as deployments[%d]", k[0], k[1], j)
			} else {
				first[k] = i
			}
		}
		if d.Weight < 0 {
			v.addf(dp.field("weight"), "must be >= 0, got %d", d.Weight)
		}
		if d.Weight > 0 || d.Weight == 0 && !v.has(dp.field("weight")) {
			positive = true
		}
		v.positiveDuration(dp.field("timeout"), d.Timeout)
	}
	if !positive {
		v.addf(p, "no deployment has a weight above 0, so none would be chosen; give at least one a positive weight")
	}
}

func (v *validator) pricing(p path, pr *Pricing) {
	v.nonNegative(p.field("input_per_mtok"), pr.InputPerMTok)
	v.nonNegative(p.field("output_per_mtok"), pr.OutputPerMTok)
	v.nonNegative(p.field("cached_input_per_mtok"), pr.CachedInputPerMTok)
	v.nonNegative(p.field("cache_write_per_mtok"), pr.CacheWritePerMTok)
	v.nonNegative(p.field("reasoning_per_mtok"), pr.ReasoningPerMTok)
}

// upstreamModel is the model name deployment d of model m sends to prov:
// its own, else prov's mapping for m, else m's name.
func upstreamModel(d *Deployment, m *Model, prov *Provider) string {
	if d.Model != "" {
		return d.Model
	}
	if up, ok := prov.Models[m.Name]; ok && up != "" {
		return up
	}
	return m.Name
}

func typeList() string {
	var b strings.Builder
	for i, t := range ProviderTypes() {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(string(t))
	}
	return b.String()
}

// validProviderName reports whether s matches [a-z0-9][a-z0-9_.-]{0,63}.
func validProviderName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case (c == '_' || c == '.' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}

// validModelName reports whether s is non-empty and free of white space
// and control characters.
func validModelName(s string) bool {
	return s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || r == unicode.ReplacementChar
	})
}

// validHeaderName reports whether s is an HTTP token (RFC 9110, 5.6.2).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validHeaderValue reports whether s holds no control characters other
// than horizontal tab.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
