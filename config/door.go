package config

import (
	"cmp"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Key is one virtual API key (YAML key keys). Callers present the key as
// "Authorization: Bearer sk-<id>-<secret>"; the file holds only the id
// and the SHA-256 of the secret. `llmgateway keys new --name NAME` makes
// a key and prints these lines.
type Key struct {
	// ID is the public id inside the key (YAML key id): 1 to 64 letters,
	// digits and underscores, unique among the keys. Required.
	ID string `yaml:"id"`
	// Name describes the key for people (YAML key name), like
	// "customer-service". Default: the id.
	Name string `yaml:"name"`
	// SecretSHA256 is the hex SHA-256 of the key's secret part, the text
	// after the second dash (YAML key secret_sha256). Never put the key
	// itself in the file. Required.
	SecretSHA256 string `yaml:"secret_sha256"`
	// Models are the models the key may use (YAML key models): names,
	// aliases, virtual models such as "auto", or globs (* for any run of
	// characters, ? for one), matched ignoring case against the canonical
	// model name after alias resolution. Default: none, every model.
	Models []string `yaml:"models"`
	// RPM limits the key's chat requests per minute (YAML key rpm). Must
	// be >= 0. Default: 0, no limit.
	RPM int64 `yaml:"rpm"`
	// TPM limits the key's tokens per minute, prompt and completion (YAML
	// key tpm). A request reserves its estimated prompt plus max_tokens
	// (or state.default_max_tokens) and settles to its real usage. Must
	// be >= 0. Default: 0, no limit.
	TPM int64 `yaml:"tpm"`
	// MaxConcurrent caps the key's chat requests in flight (YAML key
	// max_concurrent). Must be >= 0. Default: 0, no cap.
	MaxConcurrent int64 `yaml:"max_concurrent"`
	// Budget caps the key's spend (YAML key budget). Default: no budget.
	Budget Budget `yaml:"budget"`
	// Labels are free key/value pairs, like team and app, that go into
	// the key's usage records (YAML key labels). Names are 1 to 64
	// letters, digits, _ . or -. Default: none.
	Labels map[string]string `yaml:"labels"`
	// Admin lets the key read every key's usage (YAML key admin).
	// Default: false.
	Admin bool `yaml:"admin"`
}

// Budget is a key's spend limit in US dollars. A request reserves its
// estimated cost before it runs and settles to its real cost after, so
// that concurrent requests cannot overshoot the budget by more than they
// underestimated.
type Budget struct {
	// DailyUSD caps the spend per UTC day (YAML key daily_usd). Must be
	// >= 0. Default: 0, no daily cap.
	DailyUSD float64 `yaml:"daily_usd"`
	// MonthlyUSD caps the spend per UTC calendar month (YAML key
	// monthly_usd). Must be >= 0. Default: 0, no monthly cap.
	MonthlyUSD float64 `yaml:"monthly_usd"`
}

// Ledger configures the usage ledger (YAML key ledger): one record per
// chat request, written in the background, read by GetUsage and used to
// rebuild budgets at start.
type Ledger struct {
	// Path is the SQLite file of the ledger (YAML key path), created when
	// missing; its directory must exist. Default: "", the ledger is kept
	// in memory and lost at restart (and budgets restart from zero), with
	// a warning at start.
	Path string `yaml:"path"`
	// QueueSize bounds the records waiting to be written (YAML key
	// queue_size); when it is full, records are dropped and counted
	// rather than slowing requests down. Must be > 0. Default: 10000.
	QueueSize int `yaml:"queue_size"`
	// BatchSize bounds the records written in one transaction (YAML key
	// batch_size). Must be > 0. Default: 500.
	BatchSize int `yaml:"batch_size"`
	// FlushInterval is how long the writer collects records after the
	// first of a batch before it writes them, unless the batch fills
	// first (YAML key flush_interval). Longer intervals write fewer,
	// larger transactions, which costs less CPU per request; a crash
	// (not a graceful stop, which writes everything) loses at most one
	// interval of records besides those queued. Usage queries never wait
	// for it. Must be >= 0; 0 writes each record as soon as it arrives.
	// Default: 200ms.
	FlushInterval *time.Duration `yaml:"flush_interval"`
}

// StateBackend names where limits, budgets and cool-downs are kept.
type StateBackend string

// The state backends.
const (
	// BackendMemory keeps state in the process: limits hold per replica.
	BackendMemory StateBackend = "memory"
	// BackendRedis keeps state in Redis, shared by every replica.
	BackendRedis StateBackend = "redis"
)

// Failure modes of the Redis backend.
const (
	// FailOpen falls back to per-replica limits while Redis is down.
	FailOpen = "open"
	// FailClosed refuses limited requests with Unavailable while Redis is
	// down.
	FailClosed = "closed"
)

// State selects where rate limits, concurrency caps, budgets and upstream
// cool-downs are kept (YAML key state), and how limits estimate a request
// before it runs.
type State struct {
	// Backend is memory or redis (YAML key backend). Default: memory.
	Backend StateBackend `yaml:"backend"`
	// DefaultMaxTokens is the completion reserved against tpm and budgets
	// for a request that sets no max_tokens (YAML key
	// default_max_tokens). Must be > 0. Default: 1024.
	DefaultMaxTokens int64 `yaml:"default_max_tokens"`
	// Redis configures the redis backend (YAML key redis). Required for
	// backend redis, not allowed otherwise; after loading it is non-nil
	// exactly for backend redis.
	Redis *Redis `yaml:"redis"`
}

// Redis says how to reach the Redis server of the redis state backend.
type Redis struct {
	// Addr is the server's host:port (YAML key addr). Required.
	Addr string `yaml:"addr"`
	// PasswordEnv names the environment variable holding the password
	// (YAML key password_env); the password never sits in the file. Use
	// Password to read it. Default: none, no password.
	PasswordEnv string `yaml:"password_env"`
	// DB is the database number (YAML key db). Must be >= 0. Default: 0.
	DB int `yaml:"db"`
	// TLS connects with TLS, verifying the server's certificate against
	// the system's roots (YAML key tls). Default: false.
	TLS bool `yaml:"tls"`
	// Prefix starts every key the gateway writes (YAML key prefix), so
	// that gateways or applications can share one Redis. Default:
	// "llmgateway:".
	Prefix string `yaml:"prefix"`
	// Timeout bounds one Redis operation (YAML key timeout). Must be > 0.
	// Default: 500ms.
	Timeout time.Duration `yaml:"timeout"`
	// FailureMode says what happens while Redis cannot be reached (YAML
	// key failure_mode): "open" keeps serving with per-replica limits,
	// logging loudly; "closed" refuses limited requests with Unavailable
	// (HTTP 503). Default: open.
	FailureMode string `yaml:"failure_mode"`
}

// The defaults of the door's settings, as documented on the fields.
const (
	defaultLedgerQueue      = 10000
	defaultLedgerBatch      = 500
	defaultLedgerFlush      = 200 * time.Millisecond
	defaultStateMaxTokens   = 1024
	defaultRedisPrefix      = "llmgateway:"
	defaultRedisTimeout     = 500 * time.Millisecond
	maxKeyIDLen             = 64
	maxLabelNameLen         = 64
	maxLabelValueLen        = 256
	maxStateDefaultMaxToken = 10_000_000
)

// Password returns the Redis password from the environment variable
// PasswordEnv names, through lookup (os.LookupEnv when nil): "" when r
// names none, an error naming the variable when it is unset or empty.
func (r *Redis) Password(lookup func(string) (string, bool)) (string, error) {
	if r.PasswordEnv == "" {
		return "", nil
	}
	if lookup == nil {
		lookup = os.LookupEnv
	}
	v, ok := lookup(r.PasswordEnv)
	if !ok || strings.TrimSpace(v) == "" {
		return "", fmt.Errorf("state.redis: environment variable %s (its password_env) is not set or empty", r.PasswordEnv)
	}
	return v, nil
}

func (v *validator) door(c *Config) {
	v.keys(path{"keys"}, c)
	v.ledger(path{"ledger"}, &c.Ledger)
	v.state(path{"state"}, &c.State)
}

func (v *validator) keys(p path, c *Config) {
	ids := make(map[string]int, len(c.Keys))
	secrets := make(map[string]int, len(c.Keys))
	for i := range c.Keys {
		kp, k := p.index(i), &c.Keys[i]
		switch {
		case k.ID == "":
			v.addf(kp.field("id"), "required: the public id of the key, as in sk-<id>-<secret> (llmgateway keys new prints one)")
		case !validKeyID(k.ID):
			v.addf(kp.field("id"), "must be 1 to %d letters, digits or underscores, got %q", maxKeyIDLen, k.ID)
		default:
			if j, dup := ids[k.ID]; dup {
				v.addf(kp.field("id"), "%q is already the id of keys[%d]", k.ID, j)
			} else {
				ids[k.ID] = i
			}
		}
		if !validHeaderValue(k.Name) || len(k.Name) > 128 {
			v.addf(kp.field("name"), "must be at most 128 characters without control characters")
		}
		sp := kp.field("secret_sha256")
		switch h := strings.TrimSpace(k.SecretSHA256); {
		case h == "":
			v.addf(sp, "required: the hex SHA-256 of the key's secret (llmgateway keys new prints it)")
		case strings.HasPrefix(h, "sk-"):
			// Not echoed: it is a key.
			v.addf(sp, "holds an API key, not its hash: remove it from the file at once, revoke the key, and put the hex SHA-256 of a new key's secret here (llmgateway keys new)")
		case !isSHA256Hex(h):
			v.addf(sp, "must be 64 hexadecimal digits, the SHA-256 of the key's secret (llmgateway keys new prints it)")
		default:
			h = strings.ToLower(h)
			if j, dup := secrets[h]; dup {
				v.addf(sp, "same secret as keys[%d]: every key needs a secret of its own (llmgateway keys new)", j)
			} else {
				secrets[h] = i
			}
		}
		for j, m := range k.Models {
			v.allowedModel(kp.field("models").index(j), m, c)
		}
		v.nonNegativeInt(kp.field("rpm"), k.RPM)
		v.nonNegativeInt(kp.field("tpm"), k.TPM)
		v.nonNegativeInt(kp.field("max_concurrent"), k.MaxConcurrent)
		v.nonNegative(kp.field("budget").field("daily_usd"), k.Budget.DailyUSD)
		v.nonNegative(kp.field("budget").field("monthly_usd"), k.Budget.MonthlyUSD)
		for _, name := range sortedKeys(k.Labels) {
			lp := kp.field("labels").key(name)
			if !validLabelName(name) {
				v.addf(lp, "label names must be 1 to %d letters, digits, _ . or -, got %q", maxLabelNameLen, name)
			}
			if val := k.Labels[name]; len(val) > maxLabelValueLen || !validHeaderValue(val) {
				v.addf(lp, "label values must be at most %d characters without control characters", maxLabelValueLen)
			}
		}
	}
}

// allowedModel checks one entry of a key's allowlist: a known name or
// alias, "auto", or a glob that matches at least one model.
func (v *validator) allowedModel(p path, m string, c *Config) {
	switch {
	case m == "":
		v.addf(p, "must not be empty")
		return
	case !validModelName(m):
		v.addf(p, "must not contain spaces or control characters, got %q", m)
		return
	case strings.EqualFold(m, "auto"):
		return
	}
	names := modelNames(c)
	if !strings.ContainsAny(m, "*?") {
		_, ok := c.ModelByName(m)
		if !ok && !slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(n, m) }) {
			v.addf(p, "no model, alias or virtual model named %q (known models: %s)", m, strings.Join(names, ", "))
		}
		return
	}
	for _, name := range names {
		if globMatch(m, name) {
			return
		}
	}
	v.addf(p, "the pattern %q matches no model (known: %s); patterns match model names, not aliases", m, strings.Join(names, ", "))
}

