// Package jsonr reads JSON documents without reflection, for the
// gateway's hot-path decoders (the OpenAI surface's requests, the OpenAI
// provider's responses), which fall back to encoding/json on anything
// it does not accept. It is the reading half of internal/jsonw.
package jsonr

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Reader reads one JSON document from a byte slice, value by value,
// without reflection, for decoders of hot-path documents that would
// otherwise go through encoding/json.
//
// It is strict by design: the first input it does not accept (invalid
// JSON, a value of a type the caller did not ask for, or anything it
// chooses not to handle, such as an escaped object key or deep nesting)
// marks it failed, and from then on every method returns a zero value.
// The caller then decodes the document again with encoding/json, which
// gives the result or the error the document calls for. So a reader must
// only ever accept valid JSON, and read what it accepts exactly as
// encoding/json does (its string unescaping, its replacement of invalid
// UTF-8, its integer rules); it need not accept all of it.
//
// A decoder embeds a Reader (or holds one) and adds its own methods for
// the document's objects; Reset points it at a document.
type Reader struct {
	data   []byte
	pos    int
	failed bool
	// scratch holds the unescaped bytes of the last string that had
	// escapes or invalid UTF-8; it is reused from string to string.
	scratch []byte
}

// MaxDepth bounds the nesting a Reader follows when it skips
// or copies a value; deeper documents are left to encoding/json, which
// has its own (much higher) bound.
const MaxDepth = 64

// Reset makes r read data from its start, keeping its scratch buffer.
func (r *Reader) Reset(data []byte) {
	r.data, r.pos, r.failed = data, 0, false
}

// Failed reports whether r has met input it does not accept.
func (r *Reader) Failed() bool { return r.failed }

// Fail marks the reader failed and moves it to the end of the input, so
// that every later read fails at once.
func (r *Reader) Fail() {
	r.failed = true
	r.pos = len(r.data)
}

// Peek skips whitespace and returns the next byte, or 0 at the end.
func (r *Reader) Peek() byte {
	for r.pos < len(r.data) {
		switch c := r.data[r.pos]; c {
		case ' ', '\t', '\n', '\r':
			r.pos++
		default:
			return c
		}
	}
	return 0
}

// End checks that nothing but whitespace follows the document and
// reports whether the whole document was read.
func (r *Reader) End() bool {
	r.Peek()
	if r.pos != len(r.data) {
		r.Fail()
	}
	return !r.failed
}

// Literal consumes lit, which must come next.
func (r *Reader) Literal(lit string) {
	if len(r.data)-r.pos >= len(lit) && string(r.data[r.pos:r.pos+len(lit)]) == lit {
		r.pos += len(lit)
		return
	}
	r.Fail()
}

// Null consumes a null if one comes next, and reports whether it did.
func (r *Reader) Null() bool {
	if r.Peek() != 'n' {
		return false
	}
	r.Literal("null")
	return !r.failed
}

// Open consumes c, the '{' or '[' that opens an object or array; any other
// value fails the reader.
func (r *Reader) Open(c byte) bool {
	if r.Peek() != c {
		r.Fail()
		return false
	}
	r.pos++
	return true
}

// More reports whether the object or array being read, closed by close,
// has another member or element, the (i+1)th. It consumes the comma
// before it, or the closing byte when there is none.
func (r *Reader) More(close byte, i int) bool {
	if r.failed {
		return false
	}
	c := r.Peek()
	if c == close {
		r.pos++
		return false
	}
	if i > 0 {
		if c != ',' {
			r.Fail()
			return false
		}
		r.pos++
	}
	return true
}

// Key reads an object member's key and the colon after it. The key is
// returned as it is written, aliasing the input: keys with escapes fail
// the reader.
func (r *Reader) Key() []byte {
	if r.Peek() != '"' {
		r.Fail()
		return nil
	}
	start := r.pos + 1
	for j := start; j < len(r.data); j++ {
		switch c := r.data[j]; {
		case c == '"':
			r.pos = j + 1
			r.colon()
			return r.data[start:j]
		case c == '\\' || c < 0x20:
			r.Fail()
			return nil
		}
	}
	r.Fail()
	return nil
}

