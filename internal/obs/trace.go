package obs

import (
	"context"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Tracing holds the tracer provider and the W3C trace context propagator.
// Spans get real trace and span IDs, so that the trace ID in every response
// matches the caller's traceparent; exporting them is configured separately.
type Tracing struct {
	Provider   *sdktrace.TracerProvider
	Propagator propagation.TextMapPropagator
}

// NewTracing returns tracing with the given span processors (none: spans are
// created and propagated but not exported).
func NewTracing(processors ...sdktrace.SpanProcessor) *Tracing {
	opts := make([]sdktrace.TracerProviderOption, 0, len(processors))
	for _, p := range processors {
		opts = append(opts, sdktrace.WithSpanProcessor(p))
	}
	return &Tracing{
		Provider:   sdktrace.NewTracerProvider(opts...),
		Propagator: propagation.TraceContext{},
	}
}

// Tracer returns the named tracer.
func (t *Tracing) Tracer(name string) trace.Tracer { return t.Provider.Tracer(name) }

// Shutdown flushes and stops span processing.
func (t *Tracing) Shutdown(ctx context.Context) error { return t.Provider.Shutdown(ctx) }
