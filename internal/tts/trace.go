package tts

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/crispy-enigma/crispy/internal/obs"
)

// A synthesis has a span, "tts.synthesize", with the tenant, the adapter,
// model, voice and format, and the number of characters; never the text.
// A job's span continues the trace of the request that started it.

const (
	attrAdapter = attribute.Key("crispy.tts.adapter")
	attrVoice   = attribute.Key("crispy.tts.voice")
	attrFormat  = attribute.Key("crispy.tts.format")
	attrChars   = attribute.Key("crispy.tts.chars")
	attrStatus  = attribute.Key("crispy.tts.status")
)

// startSpan starts the span of p's synthesis, under ctx's span or, for a
// job, which runs after its request, under the request's.
func (s *Service) startSpan(ctx context.Context, p *Plan) (context.Context, trace.Span) {
	var span trace.Span
	if !trace.SpanContextFromContext(ctx).IsValid() && p.parent.IsValid() {
		// A job: its request's span has ended, and may have been sampled.
		ctx, span = s.opts.Tracer.Start(trace.ContextWithSpanContext(ctx, p.parent), "tts.synthesize")
	} else {
		ctx, span = obs.StartSpan(ctx, s.opts.Tracer, "tts.synthesize", p.caller.Tenant.ID.String(), trace.SpanKindInternal)
	}
	if span.IsRecording() {
		span.SetAttributes(obs.TenantKey.String(p.caller.Tenant.ID.String()), attrAdapter.String(p.info.Adapter), attrProvider(p.info.Provider), obs.GenAIRequestModel.String(p.info.Model),
			attrVoice.String(p.req.Voice), attrFormat.String(string(p.req.Format)), attrChars.Int(p.chars))
	}
	return ctx, span
}

func attrProvider(name string) attribute.KeyValue { return attribute.String("crispy.provider", name) }

// endSpan ends a synthesis's span with its status (ok, error, cancelled)
// and error code.
func endSpan(span trace.Span, status, code string) {
	if span.IsRecording() {
		span.SetAttributes(attrStatus.String(status))
		if status == "error" {
			obs.Fail(span, code)
		}
	}
	span.End()
}
