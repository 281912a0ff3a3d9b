package logbuf

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is an io.Writer that records each Write.
type recorder struct {
	mu     sync.Mutex
	writes []string
	err    error
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes = append(r.writes, string(p))
	return len(p), r.err
}

func (r *recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.writes...)
}

func TestWriterBatchesUntilFull(t *testing.T) {
	rec := &recorder{}
	w := New(rec, 10, time.Hour)
	defer w.Close()
	for _, s := range []string{"abc\n", "def\n"} {
		if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	if got := rec.got(); len(got) != 0 {
		t.Fatalf("writes before the buffer fills = %q, want none", got)
	}
	w.Write([]byte("ghi\n")) // 12 bytes would overflow 10: the first two go out
	if got := rec.got(); len(got) != 1 || got[0] != "abc\ndef\n" {
		t.Fatalf("writes = %q, want the first two lines in one write", got)
	}
	w.Write([]byte("a line longer than the buffer\n"))
	if got := rec.got(); len(got) != 3 || got[1] != "ghi\n" || got[2] != "a line longer than the buffer\n" {
		t.Fatalf("writes = %q, want the buffered line, then the long one whole", got)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := rec.got(); len(got) != 3 {
		t.Fatalf("an empty Flush wrote: %q", got)
	}
}

func TestWriterFlushesOnTime(t *testing.T) {
	rec := &recorder{}
	w := New(rec, 1<<20, 10*time.Millisecond)
	defer w.Close()
	w.Write([]byte("line\n"))
	deadline := time.Now().Add(10 * time.Second)
	for len(rec.got()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("a buffered line was not written within 10 s on a 10 ms interval")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := rec.got(); got[0] != "line\n" {
		t.Errorf("writes = %q, want the line", got)
	}
}

func TestWriterClose(t *testing.T) {
	rec := &recorder{}
	w := New(rec, 1<<20, time.Hour)
	w.Write([]byte("one\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := rec.got(); len(got) != 1 || got[0] != "one\n" {
		t.Fatalf("writes after Close = %q, want the buffered line", got)
	}
	w.Write([]byte("two\n"))
	if got := rec.got(); len(got) != 2 || got[1] != "two\n" {
		t.Fatalf("writes after Close = %q, want the late line written through", got)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

func TestWriterKeepsTheFirstError(t *testing.T) {
	boom := errors.New("disk full")
	rec := &recorder{err: boom}
	w := New(rec, 1<<20, time.Hour)
	if _, err := w.Write([]byte("x\n")); err != nil {
		t.Fatalf("buffered Write = %v, want nil", err)
	}
	if err := w.Flush(); !errors.Is(err, boom) {
		t.Errorf("Flush = %v, want %v", err, boom)
	}
	if err := w.Close(); !errors.Is(err, boom) {
		t.Errorf("Close = %v, want %v", err, boom)
	}
}

func TestWriterConcurrentLinesStayWhole(t *testing.T) {
	var out bytes.Buffer
	var mu sync.Mutex
	w := New(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return out.Write(p)
	}), 64, time.Millisecond)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			line := strings.Repeat(string(rune('a'+g)), 20) + "\n"
			for range 200 {
				w.Write([]byte(line))
			}
		})
	}
	wg.Wait()
	w.Close()
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 8*200 {
		t.Fatalf("%d lines, want %d", len(lines), 8*200)
	}
	for _, l := range lines {
		if len(l) != 20 || strings.Count(l, l[:1]) != 20 {
			t.Fatalf("line %q is not whole", l)
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestJSONLoggerFlushesWarnings(t *testing.T) {
	rec := &recorder{}
	var level slog.LevelVar
	logger, w := NewJSONLogger(rec, &level)
	defer w.Close()
	logger.Info("buffered", "k", "v")
	if got := rec.got(); len(got) != 0 {
		t.Fatalf("an info line was written at once: %q", got)
	}
	logger.With("request_id", "r1").WithGroup("g").Warn("urgent")
	got := rec.got()
	if len(got) != 1 || !strings.Contains(got[0], `"msg":"buffered"`) || !strings.Contains(got[0], `"msg":"urgent"`) {
		t.Fatalf("writes after a warning = %q, want the info and the warning lines, in order, at once", got)
	}
	logger.Debug("below the level")
	w.Flush()
	if got := rec.got(); len(got) != 1 {
		t.Errorf("a debug line at info level was written: %q", got[1:])
	}
}

// BenchmarkAccessLine measures one info line, as the access log writes
// per call, to a file: straight (a write per line) and through a Writer.
func BenchmarkAccessLine(b *testing.B) {
	for _, buffered := range []bool{false, true} {
		name := "direct"
		if buffered {
			name = "buffered"
		}
		b.Run(name, func(b *testing.B) {
			f, err := os.Create(filepath.Join(b.TempDir(), "log"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			logger := slog.New(slog.NewJSONHandler(f, nil))
			if buffered {
				var w *Writer
				logger, w = NewJSONLogger(f, slog.LevelInfo)
				defer w.Close()
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					logger.Info("finished call", "grpc.method", "Chat", "grpc.code", "OK", "duration_ms", 1.25, "request_id", "01JD3X", "key_id", "bench")
				}
			})
		})
	}
}
