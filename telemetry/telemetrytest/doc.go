// Package telemetrytest runs in-process OTLP trace collectors for tests,
// over gRPC and over HTTP, and flattens what they receive into spans that
// are easy to assert on.
package telemetrytest