// modelNames returns the names of the models and virtual models.
func modelNames(c *Config) []string {
	names := make([]string, 0, len(c.Models)+len(c.Routing.VirtualModels))
	for _, m := range c.Models {
		names = append(names, m.Name)
	}
	for _, vm := range c.Routing.VirtualModels {
		names = append(names, vm.Name)
	}
	return names
}

// globMatch reports whether name matches pattern, ignoring ASCII case: *
// matches any run of characters, ? any one. It is the matching the
// gateway applies (interceptors/allowlist.Match).
func globMatch(pattern, name string) bool {
	p, n := strings.ToLower(pattern), strings.ToLower(name)
	pi, ni, star, mark := 0, 0, -1, 0
	for ni < len(n) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == n[ni]):
			pi++
			ni++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, ni
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			ni = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

func (v *validator) nonNegativeInt(p path, n int64) {
	if n < 0 {
		v.addf(p, "must be >= 0 (0 means no limit), got %d", n)
	}
}

func (v *validator) ledger(p path, l *Ledger) {
	if strings.ContainsAny(l.Path, "?#") {
		v.addf(p.field("path"), "must be a plain file path without ? or #, got %q", l.Path)
	}
	if l.Path != "" && strings.HasSuffix(l.Path, "/") {
		v.addf(p.field("path"), "must name a file, not a directory, got %q", l.Path)
	}
	if l.QueueSize < 0 || l.QueueSize == 0 && v.has(p.field("queue_size")) {
		v.addf(p.field("queue_size"), "must be > 0, got %d", l.QueueSize)
	}
	if l.BatchSize < 0 || l.BatchSize == 0 && v.has(p.field("batch_size")) {
		v.addf(p.field("batch_size"), "must be > 0, got %d", l.BatchSize)
	}
	if l.FlushInterval != nil && *l.FlushInterval < 0 {
		v.addf(p.field("flush_interval"), "must be >= 0, got %s", *l.FlushInterval)
	}
}

