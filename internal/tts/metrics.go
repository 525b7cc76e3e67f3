package tts

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the Prometheus collectors of text to speech.
type Metrics struct {
	Requests *prometheus.CounterVec   // by tenant, adapter, status (ok, error, cancelled)
	Chars    *prometheus.CounterVec   // characters spoken, by tenant, adapter
	Latency  *prometheus.HistogramVec // seconds per synthesis, by adapter
	TTFB     *prometheus.HistogramVec // seconds to the first audio byte, by adapter
	Active   *prometheus.GaugeVec     // syntheses running, by adapter
}

// NewMetrics creates the collectors and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	buckets := []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}
	m := &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crispy_tts_requests_total", Help: "Speech syntheses by tenant, adapter and status (ok, error, cancelled).",
		}, []string{"tenant", "adapter", "status"}),
		Chars: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crispy_tts_chars_total", Help: "Characters of text spoken, by tenant and adapter.",
		}, []string{"tenant", "adapter"}),
		Latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "crispy_tts_synthesis_seconds", Help: "Time to synthesize a whole text, by adapter.", Buckets: buckets,
		}, []string{"adapter"}),
		TTFB: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "crispy_tts_first_byte_seconds", Help: "Time to the first byte of audio, by adapter.", Buckets: buckets,
		}, []string{"adapter"}),
		Active: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "crispy_tts_active", Help: "Syntheses running, by adapter.",
		}, []string{"adapter"}),
	}
	reg.MustRegister(m.Requests, m.Chars, m.Latency, m.TTFB, m.Active)
	return m
}
