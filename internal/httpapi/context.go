package httpapi

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/crispy-enigma/crispy/internal/gateway"
	"github.com/crispy-enigma/crispy/internal/obs"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// meta is the per-request state shared by the middleware: filled in as the
// request goes down the chain and read by the access log on the way out.
type meta struct {
	requestID string // the trace ID
	// clientRequestID is the client's X-Request-ID, when it sent a sane one.
	clientRequestID string
	traceID         string
	tally           *gateway.Tally // what the request's model calls used
	route           *route         // nil when no route matched
	openai          bool           // errors in OpenAI's format (see withRoute)
	caller          tenant.Caller  // who the request acts as, once resolved
	operator        string         // the operator of an operator route, once authenticated
	log             *slog.Logger   // the server's logger, for errors found deep in a request
}

type metaKey struct{}

func withMeta(ctx context.Context, m *meta) context.Context {
	return context.WithValue(ctx, metaKey{}, m)
}

// metaOf returns the request's meta; requests that did not pass through the
// server's middleware (direct handler tests) get an empty one.
func metaOf(r *http.Request) *meta {
	if m, ok := r.Context().Value(metaKey{}).(*meta); ok {
		return m
	}
	return &meta{log: obs.Discard}
}

// Caller returns who a request acts as: the tenant and key it resolved to,
// with its request ID. It is set for every route that is not open; handlers
// can rely on Tenant being non-nil.
func Caller(r *http.Request) tenant.Caller { return metaOf(r).caller }

// RequestID returns the request's ID: its trace ID.
func RequestID(r *http.Request) string { return metaOf(r).requestID }

// TraceID returns the request's W3C trace ID.
func TraceID(r *http.Request) string { return metaOf(r).traceID }
