package config

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// decode parses data, a single YAML document, into a Config, strictly: an
// unknown key or a value of the wrong type is an error. It also returns the
// document's node tree, which tells validation and defaults which keys the
// file sets and on which lines.
func decode(data []byte) (*Config, *yaml.Node, error) {
	root, err := parseNode(data)
	if err != nil {
		return nil, nil, err
	}
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var errs []FieldError
	if err := dec.Decode(&cfg); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, nil, syntaxError(err)
		}
		errs = typeErrors(te, root)
	}
	errs = append(errs, fractions(root)...)
	if len(errs) > 0 {
		slices.SortStableFunc(errs, func(a, b FieldError) int { return cmp.Compare(a.Line, b.Line) })
		return nil, nil, &ValidationError{Errors: errs}
	}
	return &cfg, root, nil
}

// fractions reports numbers with a fractional part given for whole-number
// fields, which yaml.v3 would silently truncate. (Numbers out of range, and
// NaN, yaml.v3 reports itself.)
func fractions(root *yaml.Node) []FieldError {
	var errs []FieldError
	walk(root, reflect.TypeFor[Config](), nil, func(s site) bool {
		if s.isKey || s.typ == nil || s.typ == reflect.TypeFor[time.Duration]() || s.node.Kind != yaml.ScalarNode {
			return false
		}
		switch s.typ.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			f, err := strconv.ParseFloat(s.node.Value, 64)
			if s.node.ShortTag() == "!!float" && err == nil && f != math.Trunc(f) {
				errs = append(errs, FieldError{Path: s.path.String(), Line: s.node.Line,
					Message: fmt.Sprintf("got the number %s, want a whole number", s.node.Value)})
			}
		}
		return false
	})
	return errs
}

// parseNode parses data into a node tree, insisting on exactly one
// document.
func parseNode(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &ValidationError{Errors: []FieldError{{
				Message: "the config is empty: it needs at least the providers and models sections",
			}}}
		}
		return nil, syntaxError(err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		return nil, &ValidationError{Errors: []FieldError{{
			Line:    next.Line,
			Message: "a second YAML document starts here, but the config must be a single document: remove the --- separator and merge the documents",
		}}}
	case !errors.Is(err, io.EOF):
		return nil, syntaxError(err)
	}
	return &root, nil
}

// syntaxError turns one of yaml.v3's parse errors ("yaml: line 3: did not
// find expected key") into a *ValidationError.
func syntaxError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	fe := FieldError{Message: "invalid YAML: " + msg}
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, text, ok := strings.Cut(rest, ": "); ok {
			if n, err := strconv.Atoi(num); err == nil {
				fe = FieldError{Line: n, Message: "invalid YAML: " + text}
			}
		}
	}
	return &ValidationError{Errors: []FieldError{fe}}
}

// typeErrors rewrites yaml.v3's decoding errors, which name Go types, into
// FieldErrors that name the field by path and say what the schema wants.
func typeErrors(te *yaml.TypeError, root *yaml.Node) []FieldError {
	var (
		unknownKey = regexp.MustCompile(`^line (\d+): field (.*) not found in type \S+$`)
		mapTwice   = regexp.MustCompile(`^line (\d+): mapping key (".*") already defined at line (\d+)$`)
		wrongType  = regexp.MustCompile("^line (\\d+): cannot unmarshal (!!\\w+)(?: `(.*)`)? into (.+)$")
	)
	cfgType := reflect.TypeFor[Config]()
	errs := make([]FieldError, 0, len(te.Errors))
	for _, msg := range te.Errors {
		fe := FieldError{Message: msg}
		if m := unknownKey.FindStringSubmatch(msg); m != nil {
			line, _ := strconv.Atoi(m[1])
			key := m[2]
			fe = FieldError{Line: line, Message: fmt.Sprintf("unknown key %q", key)}
			if s, ok := find(root, cfgType, func(s site) bool {
				return s.isKey && s.node.Line == line && s.node.Value == key
			}); ok {
				fe.Path = s.path.String()
				fe.Message += suggestKey(key, yamlKeys(s.parent))
			}
		} else if m := mapTwice.FindStringSubmatch(msg); m != nil {
			line, _ := strconv.Atoi(m[1])
			key, err := strconv.Unquote(m[2])
			if err != nil {
				key = m[2]
			}
			fe = FieldError{Line: line, Message: fmt.Sprintf("key %q is given twice (first at line %s)", key, m[3])}
			if s, ok := find(root, cfgType, func(s site) bool {
				return s.isKey && s.node.Line == line && s.node.Value == key
			}); ok {
				fe.Path = s.path.String()
			}
		} else if m := wrongType.FindStringSubmatch(msg); m != nil {
			line, _ := strconv.Atoi(m[1])
			tag, shown, into := m[2], m[3], strings.TrimPrefix(m[4], "*")
			fe = FieldError{Line: line, Message: msg[len("line "+m[1]+": "):]}
			if s, ok := find(root, cfgType, func(s site) bool {
				return !s.isKey && s.node.Line == line && s.typ != nil && s.typ.String() == into &&
					matchesTag(s.node, tag, shown)
			}); ok {
				fe.Path = s.path.String()
				fe.Message = wrongTypeMessage(s.node, tag, s.typ)
			}
		}
		errs = append(errs, fe)
	}
	return errs
}

