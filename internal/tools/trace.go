package tools

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/obs"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// A tool invocation's span is the execute_tool span of the OpenTelemetry
// GenAI conventions ("execute_tool kb_search"), with the tenant, the tool
// (the name a model asked for only when a tool has it) and the outcome;
// never the arguments or the result.

const (
	attrOutcome   = attribute.Key("crispy.tool.outcome")
	attrFromModel = attribute.Key("crispy.tool.from_model")
)

// startSpan starts the span of an invocation of the tool called name.
func (d *Dispatcher) startSpan(ctx context.Context, c tenant.Caller, name string, fromModel bool) (context.Context, trace.Span) {
	ctx, span := obs.StartSpan(ctx, d.tracer, "execute_tool", c.Tenant.ID.String(), trace.SpanKindInternal)
	if span.IsRecording() {
		if _, ok := d.reg.Lookup(name); !ok {
			name = "unknown" // a model's invention: not recorded
		}
		span.SetName("execute_tool " + name)
		span.SetAttributes(obs.GenAIOperationName.String("execute_tool"), obs.GenAIToolName.String(name), attrFromModel.Bool(fromModel))
	}
	return ctx, span
}

// endSpan notes an invocation's outcome, and its error's code.
func endSpan(span trace.Span, outcome string, err error) {
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(attrOutcome.String(outcome))
	if err != nil {
		obs.Fail(span, string(api.AsError(err).Code))
	}
}
