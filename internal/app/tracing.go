package app

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel"

	"github.com/crispy-enigma/crispy/internal/obs"
	"github.com/crispy-enigma/crispy/internal/version"
)

// tracerName is the instrumentation scope of the server's spans.
const tracerName = "github.com/crispy-enigma/crispy"

// newTracing sets up tracing from the OTEL_* variables lookup finds: spans
// exported over OTLP when an endpoint is set, otherwise made (for their
// IDs) but neither recorded nor exported. A variable it cannot use is
// ignored with a warning; export failures are logged.
func newTracing(ctx context.Context, lookup func(string) (string, bool), log *slog.Logger) *obs.Tracing {
	t, err := obs.TracingFromEnv(ctx, lookup, version.Get().Version)
	if err != nil {
		log.Warn("traces are not exported: a tracing variable is ignored", "error", err)
	}
	if t.Exporting() {
		otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
			log.Warn("trace export failed", "error", err)
		}))
		log.Info("exporting traces over OTLP", "endpoint", t.Endpoint, "protocol", t.Protocol)
	}
	return t
}
