package httpapi

import (
	"errors"
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/obs"
	"github.com/crispy-enigma/crispy/internal/ratelimit"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// Spans of the middleware. The request's span (a server span named by its
// route pattern, "POST /chat") continues the caller's traceparent; under
// it, "tenant.resolve" covers finding the tenant and checking the key, and
// "tenant.admission" the tenant's rate limits. A request refused for the
// requests in flight gets an event on the request's span. Every span
// carries the tenant ("none" before it is known, or when it is not).

const (
	attrResult = attribute.Key("crispy.result")
	attrLimit  = attribute.Key("crispy.ratelimit.limit")
	attrKeyID  = attribute.Key("crispy.key")
)

// finishRequestSpan sets the request span's name and attributes once the
// response is written.
func finishRequestSpan(span trace.Span, r *http.Request, route, tenantID, keyID string, status int) {
	span.SetName(route)
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(
		attribute.String("http.request.method", r.Method),
		attribute.String("http.route", route),
		attribute.Int("http.response.status_code", status),
		obs.TenantKey.String(tenantID),
		attrKeyID.String(keyID),
	)
	if status >= 500 {
		span.SetStatus(codes.Error, http.StatusText(status))
	}
}

// startResolve starts the span of the tenant resolution of r.
func (s *Server) startResolve(r *http.Request) trace.Span {
	_, span := obs.StartSpan(r.Context(), s.opts.Tracer, "tenant.resolve", "none", trace.SpanKindInternal)
	return span
}

// endResolve ends the span of a tenant resolution that found c, or err.
func endResolve(span trace.Span, c tenant.Caller, err error) {
	if span.IsRecording() {
		id := "none"
		if c.Tenant != nil {
			id = c.Tenant.ID.String()
		}
		span.SetAttributes(obs.TenantKey.String(id), attrKeyID.String(c.KeyID()))
		switch {
		case errors.Is(err, tenant.ErrUnauthenticated):
			obs.Fail(span, string(api.CodeUnauthenticated))
		case errors.Is(err, tenant.ErrForbidden):
			obs.Fail(span, string(api.CodeForbidden))
		case err != nil:
			obs.Fail(span, string(api.CodeInternal))
		}
	}
	span.End()
}

// startAdmission starts the span of the rate limit check of r by c.
func (s *Server) startAdmission(r *http.Request, c tenant.Caller) trace.Span {
	_, span := obs.StartSpan(r.Context(), s.opts.Tracer, "tenant.admission", c.Tenant.ID.String(), trace.SpanKindInternal)
	return span
}

// endAdmission ends an admission's span: admitted, refused (with the
// limit that refused) or, when the limiter failed, admitted all the same.
func endAdmission(span trace.Span, res ratelimit.Result, err error) {
	if span.IsRecording() {
		switch {
		case err != nil:
			span.SetAttributes(attrResult.String("limiter_error"))
		case !res.Allowed:
			span.SetAttributes(attrResult.String("refused"), attrLimit.String(refusing(res)))
		default:
			span.SetAttributes(attrResult.String("admitted"))
		}
	}
	span.End()
}

// noteRefusal notes on r's span that the limit refused it.
func noteRefusal(r *http.Request, tenantID, limit string) {
	span := trace.SpanFromContext(r.Context())
	if span.IsRecording() {
		span.AddEvent("admission.refused", trace.WithAttributes(obs.TenantKey.String(tenantID), attrLimit.String(limit)))
	}
}
