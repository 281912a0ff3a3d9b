// Package promptlog logs the prompts of the chat calls whose key opts in
// by its labels (telemetry.logging.prompt_logging.labels), one "prompt"
// line per call with its request id, key id and model, every message
// redacted (package telemetry/redact: e-mails, card numbers, phone
// numbers, API keys, the operator's patterns) and cut to a bounded
// length. No other call's prompt is ever logged, and answers never are.
//
// It belongs in the chain after auth, which names the key; placed before
// the limits, it logs refused calls' prompts too.
package promptlog
