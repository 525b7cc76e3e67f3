package rag_test

import (
	"context"
	"maps"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/crispy-enigma/crispy/internal/rag"
	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/store/sqlite"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

func openSQLite(t testing.TB) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "crispy.db"), sqlite.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func heldTenants(s *rag.Service) []string {
	var out []string
	for id := range maps.Keys(s.IndexBytes()) {
		out = append(out, id.String())
	}
	slices.Sort(out)
	return out
}

// TestEvictionAndReload checks the memory budget: past it the least
// recently used knowledge base is dropped, its memory is reported no more,
// and its next use, a query or an ingest, loads it again whole, at its
// store version.
func TestEvictionAndReload(t *testing.T) {
	ctx := t.Context()
	db := openSQLite(t)
	gw, ts := testTenants(t, "alpha", "bravo", "charlie")
	// Fill the store and measure each knowledge base.
	fill, _ := newService(t, gw, db.Documents(), rag.Options{})
	for _, tn := range ts {
		for i := range 20 {
			ingest(t, fill, tn, docInput(i))
		}
	}
	sizes := fill.IndexBytes()
	var total int64
	for _, tn := range ts {
		if sizes[tn.ID] <= 0 {
			t.Fatalf("IndexBytes()[%s] = %d, want > 0", tn.ID, sizes[tn.ID])
		}
		total += sizes[tn.ID]
	}
	// Room for two and a half knowledge bases.
	budget := total - sizes[ts[2].ID]/2
	s, reg := newService(t, gw, db.Documents(), rag.Options{IndexMemory: budget})
	for _, tn := range ts[:2] {
		if _, err := s.Version(ctx, tn.ID); err != nil {
			t.Fatal(err)
		}
	}
	if got := heldTenants(s); !slices.Equal(got, []string{"alpha", "bravo"}) {
		t.Fatalf("held %v, want [alpha bravo]", got)
	}
	// A query keeps alpha recent: loading charlie drops bravo.
	if ok, _ := finds(t, s, ts[0], 3); !ok {
		t.Fatal("alpha does not find document 3")
	}
	if ok, _ := finds(t, s, ts[2], 4); !ok {
		t.Fatal("charlie does not find document 4")
	}
	if got := heldTenants(s); !slices.Equal(got, []string{"alpha", "charlie"}) {
		t.Fatalf("held %v after loading charlie, want [alpha charlie]", got)
	}
	if got := metric(t, reg, "crispy_rag_index_evictions_total"); got != 1 {
		t.Errorf("evictions = %v, want 1", got)
	}
	var held int64
	for _, n := range s.IndexBytes() {
		held += n
	}
	if held > budget {
		t.Errorf("held %d bytes, budget %d", held, budget)
	}
	if got := metric(t, reg, "crispy_rag_index_bytes"); got != float64(held) {
		t.Errorf("crispy_rag_index_bytes sums to %v, want %d", got, held)
	}

	// bravo comes back on its next use, an ingest, with everything.
	res := ingest(t, s, ts[1], docInput(20))
	if want, _ := db.Documents().CorpusVersion(ctx, ts[1].ID); res.Version != want {
		t.Errorf("ingest into the evicted bravo: version %d, want %d", res.Version, want)
	}
	for _, i := range []int{0, 19, 20} {
		if ok, _ := finds(t, s, ts[1], i); !ok {
			t.Errorf("bravo, loaded again, does not find document %d", i)
		}
	}
	if got := metric(t, reg, "crispy_rag_index_loads_total"); got != 4 {
		t.Errorf("loads = %v, want 4 (alpha, bravo, charlie, bravo again)", got)
	}
	if got := heldTenants(s); len(got) != 2 || !slices.Contains(got, "bravo") {
		t.Errorf("held %v, want bravo and one other", got)
	}
}

// TestEvictionConcurrent runs ingests, deletes and queries of three tenants
// at once on a budget that holds one knowledge base at a time, so that
// every use evicts another: nothing written is lost, and each knowledge
// base ends at its store's version with every document.
func TestEvictionConcurrent(t *testing.T) {
	ctx := t.Context()
	db := openSQLite(t)
	gw, ts := testTenants(t, "alpha", "bravo", "charlie")
	s, reg := newService(t, gw, db.Documents(), rag.Options{IndexMemory: 1})
	const n = 24
	var wg sync.WaitGroup
	for _, tn := range ts {
		for w := range 3 {
			wg.Go(func() {
				for i := w; i < n; i += 3 {
					ingest(t, s, tn, docInput(i))
					finds(t, s, tn, i)
				}
			})
		}
	}
	wg.Wait()
	for _, tn := range ts {
		if _, err := s.Delete(ctx, tn.ID, docInput(0).ID); err != nil {
			t.Fatal(err)
		}
	}
	for _, tn := range ts {
		want, err := db.Documents().CorpusVersion(ctx, tn.ID)
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			ok, v := finds(t, s, tn, i)
			if ok != (i != 0) {
				t.Errorf("%s: document %d found %v, want %v", tn.ID, i, ok, i != 0)
			}
			if v != want {
				t.Errorf("%s: version %d, want %d", tn.ID, v, want)
			}
		}
	}
	if got := metric(t, reg, "crispy_rag_index_evictions_total"); got < 2 {
		t.Errorf("evictions = %v, want several", got)
	}
}

// docsStore names store.Documents for embedding: a field named Documents
// would hide the method of that name.
type docsStore = store.Documents

// countingDocs counts the calls that keep an index fresh.
type countingDocs struct {
	docsStore
	versions, changes atomic.Int64
}

func (c *countingDocs) CorpusVersion(ctx context.Context, t tenant.ID) (int64, error) {
	c.versions.Add(1)
	return c.docsStore.CorpusVersion(ctx, t)
}

func (c *countingDocs) Changes(ctx context.Context, t tenant.ID, after int64, limit int) ([]store.DocumentChange, error) {
	c.changes.Add(1)
	return c.docsStore.Changes(ctx, t, after, limit)
}

// TestOneProcessChecksNothing checks that a Service of one process (the
// zero Options, SQLite) never asks the store whether it is behind: its
// writes are the only ones.
func TestOneProcessChecksNothing(t *testing.T) {
	db := openSQLite(t)
	gw, ts := testTenants(t, "alpha")
	docs := &countingDocs{docsStore: db.Documents()}
	s, _ := newService(t, gw, docs, rag.Options{})
	for i := range 10 {
		ingest(t, s, ts[0], docInput(i))
		for range 10 {
			finds(t, s, ts[0], i)
		}
	}
	if _, err := s.Delete(t.Context(), ts[0].ID, docInput(0).ID); err != nil {
		t.Fatal(err)
	}
	if v, c := docs.versions.Load(), docs.changes.Load(); v != 1 || c != 0 {
		t.Errorf("CorpusVersion called %d times, Changes %d; want 1 (the load) and 0", v, c)
	}
}