func (v *validator) state(p path, s *State) {
	switch s.Backend {
	case "", BackendMemory:
		if s.Redis != nil {
			v.addf(p.field("redis"), "only used with backend: redis (the backend is %s)", cmp.Or(string(s.Backend), string(BackendMemory)))
		}
	case BackendRedis:
		if s.Redis == nil {
			v.addf(p.field("redis"), "required for backend redis: give at least addr, like {addr: \"redis:6379\"}")
		}
	default:
		v.addf(p.field("backend"), "unknown backend %q (want memory or redis)", s.Backend)
	}
	if s.DefaultMaxTokens < 0 || s.DefaultMaxTokens == 0 && v.has(p.field("default_max_tokens")) || s.DefaultMaxTokens > maxStateDefaultMaxToken {
		v.addf(p.field("default_max_tokens"), "must be between 1 and %d, got %d", maxStateDefaultMaxToken, s.DefaultMaxTokens)
	}
	if s.Redis != nil {
		v.redis(p.field("redis"), s.Redis)
	}
}

func (v *validator) redis(p path, r *Redis) {
	switch host, port, err := net.SplitHostPort(r.Addr); {
	case r.Addr == "":
		v.addf(p.field("addr"), "required: the Redis server's host:port, like \"redis:6379\"")
	case err != nil || host == "":
		v.addf(p.field("addr"), "must be host:port, like \"redis:6379\", got %q", r.Addr)
	default:
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			v.addf(p.field("addr"), "port must be a number from 1 to 65535, got %q", port)
		}
	}
	if r.PasswordEnv != "" && !isEnvName(r.PasswordEnv) {
		// Not echoed: it may be the password itself.
		v.addf(p.field("password_env"), "must be the name of an environment variable (letters, digits and _), like REDIS_PASSWORD; the password itself belongs in that variable, never in the file")
	}
	if r.DB < 0 {
		v.addf(p.field("db"), "must be >= 0, got %d", r.DB)
	}
	if strings.ContainsFunc(r.Prefix, func(c rune) bool { return c <= ' ' || c == 0x7f }) {
		v.addf(p.field("prefix"), "must not contain spaces or control characters, got %q", r.Prefix)
	}
	v.positiveDuration(p.field("timeout"), r.Timeout)
	if r.FailureMode != "" && r.FailureMode != FailOpen && r.FailureMode != FailClosed {
		v.addf(p.field("failure_mode"), "must be open or closed, got %q", r.FailureMode)
	}
}

