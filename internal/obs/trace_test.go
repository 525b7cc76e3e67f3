package obs_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/crispy-enigma/crispy/internal/obs"
)

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// TestTracingFromEnvOff: without an endpoint, or with tracing turned off,
// nothing is recorded, yet spans have IDs, for the responses' trace IDs.
func TestTracingFromEnvOff(t *testing.T) {
	for _, env := range []map[string]string{
		{},
		{"OTEL_EXPORTER_OTLP_HEADERS": "x=y", "OTEL_SERVICE_NAME": "x"},
		{obs.EnvEndpoint: "http://127.0.0.1:1", obs.EnvSDKDisabled: "true"},
		{obs.EnvEndpoint: "http://127.0.0.1:1", obs.EnvTracesExporter: "none"},
	} {
		tr, err := obs.TracingFromEnv(context.Background(), envOf(env), "test")
		if err != nil {
			t.Fatalf("%v: %v", env, err)
		}
		if tr.Exporting() {
			t.Errorf("%v: exporting", env)
		}
		_, span := tr.Tracer("t").Start(context.Background(), "x")
		if span.IsRecording() || !span.SpanContext().IsValid() {
			t.Errorf("%v: recording %v, valid IDs %v; want not recording, with IDs", env, span.IsRecording(), span.SpanContext().IsValid())
		}
		span.End()
		if err := tr.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	}
}

func TestTracingFromEnvEndpoints(t *testing.T) {
	tests := []struct {
		env      map[string]string
		endpoint string // "" for an error
		protocol string
	}{
		{map[string]string{obs.EnvEndpoint: "http://collector:4318"}, "http://collector:4318/v1/traces", "http/protobuf"},
		{map[string]string{obs.EnvEndpoint: "http://collector:4318/", obs.EnvProtocol: "http/json"}, "http://collector:4318/v1/traces", "http/json"},
		{map[string]string{obs.EnvEndpoint: "http://a:4318", obs.EnvTracesEndpoint: "https://b/custom/path"}, "https://b/custom/path", "http/protobuf"},
		{map[string]string{obs.EnvEndpoint: "http://collector:4317", obs.EnvProtocol: "grpc"}, "http://collector:4317", "grpc"},
		{map[string]string{obs.EnvEndpoint: "http://c:4318", obs.EnvProtocol: "grpc", obs.EnvTracesProtocol: "http/protobuf"}, "http://c:4318/v1/traces", "http/protobuf"},
		{map[string]string{obs.EnvEndpoint: "https://user:secret@c:4318"}, "https://user:xxxxx@c:4318/v1/traces", "http/protobuf"},
		{map[string]string{obs.EnvEndpoint: "http://c:4318", obs.EnvProtocol: "thrift"}, "", ""},
		{map[string]string{obs.EnvEndpoint: "collector:4318"}, "", ""},
		{map[string]string{obs.EnvEndpoint: "http://c:4318", obs.EnvTracesExporter: "zipkin"}, "", ""},
	}
	for _, tt := range tests {
		tr, err := obs.TracingFromEnv(context.Background(), envOf(tt.env), "test")
		if tt.endpoint == "" {
			if err == nil || tr == nil || tr.Exporting() {
				t.Errorf("%v: error %v, want one, and tracing that does not export", tt.env, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", tt.env, err)
			continue
		}
		if tr.Endpoint != tt.endpoint || tr.Protocol != tt.protocol || !tr.Exporting() {
			t.Errorf("%v: endpoint %q protocol %q, want %q %q", tt.env, tr.Endpoint, tr.Protocol, tt.endpoint, tt.protocol)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // nothing to flush; do not wait for the unreachable collector
		_ = tr.Shutdown(ctx)
	}
}

// TestTracingSamplerFromEnv: OTEL_TRACES_SAMPLER, which the SDK reads from
// the process environment, decides what an exporting server records.
func TestTracingSamplerFromEnv(t *testing.T) {
	t.Setenv("OTEL_TRACES_SAMPLER", "always_off")
	tr, err := obs.TracingFromEnv(context.Background(), envOf(map[string]string{obs.EnvEndpoint: "http://127.0.0.1:1"}), "test")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = tr.Shutdown(ctx)
	}()
	_, span := tr.Tracer("t").Start(context.Background(), "x")
	defer span.End()
	if span.IsRecording() {
		t.Error("always_off: the span is recorded")
	}
}

// TestTransportPropagates: a request made within a span carries its
// traceparent; the caller's request is left as it was; a request without
// a span goes as it is. With tracing off the transport is the base's.
func TestTransportPropagates(t *testing.T) {
	if rt := obs.NewTracing().Transport(http.DefaultTransport); rt != http.DefaultTransport {
		t.Errorf("tracing off: the transport is a %T, want the base", rt)
	}
	var got atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.Header.Get("traceparent"))
	}))
	defer srv.Close()
	tr := obs.NewTracing(nopProcessor{})
	client := &http.Client{Transport: tr.Transport(http.DefaultTransport)}

	ctx, span := tr.Tracer("t").Start(context.Background(), "call")
	defer span.End()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	sc := span.SpanContext()
	want := "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-"
	if tp, _ := got.Load().(string); !strings.HasPrefix(tp, want) {
		t.Errorf("traceparent %q, want %s..", tp, want)
	}
	if req.Header.Get("traceparent") != "" {
		t.Error("the caller's request was changed")
	}

	req, _ = http.NewRequest("GET", srv.URL, nil)
	res, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if tp, _ := got.Load().(string); tp != "" {
		t.Errorf("traceparent %q without a span", tp)
	}
	if !trace.SpanContextFromContext(ctx).IsValid() {
		t.Error("no span context")
	}
}

