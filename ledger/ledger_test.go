package ledger

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/llmgateway/llmgateway/llm"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func open(t testing.TB, path string, opts ...Option) *Ledger {
	t.Helper()
	l := New(path, opts...)
	if err := l.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(context.Background()) })
	return l
}

// waitWritten waits until n records have been written.
func waitWritten(t testing.TB, l *Ledger, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for l.Stats().Written < n {
		if time.Now().After(deadline) {
			t.Fatalf("written %d records, want %d (stats %+v)", l.Stats().Written, n, l.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var day1 = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

func records() []Record {
	return []Record{
		{Time: day1, KeyID: "cs_bot", Labels: map[string]string{"team": "cs"}, Surface: "grpc", Method: "chat",
			RequestedModel: "gpt-4", Model: "gpt-4.1", Provider: "openai", Attempts: 1,
			Usage:   llm.Usage{PromptTokens: 100, CompletionTokens: 50, CachedTokens: 10, ReasoningTokens: 5, CacheWriteTokens: 2},
			CostUSD: 0.5, Latency: 800 * time.Millisecond, Status: "OK"},
		{Time: day1.Add(time.Hour), KeyID: "cs_bot", Surface: "openai", Method: "chat_stream",
			RequestedModel: "gpt-4.1", Model: "gpt-4.1", Provider: "azure", Attempts: 2,
			Usage: llm.Usage{PromptTokens: 10, CompletionTokens: 20}, CostUSD: 0.25, Latency: time.Second, TTFT: 200 * time.Millisecond, Status: "OK"},
		{Time: day1.Add(24 * time.Hour), KeyID: "search", Surface: "rest", Method: "chat",
			RequestedModel: "deepseek-chat", Model: "deepseek-v3.2", Provider: "deepseek", Attempts: 1,
			Usage: llm.Usage{PromptTokens: 1000, CompletionTokens: 1000}, CostUSD: 2, Status: "OK"},
		{Time: day1.Add(25 * time.Hour), KeyID: "search", Surface: "rest", Method: "chat",
			RequestedModel: "gpt-4.1", Model: "gpt-4.1", Status: "ResourceExhausted"},
		{Time: day1.Add(26 * time.Hour), KeyID: "search", Surface: "grpc", Method: "chat_stream",
			RequestedModel: "gpt-4.1", Model: "gpt-4.1", Provider: "openai", Attempts: 1,
			Usage: llm.Usage{PromptTokens: 5, CompletionTokens: 7}, CostUSD: 0.01, Estimated: true, Status: "Canceled"},
	}
}

func TestUsage(t *testing.T) {
	l := open(t, filepath.Join(t.TempDir(), "usage.db"))
	for _, r := range records() {
		if !l.Record(r) {
			t.Fatal("Record() = false")
		}
	}
	waitWritten(t, l, 5)
	all := Query{Start: day1.Add(-time.Hour), End: day1.Add(48 * time.Hour)}
	tot := func(req, errs, p, c, cached, reas, cw int64, cost float64) Totals {
		return Totals{Requests: req, Errors: errs, PromptTokens: p, CompletionTokens: c, CachedTokens: cached,
			ReasoningTokens: reas, CacheWriteTokens: cw, CostUSD: cost}
	}
	tests := []struct {
		name string
		give Query
		want *Report
	}{
		{"everything", all, &Report{
			Total: tot(5, 2, 1115, 1077, 10, 5, 2, 2.76),
			ByKey: []Bucket{
				{"search", tot(3, 2, 1005, 1007, 0, 0, 0, 2.01)},
				{"cs_bot", tot(2, 0, 110, 70, 10, 5, 2, 0.75)},
			},
			ByModel: []Bucket{
				{"deepseek-v3.2", tot(1, 0, 1000, 1000, 0, 0, 0, 2)},
				{"gpt-4.1", tot(4, 2, 115, 77, 10, 5, 2, 0.76)},
			},
			ByProvider: []Bucket{
				{"deepseek", tot(1, 0, 1000, 1000, 0, 0, 0, 2)},
				{"openai", tot(2, 1, 105, 57, 10, 5, 2, 0.51)},
				{"azure", tot(1, 0, 10, 20, 0, 0, 0, 0.25)},
				{"", tot(1, 1, 0, 0, 0, 0, 0, 0)},
			},
			ByDay: []Bucket{
				{"2025-03-01", tot(2, 0, 110, 70, 10, 5, 2, 0.75)},
				{"2025-03-02", tot(3, 2, 1005, 1007, 0, 0, 0, 2.01)},
			},
		}},
		{"one key", Query{Start: all.Start, End: all.End, KeyID: "cs_bot"}, &Report{
			Total:      tot(2, 0, 110, 70, 10, 5, 2, 0.75),
			ByKey:      []Bucket{{"cs_bot", tot(2, 0, 110, 70, 10, 5, 2, 0.75)}},
			ByModel:    []Bucket{{"gpt-4.1", tot(2, 0, 110, 70, 10, 5, 2, 0.75)}},
			ByProvider: []Bucket{{"openai", tot(1, 0, 100, 50, 10, 5, 2, 0.5)}, {"azure", tot(1, 0, 10, 20, 0, 0, 0, 0.25)}},
			ByDay:      []Bucket{{"2025-03-01", tot(2, 0, 110, 70, 10, 5, 2, 0.75)}},
		}},
		{"model and provider", Query{Start: all.Start, End: all.End, Model: "gpt-4.1", Provider: "openai"}, &Report{
			Total:      tot(2, 1, 105, 57, 10, 5, 2, 0.51),
			ByKey:      []Bucket{{"cs_bot", tot(1, 0, 100, 50, 10, 5, 2, 0.5)}, {"search", tot(1, 1, 5, 7, 0, 0, 0, 0.01)}},
			ByModel:    []Bucket{{"gpt-4.1", tot(2, 1, 105, 57, 10, 5, 2, 0.51)}},
			ByProvider: []Bucket{{"openai", tot(2, 1, 105, 57, 10, 5, 2, 0.51)}},
			ByDay:      []Bucket{{"2025-03-01", tot(1, 0, 100, 50, 10, 5, 2, 0.5)}, {"2025-03-02", tot(1, 1, 5, 7, 0, 0, 0, 0.01)}},
		}},
		// Start is inclusive, end exclusive.
		{"range", Query{Start: day1.Add(time.Hour), End: day1.Add(24 * time.Hour)}, &Report{
			Total:      tot(1, 0, 10, 20, 0, 0, 0, 0.25),
			ByKey:      []Bucket{{"cs_bot", tot(1, 0, 10, 20, 0, 0, 0, 0.25)}},
			ByModel:    []Bucket{{"gpt-4.1", tot(1, 0, 10, 20, 0, 0, 0, 0.25)}},
			ByProvider: []Bucket{{"azure", tot(1, 0, 10, 20, 0, 0, 0, 0.25)}},
			ByDay:      []Bucket{{"2025-03-01", tot(1, 0, 10, 20, 0, 0, 0, 0.25)}},
		}},
		{"nothing", Query{Start: day1.Add(-48 * time.Hour), End: day1.Add(-24 * time.Hour)}, &Report{}},
	}
	approx := cmp.Comparer(func(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 })
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := l.Usage(ctxT(t), tt.give)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, approx); diff != "" {
				t.Errorf("Usage(%+v) mismatch (-want +got):\n%s", tt.give, diff)
			}
		})
	}
}

