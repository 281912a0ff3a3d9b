// Package gemini is the provider adapter for the Google Gemini API (the
// Generative Language API at generativelanguage.googleapis.com, and proxies
// that speak it).
//
// It owns the wire format: mapping llm.Request to the JSON body of POST
// {BaseURL}/v1beta/models/{model}:generateContent (and
// :streamGenerateContent?alt=sse for streams), the GenerateContentResponse
// and its streamed chunks back to llm types, and the google.rpc error body
// ({"error":{"code","message","status","details"}}) to *llm.UpstreamError.
//
// The mapping, in short:
//
//   - system and developer messages become systemInstruction, joined with a
//     blank line, wherever they appear in the conversation;
//   - user messages become "user" contents, assistant messages "model"
//     contents with text and functionCall parts, and tool messages "user"
//     contents with functionResponse parts {"name", "response":
//     {"result": <the tool's JSON, or its text>}}, the name looked up from
//     the assistant tool call the message answers; consecutive contents of
//     the same role are merged, as Gemini wants the roles to alternate;
//   - tool parameters are converted from JSON Schema to the OpenAPI subset
//     Gemini accepts (see convertSchema), unless WithJSONSchemaParameters
//     sends them unchanged as parametersJsonSchema;
//   - the replayed function calls of an assistant message carry a
//     thoughtSignature (see WithThoughtSignature), which Gemini 3 models
//     require;
//   - Gemini does not always name its function calls: a call without an id
//     gets "call_<responseId>_<n>" (or "call_<n>" when the response has no
//     id), the same in unary and streamed responses;
//   - usage follows the llm.Usage convention: PromptTokens =
//     promptTokenCount (which includes cachedContentTokenCount) +
//     toolUsePromptTokenCount, CachedTokens = cachedContentTokenCount,
//     CompletionTokens = candidatesTokenCount + thoughtsTokenCount,
//     ReasoningTokens = thoughtsTokenCount.
//
// A Client holds no per-request state (only a bounded cache of converted
// tool schemas) and is safe for concurrent use.
package gemini
