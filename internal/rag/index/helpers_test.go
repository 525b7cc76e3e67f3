package index_test

import (
	"math"
	"testing"

	"github.com/crispy-enigma/crispy/internal/rag/index"
)

func mustReplace(t testing.TB, ix *index.Index, docID string, entries []index.Entry) {
	t.Helper()
	if err := ix.Replace(docID, entries); err != nil {
		t.Fatalf("Replace(%q): %v", docID, err)
	}
}

// assertHits compares hits, scores to 1e-9.
func assertHits(t *testing.T, got, want []index.Hit) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d hits %v, want %d %v", len(got), got, len(want), want)
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.ChunkID != w.ChunkID || g.DocID != w.DocID || g.Rank != w.Rank || math.Abs(g.Score-w.Score) > 1e-9 {
			t.Errorf("hit %d = %+v, want %+v", i, g, w)
		}
	}
}

func ids(hits []index.Hit) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.ChunkID
	}
	return out
}
