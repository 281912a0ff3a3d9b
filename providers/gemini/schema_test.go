package gemini

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/llmgateway/llmgateway/providers/internal/providertest"
)

func TestConvertSchema(t *testing.T) {
	tests := []struct {
		name string
		give string
		want string // "" means no parameters
	}{
		{
			name: "plain object kept",
			give: `{"type":"object","properties":{"location":{"type":"string","description":"City"},"days":{"type":"integer","minimum":1,"maximum":10}},"required":["location"]}`,
			want: `{"type":"object","properties":{"location":{"type":"string","description":"City"},"days":{"type":"integer","minimum":1,"maximum":10}},"required":["location"]}`,
		},
		{
			name: "rejected keys dropped at every level",
			give: `{"$schema":"http://json-schema.org/draft-07/schema#","$id":"x","$comment":"c","type":"object","additionalProperties":false,"strict":true,
				"properties":{"tags":{"type":"array","uniqueItems":true,"items":{"type":"string","additionalProperties":false,"examples":["a"]}},
				"meta":{"type":"object","properties":{"k":{"type":"string"}},"additionalProperties":{"type":"string"},"patternProperties":{"^x":{}}},
				"additionalProperties":{"type":"string","description":"a property with a keyword's name is kept"}}}`,
			want: `{"type":"object","properties":{"tags":{"type":"array","items":{"type":"string"}},
				"meta":{"type":"object","properties":{"k":{"type":"string"}}},
				"additionalProperties":{"type":"string","description":"a property with a keyword's name is kept"}}}`,
		},
		{
			name: "local refs inlined, sibling keys win",
			give: `{"type":"object","properties":{"home":{"$ref":"#/$defs/Address","description":"Home"},"work":{"$ref":"#/definitions/Address"}},
				"$defs":{"Address":{"type":"object","description":"An address","properties":{"city":{"type":"string"}},"required":["city"]}},
				"definitions":{"Address":{"type":"object","properties":{"zip":{"type":"string"}}}}}`,
			want: `{"type":"object","properties":{
				"home":{"type":"object","description":"Home","properties":{"city":{"type":"string"}},"required":["city"]},
				"work":{"type":"object","properties":{"zip":{"type":"string"}}}}}`,
		},
		{
			name: "pydantic Optional collapses to nullable",
			give: `{"type":"object","properties":{"unit":{"anyOf":[{"type":"string","enum":["c","f"]},{"type":"null"}],"default":null,"title":"Unit"}}}`,
			want: `{"type":"object","properties":{"unit":{"type":"string","enum":["c","f"],"nullable":true,"default":null,"title":"Unit"}}}`,
		},
		{
			name: "oneOf becomes anyOf",
			give: `{"type":"object","properties":{"v":{"oneOf":[{"type":"string"},{"type":"integer"},{"type":"null"}]}}}`,
			want: `{"type":"object","properties":{"v":{"anyOf":[{"type":"string"},{"type":"integer"}],"nullable":true}}}`,
		},
		{
			name: "type lists",
			give: `{"type":"object","properties":{"a":{"type":["string","null"]},"b":{"type":["number","boolean"]},"c":{"type":["null"]}}}`,
			want: `{"type":"object","properties":{"a":{"type":"string","nullable":true},"b":{"anyOf":[{"type":"number"},{"type":"boolean"}]},"c":{"nullable":true}}}`,
		},
		{
			name: "allOf merged",
			give: `{"type":"object","allOf":[{"properties":{"a":{"type":"string"}},"required":["a"]},{"$ref":"#/$defs/B"}],"properties":{"c":{"type":"boolean"}},"required":["c"],
				"$defs":{"B":{"type":"object","properties":{"b":{"type":"integer"}},"required":["b"]}}}`,
			want: `{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer"},"c":{"type":"boolean"}},"required":["c","a","b"]}`,
		},
		{
			name: "const, enums of other types, null in enum",
			give: `{"type":"object","properties":{"k":{"const":"fixed"},"n":{"type":"integer","enum":[1,2,3]},"b":{"enum":[true,null]}}}`,
			want: `{"type":"object","properties":{"k":{"enum":["fixed"]},"n":{"type":"integer","enum":["1","2","3"]},"b":{"enum":["true"],"nullable":true}}}`,
		},
		{
			name: "required filtered to defined properties",
			give: `{"type":"object","properties":{"a":{"type":"string"}},"required":["a","ghost","a"]}`,
			want: `{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]}`,
		},
		{
			name: "formats Gemini rejects dropped",
			give: `{"type":"object","properties":{"u":{"type":"string","format":"uri"},"d":{"type":"string","format":"date-time"},"e":{"type":"string","format":"enum","enum":["x"]},"f":{"type":"number","format":"float"},"i":{"type":"integer","format":"int64"},"j":{"type":"integer","format":"uint8"}}}`,
			want: `{"type":"object","properties":{"u":{"type":"string"},"d":{"type":"string","format":"date-time"},"e":{"type":"string","format":"enum","enum":["x"]},"f":{"type":"number","format":"float"},"i":{"type":"integer","format":"int64"},"j":{"type":"integer"}}}`,
		},
		{
			name: "tuple items and boolean schemas",
			give: `{"type":"object","properties":{"pair":{"type":"array","items":[{"type":"string"},{"type":"integer"}]},"one":{"type":"array","items":[{"type":"string"}]},"any":{"type":"array","items":true}}}`,
			want: `{"type":"object","properties":{"pair":{"type":"array","items":{"anyOf":[{"type":"string"},{"type":"integer"}]}},"one":{"type":"array","items":{"type":"string"}},"any":{"type":"array","items":{}}}}`,
		},
		{
			name: "OpenAPI keys kept",
			give: `{"type":"object","title":"Args","nullable":false,"propertyOrdering":["b","a"],"minProperties":1,"maxProperties":2,"example":{"a":"x"},
				"properties":{"a":{"type":"string","minLength":1,"maxLength":9,"pattern":"^[a-z]+$"},"b":{"type":"array","minItems":1,"maxItems":3,"items":{"type":"number"}}}}`,
			want: `{"type":"object","title":"Args","propertyOrdering":["b","a"],"minProperties":1,"maxProperties":2,"example":{"a":"x"},
				"properties":{"a":{"type":"string","minLength":1,"maxLength":9,"pattern":"^[a-z]+$"},"b":{"type":"array","minItems":1,"maxItems":3,"items":{"type":"number"}}}}`,
		},
		{
			name: "object without properties gives no parameters",
			give: `{"type":"object","properties":{},"additionalProperties":false}`,
			want: "",
		},
		{
			name: "empty schema gives no parameters",
			give: `{}`,
			want: "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := convertSchema([]byte(tt.give))
			if err != nil {
				t.Fatalf("convertSchema() error = %v", err)
			}
			if tt.want == "" {
				if got != nil {
					t.Errorf("convertSchema() = %s, want nil", got)
				}
				return
			}
			providertest.JSONEqual(t, got, tt.want)
		})
	}
}

