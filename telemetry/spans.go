package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"

	"github.com/llmgateway/llmgateway/interceptors/observe"
	"github.com/llmgateway/llmgateway/interceptors/requestid"
	"github.com/llmgateway/llmgateway/llm"
	"github.com/llmgateway/llmgateway/routing"
)

var (
	_ routing.Observer = (*Tracing)(nil)
	_ observe.Observer = (*Tracing)(nil)
)

// Attribute keys: the GenAI semantic conventions' where they exist, the
// gateway's own (llmgateway.*) otherwise.
const (
	attrOperation    = attribute.Key("gen_ai.operation.name")
	attrProvider     = attribute.Key("gen_ai.provider.name")
	attrRequestModel = attribute.Key("gen_ai.request.model")
	attrRespModel    = attribute.Key("gen_ai.response.model")
	attrInputTokens  = attribute.Key("gen_ai.usage.input_tokens")
	attrOutputTokens = attribute.Key("gen_ai.usage.output_tokens")
	attrErrorType    = attribute.Key("error.type")
	attrHTTPStatus   = attribute.Key("http.response.status_code")

	attrModel      = attribute.Key("llmgateway.model")
	attrDeployment = attribute.Key("llmgateway.deployment")
	attrCause      = attribute.Key("llmgateway.attempt.cause")
	attrOutcome    = attribute.Key("llmgateway.attempt.outcome")
	attrReason     = attribute.Key("llmgateway.attempt.reason")
	attrCached     = attribute.Key("llmgateway.usage.cached_tokens")
	attrSurface    = attribute.Key("llmgateway.surface")
	attrRequestID  = attribute.Key("llmgateway.request_id")
	attrKeyID      = attribute.Key("llmgateway.key_id")
	attrCost       = attribute.Key("llmgateway.cost_usd")
	attrAttempts   = attribute.Key("llmgateway.attempts")
	attrEstimated  = attribute.Key("llmgateway.usage.estimated")
)

// AttemptStarted implements routing.Observer: it starts the attempt's
// span, "chat <upstream model>", a client span under the call's.
func (t *Tracing) AttemptStarted(ctx context.Context, s routing.AttemptStart) context.Context {
	if t.sdk == nil {
		return ctx
	}
	ctx, _ = t.tracer.Start(ctx, "chat "+s.Key.UpstreamModel,
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			attrOperation.String("chat"),
			attrProvider.String(s.Key.Provider),
			attrRequestModel.String(s.Key.UpstreamModel),
			attrModel.String(s.Key.Model),
			attrDeployment.String(s.Key.Provider+"/"+s.Key.UpstreamModel),
			attrCause.String(string(s.Cause)),
		))
	return ctx
}

// AttemptFinished implements routing.Observer: it ends the attempt's span
// with its outcome and token counts.
func (t *Tracing) AttemptFinished(ctx context.Context, a *routing.Attempt, u *llm.Usage) {
	if t.sdk == nil {
		return
	}
	span := trace.SpanFromContext(ctx)
	span.SetAttributes(attrOutcome.String(string(a.Outcome)), attrReason.String(a.Reason))
	if u != nil {
		span.SetAttributes(attrInputTokens.Int64(u.PromptTokens), attrOutputTokens.Int64(u.CompletionTokens))
		if u.CachedTokens > 0 {
			span.SetAttributes(attrCached.Int64(u.CachedTokens))
		}
	}
	if a.StatusCode != 0 {
		span.SetAttributes(attrHTTPStatus.Int(a.StatusCode))
	}
	switch a.Outcome {
	case routing.OutcomeError:
		span.SetAttributes(attrErrorType.String(errorType(a.Kind)))
		span.SetStatus(otelcodes.Error, a.Error)
	case routing.OutcomeCanceled, routing.OutcomeHedgeLost:
		span.SetAttributes(attrErrorType.String(string(a.Outcome)))
	}
	span.End()
}

func errorType(k llm.ErrorKind) string {
	if k == "" {
		return "_OTHER"
	}
	return string(k)
}

// BreakerChanged implements routing.Observer; breaker changes are logged
// and counted, not traced.
func (t *Tracing) BreakerChanged(routing.Key, routing.BreakerState, routing.BreakerState) {}

// Begin implements observe.Observer; the call's span is the gRPC server
// span the stats handler started.
func (t *Tracing) Begin(ctx context.Context, _ *observe.Call) context.Context { return ctx }

// End implements observe.Observer: it tells the call's server span what
// the gateway knows of the call: the models, the provider, the usage and
// cost, the request id and the caller's key id.
func (t *Tracing) End(ctx context.Context, c *observe.Call) {
	if t.sdk == nil {
		return
	}
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	attrs := []attribute.KeyValue{
		attrOperation.String("chat"),
		attrRequestModel.String(c.Requested),
		attrSurface.String(c.Surface),
		attrAttempts.Int(c.Attempts),
	}
	if id := requestid.FromContext(ctx); id != "" {
		attrs = append(attrs, attrRequestID.String(id))
	}
	if c.Key != nil {
		attrs = append(attrs, attrKeyID.String(c.Key.ID))
	}
	if c.Model != "" {
		attrs = append(attrs, attrRespModel.String(c.Model))
	}
	if c.Provider != "" {
		attrs = append(attrs, attrProvider.String(c.Provider), attrDeployment.String(c.Provider+"/"+c.UpstreamModel))
	}
	if c.Answered || c.Estimated {
		attrs = append(attrs, attrInputTokens.Int64(c.Usage.PromptTokens), attrOutputTokens.Int64(c.Usage.CompletionTokens),
			attrCost.Float64(c.CostUSD), attrEstimated.Bool(c.Estimated))
	}
	if c.Code != codes.OK {
		attrs = append(attrs, attrErrorType.String(c.Code.String()))
	}
	span.SetAttributes(attrs...)
}
