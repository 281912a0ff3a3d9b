// Package redact masks personal data and secrets in text about to be
// logged: e-mail addresses, payment card numbers (checked with Luhn),
// phone numbers, API-key-like strings, patterns of the operator's own and
// exact secrets the gateway holds (upstream API keys, passwords).
//
// A Redactor masks strings, for the opt-in prompt log; Handler wraps a
// slog.Handler so that error attributes never carry a secret an upstream
// echoed back.
package redact