func TestConvertSchemaErrors(t *testing.T) {
	deep := strings.Repeat(`{"type":"array","items":`, maxSchemaDepth+2) + `{"type":"string"}` + strings.Repeat("}", maxSchemaDepth+2)
	// Each definition uses the previous one twice: 2^20 schemas once
	// expanded.
	var defs []string
	for i := 1; i <= 20; i++ {
		defs = append(defs, fmt.Sprintf(`"D%d":{"type":"object","properties":{"l":{"$ref":"#/$defs/D%d"},"r":{"$ref":"#/$defs/D%d"}}}`, i, i-1, i-1))
	}
	bomb := `{"type":"object","properties":{"x":{"$ref":"#/$defs/D20"}},"$defs":{"D0":{"type":"string"},` + strings.Join(defs, ",") + `}}`
	tests := []struct {
		name    string
		give    string
		wantErr string
	}{
		{"not an object", `[1]`, "not an object"},
		{"recursive", `{"type":"object","properties":{"self":{"$ref":"#"}}}`, `is recursive ($ref "#")`},
		{"mutually recursive", `{"type":"object","properties":{"a":{"$ref":"#/$defs/A"}},"$defs":{"A":{"type":"object","properties":{"b":{"$ref":"#/$defs/B"}}},"B":{"anyOf":[{"$ref":"#/$defs/A"},{"type":"null"}]}}}`, `is recursive ($ref "#/$defs/A")`},
		{"missing definition", `{"type":"object","properties":{"a":{"$ref":"#/$defs/Nope"}}}`, `$ref "#/$defs/Nope" names no definition`},
		{"remote ref", `{"type":"object","properties":{"a":{"$ref":"https://example.com/schema.json"}}}`, "is not a local #/$defs/ or #/definitions/ reference"},
		{"too deep", deep, "nests deeper than 64 levels"},
		{"expansion bomb", bomb, "expands to more than 10000 schemas"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := convertSchema([]byte(tt.give))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("convertSchema() = %s, %v; want an error containing %q", got, err, tt.wantErr)
			}
		})
	}
}

func TestSchemaCache(t *testing.T) {
	var c schemaCache
	small := `{"type":"object","properties":{"a":{"type":"string","additionalProperties":false}}}`
	want := `{"type":"object","properties":{"a":{"type":"string"}}}`
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				got, err := c.convert([]byte(small))
				if err != nil {
					t.Errorf("convert() error = %v", err)
					return
				}
				providertest.JSONEqual(t, got, want)
			}
		}()
	}
	wg.Wait()
	if n := len(c.m); n != 1 {
		t.Errorf("cache holds %d schemas, want 1", n)
	}

	if _, err := c.convert([]byte(`{"$ref":"#"}`)); err == nil {
		t.Error("convert() of a recursive schema succeeded, want an error")
	}
	if _, err := c.convert([]byte(`{"$ref":"#"}`)); err == nil {
		t.Error("second convert() of a recursive schema succeeded, want the error again (errors are not cached)")
	}

	large := `{"type":"object","description":"` + strings.Repeat("x", maxCachedSchemaBytes) + `","properties":{"a":{"type":"string"}}}`
	if _, err := c.convert([]byte(large)); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.m[large]; ok {
		t.Errorf("a schema over %d bytes was cached", maxCachedSchemaBytes)
	}

	// Filling the cache past its byte bound empties it.
	desc := strings.Repeat("d", 32<<10)
	for i := range maxSchemaCacheBytes/(64<<10) + 2 {
		raw := fmt.Sprintf(`{"type":"object","description":"%s","properties":{"p%d":{"type":"string"}}}`, desc, i)
		if _, err := c.convert([]byte(raw)); err != nil {
			t.Fatal(err)
		}
		if c.bytes > maxSchemaCacheBytes {
			t.Fatalf("cache holds %d bytes, want at most %d", c.bytes, maxSchemaCacheBytes)
		}
	}
	if n := len(c.m); n == 0 || n > maxSchemaCacheBytes/(64<<10) {
		t.Errorf("cache holds %d schemas after overflowing, want it emptied and refilled", n)
	}
}
