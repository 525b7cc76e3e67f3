package obs

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Tracing holds the tracer provider and the W3C trace context propagator.
// Spans always get real trace and span IDs, so that the trace ID in every
// response matches the caller's traceparent; they are recorded only when
// an exporter sends them somewhere.
type Tracing struct {
	Provider   *sdktrace.TracerProvider
	Propagator propagation.TextMapPropagator
	// Endpoint and Protocol say where spans are exported; both are empty
	// when they are not.
	Endpoint, Protocol string
	// record is whether spans are recorded: there are span processors.
	record bool
}

// NewTracing returns tracing with the given span processors. With none,
// spans are created and propagated but never recorded (a sampler that
// drops them all), which costs next to nothing. With some, the sampler is
// the SDK's default or the one OTEL_TRACES_SAMPLER names.
func NewTracing(processors ...sdktrace.SpanProcessor) *Tracing {
	return newTracing(nil, processors...)
}

func newTracing(res *resource.Resource, processors ...sdktrace.SpanProcessor) *Tracing {
	opts := make([]sdktrace.TracerProviderOption, 0, len(processors)+2)
	for _, p := range processors {
		opts = append(opts, sdktrace.WithSpanProcessor(p))
	}
	if len(processors) == 0 {
		opts = append(opts, sdktrace.WithSampler(sdktrace.NeverSample()))
	}
	if res != nil {
		opts = append(opts, sdktrace.WithResource(res))
	}
	return &Tracing{
		Provider:   sdktrace.NewTracerProvider(opts...),
		Propagator: propagation.TraceContext{},
		record:     len(processors) > 0,
	}
}

// The environment variables of the OpenTelemetry specification that
// TracingFromEnv reads itself. The exporters read the rest of
// OTEL_EXPORTER_OTLP_* (headers, timeout, compression, certificates), the
// SDK reads OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG and OTEL_BSP_*,
// and the resource OTEL_RESOURCE_ATTRIBUTES, from the process environment.
const (
	EnvSDKDisabled     = "OTEL_SDK_DISABLED"
	EnvTracesExporter  = "OTEL_TRACES_EXPORTER"
	EnvEndpoint        = "OTEL_EXPORTER_OTLP_ENDPOINT"
	EnvTracesEndpoint  = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	EnvProtocol        = "OTEL_EXPORTER_OTLP_PROTOCOL"
	EnvTracesProtocol  = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
	EnvServiceName     = "OTEL_SERVICE_NAME"
	DefaultServiceName = "crispy"
)

// TracingFromEnv returns tracing that exports spans over OTLP when lookup
// finds OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (the full URL) or
// OTEL_EXPORTER_OTLP_ENDPOINT (the base URL; /v1/traces is added for
// OTLP/HTTP), with the protocol OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL names
// (http/protobuf by default, http/json or grpc), in batches. Without an
// endpoint, with OTEL_SDK_DISABLED=true or with OTEL_TRACES_EXPORTER=none,
// it is NewTracing(): nothing recorded, nothing exported. The service is
// named by OTEL_SERVICE_NAME, "crispy" by default, at version.
//
// A value it cannot use (an unknown exporter or protocol, an endpoint that
// is not a URL) is ignored, as the specification asks: it returns
// NewTracing() with an error that says what was ignored, for a warning.
func TracingFromEnv(ctx context.Context, lookup func(string) (string, bool), version string) (*Tracing, error) {
	t, err := tracingFromEnv(ctx, lookup, version)
	if err != nil {
		return NewTracing(), err
	}
	return t, nil
}

