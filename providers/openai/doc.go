// Package openai is the provider adapter for the OpenAI Chat Completions
// API and the many servers that speak it (DeepSeek, OpenRouter, vLLM,
// Ollama, llama.cpp, LiteLLM, ...).
//
// It owns the wire format: mapping llm.Request to the JSON body of POST
// {BaseURL}/chat/completions, the JSON response and the streamed
// chat.completion.chunk events back to llm types, and the OpenAI error body
// to *llm.UpstreamError. Addressing and authentication are hooks
// (WithEndpoint, WithAuthHeader, WithHeaderFunc, WithOmitModel), so that the
// Azure OpenAI adapter reuses the wire code with its own URLs and api-key
// header.
//
// A Client holds no per-request state and is safe for concurrent use.
package openai