func (r *Reader) colon() {
	if r.Peek() != ':' {
		r.Fail()
		return
	}
	r.pos++
}

// Once fails the reader when bit is already set in seen, and sets it: a
// decoder calls it for every known member, so that a document with a
// repeated member goes to encoding/json, whose merging of repeated
// members this reader does not copy.
func (r *Reader) Once(seen *uint32, bit uint32) bool {
	if *seen&bit != 0 {
		r.Fail()
		return false
	}
	*seen |= bit
	return true
}

// Unknown is called for a key that matches none of names, which must be
// lower-case ASCII, exactly; it fails the reader when the key matches one
// of them case-insensitively (as strings.EqualFold, Unicode folding
// included), which encoding/json accepts as that member, and otherwise
// skips the member's value.
func (r *Reader) Unknown(key []byte, names ...string) {
	for _, c := range key {
		if 'A' <= c && c <= 'Z' || c >= utf8.RuneSelf {
			// Only upper-case or non-ASCII bytes can fold to a name
			// that differs.
			for _, n := range names {
				if strings.EqualFold(string(key), n) {
					r.Fail()
					return
				}
			}
			break
		}
	}
	r.Skip()
}

// StrBytes reads a string and returns its unescaped value, which aliases
// the input or the reader's scratch buffer and so is valid only until the
// next read. Invalid UTF-8 becomes U+FFFD, as encoding/json does.
func (r *Reader) StrBytes() []byte {
	if r.Peek() != '"' {
		r.Fail()
		return nil
	}
	start := r.pos + 1
	ascii := true
	for j := start; j < len(r.data); j++ {
		switch c := r.data[j]; {
		case c == '"':
			s := r.data[start:j]
			if !ascii && !utf8.Valid(s) {
				return r.unquote(start)
			}
			r.pos = j + 1
			return s
		case c == '\\':
			return r.unquote(start)
		case c < 0x20:
			r.Fail()
			return nil
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	r.Fail()
	return nil
}

// Str reads a string and returns its value as a new string.
func (r *Reader) Str() string {
	b := r.StrBytes()
	if len(b) == 0 {
		return ""
	}
	return string(b)
}

// StrOrNull reads a string, or a null as "".
func (r *Reader) StrOrNull() string {
	if r.Null() {
		return ""
	}
	return r.Str()
}

// unquote unescapes the string whose contents start at start into the
// scratch buffer, as encoding/json's unquote does.
func (r *Reader) unquote(start int) []byte {
	b := r.scratch[:0]
	d := r.data
	for j := start; j < len(d); {
		c := d[j]
		switch {
		case c == '"':
			r.pos = j + 1
			r.scratch = b
			return b
		case c == '\\':
			if j+1 >= len(d) {
				r.Fail()
				return nil
			}
			switch e := d[j+1]; e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				rr := hex4(d, j)
				if rr < 0 {
					r.Fail()
					return nil
				}
				j += 6
				if utf16.IsSurrogate(rr) {
					// A valid pair is one rune; anything else is U+FFFD,
					// and what follows is read on its own.
					if dec := utf16.DecodeRune(rr, hex4(d, j)); dec != unicode.ReplacementChar {
						rr = dec
						j += 6
					} else {
						rr = unicode.ReplacementChar
					}
				}
				b = utf8.AppendRune(b, rr)
				continue
			default:
				r.Fail()
				return nil
			}
			j += 2
		case c < 0x20:
			r.Fail()
			return nil
		case c < utf8.RuneSelf:
			b = append(b, c)
			j++
		default:
			rr, size := utf8.DecodeRune(d[j:])
			if rr == utf8.RuneError && size == 1 {
				b = utf8.AppendRune(b, utf8.RuneError)
			} else {
				b = append(b, d[j:j+size]...)
			}
			j += size
		}
	}
	r.Fail()
	return nil
}

// hex4 returns the code unit of the \uXXXX escape at d[j:], or -1 when
// there is none.
func hex4(d []byte, j int) rune {
	if len(d)-j < 6 || d[j] != '\\' || d[j+1] != 'u' {
		return -1
	}
	var v rune
	for _, c := range d[j+2 : j+6] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		v = v<<4 | rune(c)
	}
	return v
}

