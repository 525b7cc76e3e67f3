// Package httpapi is the HTTP layer of Crispy Enigma: the router, the
// middleware every request passes through (request ID and trace context,
// access log and metrics, panic recovery, tenant resolution), the response
// envelope, strict JSON decoding and the thin handlers.
package httpapi

import (
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/crispy-enigma/crispy/internal/chat"
	"github.com/crispy-enigma/crispy/internal/gateway"
	"github.com/crispy-enigma/crispy/internal/obs"
	"github.com/crispy-enigma/crispy/internal/rag"
	"github.com/crispy-enigma/crispy/internal/ratelimit"
	"github.com/crispy-enigma/crispy/internal/search"
	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tenant"
	"github.com/crispy-enigma/crispy/internal/tools"
	"github.com/crispy-enigma/crispy/internal/tts"
)

// Options are the dependencies of a Server. Registry is required; the zero
// value of every other field means a sensible default.
type Options struct {
	// Registry returns the current tenant registry. It is called once per
	// request, so a reload that swaps the registry takes effect atomically.
	Registry func() *tenant.Registry
	// Storage reports the health of the storage backend for GET /health;
	// StorageBackend names it there ("sqlite", "postgres").
	Storage        store.Pinger
	StorageBackend string
	// StorageUp, when set, returns the error of storage's last health
	// check, nil while it answers: while it fails, GET /readyz answers 503
	// and tenant routes 503 unavailable with Retry-After.
	StorageUp func() error
	// Redis, when set, is the Redis that GET /health reports.
	Redis store.Pinger
	// Gateway makes model calls (/v1/chat/completions, /v1/embeddings).
	Gateway *gateway.Gateway
	// Usage reads the usage ledger for GET /usage.
	Usage store.Usage
	// RAG is the knowledge base (/documents, /retrieve); Jobs runs its
	// batch ingests (/jobs).
	RAG  *rag.Service
	Jobs *rag.Jobs
	// Chat runs chat turns (/chat).
	Chat *chat.Service
	// Search answers /search.
	Search *search.Service
	// Tools runs tools (/tools) and the tool calls of models in
	// /v1/chat/completions; Audit reads their audit log (/audit).
	Tools *tools.Dispatcher
	Audit store.Audit
	// TTS speaks text (/tts).
	TTS *tts.Service
	// Limiter applies the tenants' rate limits; nil: none.
	Limiter *ratelimit.Limiter
	// Streams caps the streams a tenant has open at once, in this process
	// (ratelimit.Streams) or across replicas (redis.Streams); nil: no cap.
	Streams ratelimit.StreamSlots
	// TrustedProxies are the reverse proxies whose X-Forwarded-For gives
	// the client IP of the IP rate limit.
	TrustedProxies []netip.Prefix
	// MaxInFlight caps the tenant requests served at once: more get 503
	// with Retry-After at once instead of queueing (0: no cap). Probes and
	// the operator listener are not counted. A tenant may hold at most its
	// limits.maxInFlight of them, by default MaxInFlight/TenantShare (at
	// least one); more get 429, so that no tenant fills the server.
	MaxInFlight int
	// MinBodyRate is the slowest a request body may arrive, in bytes per
	// second on average once MinBodyGrace has passed; a slower one gets 408
	// (0: no minimum). ReadTimeout is the server's read timeout, which the
	// check never extends.
	MinBodyRate  int
	MinBodyGrace time.Duration
	ReadTimeout  time.Duration
	// Heartbeat is the interval of SSE heartbeats while a stream waits for
	// its first token. Default DefaultHeartbeat.
	Heartbeat time.Duration
	// Version is reported by GET /health.
	Version string
	// Logger receives access and error logs. Default: discard.
	Logger *slog.Logger
	// Metrics receives request metrics, which MetricsHandler serves.
	// Default: a new registry.
	Metrics *obs.Metrics
	// Tracer and Propagator handle W3C trace context. Default: a tracer that
	// creates spans without exporting them, and the W3C propagator.
	Tracer     trace.Tracer
	Propagator propagation.TextMapPropagator

	// Console serves the web console under /console/ (internal/console);
	// nil: it is off and its paths answer 404.
	Console http.Handler

	// Operator serves the operator API (/operator/v1/...); nil: it is off
	// and its routes answer 404.
	Operator Operator
	// extra routes, for tests of the middleware.
	extra []*route
}

// Server is the http.Handler of the whole API.
type Server struct {
	opts           Options
	inFlight       sync.Map // tenant ID -> *atomic.Int64 of its requests in flight
	log            *slog.Logger
	mux            *http.ServeMux
	handler        http.Handler
	metricsHandler http.Handler
	operator       http.Handler // MetricsHandler
	ready          atomic.Bool
}

// New returns a Server. It is not ready (GET /readyz answers 503) until
// SetReady(true).
func New(opts Options) *Server {
	if opts.Registry == nil {
		panic("httpapi: Options.Registry is required")
	}
	if opts.Logger == nil {
		opts.Logger = obs.Discard
	}
	if opts.Metrics == nil {
		opts.Metrics = obs.NewMetrics()
	}
	if opts.Tracer == nil {
		opts.Tracer = obs.NewTracing().Tracer("crispy")
	}
	if opts.Heartbeat == 0 {
		opts.Heartbeat = DefaultHeartbeat
	}
	if opts.MinBodyGrace == 0 {
		opts.MinBodyGrace = DefaultMinBodyGrace
	}
	if opts.Propagator == nil {
		opts.Propagator = propagation.TraceContext{}
	}
	s := &Server{opts: opts, log: opts.Logger, mux: http.NewServeMux(), metricsHandler: opts.Metrics.Handler()}
	for _, rt := range slices.Concat(s.routes(), s.operatorRoutes(), opts.extra) {
		s.mux.Handle(rt.pattern, rt)
	}
	s.operator = s.operatorHandler()
	// Outermost first: the order in which a request meets them.
	s.handler = s.withRequestMeta(s.withAccessLog(s.withRecover(s.withRoute(s.withBodyRate(s.withInFlight(s.withTenant(s.withStorage(s.withTenantInFlight(s.withRateLimit(s.mux))))))))))
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// SetReady sets what GET /readyz reports: false while starting and draining.
func (s *Server) SetReady(ready bool) { s.ready.Store(ready) }
