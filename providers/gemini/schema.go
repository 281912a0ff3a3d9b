package gemini

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
)

// Bounds on schema conversion, so that a hostile schema (deep nesting, or
// $refs that expand exponentially) cannot make the gateway work without
// limit.
const (
	maxSchemaDepth = 64
	maxSchemaNodes = 10000
)

// Bounds on the schema cache: schemas larger than maxCachedSchemaBytes are
// converted every time, and the cache is emptied when its keys and values
// would exceed maxSchemaCacheBytes.
const (
	maxCachedSchemaBytes = 64 << 10
	maxSchemaCacheBytes  = 4 << 20
)

// schemaCache remembers converted tool schemas. An agent sends the same
// tools with every turn of a conversation, and converting a schema costs
// more than encoding the rest of the request. It is safe for concurrent
// use.
type schemaCache struct {
	mu    sync.RWMutex
	m     map[string]json.RawMessage // converted schemas; nil: no parameters
	bytes int
}

// convert returns convertSchema(raw), from the cache when it can. The
// result is shared: callers must not modify it.
func (c *schemaCache) convert(raw []byte) (json.RawMessage, error) {
	c.mu.RLock()
	out, ok := c.m[string(raw)]
	c.mu.RUnlock()
	if ok {
		return out, nil
	}
	out, err := convertSchema(raw)
	if err != nil || len(raw) > maxCachedSchemaBytes {
		return out, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || c.bytes+len(raw)+len(out) > maxSchemaCacheBytes {
		c.m = make(map[string]json.RawMessage)
		c.bytes = 0
	}
	if _, ok := c.m[string(raw)]; !ok {
		c.m[string(raw)] = out
		c.bytes += len(raw) + len(out)
	}
	return out, nil
}

// convertSchema converts a tool's JSON Schema to the subset of the OpenAPI
// 3.0 Schema object that Gemini's functionDeclarations[].parameters field
// accepts; Gemini answers 400 for any other key.
//
// Kept as they are: type (a string), title, description, nullable, enum,
// properties, required, items, anyOf, minItems, maxItems, minLength,
// maxLength, minProperties, maxProperties, pattern, minimum, maximum,
// example, default and propertyOrdering.
//
// Rewritten:
//   - $ref to #/$defs/... or #/definitions/... is replaced by the
//     definition (a recursive reference is an error: Gemini cannot express
//     it), its sibling keys taking precedence;
//   - allOf members are merged into the schema (properties and required
//     joined, the schema's own keys winning);
//   - oneOf is treated as anyOf; an anyOf member {"type":"null"} becomes
//     nullable, and an anyOf left with one member is merged into the
//     schema (pydantic's Optional[X]);
//   - a type list such as ["string","null"] becomes type "string" with
//     nullable, and a list of several types an anyOf;
//   - const becomes a one-value enum; enum values that are not strings
//     become their JSON text (Gemini's enum holds strings), null in an enum
//     becomes nullable;
//   - required keeps only names that properties defines;
//   - format is kept only where Gemini accepts it: enum and date-time for
//     strings, float and double for numbers, int32 and int64 for integers.
//
// Dropped: every other key, notably $schema, $id, $defs, definitions,
// $comment, additionalProperties, strict, patternProperties,
// unevaluatedProperties, propertyNames, dependentRequired, not, if, then,
// else, examples, const (rewritten), multipleOf, uniqueItems,
// exclusiveMinimum, exclusiveMaximum, prefixItems, contains, readOnly,
// writeOnly and deprecated.
//
// A schema that describes an object without properties gives nil: Gemini
// rejects an OBJECT parameters schema with no properties, and a function
// without parameters is declared without the field.
func convertSchema(raw []byte) (json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("decoding JSON Schema: %w", err)
	}
	root, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("the JSON Schema is not an object")
	}
	sc := schemaConverter{root: root}
	out, err := sc.convert(root, 0)
	if err != nil {
		return nil, err
	}
	if props, _ := out["properties"].(map[string]any); len(props) == 0 && out["anyOf"] == nil {
		if t, _ := out["type"].(string); t == "" || strings.EqualFold(t, "object") {
			return nil, nil
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return nil, fmt.Errorf("encoding schema: %w", err)
	}
	return bytes.TrimSpace(buf.Bytes()), nil
}

