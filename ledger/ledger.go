package ledger

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/llmgateway/llmgateway/llm"
)

// Record is one request as the ledger keeps it.
type Record struct {
	// Time is when the request arrived.
	Time      time.Time
	RequestID string
	// KeyID is the caller's key id; "" when the gateway runs open.
	KeyID  string
	Labels map[string]string
	// Surface is where the request came in: "grpc", "rest" or "openai".
	Surface string
	// Method is "chat" or "chat_stream".
	Method string
	// RequestedModel is the model as the caller named it.
	RequestedModel string
	// Model is the gateway model that answered, or, when none did, the
	// model the request resolved to.
	Model string
	// Provider is the provider that answered; "" when none did.
	Provider string
	// Attempts counts the upstream attempts routing made.
	Attempts int
	Usage    llm.Usage
	CostUSD  float64
	// Estimated reports that Usage and CostUSD are estimates: a stream
	// that ended before the upstream reported its usage.
	Estimated bool
	// Latency is the time from arrival to the end of the response.
	Latency time.Duration
	// TTFT is the time to the first streamed content; 0 when none was
	// streamed.
	TTFT time.Duration
	// Status is the gRPC code the call ended with, like "OK" or
	// "ResourceExhausted".
	Status string
}

// Stats counts what happened to records.
type Stats struct {
	// Queued counts records accepted by Record.
	Queued int64
	// Dropped counts records refused because the queue was full or the
	// ledger closed.
	Dropped int64
	// Written counts records stored.
	Written int64
	// Failed counts records lost to database errors.
	Failed int64
}

type options struct {
	queueSize     int
	batchSize     int
	flushInterval time.Duration
	logger        *slog.Logger
}

// Option configures a Ledger.
type Option func(*options)

// WithQueueSize bounds the records waiting to be written. Default: 10000.
func WithQueueSize(n int) Option { return func(o *options) { o.queueSize = n } }

// WithBatchSize bounds the records written in one transaction. Default:
// 500.
func WithBatchSize(n int) Option { return func(o *options) { o.batchSize = n } }

// WithFlushInterval sets how long the writer keeps collecting records
// after the first of a batch arrives before it writes them, unless the
// batch fills first. Longer intervals write fewer, larger transactions,
// which costs less CPU per record; a crash (not a Close) loses at most the
// records of one interval besides those queued. Queries and Close do not
// wait for it: they have pending records written at once. Zero or less
// writes what is queued as soon as a record arrives. Default: 200ms.
func WithFlushInterval(d time.Duration) Option {
	return func(o *options) { o.flushInterval = d }
}

// WithLogger sets the logger. Default: discard.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// Ledger is the usage ledger. Create it with New, Start it, and Close it
// to flush. Its methods are safe for concurrent use.
type Ledger struct {
	path string
	opts options

	mu     sync.RWMutex // guards closed and sends on queue against close
	closed bool
	queue  chan Record
	// flushes carries the flush requests of queries to the writer, which
	// closes the channel of each once it has written what was queued
	// when it took the request.
	flushes chan chan struct{}

	db        *sql.DB
	startOnce sync.Once
	started   atomic.Bool
	done      chan struct{}

	queued, dropped, written, failed atomic.Int64
	dropLogMu                        sync.Mutex
	dropLogAt                        time.Time
	dropUnlogged                     int64
}

// New returns a Ledger that keeps its records in the SQLite file at path,
// or in memory (lost when the process ends) when path is "". It does no
// I/O: Start opens the database.
func New(path string, opts ...Option) *Ledger {
	o := options{queueSize: 10000, batchSize: 500, flushInterval: 200 * time.Millisecond, logger: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		opt(&o)
	}
	o.queueSize = max(o.queueSize, 1)
	o.batchSize = max(o.batchSize, 1)
	return &Ledger{path: path, opts: o, queue: make(chan Record, o.queueSize), flushes: make(chan chan struct{}),
		done: make(chan struct{})}
}

// schemaVersion is the PRAGMA user_version of the schema below.
const schemaVersion = 1