// matchesTag reports whether n is the node yaml.v3 described as having tag
// and showing value (which it cuts to 7 bytes and "..." when long).
func matchesTag(n *yaml.Node, tag, shown string) bool {
	switch tag {
	case "!!seq":
		return n.Kind == yaml.SequenceNode
	case "!!map":
		return n.Kind == yaml.MappingNode
	}
	if n.Kind != yaml.ScalarNode {
		return false
	}
	if len(shown) == 10 && strings.HasSuffix(shown, "...") {
		return strings.HasPrefix(n.Value, shown[:7])
	}
	return n.Value == shown
}

// wrongTypeMessage says what n holds and what the field of Go type want
// needs.
func wrongTypeMessage(n *yaml.Node, tag string, want reflect.Type) string {
	if want == reflect.TypeFor[time.Duration]() {
		if tag == "!!str" {
			return fmt.Sprintf("invalid duration %q: want a number with a unit, such as \"30s\", \"500ms\" or \"1m30s\"", n.Value)
		}
		if tag == "!!int" || tag == "!!float" {
			return fmt.Sprintf("got the bare number %s, want a duration with a unit, such as \"%ss\" or \"%sms\"", n.Value, n.Value, n.Value)
		}
	}
	if want != nil && (tag == "!!int" || tag == "!!float") {
		switch want.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			if f, err := strconv.ParseFloat(n.Value, 64); err == nil && f == math.Trunc(f) {
				return fmt.Sprintf("the number %s is out of range", n.Value)
			}
		}
	}
	var got string
	switch tag {
	case "!!str":
		got = fmt.Sprintf("the text %q", n.Value)
	case "!!int", "!!float":
		got = "the number " + n.Value
	case "!!bool":
		got = n.Value
	case "!!null":
		got = "null"
	case "!!seq":
		got = "a list"
	case "!!map":
		got = "a mapping"
	default:
		got = fmt.Sprintf("a %s value", tag)
	}
	return fmt.Sprintf("got %s, want %s", got, describeType(want))
}

// describeType names what a value of Go type t looks like in YAML.
func describeType(t reflect.Type) string {
	if t == nil {
		return "something else"
	}
	if t == reflect.TypeFor[time.Duration]() {
		return `a duration such as "30s"`
	}
	switch t.Kind() {
	case reflect.Pointer:
		return describeType(t.Elem())
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice:
		return "a list"
	case reflect.Map:
		return "a mapping"
	case reflect.Struct:
		return "a mapping with the keys " + strings.Join(yamlKeys(t), ", ")
	}
	return t.String()
}

// suggestKey returns a hint naming the valid keys, and the one key meant
// if it is close enough to guess.
func suggestKey(key string, valid []string) string {
	if len(valid) == 0 {
		return ""
	}
	norm := func(s string) string {
		return strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(s))
	}
	best, bestDist := "", len(key)/2+1
	for _, k := range valid {
		d := editDistance(norm(key), norm(k))
		if d < bestDist {
			best, bestDist = k, d
		}
	}
	hint := " (valid keys here: " + strings.Join(valid, ", ") + ")"
	if best != "" {
		return fmt.Sprintf("; did you mean %q?", best) + hint
	}
	return hint
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// yamlKeys returns the YAML keys of struct type t in field order.
func yamlKeys(t reflect.Type) []string {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	var keys []string
	for i := range t.NumField() {
		if k, ok := yamlKey(t.Field(i)); ok {
			keys = append(keys, k)
		}
	}
	return keys
}

// yamlKey returns the YAML key of struct field f, as yaml.v3 derives it.
func yamlKey(f reflect.StructField) (string, bool) {
	if !f.IsExported() {
		return "", false
	}
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	switch name {
	case "-":
		return "", false
	case "":
		return strings.ToLower(f.Name), true
	}
	return name, true
}

// site is a node of the document together with the schema's view of it.
type site struct {
	path  path
	node  *yaml.Node
	isKey bool
	// typ is the Go type the value decodes into; nil for an unknown key.
	typ reflect.Type
	// parent is, for a key, the Go type of the mapping that holds it.
	parent reflect.Type
}

