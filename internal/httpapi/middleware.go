package httpapi

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/gateway"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// requestIDPattern is what a client-supplied X-Request-ID must look like to
// be echoed and logged; anything else is ignored.
var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:@+=-]{1,128}$`)

// withRequestMeta gives every request an ID and a span: a W3C traceparent is
// continued, and the request ID is the trace ID, so that one ID finds the
// request's log lines, usage and audit records and spans. A sane
// X-Request-ID of the client's is echoed back (and logged beside the
// request ID); without one, X-Request-ID is the request ID. It also gives
// the request the tally its model calls add to, for the access log.
func (s *Server) withRequestMeta(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m := &meta{log: s.log, tally: &gateway.Tally{}}
		if id := r.Header.Get("X-Request-ID"); requestIDPattern.MatchString(id) {
			m.clientRequestID = id
		}
		ctx := s.opts.Propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := s.opts.Tracer.Start(ctx, "http.request", trace.WithSpanKind(trace.SpanKindServer))
		defer span.End()
		if tid := span.SpanContext().TraceID(); tid.IsValid() {
			m.traceID = tid.String()
		} else {
			m.traceID = newTraceID() // a tracer that makes no IDs
		}
		m.requestID = m.traceID

		h := w.Header()
		h.Set("X-Request-ID", cmp.Or(m.clientRequestID, m.requestID))
		s.opts.Propagator.Inject(ctx, propagation.HeaderCarrier(h))
		ctx = gateway.WithTally(ctx, m.tally)
		next.ServeHTTP(w, r.WithContext(withMeta(ctx, m)))
	})
}

// newTraceID returns a random ID in the shape of a W3C trace ID.
func newTraceID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// withAccessLog writes one log line and one metric sample per request, with
// the route pattern (never the raw path) and the resolved tenant.
func (s *Server) withAccessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rw := &responseWriter{ResponseWriter: w}
		next.ServeHTTP(rw, r)
		elapsed := time.Since(start)

		m := metaOf(r)
		routeLabel := "unmatched"
		if m.route != nil {
			routeLabel = m.route.pattern
		}
		tenantLabel, keyID := "none", m.caller.KeyID()
		if m.caller.Tenant != nil {
			tenantLabel = m.caller.Tenant.ID.String()
		}
		status := rw.statusCode()
		code := strconv.Itoa(status)
		s.opts.Metrics.HTTPRequests.WithLabelValues(routeLabel, tenantLabel, code).Inc()
		s.opts.Metrics.HTTPDuration.WithLabelValues(routeLabel, tenantLabel, code).Observe(elapsed.Seconds())

		finishRequestSpan(trace.SpanFromContext(r.Context()), r, routeLabel, tenantLabel, keyID, status)

		s.log.LogAttrs(r.Context(), slog.LevelInfo, "request", append([]slog.Attr{
			slog.String("method", r.Method),
			slog.String("route", routeLabel),
			slog.Int("status", status),
			slog.Int64("bytes", rw.bytes),
			slog.Float64("latency_ms", float64(elapsed.Microseconds())/1000),
			slog.String("tenant", tenantLabel),
			slog.String("key", keyID),
			slog.String("operator", m.operator),
			slog.String("request_id", m.requestID),
			slog.String("trace_id", m.traceID),
		}, accessLogAttrs(m)...)...,
		)
	})
}

// accessLogAttrs are the access log's fields that only some requests have:
// the client's X-Request-ID, and what the request's model calls used.
func accessLogAttrs(m *meta) []slog.Attr {
	var out []slog.Attr
	if m.clientRequestID != "" {
		out = append(out, slog.String("client_request_id", m.clientRequestID))
	}
	t := m.tally.Totals()
	if t.Calls == 0 {
		return out
	}
	out = append(out,
		slog.String("model", t.Model),
		slog.Int("model_calls", t.Calls),
		slog.Int64("tokens_in", t.TokensIn),
		slog.Int64("tokens_out", t.TokensOut),
		slog.Float64("cost_usd", float64(t.CostMicros)/1e6),
	)
	if t.Estimated {
		out = append(out, slog.Bool("tokens_estimated", true))
	}
	if t.CacheHits > 0 {
		out = append(out, slog.Int("cache_hits", t.CacheHits))
	}
	if t.TTSChars > 0 {
		out = append(out, slog.Int64("tts_chars", t.TTSChars))
	}
	return out
}

// withRecover turns a panic into a 500 envelope (when nothing was written
// yet) and an error log with the stack. http.ErrAbortHandler is re-raised,
// as net/http expects.
func (s *Server) withRecover(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			m := metaOf(r)
			s.log.LogAttrs(r.Context(), slog.LevelError, "panic",
				slog.Any("panic", v),
				slog.String("stack", string(debug.Stack())),
				slog.String("request_id", m.requestID),
				slog.String("trace_id", m.traceID),
			)
			if rw, ok := w.(*responseWriter); ok && rw.wroteHeader {
				// Too late for an envelope: end the response abruptly so the
				// client does not mistake it for a complete one.
				panic(http.ErrAbortHandler)
			}
			writeError(w, r, api.Errorf(api.CodeInternal, "internal error"))
		}()
		next.ServeHTTP(w, r)
	})
}

// withRoute finds the route before anything else looks at the request, so
// that tenant resolution knows what the route requires. A request whose
// head is over MaxRequestHead gets 431, in the route's error format, on
// every path. Requests that match no route get 404, or 405 with Allow when
// the path exists for other methods. Errors of the OpenAI-compatible routes,
// and of every path under /v1 that matches no route, are in OpenAI's format,
// so that an SDK pointed at /v1 gets the errors it knows.
func (s *Server) withRoute(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := s.mux.Handler(r)
		rt, matched := h.(*route)
		matched = matched && pattern != ""
		m := metaOf(r)
		if matched {
			m.route, m.openai = rt, rt.openai
		} else {
			m.openai = underV1(r.URL.Path)
		}
		if err := checkHead(r); err != nil {
			writeError(w, r, err)
			return
		}
		if matched {
			next.ServeHTTP(w, r)
			return
		}
		// Let the mux decide between 404, 405 and a redirect to the clean
		// path, then answer in our own format.
		rec := &recorder{header: http.Header{}}
		h.ServeHTTP(rec, r)
		switch {
		// CONNECT names a host, not a path: no route has it, whatever the
		// mux says of the path "/".
		case rec.status == http.StatusMethodNotAllowed && r.Method != http.MethodConnect:
			w.Header().Set("Allow", rec.header.Get("Allow"))
			writeError(w, r, api.Errorf(api.CodeMethodNotAllowed, "method %s is not allowed here; allowed: %s", r.Method, rec.header.Get("Allow")))
		case rec.status >= 300 && rec.status < 400 && rec.header.Get("Location") != "":
			w.Header().Set("Location", rec.header.Get("Location"))
			w.WriteHeader(rec.status)
		default:
			writeError(w, r, api.Errorf(api.CodeNotFound, "no route for %s %s", r.Method, r.URL.Path))
		}
	})
}

// underV1 reports whether path is in the OpenAI-compatible API's space.
func underV1(path string) bool {
	return path == "/v1" || strings.HasPrefix(path, "/v1/")
}

// withTenant resolves the tenant of every route that is not open, before any
// handler runs and before any store is touched. It fails closed.
func (s *Server) withTenant(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m := metaOf(r)
		if m.route != nil && m.route.operator {
			id, err := s.authenticateOperator(r)
			if err != nil {
				if ae, ok := err.(*api.Error); ok && ae.Code == api.CodeUnauthenticated {
					w.Header().Set("WWW-Authenticate", `Bearer realm="crispy-operator"`)
				}
				writeError(w, r, err)
				return
			}
			m.operator = id
			next.ServeHTTP(w, r)
			return
		}
		if m.route == nil || m.route.open {
			next.ServeHTTP(w, r)
			return
		}
		if key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && strings.HasPrefix(key, api.OperatorKeyPrefix) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="crispy"`)
			writeError(w, r, api.Errorf(api.CodeUnauthenticated, "an operator credential is not accepted on tenant routes; use a tenant's API key"))
			return
		}
		span := s.startResolve(r)
		id, err := s.opts.Registry().Resolve(tenant.Request{
			Authorization: r.Header.Get("Authorization"),
			TenantHeader:  r.Header.Get("X-Tenant-ID"),
			Host:          r.Host,
			Route:         m.route.family,
			Scope:         m.route.scope,
		})
		endResolve(span, id, err)
		switch {
		case errors.Is(err, tenant.ErrUnauthenticated):
			w.Header().Set("WWW-Authenticate", `Bearer realm="crispy"`)
			writeError(w, r, api.Errorf(api.CodeUnauthenticated, "%v", err))
			return
		case errors.Is(err, tenant.ErrForbidden):
			writeError(w, r, api.Errorf(api.CodeForbidden, "%v", err))
			return
		case err != nil:
			writeError(w, r, api.Internal(fmt.Errorf("resolve tenant: %w", err)))
			return
		}
		id.RequestID = m.requestID
		m.caller = id
		next.ServeHTTP(w, r)
	})
}

// responseWriter records the status and size of a response. It keeps the
// optional abilities of the writer it wraps reachable through Unwrap, so that
// http.NewResponseController can flush and set deadlines (streaming).
type responseWriter struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
}

func (w *responseWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		w.status, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.status, w.wroteHeader = http.StatusOK, true
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Flush implements http.Flusher for handlers that assert it directly.
func (w *responseWriter) Flush() {
	if !w.wroteHeader {
		w.status, w.wroteHeader = http.StatusOK, true
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *responseWriter) statusCode() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// recorder captures what the mux's own 404/405/redirect handlers would write.
type recorder struct {
	header http.Header
	status int
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *recorder) WriteHeader(code int)        { r.status = code }