func applyDoorDefaults(c *Config, root *yaml.Node) {
	for i := range c.Keys {
		k := &c.Keys[i]
		if k.Name == "" {
			k.Name = k.ID
		}
		k.SecretSHA256 = strings.ToLower(strings.TrimSpace(k.SecretSHA256))
	}
	if c.Ledger.QueueSize == 0 {
		c.Ledger.QueueSize = defaultLedgerQueue
	}
	if c.Ledger.BatchSize == 0 {
		c.Ledger.BatchSize = defaultLedgerBatch
	}
	if c.Ledger.FlushInterval == nil {
		d := defaultLedgerFlush
		c.Ledger.FlushInterval = &d
	}
	s := &c.State
	if s.Backend == "" {
		s.Backend = BackendMemory
	}
	if s.DefaultMaxTokens == 0 {
		s.DefaultMaxTokens = defaultStateMaxTokens
	}
	if r := s.Redis; r != nil {
		if r.Prefix == "" && !present(root, path{"state", "redis", "prefix"}) {
			r.Prefix = defaultRedisPrefix
		}
		if r.Timeout == 0 {
			r.Timeout = defaultRedisTimeout
		}
		if r.FailureMode == "" {
			r.FailureMode = FailOpen
		}
	}
}

func validKeyID(s string) bool {
	if s == "" || len(s) > maxKeyIDLen {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '_')
	})
}

func validLabelName(s string) bool {
	if s == "" || len(s) > maxLabelNameLen {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '_' || r == '.' || r == '-')
	})
}

func isSHA256Hex(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == 32
}
