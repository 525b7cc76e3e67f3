package gateway

import (
	"cmp"
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/obs"
	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// Spans of a model call. The call's span is the GenAI client span of the
// OpenTelemetry conventions ("chat gpt-4o-mini", "embeddings bge-m3"): it
// covers every attempt, retry and fallback, and for chat the whole answer,
// and carries the model that answered and the tokens it used. Each attempt
// has a span of its own under it ("gateway.attempt"), which ends when the
// gateway commits to the model (its first token) or gives up on it; the
// provider's HTTP request is made within it and carries its traceparent.
// Targets skipped without a call (circuit open, provider unavailable) are
// events of the call's span. Nothing of the prompt or the answer is
// recorded.

// Operation names of the GenAI conventions.
const (
	opChat       = "chat"
	opEmbeddings = "embeddings"
)

// Attributes of the gateway's spans beside the GenAI ones.
const (
	attrRoute        = attribute.Key("crispy.route")
	attrProvider     = attribute.Key("crispy.provider") // the tenant's name for the provider
	attrAttempt      = attribute.Key("crispy.gateway.attempt")
	attrRetry        = attribute.Key("crispy.gateway.retry")
	attrFallback     = attribute.Key("crispy.gateway.fallback")
	attrBreaker      = attribute.Key("crispy.gateway.breaker_state")
	attrAttempts     = attribute.Key("crispy.gateway.attempts")
	attrCacheHit     = attribute.Key("crispy.gateway.cache_hit")
	attrEstimated    = attribute.Key("crispy.usage.estimated")
	attrCost         = attribute.Key("crispy.cost_usd")
	attrSkipReason   = attribute.Key("crispy.gateway.skip_reason")
	eventSkip        = "gateway.skip"
	attemptSpanName  = "gateway.attempt"
	skipCircuitOpen  = "circuit_open"
	skipUnconfigured = "not_configured"
	skipUnavailable  = "unavailable"
)

// operation is the GenAI operation of a call on route.
func operation(route string) string {
	if route == RouteEmbedding {
		return opEmbeddings
	}
	return opChat
}

// providerSystem is the gen_ai.provider.name of the tenant's provider
// name: the API it speaks ("openai" for every OpenAI-compatible server),
// or crispy.builtin for the models built in.
func providerSystem(cfg *tenant.Config, name string) string {
	p, ok := cfg.Providers[name]
	switch {
	case !ok:
		return "crispy." + name
	case p.Type == "workersai":
		return "cloudflare.workers_ai"
	}
	return p.Type
}

// startCall starts the span of a call of op to the first of targets.
func (g *Gateway) startCall(ctx context.Context, call Call, op string, targets []Target) (context.Context, trace.Span) {
	ctx, span := obs.StartSpan(ctx, g.opts.Tracer, op, call.Tenant.ID.String(), trace.SpanKindClient)
	if span.IsRecording() {
		span.SetName(op + " " + targets[0].Model)
		span.SetAttributes(
			obs.GenAIOperationName.String(op),
			obs.GenAIRequestModel.String(targets[0].Model),
			attrRoute.String(call.Route),
		)
	}
	return ctx, span
}

// endCall ends a call's span with what rec says of it: the model that
// answered, the attempts, the tokens and the cost, or the error.
func endCall(span trace.Span, cfg *tenant.Config, rec *store.UsageRecord, finish string) {
	if span.IsRecording() {
		attrs := []attribute.KeyValue{
			attrAttempts.Int(rec.Attempts),
			attrFallback.Bool(rec.Fallback),
			attrCacheHit.Bool(rec.CacheHit),
			obs.GenAIInputTokens.Int64(rec.TokensIn),
			obs.GenAIOutputTokens.Int64(rec.TokensOut),
			attrEstimated.Bool(rec.Estimated),
			attrCost.Float64(float64(rec.CostMicros) / 1e6),
		}
		if rec.Provider != "" {
			system := providerSystem(cfg, rec.Provider)
			attrs = append(attrs, obs.GenAIProviderName.String(system), obs.GenAISystem.String(system),
				attrProvider.String(rec.Provider), obs.GenAIResponseModel.String(rec.Model))
		}
		if finish != "" {
			attrs = append(attrs, obs.GenAIFinishReasons.StringSlice([]string{finish}))
		}
		span.SetAttributes(attrs...)
		if rec.Status != "ok" {
			obs.Fail(span, cmp.Or(rec.ErrorKind, rec.Status))
		}
	}
	span.End()
}

// failCall ends a call's span that failed before any attempt (a budget
// refused it), with the error's code.
func failCall(span trace.Span, err error) {
	obs.Fail(span, string(api.AsError(err).Code))
	span.End()
}

// startAttempt starts the span of one attempt of a call: the attempt-th of
// the call, the retry-th retry of target t, whose breaker is br.
func (g *Gateway) startAttempt(ctx context.Context, call Call, t Target, attempt, retry int, fallback bool, br *breaker) (context.Context, trace.Span) {
	ctx, span := obs.StartSpan(ctx, g.opts.Tracer, attemptSpanName, call.Tenant.ID.String(), trace.SpanKindInternal)
	if span.IsRecording() {
		system := providerSystem(call.Tenant.Config, t.Provider)
		span.SetAttributes(
			obs.GenAIOperationName.String(operation(call.Route)),
			obs.GenAIProviderName.String(system),
			obs.GenAISystem.String(system),
			obs.GenAIRequestModel.String(t.Model),
			attrProvider.String(t.Provider),
			attrAttempt.Int(attempt),
			attrRetry.Int(retry),
			attrFallback.Bool(fallback),
			attrBreaker.String(br.stateName()),
		)
	}
	return ctx, span
}

// endAttempt ends an attempt's span: errKind empty, the model answered;
// else the kind of its failure.
func endAttempt(span trace.Span, t Target, errKind string) {
	if span.IsRecording() {
		if errKind == "" {
			span.SetAttributes(obs.GenAIResponseModel.String(t.Model))
		} else {
			obs.Fail(span, errKind)
		}
	}
	span.End()
}

// noteSkip notes on the call's span that target t was passed over without
// a call, and why.
func noteSkip(ctx context.Context, t Target, reason string) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	span.AddEvent(eventSkip, trace.WithAttributes(attrProvider.String(t.Provider), obs.GenAIRequestModel.String(t.Model), attrSkipReason.String(reason)))
}
