package gateway

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the gateway's Prometheus collectors.
type Metrics struct {
	Calls     *prometheus.CounterVec   // by tenant, route, provider, model, status
	Tokens    *prometheus.CounterVec   // by tenant, provider, model, direction (in, out)
	Cost      *prometheus.CounterVec   // US dollars, by tenant, provider, model
	Errors    *prometheus.CounterVec   // provider failures by tenant, provider, model, kind
	Retries   *prometheus.CounterVec   // by tenant, provider, model
	Fallbacks *prometheus.CounterVec   // by tenant, route
	Breaker   *prometheus.CounterVec   // breaker openings by tenant, provider, model
	TTFT      *prometheus.HistogramVec // seconds to first token, by tenant, provider, model
	Cache     *prometheus.CounterVec   // cache lookups by tenant, kind (completion, embedding), result (hit, miss)
}

// NewMetrics creates the gateway's collectors and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crispy_gateway_calls_total", Help: "Model calls by tenant, route, provider, model and status (ok, error, cancelled).",
		}, []string{"tenant", "route", "provider", "model", "status"}),
		Tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crispy_gateway_tokens_total", Help: "Tokens by tenant, provider, model and direction (in, out).",
		}, []string{"tenant", "provider", "model", "direction"}),
		Cost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crispy_gateway_cost_usd_total", Help: "Cost in US dollars by tenant, provider and model, from the tenant's pricing table.",
		}, []string{"tenant", "provider", "model"}),
		Errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crispy_gateway_provider_errors_total", Help: "Failed provider attempts by tenant, provider, model and kind.",
		}, []string{"tenant", "provider", "model", "kind"}),
		Retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crispy_gateway_retries_total", Help: "Retries of the same model by tenant, provider and model.",
		}, []string{"tenant", "provider", "model"}),
		Fallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crispy_gateway_fallbacks_total", Help: "Calls answered by a fallback model, by tenant and route.",
		}, []string{"tenant", "route"}),
		Breaker: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crispy_gateway_breaker_opened_total", Help: "Circuit breaker openings by tenant, provider and model.",
		}, []string{"tenant", "provider", "model"}),
		TTFT: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "crispy_gateway_ttft_seconds", Help: "Time to first token by tenant, provider and model.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"tenant", "provider", "model"}),
		Cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crispy_cache_requests_total", Help: "Tenant cache lookups by tenant, kind (completion, embedding) and result (hit, miss).",
		}, []string{"tenant", "kind", "result"}),
	}
	reg.MustRegister(m.Calls, m.Tokens, m.Cost, m.Errors, m.Retries, m.Fallbacks, m.Breaker, m.TTFT, m.Cache)
	return m
}
