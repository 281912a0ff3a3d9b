// Package azure is the adapter for Azure OpenAI. The wire format is
// OpenAI's Chat Completions, so the package reuses providers/openai and
// differs only in addressing and authentication:
//
//	POST {endpoint}/openai/deployments/{deployment}/chat/completions?api-version={version}
//	api-key: KEY
//
// The deployment name is the request's model (a deployment's upstream
// `model` in the gateway's config); the body carries no model field.
package azure