// skipString reads a string without unescaping it.
func (r *Reader) skipString() {
	if r.Peek() != '"' {
		r.Fail()
		return
	}
	d := r.data
	for j := r.pos + 1; j < len(d); j++ {
		switch c := d[j]; {
		case c == '"':
			r.pos = j + 1
			return
		case c == '\\':
			if j+1 >= len(d) {
				r.Fail()
				return
			}
			switch d[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j++
			case 'u':
				if hex4(d, j) < 0 {
					r.Fail()
					return
				}
				j += 5
			default:
				r.Fail()
				return
			}
		case c < 0x20:
			r.Fail()
			return
		}
	}
	r.Fail()
}

// number reads a number and returns its text, and whether it is an
// integer: without a fraction or an exponent.
func (r *Reader) number() (text []byte, integer bool) {
	r.Peek()
	d := r.data
	start, j := r.pos, r.pos
	if j < len(d) && d[j] == '-' {
		j++
	}
	switch {
	case j < len(d) && d[j] == '0':
		j++
	case j < len(d) && '1' <= d[j] && d[j] <= '9':
		for j < len(d) && '0' <= d[j] && d[j] <= '9' {
			j++
		}
	default:
		r.Fail()
		return nil, false
	}
	integer = true
	if j < len(d) && d[j] == '.' {
		integer = false
		j++
		if j >= len(d) || d[j] < '0' || d[j] > '9' {
			r.Fail()
			return nil, false
		}
		for j < len(d) && '0' <= d[j] && d[j] <= '9' {
			j++
		}
	}
	if j < len(d) && (d[j] == 'e' || d[j] == 'E') {
		integer = false
		j++
		if j < len(d) && (d[j] == '+' || d[j] == '-') {
			j++
		}
		if j >= len(d) || d[j] < '0' || d[j] > '9' {
			r.Fail()
			return nil, false
		}
		for j < len(d) && '0' <= d[j] && d[j] <= '9' {
			j++
		}
	}
	r.pos = j
	return d[start:j], integer
}

// Int64 reads a number into an int64 as encoding/json does: a fraction,
// an exponent or a value out of range fails the reader.
func (r *Reader) Int64() int64 {
	text, integer := r.number()
	if !integer {
		r.Fail()
		return 0
	}
	n, err := strconv.ParseInt(string(text), 10, 64)
	if err != nil {
		r.Fail()
		return 0
	}
	return n
}

// Int reads a number into an int as encoding/json does.
func (r *Reader) Int() int {
	n := r.Int64()
	if int64(int(n)) != n {
		r.Fail()
		return 0
	}
	return int(n)
}

// Float64 reads a number into a float64 as encoding/json does: a value
// out of range fails the reader.
func (r *Reader) Float64() float64 {
	text, _ := r.number()
	if r.failed {
		return 0
	}
	f, err := strconv.ParseFloat(string(text), 64)
	if err != nil {
		r.Fail()
		return 0
	}
	return f
}

// Bool reads true or false.
func (r *Reader) Bool() bool {
	switch r.Peek() {
	case 't':
		r.Literal("true")
		return !r.failed
	case 'f':
		r.Literal("false")
	default:
		r.Fail()
	}
	return false
}

// Skip reads a value of any type and discards it.
func (r *Reader) Skip() { r.skipDepth(0) }

func (r *Reader) skipDepth(depth int) {
	switch c := r.Peek(); c {
	case '{', '[':
		if depth >= MaxDepth {
			r.Fail()
			return
		}
		r.pos++
		close := byte('}')
		if c == '[' {
			close = ']'
		}
		for i := 0; r.More(close, i); i++ {
			if c == '{' {
				r.skipString()
				r.colon()
			}
			r.skipDepth(depth + 1)
		}
	case '"':
		r.skipString()
	case 't':
		r.Literal("true")
	case 'f':
		r.Literal("false")
	case 'n':
		r.Literal("null")
	default:
		r.number()
	}
}