func TestSpend(t *testing.T) {
	l := open(t, "")
	rs := append(records(), Record{Time: day1, KeyID: "", CostUSD: 100, Status: "OK"})
	for _, r := range rs {
		l.Record(r)
	}
	waitWritten(t, l, int64(len(rs)))
	got, err := l.Spend(ctxT(t), day1.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]float64{"search": 2.01}; !cmp.Equal(got, want, cmp.Comparer(func(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 })) {
		t.Errorf("Spend() = %v, want %v", got, want)
	}
}

func TestCloseFlushesAndPersists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "usage.db")
	l := New(path, WithBatchSize(64))
	if err := l.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	const n = 3000
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range n / 4 {
				r := records()[(i+j)%5]
				if !l.Record(r) {
					t.Error("Record() dropped a record with room in the queue")
					return
				}
			}
		})
	}
	wg.Wait()
	if err := l.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if st := l.Stats(); st.Written != n || st.Dropped != 0 || st.Failed != 0 {
		t.Errorf("Stats() after Close = %+v, want %d written", st, n)
	}
	if l.Record(records()[0]) {
		t.Error("Record() after Close = true, want the record dropped")
	}
	if _, err := os.Stat(path + "-wal"); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	// A new ledger on the same file sees every record.
	l2 := open(t, path)
	rep, err := l2.Usage(ctxT(t), Query{Start: day1.Add(-time.Hour), End: day1.Add(48 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Total.Requests != n {
		t.Errorf("after reopening, %d requests, want %d", rep.Total.Requests, n)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mode string
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
}

func TestQueriesSeeRecordsAccepted(t *testing.T) {
	// An hour-long interval: only the query's flush can write the records
	// in time.
	l := open(t, filepath.Join(t.TempDir(), "usage.db"), WithFlushInterval(time.Hour))
	rs := records()
	for _, r := range rs {
		if !l.Record(r) {
			t.Fatal("Record() = false")
		}
	}
	rep, err := l.Usage(ctxT(t), Query{Start: day1.Add(-time.Hour), End: day1.Add(48 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := rep.Total.Requests, int64(len(rs)); got != want {
		t.Errorf("Usage() right after Record() counts %d requests, want %d", got, want)
	}
	for _, r := range rs[:2] {
		l.Record(r)
	}
	spent, err := l.Spend(ctxT(t), day1)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]float64{"cs_bot": 1.5, "search": 2.01}; !cmp.Equal(spent, want, cmp.Comparer(func(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 })) {
		t.Errorf("Spend() right after Record() = %v, want %v", spent, want)
	}
	if st, want := l.Stats(), (Stats{Queued: 7, Written: 7}); st != want {
		t.Errorf("Stats() = %+v, want %+v", st, want)
	}
}

func TestQueryFlushBoundedByContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "usage.db")
	l := open(t, path, WithFlushInterval(time.Hour))
	// Another connection holds the write lock: the writer cannot write
	// until it lets go (SQLite's busy timeout is 5 s).
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctxT(t), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	l.Record(records()[0])
	ctx, cancel := context.WithTimeout(ctxT(t), 100*time.Millisecond)
	defer cancel()
	if _, err := l.Usage(ctx, Query{Start: day1.Add(-time.Hour), End: day1.Add(time.Hour)}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Usage() while the records cannot be written = %v, want context.DeadlineExceeded", err)
	}
	if _, err := conn.ExecContext(ctxT(t), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	rep, err := l.Usage(ctxT(t), Query{Start: day1.Add(-time.Hour), End: day1.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Total.Requests != 1 {
		t.Errorf("Usage() once the lock is free counts %d requests, want 1", rep.Total.Requests)
	}
}

func TestBatching(t *testing.T) {
	tests := []struct {
		name      string
		give      []Option
		records   int
		wantEarly int64 // written before Close
	}{
		{"interval passes", []Option{WithFlushInterval(10 * time.Millisecond)}, 3, 3},
		{"batch fills", []Option{WithFlushInterval(time.Hour), WithBatchSize(2)}, 5, 4},
		{"no interval", []Option{WithFlushInterval(0)}, 3, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := open(t, "", tt.give...)
			for range tt.records {
				l.Record(records()[0])
			}
			waitWritten(t, l, tt.wantEarly)
			if err := l.Close(ctxT(t)); err != nil {
				t.Fatal(err)
			}
			if st := l.Stats(); st.Written != int64(tt.records) {
				t.Errorf("Stats() after Close = %+v, want %d written", st, tt.records)
			}
		})
	}
}

func TestCloseDoesNotWaitForInterval(t *testing.T) {
	l := open(t, "", WithFlushInterval(time.Hour))
	for _, r := range records() {
		l.Record(r)
	}
	// The writer holds the records until the hour is up.
	time.Sleep(50 * time.Millisecond)
	if st := l.Stats(); st.Written != 0 {
		t.Errorf("Stats() before the interval passed = %+v, want nothing written yet", st)
	}
	ctx, cancel := context.WithTimeout(ctxT(t), 10*time.Second)
	defer cancel()
	if err := l.Close(ctx); err != nil {
		t.Fatalf("Close() = %v, want the records flushed at once", err)
	}
	if st, want := l.Stats(), (Stats{Queued: 5, Written: 5}); st != want {
		t.Errorf("Stats() after Close = %+v, want %+v", st, want)
	}
}

func TestFullQueueDropsAndLogsOnce(t *testing.T) {
	var logs bytes.Buffer
	l := New("", WithQueueSize(2), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	// Not started: nothing drains the queue.
	got := []bool{}
	for range 5 {
		got = append(got, l.Record(records()[0]))
	}
	if want := []bool{true, true, false, false, false}; !cmp.Equal(got, want) {
		t.Errorf("Record() results = %v, want %v", got, want)
	}
	if st := l.Stats(); st.Queued != 2 || st.Dropped != 3 {
		t.Errorf("Stats() = %+v, want 2 queued and 3 dropped", st)
	}
	if n := strings.Count(logs.String(), "records dropped"); n != 1 {
		t.Errorf("logged the drops %d times, want once:\n%s", n, logs.String())
	}
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Usage(context.Background(), Query{}); err != ErrNotStarted {
		t.Errorf("Usage() on a ledger never started = %v, want ErrNotStarted", err)
	}
}

func TestRecordNeverBlocks(t *testing.T) {
	l := New("", WithQueueSize(1))
	defer l.Close(context.Background())
	done := make(chan struct{})
	go func() {
		for range 10000 {
			l.Record(records()[0])
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Record() blocked on a full queue")
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "usage.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	l := New(path)
	defer l.Close(context.Background())
	if err := l.Start(ctxT(t)); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("Start() on a newer schema = %v, want an error saying so", err)
	}
}

func TestBadPath(t *testing.T) {
	tests := []struct {
		name string
		give string
	}{
		{"query characters", "usage.db?mode=ro"},
		{"directory missing", filepath.Join(t.TempDir(), "missing", "usage.db")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := New(tt.give)
			defer l.Close(context.Background())
			if err := l.Start(ctxT(t)); err == nil {
				t.Errorf("Start(%q) = nil, want an error", tt.give)
			}
		})
	}
}

func BenchmarkRecord(b *testing.B) {
	l := open(b, filepath.Join(b.TempDir(), "usage.db"), WithQueueSize(1<<16))
	r := records()[0]
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Record(r)
		}
	})
}

// BenchmarkWriterTrickle measures what a record costs the whole process,
// writer included, when records arrive one at a time, about 1,000 a
// second, as they do from a busy gateway. (BenchmarkRecord measures only
// Record: its records arrive so fast that the writer always finds full
// batches.) It reports the process's CPU time (user and system) per
// record written through to SQLite as cpu-ns/record; ns/op is mostly the
// pause between records. The pace sub-benchmark pauses without recording:
// its CPU time is the benchmark's own, to subtract from ledger's.
func BenchmarkWriterTrickle(b *testing.B) {
	for _, bb := range []struct {
		name   string
		ledger bool
	}{{"pace", false}, {"ledger", true}} {
		b.Run(bb.name, func(b *testing.B) {
			var l *Ledger
			if bb.ledger {
				l = open(b, filepath.Join(b.TempDir(), "usage.db"))
			}
			r := records()[0]
			b.ReportAllocs()
			before := cpuTime(b)
			n := int64(0)
			for b.Loop() {
				if l != nil {
					l.Record(r)
				}
				n++
				time.Sleep(time.Millisecond)
			}
			if l != nil {
				waitWritten(b, l, n)
			}
			b.ReportMetric(float64(cpuTime(b)-before)/float64(n), "cpu-ns/record")
		})
	}
}

// cpuTime returns the CPU time, user and system, the process has used.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkWriteBatch measures writing one batch of 200 records, what the
// writer gathers over the default flush interval at 1,000 requests a
// second, as ns and allocations per record.
func BenchmarkWriteBatch(b *testing.B) {
	l := open(b, filepath.Join(b.TempDir(), "usage.db"))
	rs := records()
	batch := make([]Record, 200)
	for i := range batch {
		batch[i] = rs[i%len(rs)]
		batch[i].RequestID = fmt.Sprintf("req-%d", i)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := l.writeTx(batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/record")
}
