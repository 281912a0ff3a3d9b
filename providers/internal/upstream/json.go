package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// NewJSONRequest returns a POST request to url whose body is v encoded as
// JSON (without HTML escaping), carrying a copy of header and a
// Content-Type of application/json unless header sets one. The body can be
// replayed (GetBody is set), so the transport may retry it on a fresh
// connection.
func NewJSONRequest(ctx context.Context, url string, v any, header http.Header) (*http.Request, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encoding request body: %w", err)
	}
	// Encode ends the value with a newline, which JSON allows.
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, &buf)
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

// ReadJSON reads resp's body, at most limit bytes of it, decodes it into v
// and closes the body. A body over limit, or one that is not valid JSON for
// v, gives a KindMalformed error; a failure to read gives the error
// FromTransportError makes of it, so that ctx's cancellation or deadline is
// reported as such.
func ReadJSON(ctx context.Context, provider string, resp *http.Response, limit int64, v any) error {
	defer resp.Body.Close()
	size := 512
	if n := resp.ContentLength; n > 0 && n <= limit {
		size = int(n) + 1 // room to see EOF without growing
	}
	buf := bytes.NewBuffer(make([]byte, 0, size))
	if _, err := buf.ReadFrom(io.LimitReader(resp.Body, limit+1)); err != nil {
		return FromTransportError(ctx, provider, fmt.Errorf("reading response body: %w", err))
	}
	if int64(buf.Len()) > limit {
		return Malformed(provider, resp.StatusCode, fmt.Sprintf("response body exceeds %d bytes", limit), nil)
	}
	if err := json.Unmarshal(buf.Bytes(), v); err != nil {
		return Malformed(provider, resp.StatusCode, "decoding response body", err)
	}
	return nil
}
