package rag_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crispy-enigma/crispy/internal/gateway"
	"github.com/crispy-enigma/crispy/internal/provider/builtin"
	"github.com/crispy-enigma/crispy/internal/rag"
	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// testTenants returns tenants with the given IDs, on the builtin models,
// and a gateway that serves them.
func testTenants(t testing.TB, ids ...string) (*gateway.Gateway, []*tenant.Tenant) {
	t.Helper()
	var cfgs []*tenant.Config
	for _, id := range ids {
		b, err := json.Marshal(map[string]any{
			"id": id, "name": id,
			"keys":   []any{map[string]any{"id": "k", "hash": tenant.HashKey(tenant.NewKey()), "scopes": []string{"search", "documents:read", "documents:write"}}},
			"models": map[string]any{"chat": map[string]any{"model": "builtin/extractive"}, "embedding": map[string]any{"model": "builtin/hash-384"}},
			"rag":    map[string]any{"enabled": true},
			"limits": map[string]any{"knowledge": map[string]any{"maxDocuments": 1_000_000, "maxChunks": 10_000_000, "maxStoredBytes": 1 << 40}},
		})
		if err != nil {
			t.Fatal(err)
		}
		cfg, probs := tenant.Parse(id, b, tenant.Options{})
		if len(probs) > 0 {
			t.Fatal(probs)
		}
		cfgs = append(cfgs, cfg)
	}
	reg, err := tenant.NewRegistry(cfgs, tenant.Options{})
	if err != nil {
		t.Fatal(err)
	}
	bp := builtin.New()
	catalog := gateway.NewCatalog(reg, gateway.Adapter{Chat: bp, Embed: bp}, func(*tenant.Tenant, string, tenant.Provider) gateway.Adapter {
		return gateway.Adapter{Err: errors.New("builtin only")}
	})
	gw := gateway.New(gateway.Options{Catalog: func() *gateway.Catalog { return catalog }})
	out := make([]*tenant.Tenant, len(ids))
	for i, id := range ids {
		out[i], _ = reg.Tenant(id)
	}
	return gw, out
}

// newService returns a Service over docs, closed when the test ends, and
// the registry of its metrics.
func newService(t testing.TB, gw *gateway.Gateway, docs store.Documents, opts rag.Options) (*rag.Service, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	s := rag.NewWithOptions(gw, docs, nil, reg, opts)
	t.Cleanup(func() { s.Close() })
	return s, reg
}

// metric returns the value of a metric without labels, or of the sum of
// its series.
func metric(t testing.TB, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			}
		}
	}
	return sum
}

// word returns a word that only document i holds, for BM25 to find it.
func word(i int) string { return fmt.Sprintf("zq%06dword", i) }

// docInput is document i of a tenant: a title and a paragraph holding
// word(i).
func docInput(i int) rag.DocumentInput {
	return rag.DocumentInput{
		ID:    fmt.Sprintf("doc-%06d", i),
		Title: fmt.Sprintf("Document %d", i),
		Text:  fmt.Sprintf("The handbook section %d explains refunds. Its marker is %s, found nowhere else.", i, word(i)),
	}
}

// finds reports whether a BM25 query for word(i) retrieves document i.
func finds(t testing.TB, s *rag.Service, tn *tenant.Tenant, i int) (bool, int64) {
	t.Helper()
	res, err := s.Retrieve(t.Context(), tenant.Caller{Tenant: tn}, rag.Query{Text: word(i), Mode: rag.ModeBM25})
	if err != nil {
		t.Fatalf("Retrieve: %v", err)
	}
	want := docInput(i).ID
	for _, c := range res.Chunks {
		if c.DocID == want {
			return true, res.Version
		}
	}
	return false, res.Version
}

func ingest(t testing.TB, s *rag.Service, tn *tenant.Tenant, in rag.DocumentInput) rag.IngestResult {
	t.Helper()
	res, err := s.Ingest(t.Context(), tenant.Caller{Tenant: tn}, in)
	if err != nil {
		t.Fatalf("Ingest(%s): %v", in.ID, err)
	}
	return res
}

func mustID(t testing.TB, id string) tenant.ID {
	t.Helper()
	v, err := tenant.ParseID(id)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
