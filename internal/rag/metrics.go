package rag

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/crispy-enigma/crispy/internal/tenant"
)

// Metrics are the knowledge base's Prometheus collectors.
type Metrics struct {
	chunks   *prometheus.CounterVec   // chunks ingested, by tenant
	flagged  *prometheus.CounterVec   // passages flagged as possible injection, by tenant
	dropped  *prometheus.CounterVec   // citations that map to no passage, by tenant
	retrieve *prometheus.HistogramVec // retrieval latency by mode
	stage    *prometheus.HistogramVec // retrieval latency by stage
	group    prometheus.Histogram     // documents written per store transaction

	loads     prometheus.Counter     // knowledge bases loaded from the store
	evictions prometheus.Counter     // knowledge bases dropped to fit the memory budget
	resets    prometheus.Counter     // knowledge bases dropped because the change feed no longer reached back
	applied   prometheus.Counter     // changes of other replicas applied
	images    *prometheus.CounterVec // knowledge base images by event: loaded, rejected, written, failed
}

func newMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		chunks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crispy_rag_chunks_ingested_total", Help: "Chunks ingested into knowledge bases, by tenant.",
		}, []string{"tenant"}),
		flagged: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crispy_rag_passages_flagged_total", Help: "Passages given to a model that look like prompt injection, by tenant.",
		}, []string{"tenant"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crispy_rag_citations_dropped_total", Help: "Citations in answers that map to no passage retrieved for the turn, by tenant.",
		}, []string{"tenant"}),
		retrieve: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "crispy_rag_retrieve_seconds", Help: "Retrieval latency by mode (hybrid, vector, bm25).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .02, .05, .1, .25, .5, 1},
		}, []string{"mode"}),
		stage: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "crispy_rag_stage_seconds", Help: "Retrieval latency by stage (bm25, feedback, embed, vector, fuse, rerank) of the retrievals that ran it.",
			Buckets: []float64{.0001, .0005, .001, .0025, .005, .01, .02, .05, .1, .25, .5, 1},
		}, []string{"stage"}),
		group: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "crispy_rag_write_group_documents", Help: "Documents written per store transaction (concurrent ingests of a tenant share one).",
			Buckets: []float64{1, 2, 4, 8, 16, 32},
		}),
		loads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "crispy_rag_index_loads_total", Help: "Knowledge bases loaded from the store into memory (first use, or again after an eviction).",
		}),
		evictions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "crispy_rag_index_evictions_total", Help: "Knowledge bases dropped from memory, least recently used first, to fit --index-memory.",
		}),
		resets: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "crispy_rag_index_resets_total", Help: "Knowledge bases dropped to be loaded whole because the change feed no longer reached back to their version.",
		}),
		applied: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "crispy_rag_index_changes_applied_total", Help: "Changes from the store's change feed applied to knowledge bases in memory (writes of other replicas).",
		}),
		images: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crispy_rag_index_images_total", Help: "Knowledge base images by event: loaded at start or reload, rejected (damaged, foreign or stale; the index is rebuilt from the store), written, failed to write.",
		}, []string{"event"}),
	}
	for _, e := range []string{"loaded", "rejected", "written", "failed"} {
		m.images.WithLabelValues(e) // every series from the start
	}
	if reg != nil {
		reg.MustRegister(m.chunks, m.flagged, m.dropped, m.retrieve, m.stage, m.group, m.loads, m.evictions, m.resets, m.applied, m.images)
	}
	return m
}

// retrieveStages are the stages of a retrieval that crispy_rag_stage_seconds
// reports, as its timings name them.
var retrieveStages = []string{"bm25", "feedback", "embed", "vector", "fuse", "rerank"}

// observeStages records the stage timings (milliseconds) of one retrieval.
func (m *Metrics) observeStages(timings map[string]float64) {
	for _, st := range retrieveStages {
		if ms, ok := timings[st]; ok {
			m.stage.WithLabelValues(st).Observe(ms / 1000)
		}
	}
}

// forget deletes the series of a tenant that is gone.
func (m *Metrics) forget(id tenant.ID) {
	for _, v := range []*prometheus.CounterVec{m.chunks, m.flagged, m.dropped} {
		v.DeleteLabelValues(id.String())
	}
}

// heldDesc describes crispy_rag_chunks_held.
var heldDesc = prometheus.NewDesc("crispy_rag_chunks_held",
	"Chunks held in memory by each tenant's knowledge base (loaded tenants only).", []string{"tenant"}, nil)

// bytesDesc describes crispy_rag_index_bytes.
var bytesDesc = prometheus.NewDesc("crispy_rag_index_bytes",
	"Estimated memory of each tenant's knowledge base held in memory (loaded tenants only), which --index-memory bounds.", []string{"tenant"}, nil)

// heldCollector reports the chunks and estimated bytes each loaded
// knowledge base holds, read when scraped.
type heldCollector struct{ s *Service }

func (heldCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- heldDesc
	ch <- bytesDesc
}

func (c heldCollector) Collect(ch chan<- prometheus.Metric) {
	for id, n := range c.s.held() {
		ch <- prometheus.MustNewConstMetric(heldDesc, prometheus.GaugeValue, float64(n), id.String())
	}
	for id, n := range c.s.IndexBytes() {
		ch <- prometheus.MustNewConstMetric(bytesDesc, prometheus.GaugeValue, float64(n), id.String())
	}
}