// find walks the document under root, which decodes into Go type t, and
// returns the first site for which match is true.
func find(root *yaml.Node, t reflect.Type, match func(site) bool) (site, bool) {
	var found site
	ok := walk(root, t, nil, func(s site) bool {
		if match(s) {
			found = s
			return true
		}
		return false
	})
	return found, ok
}

// walk visits n, which decodes into Go type t at path p, and everything
// under it, until visit returns true. It does not follow aliases.
func walk(n *yaml.Node, t reflect.Type, p path, visit func(site) bool) bool {
	if n == nil {
		return false
	}
	if n.Kind == yaml.DocumentNode {
		for _, c := range n.Content {
			if walk(c, t, p, visit) {
				return true
			}
		}
		return false
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if visit(site{path: p, node: n, typ: t}) {
		return true
	}
	if t == nil {
		return false
	}
	switch n.Kind {
	case yaml.SequenceNode:
		if t.Kind() != reflect.Slice {
			return false
		}
		for i, c := range n.Content {
			if walk(c, t.Elem(), p.index(i), visit) {
				return true
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "<<" && k.Kind == yaml.ScalarNode {
				// A merge: the merged keys belong to this mapping.
				if walkMerge(v, t, p, visit) {
					return true
				}
				continue
			}
			var (
				kp path
				vt reflect.Type
			)
			switch t.Kind() {
			case reflect.Struct:
				kp = p.field(k.Value)
				if f, ok := fieldByKey(t, k.Value); ok {
					vt = f.Type
				}
			case reflect.Map:
				kp = p.key(k.Value)
				vt = t.Elem()
			default:
				return false
			}
			if visit(site{path: kp, node: k, isKey: true, typ: vt, parent: t}) {
				return true
			}
			if vt != nil && walk(v, vt, kp, visit) {
				return true
			}
		}
	}
	return false
}

func walkMerge(v *yaml.Node, t reflect.Type, p path, visit func(site) bool) bool {
	switch v.Kind {
	case yaml.MappingNode:
		return walk(v, t, p, func(s site) bool {
			if len(s.path) == len(p) && !s.isKey {
				return false // the merged mapping itself is not a field
			}
			return visit(s)
		})
	case yaml.SequenceNode:
		return slices.ContainsFunc(v.Content, func(c *yaml.Node) bool {
			return walkMerge(c, t, p, visit)
		})
	}
	return false
}

// fieldByKey returns the field of struct type t with YAML key key.
func fieldByKey(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if k, ok := yamlKey(f); ok && k == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// locate finds the node at path p under root. It returns the node and its
// line (for a mapping entry, the line of its key), or, when p is not in the
// document, the deepest enclosing node found, its line and false.
func locate(root *yaml.Node, p path) (*yaml.Node, int, bool) {
	if root == nil {
		return nil, 0, false
	}
	n := root
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil, n.Line, false
		}
		n = n.Content[0]
	}
	line := n.Line
	n = deref(n)
	for _, e := range p {
		var k, v *yaml.Node
		switch e := e.(type) {
		case string:
			k, v = mappingValue(n, e, 0)
		case mapKey:
			k, v = mappingValue(n, string(e), 0)
		case int:
			if n.Kind == yaml.SequenceNode && e < len(n.Content) {
				k, v = n.Content[e], n.Content[e]
			}
		}
		if v == nil {
			return n, line, false
		}
		line = k.Line
		n = deref(v)
	}
	return n, line, true
}

// mappingValue returns the key and value nodes of key in mapping n,
// looking into merged mappings when n has no such key of its own.
func mappingValue(n *yaml.Node, key string, depth int) (*yaml.Node, *yaml.Node) {
	if n == nil || n.Kind != yaml.MappingNode || depth > 16 {
		return nil, nil
	}
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Value == "<<" {
			merges = append(merges, v)
			continue
		}
		if k.Kind == yaml.ScalarNode && k.Value == key {
			return k, v
		}
	}
	for _, m := range merges {
		m = deref(m)
		sources := []*yaml.Node{m}
		if m.Kind == yaml.SequenceNode {
			sources = m.Content
		}
		for _, s := range sources {
			if k, v := mappingValue(deref(s), key, depth+1); v != nil {
				return k, v
			}
		}
	}
	return nil, nil
}

// deref follows an alias to its anchored node.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && n.Alias != nil && i < 16; i++ {
		n = n.Alias
	}
	return n
}

// isNull reports whether n is an explicit null (null, ~ or nothing).
func isNull(n *yaml.Node) bool {
	return n != nil && n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}
