// Package logbuf batches log lines into fewer writes.
//
// At info level the gateway logs one line per call. Written straight to
// stderr that is one write system call per call, on the call's path and
// under the handler's lock; on the benchmark's machine a write costs
// tens of microseconds. A Writer gathers lines and writes them together:
// when its buffer fills, every FlushInterval, on Flush, and on Close.
// A Handler wrapped with FlushAbove flushes after every record at or above
// a level (warnings and errors), so those are never held back.
package logbuf

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// Defaults of a Writer.
const (
	// DefaultSize is the buffered bytes that trigger a write.
	DefaultSize = 32 << 10
	// DefaultFlushInterval bounds how long a line waits in the buffer.
	DefaultFlushInterval = 100 * time.Millisecond
)

// Writer buffers writes to an underlying writer. It is safe for
// concurrent use; each Write is kept whole, so lines from concurrent
// writers do not interleave. Create it with New and Close it.
type Writer struct {
	out      io.Writer
	size     int
	interval time.Duration

	mu     sync.Mutex
	buf    []byte
	closed bool
	err    error // the first write error, returned by Flush and Close

	stop chan struct{}
	done chan struct{}
}

// New returns a Writer to out that writes when size bytes are buffered
// and at least every interval (values <= 0 take the defaults).
func New(out io.Writer, size int, interval time.Duration) *Writer {
	if size <= 0 {
		size = DefaultSize
	}
	if interval <= 0 {
		interval = DefaultFlushInterval
	}
	w := &Writer{out: out, size: size, interval: interval, buf: make([]byte, 0, size),
		stop: make(chan struct{}), done: make(chan struct{})}
	go w.flusher()
	return w
}

// Write buffers p, writing the buffer out first when p would overflow it;
// after Close it writes p straight through. It never returns an error for
// a buffered write: write errors are kept for Flush and Close, as a log
// line has nobody to report to.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return w.out.Write(p)
	}
	if len(w.buf)+len(p) > w.size {
		w.flushLocked()
		if len(p) >= w.size {
			if _, err := w.out.Write(p); err != nil && w.err == nil {
				w.err = err
			}
			return len(p), nil
		}
	}
	w.buf = append(w.buf, p...)
	return len(p), nil
}

// Flush writes out what is buffered and returns the first write error
// met so far.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.flushLocked()
	return w.err
}

func (w *Writer) flushLocked() {
	if len(w.buf) == 0 {
		return
	}
	if _, err := w.out.Write(w.buf); err != nil && w.err == nil {
		w.err = err
	}
	w.buf = w.buf[:0]
}

// Close stops the periodic flushing, writes out what is buffered, and
// makes later writes go straight through. It returns the first write
// error met. Calling it again does nothing more.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return w.err
	}
	w.closed = true
	w.flushLocked()
	err := w.err
	w.mu.Unlock()
	close(w.stop)
	<-w.done
	return err
}

func (w *Writer) flusher() {
	defer close(w.done)
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			w.mu.Lock()
			w.flushLocked()
			w.mu.Unlock()
		}
	}
}

// FlushAbove returns h with every record at or above level followed by a
// flush of w, so that warnings and errors reach the output at once.
func FlushAbove(h slog.Handler, w *Writer, level slog.Leveler) slog.Handler {
	return &flushHandler{Handler: h, w: w, level: level}
}

type flushHandler struct {
	slog.Handler
	w     *Writer
	level slog.Leveler
}

func (h *flushHandler) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= h.level.Level() {
		_ = h.w.Flush() // kept by w, for Close
	}
	return err
}

func (h *flushHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &flushHandler{Handler: h.Handler.WithAttrs(attrs), w: h.w, level: h.level}
}

func (h *flushHandler) WithGroup(name string) slog.Handler {
	return &flushHandler{Handler: h.Handler.WithGroup(name), w: h.w, level: h.level}
}

// NewJSONLogger returns the gateway's logger: JSON lines at level and
// above, to out through a new Writer with the default size and interval,
// flushed after every warning and error. Close the Writer when done.
func NewJSONLogger(out io.Writer, level slog.Leveler) (*slog.Logger, *Writer) {
	w := New(out, 0, 0)
	return slog.New(FlushAbove(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}), w, slog.LevelWarn)), w
}