// schemaConverter holds the state of one conversion.
type schemaConverter struct {
	root  map[string]any
	nodes int
	refs  []string // the $refs being expanded, innermost last
}

// convert converts one schema node.
func (sc *schemaConverter) convert(v any, depth int) (map[string]any, error) {
	if depth > maxSchemaDepth {
		return nil, fmt.Errorf("the JSON Schema nests deeper than %d levels", maxSchemaDepth)
	}
	sc.nodes++
	if sc.nodes > maxSchemaNodes {
		return nil, fmt.Errorf("the JSON Schema expands to more than %d schemas", maxSchemaNodes)
	}
	m, ok := v.(map[string]any)
	if !ok {
		// A boolean schema (true: anything) or junk: no constraint.
		return map[string]any{}, nil
	}
	if ref, ok := m["$ref"].(string); ok {
		return sc.expandRef(ref, m, depth)
	}

	out := make(map[string]any, len(m))
	for _, k := range [...]string{"title", "description", "pattern"} {
		if s, ok := m[k].(string); ok {
			out[k] = s
		}
	}
	for _, k := range [...]string{"minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties", "minimum", "maximum"} {
		if n, ok := m[k].(json.Number); ok {
			out[k] = n
		}
	}
	for _, k := range [...]string{"example", "default"} {
		if x, ok := m[k]; ok {
			out[k] = x
		}
	}
	nullable, _ := m["nullable"].(bool)
	if order, ok := m["propertyOrdering"].([]any); ok && allStrings(order) {
		out["propertyOrdering"] = order
	}

	// Alternatives: anyOf, oneOf (read as anyOf), and a list of types.
	var alts []any
	switch t := m["type"].(type) {
	case string:
		out["type"] = t
	case []any:
		var types []string
		for _, x := range t {
			switch s, _ := x.(string); s {
			case "":
			case "null":
				nullable = true
			default:
				types = append(types, s)
			}
		}
		switch len(types) {
		case 0:
		case 1:
			out["type"] = types[0]
		default:
			for _, s := range types {
				alts = append(alts, map[string]any{"type": s})
			}
		}
	}

	values, hasEnum := m["enum"].([]any)
	if c, ok := m["const"]; ok && !hasEnum {
		values, hasEnum = []any{c}, true
	}
	if hasEnum {
		enum, null := enumStrings(values)
		nullable = nullable || null
		if len(enum) > 0 {
			out["enum"] = enum
		}
	}

	if props, ok := m["properties"].(map[string]any); ok {
		conv := make(map[string]any, len(props))
		for _, name := range slices.Sorted(maps.Keys(props)) {
			p, err := sc.convert(props[name], depth+1)
			if err != nil {
				return nil, err
			}
			conv[name] = p
		}
		out["properties"] = conv
	}

	switch items := m["items"].(type) {
	case nil:
	case []any: // the draft 4 tuple form: any of the item schemas
		conv, err := sc.convertAll(items, depth)
		if err != nil {
			return nil, err
		}
		if len(conv) == 1 {
			out["items"] = conv[0]
		} else if len(conv) > 1 {
			out["items"] = map[string]any{"anyOf": conv}
		}
	default:
		conv, err := sc.convert(items, depth+1)
		if err != nil {
			return nil, err
		}
		out["items"] = conv
	}

	required := stringList(m["required"])

	if all, ok := m["allOf"].([]any); ok {
		members, err := sc.convertAll(all, depth)
		if err != nil {
			return nil, err
		}
		for _, mem := range members {
			required = append(required, mergeSchema(out, mem.(map[string]any))...)
		}
	}

	for _, k := range [...]string{"anyOf", "oneOf"} {
		if list, ok := m[k].([]any); ok {
			conv, err := sc.convertAll(list, depth)
			if err != nil {
				return nil, err
			}
			alts = append(alts, conv...)
		}
	}
	if alts != nil {
		kept := alts[:0]
		for _, a := range alts {
			if t, _ := a.(map[string]any)["type"].(string); t == "null" {
				nullable = true
				continue
			}
			kept = append(kept, a)
		}
		switch len(kept) {
		case 0:
		case 1:
			required = append(required, mergeSchema(out, kept[0].(map[string]any))...)
		default:
			out["anyOf"] = kept
		}
	}

	if props, ok := out["properties"].(map[string]any); ok && len(required) > 0 {
		var req []any
		for _, name := range required {
			if _, ok := props[name]; ok && !slices.Contains(req, any(name)) {
				req = append(req, name)
			}
		}
		if len(req) > 0 {
			out["required"] = req
		} else {
			delete(out, "required")
		}
	}

	if f, ok := m["format"].(string); ok {
		if t, _ := out["type"].(string); formatAllowed(strings.ToLower(t), f) {
			out["format"] = f
		}
	}
	if nullable {
		out["nullable"] = true
	}
	return out, nil
}