func tracingFromEnv(ctx context.Context, lookup func(string) (string, bool), version string) (*Tracing, error) {
	env := func(k string) string {
		v, _ := lookup(k)
		return strings.TrimSpace(v)
	}
	if strings.EqualFold(env(EnvSDKDisabled), "true") {
		return NewTracing(), nil
	}
	switch exp := env(EnvTracesExporter); exp {
	case "", "otlp":
	case "none":
		return NewTracing(), nil
	default:
		return nil, fmt.Errorf("%s=%q: only otlp and none are supported", EnvTracesExporter, exp)
	}
	endpoint, full := env(EnvTracesEndpoint), true
	if endpoint == "" {
		endpoint, full = env(EnvEndpoint), false
	}
	if endpoint == "" {
		return NewTracing(), nil
	}
	protocol := cmp.Or(env(EnvTracesProtocol), env(EnvProtocol), "http/protobuf")
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("OTLP endpoint %q: want an http:// or https:// URL", endpoint)
	}
	var exp sdktrace.SpanExporter
	switch protocol {
	case "http/protobuf", "http/json":
		if !full {
			endpoint = strings.TrimSuffix(endpoint, "/") + "/v1/traces"
		}
		enc := otlptracehttp.EncodingProtobuf
		if protocol == "http/json" {
			enc = otlptracehttp.EncodingJSON
		}
		exp, err = otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(endpoint), otlptracehttp.WithEncoding(enc))
	case "grpc":
		exp, err = otlptracegrpc.New(ctx, otlptracegrpc.WithEndpointURL(endpoint))
	default:
		return nil, fmt.Errorf("OTLP protocol %q: want http/protobuf, http/json or grpc", protocol)
	}
	if err != nil {
		return nil, fmt.Errorf("OTLP trace exporter: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(
			attribute.String("service.name", cmp.Or(env(EnvServiceName), DefaultServiceName)),
			attribute.String("service.version", version),
		),
		resource.WithFromEnv(), // OTEL_RESOURCE_ATTRIBUTES
		resource.WithTelemetrySDK(),
	)
	if err != nil {
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	if name := env(EnvServiceName); name != "" {
		// Whatever OTEL_RESOURCE_ATTRIBUTES says, OTEL_SERVICE_NAME wins,
		// as the specification has it.
		res, _ = resource.Merge(res, resource.NewSchemaless(attribute.String("service.name", name)))
	}
	t := newTracing(res, sdktrace.NewBatchSpanProcessor(exp))
	t.Endpoint, t.Protocol = endpoint, protocol
	if u, err := url.Parse(endpoint); err == nil {
		t.Endpoint = u.Redacted() // no password in logs
	}
	return t, nil
}

// Exporting reports whether spans are recorded and exported.
func (t *Tracing) Exporting() bool { return t.Endpoint != "" }

// Tracer returns the named tracer.
func (t *Tracing) Tracer(name string) trace.Tracer { return t.Provider.Tracer(name) }

// ForceFlush exports the spans that have ended and wait in the batch.
func (t *Tracing) ForceFlush(ctx context.Context) error { return t.Provider.ForceFlush(ctx) }

// Shutdown flushes and stops span processing.
func (t *Tracing) Shutdown(ctx context.Context) error { return t.Provider.Shutdown(ctx) }

// Transport returns a RoundTripper that sends each request's trace
// context (traceparent) along with it, then hands it to base: the outgoing
// calls made within a span continue its trace. A request whose context has
// no span goes as it is. When spans are not recorded it is base itself:
// with tracing off, outgoing calls are as they were, at no cost.
func (t *Tracing) Transport(base http.RoundTripper) http.RoundTripper {
	if !t.record {
		return base
	}
	return &propagating{base: base, prop: t.Propagator}
}

type propagating struct {
	base http.RoundTripper
	prop propagation.TextMapPropagator
}

func (p *propagating) RoundTrip(r *http.Request) (*http.Response, error) {
	if !trace.SpanContextFromContext(r.Context()).IsValid() {
		return p.base.RoundTrip(r)
	}
	// A RoundTripper must not change the request it is given: the headers
	// go on a copy.
	r2 := new(http.Request)
	*r2 = *r
	r2.Header = r.Header.Clone()
	if r2.Header == nil {
		r2.Header = http.Header{}
	}
	p.prop.Inject(r.Context(), propagation.HeaderCarrier(r2.Header))
	return p.base.RoundTrip(r2)
}

// CloseIdleConnections closes the idle connections of base, when it has
// any.
func (p *propagating) CloseIdleConnections() {
	if c, ok := p.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
