package main

import (
	"math"
	"slices"
	"strings"
	"testing"
)

const exposition = `# HELP crispy_rag_retrieve_seconds Retrieval latency by mode (hybrid, vector, bm25).
# TYPE crispy_rag_retrieve_seconds histogram
crispy_rag_retrieve_seconds_bucket{mode="bm25",le="0.001"} 7
crispy_rag_retrieve_seconds_bucket{mode="bm25",le="+Inf"} 7
crispy_rag_retrieve_seconds_bucket{mode="hybrid",le="0.01"} 50
crispy_rag_retrieve_seconds_bucket{mode="hybrid",le="0.005"} 10
crispy_rag_retrieve_seconds_bucket{mode="hybrid",le="0.02"} 90
crispy_rag_retrieve_seconds_bucket{mode="hybrid",le="+Inf"} 100
crispy_rag_retrieve_seconds_sum{mode="hybrid"} 1.2
crispy_rag_retrieve_seconds_count{mode="hybrid"} 100
go_memstats_heap_inuse_bytes 1.048576e+06
`

func TestHistogramQuantile(t *testing.T) {
	h, err := histogram(exposition, retrieveHistogram, "mode", "hybrid")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(h), 4; got != want {
		t.Fatalf("buckets = %d, want %d", got, want)
	}
	for _, tt := range []struct{ q, want float64 }{
		{0.05, 0.0025}, // 5 of the first 10, interpolated from 0
		{0.5, 0.01},    // the upper bound of the bucket holding rank 50
		{0.7, 0.015},   // halfway through (0.01, 0.02]
		{0.95, 0.02},   // in +Inf: the largest finite bound
	} {
		if got := h.quantile(tt.q); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("quantile(%v) = %v, want %v", tt.q, got, tt.want)
		}
	}
	d := h.minus(hist{{0.005, 10}, {0.01, 10}, {0.02, 10}, {math.Inf(1), 10}})
	if got, want := d.total(), 90.0; got != want {
		t.Errorf("delta total = %v, want %v", got, want)
	}
	if got := d.quantile(0.5); math.Abs(got-0.01125) > 1e-12 { // rank 45 of (0.01, 0.02]: 5 of 40
		t.Errorf("delta median = %v, want 0.01125", got)
	}
	if got := gauge(exposition, "go_memstats_heap_inuse_bytes"); got != 1<<20 {
		t.Errorf("gauge = %v", got)
	}
}

func TestPercentile(t *testing.T) {
	xs := []float64{5, 1, 4, 2, 3, 6, 7, 8, 9, 10}
	for _, tt := range []struct{ p, want float64 }{{50, 5}, {95, 10}, {10, 1}, {100, 10}} {
		if got := percentile(xs, tt.p); got != tt.want {
			t.Errorf("percentile(%v) = %v, want %v", tt.p, got, tt.want)
		}
	}
	if !slices.Equal(xs, []float64{5, 1, 4, 2, 3, 6, 7, 8, 9, 10}) {
		t.Error("percentile sorted its argument")
	}
}

func TestCorpus(t *testing.T) {
	words, err := vocabulary(20000)
	if err != nil {
		t.Fatal(err)
	}
	a, b := newCorpus(words, 1.07, 7), newCorpus(words, 1.07, 7)
	for range 20 {
		da, db := a.document(5000), b.document(5000)
		if da != db {
			t.Fatal("same seed, different documents")
		}
		if len(da) < 2500 || len(da) > 9000 || !strings.HasPrefix(da, "# ") || !strings.Contains(da, "\n## ") {
			t.Errorf("document of %d bytes: %.200q", len(da), da)
		}
	}
	common := map[string]bool{}
	for _, w := range words[:a.queryMinRank] {
		common[w] = true
	}
	for range 100 {
		q := strings.Fields(a.query())
		if len(q) < 3 || len(q) > 6 {
			t.Errorf("query of %d words: %q", len(q), q)
		}
		for _, w := range q {
			if common[w] {
				t.Errorf("query %q has the common word %q", q, w)
			}
		}
	}
}
