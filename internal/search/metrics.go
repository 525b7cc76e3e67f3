package search

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the search service's Prometheus collectors.
type Metrics struct {
	stage    *prometheus.HistogramVec // latency by stage
	cache    *prometheus.CounterVec   // cache lookups by result (hit, miss)
	searches *prometheus.CounterVec   // searches answered, by intent
}

func newMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		stage: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "crispy_search_stage_seconds",
			Help:    "Search latency by stage: cache, rewrite, retrieve, rerank, answer, followUps, total (total of a search that ran; cache of one answered from the cache).",
			Buckets: []float64{.0002, .0005, .001, .002, .005, .01, .02, .03, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"stage"}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crispy_search_cache_total", Help: "Search cache lookups by result (hit, miss); the hit ratio is hit / (hit + miss).",
		}, []string{"result"}),
		searches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crispy_search_total", Help: "Searches answered, by intent.",
		}, []string{"intent"}),
	}
	if reg != nil {
		reg.MustRegister(m.stage, m.cache, m.searches)
	}
	return m
}
