package httpapi

import (
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

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// requestIDPattern is what a client-supplied X-Request-ID must look like to
// be kept; anything else is replaced by a generated ID.
var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:@+=-]{1,128}$`)

// withRequestMeta gives every request an ID and a span: X-Request-ID is kept
// when sane, a W3C traceparent is continued, and both go back in the response
// headers.
func (s *Server) withRequestMeta(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m := &meta{requestID: r.Header.Get("X-Request-ID"), log: s.log}
		if !requestIDPattern.MatchString(m.requestID) {
			m.requestID = newRequestID()
		}
		ctx := s.opts.Propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := s.opts.Tracer.Start(ctx, "http.request", trace.WithSpanKind(trace.SpanKindServer))
		defer span.End()
		m.traceID = span.SpanContext().TraceID().String()

		h := w.Header()
		h.Set("X-Request-ID", m.requestID)
		s.opts.Propagator.Inject(ctx, propagation.HeaderCarrier(h))
		next.ServeHTTP(w, r.WithContext(withMeta(ctx, m)))
	})
}

func newRequestID() string {
	b := make([]byte, 12)
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

		span := trace.SpanFromContext(r.Context())
		span.SetName(routeLabel)
		span.SetAttributes(attribute.Int("http.response.status_code", status), attribute.String("crispy.tenant", tenantLabel))

		s.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
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
		)
	})
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
		id, err := s.opts.Registry().Resolve(tenant.Request{
			Authorization: r.Header.Get("Authorization"),
			TenantHeader:  r.Header.Get("X-Tenant-ID"),
			Host:          r.Host,
			Route:         m.route.family,
			Scope:         m.route.scope,
		})
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
