package sse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// DefaultMaxEventSize is the default bound, in bytes, on one line and on
// one event's data.
const DefaultMaxEventSize = 1 << 20

// ErrTooLarge reports a line or an event's data longer than the reader's
// bound (WithMaxEventSize).
var ErrTooLarge = errors.New("sse: event too large")

// maxEmptyReads is how many consecutive (0, nil) reads the reader tolerates
// before giving up with io.ErrNoProgress, as bufio does.
const maxEmptyReads = 100

// maxInternedNames bounds the per-reader cache of event names.
const maxInternedNames = 16

// bom is the UTF-8 byte order mark, which the standard strips from the
// start of a stream.
const bom = "\xEF\xBB\xBF"

// Event is one dispatched server-sent event.
type Event struct {
	// Name is the event type from the event field; "" when the event had
	// none (the standard's default type "message").
	Name string
	// Data is the event's data: the values of its data fields joined with
	// "\n". It is only valid until the next call to Next.
	Data []byte
	// ID is the last event ID the stream set (it persists across events,
	// as the standard says); "" when none was set.
	ID string
}

// Option configures a Reader.
type Option func(*options)

type options struct {
	maxEventSize int
	bufferSize   int
}

var defaultOptions = options{
	maxEventSize: DefaultMaxEventSize,
	bufferSize:   1024,
}

// WithMaxEventSize bounds, in bytes, the length of one line and of one
// event's data. Default DefaultMaxEventSize (1 MiB). Values below 1 keep
// the default.
func WithMaxEventSize(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.maxEventSize = n
		}
	}
}

// WithBufferSize sets the initial size of the read buffer, which grows as
// needed up to the event size bound. Default 1024, which holds a few
// chunks of a chat stream: a gateway holds thousands of streams open, each
// with its buffer. Values below 16 keep the default.
func WithBufferSize(n int) Option {
	return func(o *options) {
		if n >= 16 {
			o.bufferSize = n
		}
	}
}

// Reader reads events from a text/event-stream. It is not safe for
// concurrent use.
type Reader struct {
	r    io.Reader
	opts options

	buf        []byte
	start, end int   // buffered, unconsumed bytes are buf[start:end]
	scanned    int   // bytes of buf[start:end] already searched for a line break
	rerr       error // error from r, reported once the buffer is consumed
	skipLF     bool  // the last line ended with CR: skip a following LF
	bomChecked bool

	err error // sticky error returned by Next

	data    []byte
	hasData bool
	name    []byte
	lastID  string
	names   []string
	retry   time.Duration
}

// NewReader returns a Reader that reads events from r.
func NewReader(r io.Reader, opts ...Option) *Reader {
	o := defaultOptions
	for _, opt := range opts {
		opt(&o)
	}
	if o.bufferSize > o.maxEventSize+2 {
		o.bufferSize = o.maxEventSize + 2
	}
	return &Reader{r: r, opts: o}
}

// Retry returns the reconnection time the stream last set with a retry
// field, or 0 if it set none.
func (r *Reader) Retry() time.Duration { return r.retry }

// Next reads until the next event is dispatched and returns it.
//
// At the end of the stream it returns io.EOF. An event whose last line
// ended with a line break but that was not followed by the blank line that
// dispatches it is still returned before io.EOF: servers often omit the
// final blank line. A stream that ends in the middle of a line was cut, and
// Next returns an error wrapping io.ErrUnexpectedEOF. A line or event data
// longer than the bound gives an error wrapping ErrTooLarge. Errors are
// sticky: once Next has returned one, it returns it again.
func (r *Reader) Next() (Event, error) {
	if r.err != nil {
		return Event{}, r.err
	}
	r.data = r.data[:0]
	r.hasData = false
	for {
		line, err := r.readLine()
		if err != nil {
			if err == io.EOF && r.hasData {
				r.err = io.EOF
				return r.dispatch(), nil
			}
			r.err = err
			return Event{}, err
		}
		if len(line) == 0 {
			if r.hasData {
				return r.dispatch(), nil
			}
			r.name = r.name[:0]
			continue
		}
		if err := r.field(line); err != nil {
			r.err = err
			return Event{}, err
		}
	}
}

func (r *Reader) dispatch() Event {
	ev := Event{Name: r.intern(r.name), Data: r.data, ID: r.lastID}
	r.name = r.name[:0]
	r.hasData = false
	return ev
}

// intern returns b as a string, reusing a string made for an earlier event
// with the same name so that a stream of named events does not allocate.
func (r *Reader) intern(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	for _, s := range r.names {
		if s == string(b) {
			return s
		}
	}
	s := string(b)
	if len(r.names) < maxInternedNames {
		r.names = append(r.names, s)
	}
	return s
}

