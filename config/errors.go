package config

import (
	"strconv"
	"strings"
)

// FieldError is one problem with a config file.
type FieldError struct {
	// Path names the field, like providers[1].base_url or
	// models[0].deployments[2].provider; map keys are quoted, like
	// providers[0].models["gpt-4.1"]. It is empty for problems that are
	// not about one field, such as an unset environment variable.
	Path string
	// Line is the 1-based line of the field in the file, or of its nearest
	// enclosing entry when the field is missing; 0 when unknown.
	Line int
	// Message says what is wrong and, where it can, how to fix it.
	Message string
}

// Error formats the problem as "line N: path: message", leaving out the
// parts that are unknown.
func (e FieldError) Error() string {
	var b strings.Builder
	if e.Line > 0 {
		b.WriteString("line ")
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// ValidationError lists everything wrong with a config file: unset
// environment variables, YAML syntax errors, unknown keys, values of the
// wrong type and values that break the schema's rules. Within each of
// those stages every problem is reported, not just the first.
type ValidationError struct {
	Errors []FieldError
}

// Error lists the problems, one per line.
func (e *ValidationError) Error() string {
	switch len(e.Errors) {
	case 0:
		return "invalid config"
	case 1:
		return "invalid config: " + e.Errors[0].Error()
	}
	var b strings.Builder
	b.WriteString("invalid config (")
	b.WriteString(strconv.Itoa(len(e.Errors)))
	b.WriteString(" problems):")
	for _, fe := range e.Errors {
		b.WriteString("\n  ")
		b.WriteString(fe.Error())
	}
	return b.String()
}

// path names a field as a sequence of struct keys (string), sequence
// indexes (int) and map keys (mapKey).
type path []any

type mapKey string

func (p path) field(name string) path { return append(p[:len(p):len(p)], name) }
func (p path) index(i int) path       { return append(p[:len(p):len(p)], i) }
func (p path) key(k string) path      { return append(p[:len(p):len(p)], mapKey(k)) }

func (p path) String() string {
	var b strings.Builder
	for _, e := range p {
		switch e := e.(type) {
		case string:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(e)
		case int:
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(e))
			b.WriteByte(']')
		case mapKey:
			b.WriteByte('[')
			b.WriteString(strconv.Quote(string(e)))
			b.WriteByte(']')
		}
	}
	return b.String()
}