const schema = `
CREATE TABLE IF NOT EXISTS requests (
	id                 INTEGER PRIMARY KEY,
	ts_us              INTEGER NOT NULL, -- arrival, Unix microseconds
	day                TEXT    NOT NULL, -- arrival, UTC, YYYY-MM-DD
	request_id         TEXT    NOT NULL,
	key_id             TEXT    NOT NULL,
	labels             TEXT    NOT NULL, -- JSON object
	surface            TEXT    NOT NULL,
	method             TEXT    NOT NULL,
	requested_model    TEXT    NOT NULL,
	model              TEXT    NOT NULL,
	provider           TEXT    NOT NULL,
	attempts           INTEGER NOT NULL,
	prompt_tokens      INTEGER NOT NULL,
	completion_tokens  INTEGER NOT NULL,
	cached_tokens      INTEGER NOT NULL,
	reasoning_tokens   INTEGER NOT NULL,
	cache_write_tokens INTEGER NOT NULL,
	cost_usd           REAL    NOT NULL,
	estimated          INTEGER NOT NULL,
	latency_ms         REAL    NOT NULL,
	ttft_ms            REAL,             -- NULL when nothing was streamed
	status             TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS requests_ts ON requests (ts_us);
CREATE INDEX IF NOT EXISTS requests_key_ts ON requests (key_id, ts_us);
`

// Start opens the database, creating the file and its schema when needed,
// and starts the writer. Calling it again does nothing.
func (l *Ledger) Start(ctx context.Context) error {
	var err error
	l.startOnce.Do(func() { err = l.open(ctx) })
	return err
}

func (l *Ledger) open(ctx context.Context) error {
	dsn := ":memory:"
	if l.path != "" {
		if strings.ContainsAny(l.path, "?#") {
			return fmt.Errorf("ledger path %q: must not contain ? or #", l.path)
		}
		dsn = l.path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=synchronous(NORMAL)"
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return fmt.Errorf("opening ledger %s: %w", l.where(), err)
	}
	if l.path == "" {
		// Each connection to ":memory:" is a database of its own: keep
		// exactly one, forever.
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		db.SetConnMaxLifetime(0)
	} else {
		db.SetMaxOpenConns(4)
	}
	if err := migrate(ctx, db); err != nil {
		db.Close()
		return fmt.Errorf("opening ledger %s: %w", l.where(), err)
	}
	l.db = db
	l.started.Store(true)
	go l.writer()
	return nil
}

func (l *Ledger) where() string {
	if l.path == "" {
		return "in memory"
	}
	return l.path
}

func migrate(ctx context.Context, db *sql.DB) error {
	var v int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("reading schema version: %w", err)
	}
	switch {
	case v > schemaVersion:
		return fmt.Errorf("schema version %d is newer than this build supports (%d): use a newer llmgateway or another file", v, schemaVersion)
	case v == schemaVersion:
		return nil
	}
	if _, err := db.ExecContext(ctx, schema); err != nil {
		return fmt.Errorf("creating schema: %w", err)
	}
	if _, err := db.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion)); err != nil {
		return fmt.Errorf("setting schema version: %w", err)
	}
	return nil
}

// Record queues r to be written. It never blocks: when the queue is full,
// or the ledger is closed, it drops r, counts and logs the drop, and
// returns false.
func (l *Ledger) Record(r Record) bool {
	l.mu.RLock()
	ok := false
	if !l.closed {
		select {
		case l.queue <- r:
			ok = true
		default:
		}
	}
	l.mu.RUnlock()
	if ok {
		l.queued.Add(1)
		return true
	}
	l.dropped.Add(1)
	l.logDrop()
	return false
}

// logDrop logs dropped records at most every 10 s.
func (l *Ledger) logDrop() {
	l.dropLogMu.Lock()
	defer l.dropLogMu.Unlock()
	l.dropUnlogged++
	now := time.Now()
	if now.Sub(l.dropLogAt) < 10*time.Second {
		return
	}
	l.opts.logger.Error("usage ledger queue full or closed: usage records dropped (usage reports and budgets rebuilt at start undercount them); raise ledger.queue_size or check the disk",
		"dropped", l.dropUnlogged, "dropped_total", l.dropped.Load(), "queue_size", l.opts.queueSize)
	l.dropLogAt, l.dropUnlogged = now, 0
}

// Stats returns the ledger's counters.
func (l *Ledger) Stats() Stats {
	return Stats{Queued: l.queued.Load(), Dropped: l.dropped.Load(), Written: l.written.Load(), Failed: l.failed.Load()}
}

// Close stops accepting records, writes those queued, and closes the
// database. It returns an error when ctx ends first; the records still
// queued are then lost.
func (l *Ledger) Close(ctx context.Context) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.queue)
	l.mu.Unlock()
	l.startOnce.Do(func() {}) // a ledger never started stays so
	if !l.started.Load() {
		if n := len(l.queue); n > 0 {
			l.opts.logger.Error("usage ledger closed before it started: records lost", "records", n)
		}
		return nil
	}
	select {
	case <-l.done:
	case <-ctx.Done():
		return fmt.Errorf("flushing usage ledger: %d records not written: %w", len(l.queue), ctx.Err())
	}
	if err := l.db.Close(); err != nil {
		return fmt.Errorf("closing usage ledger: %w", err)
	}
	return nil
}

