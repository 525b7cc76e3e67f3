package obs

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Span attributes. Every span of a tenant's request carries TenantKey.
// The gen_ai.* keys are those of the OpenTelemetry semantic conventions
// for generative AI (client spans); gen_ai.system is their older name for
// gen_ai.provider.name, set too for the backends that read only it.
//
// No attribute holds a prompt, a completion, a query, a document or a tool's
// arguments or result: spans say what ran, for whom, how long and with
// what outcome, never what was said.
const (
	TenantKey = attribute.Key("crispy.tenant")

	GenAIOperationName = attribute.Key("gen_ai.operation.name")
	GenAIProviderName  = attribute.Key("gen_ai.provider.name")
	GenAISystem        = attribute.Key("gen_ai.system")
	GenAIRequestModel  = attribute.Key("gen_ai.request.model")
	GenAIResponseModel = attribute.Key("gen_ai.response.model")
	GenAIInputTokens   = attribute.Key("gen_ai.usage.input_tokens")
	GenAIOutputTokens  = attribute.Key("gen_ai.usage.output_tokens")
	GenAIFinishReasons = attribute.Key("gen_ai.response.finish_reasons")
	GenAIToolName      = attribute.Key("gen_ai.tool.name")
	ErrorType          = attribute.Key("error.type")
)

// nopSpan is the span of work that is not traced.
var nopSpan trace.Span = noop.Span{}

// Tracer returns t, or a tracer that records nothing when t is nil: the
// default of the packages whose tracer is optional.
func Tracer(t trace.Tracer) trace.Tracer {
	if t == nil {
		return noop.NewTracerProvider().Tracer("")
	}
	return t
}

// Fail marks span as failed, with errType as its error.type and status
// description: a kind of error, never an error's message, which may quote
// what the caller sent.
func Fail(span trace.Span, errType string) {
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(ErrorType.String(errType))
	span.SetStatus(codes.Error, errType)
}

// StartSpan starts a span named name under ctx's, with the tenant's ID,
// when ctx's span is recorded. When it is not (tracing is off, or the
// trace is not sampled), no span is made: ctx comes back as it was, so its
// span context still goes to outgoing calls, with a span that does
// nothing. Under the standard samplers the child of a span that is not
// recorded is not recorded either; this skips making it, which costs
// nothing at all.
func StartSpan(ctx context.Context, tr trace.Tracer, name, tenant string, kind trace.SpanKind) (context.Context, trace.Span) {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return ctx, nopSpan
	}
	ctx, span := tr.Start(ctx, name, trace.WithSpanKind(kind))
	if span.IsRecording() {
		span.SetAttributes(TenantKey.String(tenant))
	}
	return ctx, span
}
