package rag

import (
	"slices"
	"testing"

	"github.com/crispy-enigma/crispy/internal/rag/index"
	"github.com/crispy-enigma/crispy/internal/store"
)

// doc is a one-chunk document for testKB.
type doc struct {
	id, title, text string
	meta            map[string]any
}

func testKB(t *testing.T, docs ...doc) *kb {
	t.Helper()
	k := newKB(index.Options{})
	for _, d := range docs {
		rec := store.DocumentRecord{ID: d.id, Title: d.title, Metadata: d.meta}
		c := store.StoredChunk{ID: d.id + "#0", DocID: d.id, Text: d.text, End: len(d.text)}
		if err := k.put(rec, []store.StoredChunk{c}); err != nil {
			t.Fatal(err)
		}
	}
	return k
}

func chunkIDs(hits []index.Hit) []string {
	var out []string
	for _, h := range hits {
		out = append(out, h.ChunkID)
	}
	return out
}

// The expanded BM25 run learns from the first run's chunks as they were
// indexed, titles included, and keeps the query's filters.
func TestExpand(t *testing.T) {
	en := map[string]any{"lang": "en"}
	k := testKB(t,
		doc{"a", "Turbine blades", "Jet engine parts run hot.", en},
		doc{"b", "Cooling", "Turbine blade cooling uses bleed air.", en},
		doc{"c", "Cooling", "Turbine blade cooling, in French.", map[string]any{"lang": "fr"}},
		doc{"d", "Dairy", "Cheese is made from milk.", en},
	)
	q := Query{Text: "jet engine"}
	first := k.ix.BM25(q.Text, candidates, nil)
	if got := chunkIDs(first); !slices.Equal(got, []string{"a#0"}) {
		t.Fatalf("first run = %v, want [a#0]", got)
	}
	// "turbine" and "blade" come from a's title only.
	got := chunkIDs(k.expand(q, first))
	if len(got) != 3 || got[0] != "a#0" || !slices.Contains(got, "b#0") || !slices.Contains(got, "c#0") {
		t.Errorf("expanded run = %v, want a#0 first, then b#0 and c#0", got)
	}

	q.Filters = index.Filter{"lang": {Eq: "en"}}
	if err := q.Filters.Validate(); err != nil {
		t.Fatal(err)
	}
	first = k.ix.BM25(q.Text, candidates, q.Filters)
	if got := chunkIDs(k.expand(q, first)); !slices.Equal(got, []string{"a#0", "b#0"}) {
		t.Errorf("expanded run with lang=en = %v, want [a#0 b#0]", got)
	}
}
