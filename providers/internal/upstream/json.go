package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
)

// NewJSONRequest returns a POST request to url whose body is v encoded as
// JSON (without HTML escaping), carrying a copy of header and a
// Content-Type of application/json unless header sets one. The body can be
// replayed (GetBody is set), so the transport may retry it on a fresh
// connection.
func NewJSONRequest(ctx context.Context, url string, v any, header http.Header) (*http.Request, error) {
	var body io.Reader
	if a, ok := v.(JSONAppender); ok {
		// Encoded into a pooled buffer, then copied out at its size: the
		// body outlives the call (retries read it again).
		scratch := appendBufs.Get().(*[]byte)
		b, err := a.AppendJSON((*scratch)[:0])
		if err != nil {
			appendBufs.Put(scratch)
			return nil, fmt.Errorf("encoding request body: %w", err)
		}
		body = bytes.NewReader(bytes.Clone(b))
		if cap(b) <= maxPooledAppendBuf {
			*scratch = b
			appendBufs.Put(scratch)
		}
	} else {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return nil, fmt.Errorf("encoding request body: %w", err)
		}
		// Encode ends the value with a newline, which JSON allows.
		body = &buf
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, body)
	if err != nil {
		return nil, fmt.Errorf("building request: %w", err)
	}
	req.Header = header.Clone()
	if req.Header == nil {
		req.Header = make(http.Header)
	}
	if req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// appendBufs are the scratch buffers of JSONAppender bodies; buffers that
// grew past maxPooledAppendBuf are dropped rather than kept.
var appendBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

const maxPooledAppendBuf = 256 << 10

// JSONAppender is implemented by request bodies that encode themselves
// faster than encoding/json does. NewJSONRequest calls AppendJSON in place
// of encoding v, which must give JSON that decodes to the same value, or
// the error encoding/json would give.
type JSONAppender interface {
	AppendJSON(b []byte) ([]byte, error)
}

// JSONDecoder is implemented by response types that decode themselves
// faster than encoding/json does. ReadJSON calls DecodeJSON in place of
// json.Unmarshal, which it must match: the same result for every body
// json.Unmarshal accepts, an error for every body it rejects. b is valid
// only during the call: its memory is reused afterwards.
type JSONDecoder interface {
	DecodeJSON(b []byte) error
}

// maxPooledBody is the capacity above which a body buffer is left to the
// garbage collector rather than returned to the pool, so that one huge
// response does not pin its memory.
const maxPooledBody = 256 << 10

// minBodyBuffer is the buffer a body of unknown length is first read into.
const minBodyBuffer = 512

// ReadJSON reads resp's body, at most limit bytes of it, decodes it into v
// and closes the body. A body over limit, or one that is not valid JSON for
// v, gives a KindMalformed error; a failure to read gives the error
// FromTransportError makes of it, so that ctx's cancellation or deadline is
// reported as such. When v is a JSONDecoder, its DecodeJSON decodes the
// body; otherwise json.Unmarshal does. v must not keep the bytes it is
// given, which json.Unmarshaler's contract already asks of it.
func ReadJSON(ctx context.Context, provider string, resp *http.Response, limit int64, v any) error {
	return readJSON(ctx, provider, resp, limit, v, nil)
}

// readJSON is ReadJSON reading into a buffer from pool, when not nil.
func readJSON(ctx context.Context, provider string, resp *http.Response, limit int64, v any, pool *sync.Pool) error {
	defer resp.Body.Close()
	var bp *[]byte
	if pool != nil {
		bp, _ = pool.Get().(*[]byte)
	}
	if bp == nil {
		bp = new([]byte)
	}
	buf, err := readBody(resp, limit, (*bp)[:0])
	defer func() {
		if pool != nil && cap(buf) <= maxPooledBody {
			*bp = buf[:0]
			pool.Put(bp)
		}
	}()
	switch {
	case err != nil:
		return FromTransportError(ctx, provider, fmt.Errorf("reading response body: %w", err))
	case int64(len(buf)) > limit:
		return Malformed(provider, resp.StatusCode, fmt.Sprintf("response body exceeds %d bytes", limit), nil)
	}
	if d, ok := v.(JSONDecoder); ok {
		err = d.DecodeJSON(buf)
	} else {
		err = json.Unmarshal(buf, v)
	}
	if err != nil {
		return Malformed(provider, resp.StatusCode, "decoding response body", err)
	}
	return nil
}

// readBody appends resp's body to buf until EOF or until it holds more
// than limit bytes. A declared length within limit sizes the buffer at
// once, with a byte to spare so that the read that sees EOF needs no
// growth (bytes.Buffer.ReadFrom, by contrast, grows whenever less than
// 512 bytes are free, which doubles an exactly sized buffer).
func readBody(resp *http.Response, limit int64, buf []byte) ([]byte, error) {
	want := minBodyBuffer
	if n := resp.ContentLength; n > 0 && n <= limit {
		want = int(n) + 1
	}
	buf = slices.Grow(buf, want)
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, 1)
		}
		room := buf[len(buf):cap(buf)]
		if left := limit + 1 - int64(len(buf)); int64(len(room)) > left {
			room = room[:left]
		}
		n, err := resp.Body.Read(room)
		buf = buf[:len(buf)+n]
		switch {
		case err == io.EOF:
			return buf, nil
		case err != nil:
			return buf, err
		case int64(len(buf)) > limit:
			return buf, nil
		}
	}
}