// writer drains the queue in batches until it is closed and empty. A
// batch is written when it is full, when the flush interval has passed
// since its first record, when a query asks for a flush, or when the queue
// is closed.
func (l *Ledger) writer() {
	defer close(l.done)
	b := batcher{l: l, batch: make([]Record, 0, l.opts.batchSize)}
	interval := l.opts.flushInterval
	// The timer runs only while the batch holds records. Since Go 1.23
	// Stop and Reset leave no stale tick in timer.C.
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case r, ok := <-l.queue:
			if !ok {
				b.flush()
				return
			}
			if interval <= 0 {
				b.add(r)
				b.takeQueued()
				b.flush()
				continue
			}
			if len(b.batch) == 0 {
				timer.Reset(interval)
			}
			if b.add(r) {
				timer.Stop()
			}
		case <-timer.C:
			b.flush()
		case done := <-l.flushes:
			// Every record accepted before the request was sent is
			// in the batch or among those queued now.
			b.takeQueued()
			b.flush()
			timer.Stop()
			close(done)
		}
	}
}

// batcher is the writer's batch.
type batcher struct {
	l     *Ledger
	batch []Record
}

// add appends r to the batch and, when that fills it, writes it. It
// reports whether it wrote.
func (b *batcher) add(r Record) bool {
	b.batch = append(b.batch, r)
	if len(b.batch) < b.l.opts.batchSize {
		return false
	}
	b.flush()
	return true
}

// takeQueued adds the records queued now, writing each batch they fill.
// Only the writer receives from the queue, so the records len counts are
// there to be taken, even once the queue is closed.
func (b *batcher) takeQueued() {
	for n := len(b.l.queue); n > 0; n-- {
		b.add(<-b.l.queue)
	}
}

// flush writes the batch, if it holds records, and empties it.
func (b *batcher) flush() {
	if len(b.batch) == 0 {
		return
	}
	b.l.write(b.batch)
	clear(b.batch) // drop references to labels until the slots are reused
	b.batch = b.batch[:0]
}