// convertAll converts a list of schemas.
func (sc *schemaConverter) convertAll(list []any, depth int) ([]any, error) {
	out := make([]any, 0, len(list))
	for _, x := range list {
		conv, err := sc.convert(x, depth+1)
		if err != nil {
			return nil, err
		}
		out = append(out, conv)
	}
	return out, nil
}

// expandRef converts the schema node m, a $ref with possible sibling keys.
func (sc *schemaConverter) expandRef(ref string, m map[string]any, depth int) (map[string]any, error) {
	if slices.Contains(sc.refs, ref) || ref == "#" {
		return nil, fmt.Errorf("the JSON Schema is recursive ($ref %q), which Gemini cannot express; flatten it", ref)
	}
	target, err := sc.resolve(ref)
	if err != nil {
		return nil, err
	}
	merged := maps.Clone(target)
	for k, v := range m {
		if k != "$ref" {
			merged[k] = v
		}
	}
	sc.refs = append(sc.refs, ref)
	out, err := sc.convert(merged, depth+1)
	sc.refs = sc.refs[:len(sc.refs)-1]
	return out, err
}

// resolve finds the definition a local $ref points to.
func (sc *schemaConverter) resolve(ref string) (map[string]any, error) {
	for _, prefix := range [...]string{"#/$defs/", "#/definitions/"} {
		name, ok := strings.CutPrefix(ref, prefix)
		if !ok {
			continue
		}
		name = strings.NewReplacer("~1", "/", "~0", "~").Replace(name)
		defs, _ := sc.root[strings.Trim(prefix[1:], "/")].(map[string]any)
		if def, ok := defs[name].(map[string]any); ok {
			return def, nil
		}
		return nil, fmt.Errorf("the JSON Schema's $ref %q names no definition", ref)
	}
	return nil, fmt.Errorf("the JSON Schema's $ref %q is not a local #/$defs/ or #/definitions/ reference; inline it", ref)
}

// mergeSchema merges src into dst, keeping dst's keys and joining
// properties; it returns src's required names, for the caller to join.
func mergeSchema(dst, src map[string]any) []string {
	for k, v := range src {
		switch k {
		case "required":
		case "properties":
			dp, _ := dst["properties"].(map[string]any)
			if dp == nil {
				dp = make(map[string]any)
				dst["properties"] = dp
			}
			for name, p := range v.(map[string]any) {
				if _, ok := dp[name]; !ok {
					dp[name] = p
				}
			}
		default:
			if _, ok := dst[k]; !ok {
				dst[k] = v
			}
		}
	}
	return stringList(src["required"])
}

// enumStrings converts enum values to the strings Gemini's enum holds; null
// reports whether the values included null.
func enumStrings(values []any) (enum []any, null bool) {
	for _, v := range values {
		switch x := v.(type) {
		case nil:
			null = true
		case string:
			enum = append(enum, x)
		case json.Number:
			enum = append(enum, x.String())
		case bool:
			if x {
				enum = append(enum, "true")
			} else {
				enum = append(enum, "false")
			}
		}
	}
	return enum, null
}

// formatAllowed reports whether Gemini accepts format f for type t.
func formatAllowed(t, f string) bool {
	switch t {
	case "string":
		return f == "enum" || f == "date-time"
	case "number":
		return f == "float" || f == "double"
	case "integer":
		return f == "int32" || f == "int64"
	}
	return false
}

// stringList returns the strings of a JSON array.
func stringList(v any) []string {
	list, _ := v.([]any)
	var out []string
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// allStrings reports whether every element of list is a string.
func allStrings(list []any) bool {
	for _, x := range list {
		if _, ok := x.(string); !ok {
			return false
		}
	}
	return true
}
