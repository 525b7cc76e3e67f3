package obs

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds the server's Prometheus registry and the collectors shared by
// its packages. Each server gets its own registry, so tests can run servers
// side by side.
type Metrics struct {
	Registry *prometheus.Registry

	// HTTPRequests counts requests by route pattern, tenant and status code.
	HTTPRequests *prometheus.CounterVec
	// HTTPDuration observes request latency by route pattern, tenant and status code.
	HTTPDuration *prometheus.HistogramVec
	// ConfigReloads counts tenant config reloads by result (ok, rejected).
	ConfigReloads *prometheus.CounterVec
	// RateLimited counts refused requests by tenant and limit (tenant, key,
	// ip, streams).
	RateLimited *prometheus.CounterVec
	// RateLimitErrors counts limiter failures (requests then admitted).
	RateLimitErrors prometheus.Counter
	// StreamsOpen is the streams open now (SSE and audio), by tenant and
	// route pattern.
	StreamsOpen *prometheus.GaugeVec
}

// NewMetrics creates the registry with Go runtime and process collectors and
// the server's own metrics.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		HTTPRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crispy_http_requests_total",
			Help: "HTTP requests by route pattern, tenant and status code.",
		}, []string{"route", "tenant", "code"}),
		HTTPDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "crispy_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern, tenant and status code.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route", "tenant", "code"}),
		ConfigReloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crispy_config_reloads_total",
			Help: "Tenant config reloads by result: ok or rejected.",
		}, []string{"result"}),
		RateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crispy_rate_limited_total",
			Help: "Requests refused by a rate limit, by tenant and limit (tenant, key, ip, streams).",
		}, []string{"tenant", "limit"}),
		RateLimitErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "crispy_rate_limit_errors_total",
			Help: "Rate limiter failures; the requests were admitted.",
		}),
		StreamsOpen: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "crispy_streams_open",
			Help: "Streams open now (server-sent events and audio), by tenant and route pattern.",
		}, []string{"tenant", "route"}),
	}
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.HTTPRequests, m.HTTPDuration, m.ConfigReloads, m.RateLimited, m.RateLimitErrors, m.StreamsOpen,
	)
	return m
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}
