package upstream

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// NewHeader returns the headers an adapter sends with every request: key
// in the header keyName, after prefix, when key is not empty, and the extra
// headers of the adapter's Config.Headers. It fails with an error saying
// what to fix when keyName is not a valid header name or prefix holds
// control characters (both checked only when key is set), when key has
// surrounding whitespace or control characters, when a name in extra is
// not a valid header name or its value holds control characters, or when
// extra sets keyName while key is set.
//
// check, when not nil, vets each name of extra (as given) once its name
// and value are found valid, before the clash with keyName is looked for:
// an adapter rejects there the headers it sets itself.
func NewHeader(keyName, prefix, key string, extra map[string]string, check func(name string) error) (http.Header, error) {
	h := make(http.Header)
	if key != "" {
		if !ValidHeaderName(keyName) {
			return nil, fmt.Errorf("auth header name %q is not a valid HTTP header name", keyName)
		}
		if !ValidHeaderValue(prefix) {
			return nil, fmt.Errorf("auth header prefix %q contains control characters", prefix)
		}
		if strings.TrimSpace(key) != key || !ValidHeaderValue(key) {
			return nil, errors.New("APIKey has surrounding whitespace or control characters; check how it was loaded (a trailing newline from a file?)")
		}
		h.Set(keyName, prefix+key)
	}
	for k, v := range extra {
		if !ValidHeaderName(k) {
			return nil, fmt.Errorf("Headers: %q is not a valid HTTP header name", k)
		}
		if !ValidHeaderValue(v) {
			return nil, fmt.Errorf("Headers: the value of %q contains control characters", k)
		}
		if check != nil {
			if err := check(k); err != nil {
				return nil, err
			}
		}
		if key != "" && http.CanonicalHeaderKey(k) == http.CanonicalHeaderKey(keyName) {
			return nil, fmt.Errorf("Headers sets %s, which APIKey already sets; set only one of them", k)
		}
		h.Set(k, v)
	}
	return h, nil
}

// ValidHeaderName reports whether s is an HTTP token (RFC 9110 5.1).
func ValidHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// ValidHeaderValue reports whether s holds no control characters other
// than horizontal tab.
func ValidHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}