// flush waits until the writer has written every record accepted before
// the call, so that a query sees them. It returns early, with ctx's
// error, when ctx ends first; once the writer has stopped (the ledger is
// closed) there is nothing to wait for.
func (l *Ledger) flush(ctx context.Context) error {
	done := make(chan struct{})
	select {
	case l.flushes <- done:
	case <-l.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

const insert = `INSERT INTO requests (ts_us, day, request_id, key_id, labels, surface, method,
	requested_model, model, provider, attempts, prompt_tokens, completion_tokens, cached_tokens,
	reasoning_tokens, cache_write_tokens, cost_usd, estimated, latency_ms, ttft_ms, status)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// write stores batch in one transaction, trying twice before it gives
// the batch up.
func (l *Ledger) write(batch []Record) {
	var err error
	for try := range 2 {
		if try > 0 {
			time.Sleep(100 * time.Millisecond)
		}
		if err = l.writeTx(batch); err == nil {
			l.written.Add(int64(len(batch)))
			return
		}
	}
	l.failed.Add(int64(len(batch)))
	l.opts.logger.Error("usage ledger write failed: records lost", "records", len(batch), "path", l.where(), "error", err)
}

func (l *Ledger) writeTx(batch []Record) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, insert)
	if err != nil {
		return fmt.Errorf("preparing insert: %w", err)
	}
	defer stmt.Close()
	for i := range batch {
		r := &batch[i]
		labels := []byte("{}")
		if len(r.Labels) > 0 {
			if b, err := json.Marshal(r.Labels); err == nil {
				labels = b
			}
		}
		var ttft any
		if r.TTFT > 0 {
			ttft = ms(r.TTFT)
		}
		t := r.Time.UTC()
		if _, err := stmt.ExecContext(ctx,
			t.UnixMicro(), t.Format(time.DateOnly), r.RequestID, r.KeyID, string(labels), r.Surface, r.Method,
			r.RequestedModel, r.Model, r.Provider, r.Attempts,
			r.Usage.PromptTokens, r.Usage.CompletionTokens, r.Usage.CachedTokens, r.Usage.ReasoningTokens, r.Usage.CacheWriteTokens,
			r.CostUSD, r.Estimated, ms(r.Latency), ttft, r.Status,
		); err != nil {
			return fmt.Errorf("inserting record: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// ErrNotStarted is returned by queries on a ledger that was not started.
var ErrNotStarted = errors.New("usage ledger not started")

// Query selects records: those that arrived in [Start, End), optionally
// of one key, model and provider.
type Query struct {
	Start, End time.Time
	KeyID      string
	Model      string
	Provider   string
}

// Totals adds up records.
type Totals struct {
	Requests         int64
	Errors           int64
	PromptTokens     int64
	CompletionTokens int64
	CachedTokens     int64
	ReasoningTokens  int64
	CacheWriteTokens int64
	CostUSD          float64
}

// Bucket is the totals of one key, model, provider or day.
type Bucket struct {
	Name   string
	Totals Totals
}

// Report is the answer to a Query.
type Report struct {
	Total Totals
	// ByKey, ByModel and ByProvider are sorted by cost, highest first
	// (then by name); ByDay (UTC, YYYY-MM-DD) oldest first.
	ByKey, ByModel, ByProvider, ByDay []Bucket
}

const totalsColumns = `COUNT(*), COALESCE(SUM(status != 'OK'), 0), COALESCE(SUM(prompt_tokens), 0),
	COALESCE(SUM(completion_tokens), 0), COALESCE(SUM(cached_tokens), 0), COALESCE(SUM(reasoning_tokens), 0),
	COALESCE(SUM(cache_write_tokens), 0), COALESCE(SUM(cost_usd), 0)`

// Usage reports the records q selects, in one consistent read. It first
// has the records accepted by Record before the call written, so that the
// report includes them.
func (l *Ledger) Usage(ctx context.Context, q Query) (*Report, error) {
	if !l.started.Load() {
		return nil, ErrNotStarted
	}
	if err := l.flush(ctx); err != nil {
		return nil, fmt.Errorf("querying usage: %w", err)
	}
	where := "ts_us >= ? AND ts_us < ?"
	args := []any{q.Start.UnixMicro(), q.End.UnixMicro()}
	for _, f := range []struct{ col, val string }{{"key_id", q.KeyID}, {"model", q.Model}, {"provider", q.Provider}} {
		if f.val != "" {
			where += " AND " + f.col + " = ?"
			args = append(args, f.val)
		}
	}
	tx, err := l.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("querying usage: %w", err)
	}
	defer tx.Rollback()
	rep := &Report{}
	totals, err := buckets(ctx, tx, "''", where, "", args)
	if err != nil {
		return nil, err
	}
	if len(totals) == 1 {
		rep.Total = totals[0].Totals
	}
	byCost := " ORDER BY 9 DESC, 1"
	for _, g := range []struct {
		col   string
		order string
		dst   *[]Bucket
	}{
		{"key_id", byCost, &rep.ByKey},
		{"model", byCost, &rep.ByModel},
		{"provider", byCost, &rep.ByProvider},
		{"day", " ORDER BY 1", &rep.ByDay},
	} {
		if *g.dst, err = buckets(ctx, tx, g.col, where, " GROUP BY 1"+g.order, args); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

func buckets(ctx context.Context, tx *sql.Tx, col, where, tail string, args []any) ([]Bucket, error) {
	rows, err := tx.QueryContext(ctx, "SELECT "+col+", "+totalsColumns+" FROM requests WHERE "+where+tail, args...)
	if err != nil {
		return nil, fmt.Errorf("querying usage: %w", err)
	}
	defer rows.Close()
	var out []Bucket
	for rows.Next() {
		var b Bucket
		t := &b.Totals
		if err := rows.Scan(&b.Name, &t.Requests, &t.Errors, &t.PromptTokens, &t.CompletionTokens, &t.CachedTokens,
			&t.ReasoningTokens, &t.CacheWriteTokens, &t.CostUSD); err != nil {
			return nil, fmt.Errorf("reading usage: %w", err)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading usage: %w", err)
	}
	return out, nil
}

// Spend returns the cost per key id of the records that arrived at or
// after since, for rebuilding budget counters at start. Records of the
// open gateway (no key) are left out. Like Usage, it first has the records
// accepted before the call written.
func (l *Ledger) Spend(ctx context.Context, since time.Time) (map[string]float64, error) {
	if !l.started.Load() {
		return nil, ErrNotStarted
	}
	if err := l.flush(ctx); err != nil {
		return nil, fmt.Errorf("reading spend: %w", err)
	}
	rows, err := l.db.QueryContext(ctx,
		"SELECT key_id, SUM(cost_usd) FROM requests WHERE ts_us >= ? AND key_id != '' GROUP BY key_id", since.UnixMicro())
	if err != nil {
		return nil, fmt.Errorf("reading spend: %w", err)
	}
	defer rows.Close()
	out := make(map[string]float64)
	for rows.Next() {
		var k string
		var c float64
		if err := rows.Scan(&k, &c); err != nil {
			return nil, fmt.Errorf("reading spend: %w", err)
		}
		out[k] = c
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading spend: %w", err)
	}
	return out, nil
}