// TestStartSpanUntracedIsFree: under a span that is not recorded (tracing
// off), a span costs no allocation, and the context keeps the request's
// span context for the traceparent of outgoing calls.
func TestStartSpanUntracedIsFree(t *testing.T) {
	tr := obs.NewTracing()
	tracer := tr.Tracer("t")
	ctx, root := tracer.Start(context.Background(), "request")
	defer root.End()
	allocs := testing.AllocsPerRun(1000, func() {
		c, span := obs.StartSpan(ctx, tracer, "stage", "acme", trace.SpanKindInternal)
		if !trace.SpanContextFromContext(c).Equal(root.SpanContext()) {
			t.Fatal("the request's span context is lost")
		}
		obs.Fail(span, "timeout")
		span.End()
	})
	if allocs != 0 {
		t.Errorf("%v allocations a span, want 0", allocs)
	}
}

// BenchmarkTransport measures what sending traceparent adds to a call
// to a provider on loopback, with tracing on (when it is off, the
// transport is the base's):
//
//	go test ./internal/obs -run '^$' -bench Transport -count 6
func BenchmarkTransport(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	tr := obs.NewTracing(nopProcessor{})
	ctx, span := tr.Tracer("t").Start(context.Background(), "attempt")
	defer span.End()
	base := &http.Transport{MaxIdleConnsPerHost: 4}
	defer base.CloseIdleConnections()
	for _, tc := range []struct {
		name string
		rt   http.RoundTripper
	}{{"plain", base}, {"traceparent", tr.Transport(base)}} {
		b.Run(tc.name, func(b *testing.B) {
			c := &http.Client{Transport: tc.rt}
			b.ReportAllocs()
			for b.Loop() {
				req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL, strings.NewReader("{}"))
				req.Header.Set("Content-Type", "application/json")
				res, err := c.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				res.Body.Close()
			}
		})
	}
}

// BenchmarkStartSpan measures a span of a stage with tracing off (under a
// request span that is not recorded) and on (recorded, not exported).
func BenchmarkStartSpan(b *testing.B) {
	for _, tc := range []struct {
		name string
		tr   *obs.Tracing
	}{{"off", obs.NewTracing()}, {"recorded", obs.NewTracing(nopProcessor{})}} {
		tracer := tc.tr.Tracer("t")
		ctx, root := tracer.Start(context.Background(), "request")
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, span := obs.StartSpan(ctx, tracer, "stage", "acme", trace.SpanKindInternal)
				span.End()
			}
		})
		root.End()
	}
}

// nopProcessor records spans and drops them.
type nopProcessor struct{}

func (nopProcessor) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (nopProcessor) OnEnd(sdktrace.ReadOnlySpan)                     {}
func (nopProcessor) Shutdown(context.Context) error                  { return nil }
func (nopProcessor) ForceFlush(context.Context) error                { return nil }
