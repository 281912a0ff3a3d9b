// Package telemetry owns the gateway's OpenTelemetry tracing: the tracer
// provider and its OTLP exporter (gRPC or HTTP), sampling, the W3C trace
// context propagator, and the instrumentation that uses them: the otelgrpc
// stats handlers of the gRPC server and of the HTTP surfaces' client of
// it, the otelhttp handler of the HTTP listener and transport of upstream
// calls, and a span per upstream attempt (as a routing.Observer) with its
// provider, model, outcome and token counts.
//
// Nothing here is global: the provider is passed to each instrumentation,
// never installed with otel.SetTracerProvider. Tracing that is off (Off,
// the default) installs nothing at all, so that it costs nothing.
//
// Subpackage redact masks personal data and secrets in text that is about
// to be logged.
package telemetry
