package config

import (
	"bytes"
	"fmt"
	"strings"
)

// expandEnv replaces environment-variable references in the raw text of a
// config file:
//
//	${NAME}           the value of NAME; an error when NAME is unset
//	${NAME:-fallback} the value of NAME, or fallback when NAME is unset or
//	                  empty; fallback is taken literally up to the first }
//	$$                a literal $
//
// A $ followed by anything else is kept as it is. The whole text is
// expanded, comments included. Every bad reference is reported, each with
// its line, as a *ValidationError.
func expandEnv(src []byte, lookup func(string) (string, bool)) ([]byte, error) {
	if bytes.IndexByte(src, '$') < 0 {
		return src, nil
	}
	var (
		out  = make([]byte, 0, len(src))
		errs []FieldError
		line = 1
	)
	for i := 0; i < len(src); i++ {
		c := src[i]
		if c == '\n' {
			line++
		}
		if c != '$' || i+1 == len(src) {
			out = append(out, c)
			continue
		}
		switch src[i+1] {
		case '$':
			out = append(out, '$')
			i++
			continue
		case '{':
		default:
			out = append(out, c)
			continue
		}
		end := bytes.IndexAny(src[i+2:], "}\n")
		if end < 0 || src[i+2+end] == '\n' {
			rest := src[i:]
			if end >= 0 {
				rest = src[i : i+2+end]
			}
			errs = append(errs, FieldError{Line: line, Message: fmt.Sprintf(
				"unterminated variable reference %q: close it with } on the same line, or write $$ for a literal $",
				truncate(string(rest), 40))})
			i++
			continue
		}
		ref := string(src[i : i+2+end+1])
		body := ref[2 : len(ref)-1]
		i += 2 + end
		name, fallback, hasFallback := strings.Cut(body, ":-")
		switch {
		case !isEnvName(name):
			errs = append(errs, FieldError{Line: line, Message: fmt.Sprintf(
				"invalid variable reference %q: want ${NAME} or ${NAME:-fallback}, NAME being letters, digits and _ not starting with a digit (write $$ for a literal $)", ref)})
			continue
		case strings.Contains(fallback, "${"):
			errs = append(errs, FieldError{Line: line, Message: fmt.Sprintf(
				"invalid variable reference %q: a fallback cannot contain another reference", ref)})
			continue
		}
		val, ok := lookup(name)
		switch {
		case hasFallback && val == "":
			out = append(out, fallback...)
		case ok:
			out = append(out, val...)
		default:
			errs = append(errs, FieldError{Line: line, Message: fmt.Sprintf(
				"environment variable %s is not set: set it, or give a fallback with ${%s:-value}", name, name)})
		}
	}
	if len(errs) > 0 {
		return nil, &ValidationError{Errors: errs}
	}
	return out, nil
}

// isEnvName reports whether s is a portable environment variable name:
// letters, digits and underscores, not starting with a digit.
func isEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// truncate shortens s to at most n bytes, marking the cut with "...".
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
