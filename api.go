// Package llmgateway holds artifacts of the API contract that the binary
// serves as they are, such as the generated OpenAPI document.
package llmgateway

import _ "embed"

// OpenAPI is the OpenAPI v2 document of the REST/JSON facade, generated from
// proto/ by protoc-gen-openapiv2 (see buf.gen.yaml).
//
//go:embed gen/openapiv2/llmgateway.swagger.json
var OpenAPI []byte