// field processes one non-blank line.
func (r *Reader) field(line []byte) error {
	if line[0] == ':' {
		return nil // a comment, typically a keep-alive
	}
	name, value := line, []byte(nil)
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		name, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(name) {
	case "data":
		n := len(value)
		if r.hasData {
			n += len(r.data) + 1
		}
		if n > r.opts.maxEventSize {
			return fmt.Errorf("sse: event data longer than %d bytes: %w", r.opts.maxEventSize, ErrTooLarge)
		}
		if r.hasData {
			r.data = append(r.data, '\n')
		}
		r.data = append(r.data, value...)
		r.hasData = true
	case "event":
		r.name = append(r.name[:0], value...)
	case "id":
		if bytes.IndexByte(value, 0) < 0 && string(value) != r.lastID {
			r.lastID = string(value)
		}
	case "retry":
		if ms, ok := parseDigits(value); ok {
			r.retry = time.Duration(ms) * time.Millisecond
		}
	}
	// Other fields are ignored, as the standard says.
	return nil
}

// parseDigits parses a retry value, which must be ASCII digits only.
func parseDigits(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	ms, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || ms > int64(time.Duration(1<<63-1)/time.Millisecond) {
		return 0, false
	}
	return ms, true
}

// readLine returns the next line without its line break. The line is only
// valid until the next call. At the end of the input it returns io.EOF, or
// an error wrapping io.ErrUnexpectedEOF when the input ended mid-line.
func (r *Reader) readLine() ([]byte, error) {
	for {
		if r.skipLF {
			if r.start == r.end && r.rerr == nil {
				r.fill()
				continue
			}
			if r.start < r.end && r.buf[r.start] == '\n' {
				r.start++
			}
			r.skipLF = false
		}
		if !r.bomChecked {
			if r.end-r.start < len(bom) && r.rerr == nil && strings.HasPrefix(bom, string(r.buf[r.start:r.end])) {
				r.fill()
				continue
			}
			r.bomChecked = true
			if bytes.HasPrefix(r.buf[r.start:r.end], []byte(bom)) {
				r.start += len(bom)
			}
		}
		if i := indexLineBreak(r.buf[r.start+r.scanned : r.end]); i >= 0 {
			i += r.start + r.scanned
			line := r.buf[r.start:i]
			r.skipLF = r.buf[i] == '\r'
			r.start = i + 1
			r.scanned = 0
			if len(line) > r.opts.maxEventSize {
				return nil, r.lineTooLong()
			}
			return line, nil
		}
		r.scanned = r.end - r.start
		if r.rerr != nil {
			if r.start < r.end && r.rerr == io.EOF {
				return nil, fmt.Errorf("sse: stream ended mid-line: %w", io.ErrUnexpectedEOF)
			}
			return nil, r.rerr
		}
		if r.end-r.start > r.opts.maxEventSize {
			return nil, r.lineTooLong()
		}
		r.fill()
	}
}

func (r *Reader) lineTooLong() error {
	return fmt.Errorf("sse: line longer than %d bytes: %w", r.opts.maxEventSize, ErrTooLarge)
}

// indexLineBreak returns the index of the first CR or LF in b, or -1.
func indexLineBreak(b []byte) int {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return bytes.IndexByte(b, '\r')
	}
	if j := bytes.IndexByte(b[:i], '\r'); j >= 0 {
		return j
	}
	return i
}

// fill reads more input into the buffer, making room first by discarding
// consumed bytes or by growing the buffer up to the size bound.
func (r *Reader) fill() {
	if r.buf == nil {
		r.buf = make([]byte, r.opts.bufferSize)
	}
	if r.start > 0 && (r.start == r.end || r.end == len(r.buf)) {
		copy(r.buf, r.buf[r.start:r.end])
		r.end -= r.start
		r.start = 0
	}
	if r.end == len(r.buf) {
		// The unconsumed bytes fill the buffer and hold no line break: grow
		// it, leaving room for a maximal line and its CRLF.
		n := 2 * len(r.buf)
		if limit := r.opts.maxEventSize + 2; n > limit {
			n = limit
		}
		nb := make([]byte, n)
		copy(nb, r.buf[:r.end])
		r.buf = nb
	}
	for range maxEmptyReads {
		n, err := r.r.Read(r.buf[r.end:])
		if n < 0 || n > len(r.buf)-r.end {
			r.rerr = fmt.Errorf("sse: reader returned invalid count %d", n)
			return
		}
		r.end += n
		if err != nil {
			r.rerr = err
			return
		}
		if n > 0 {
			return
		}
	}
	r.rerr = io.ErrNoProgress
}
