package index_test

import (
	"math"
	"slices"
	"testing"

	"github.com/crispy-enigma/crispy/internal/rag/index"
)

func hitList(ids ...string) []index.Hit {
	out := make([]index.Hit, len(ids))
	for i, id := range ids {
		out[i] = index.Hit{ChunkID: id, DocID: "doc-" + id, Score: float64(100 - i), Rank: i + 1}
	}
	return out
}

func TestRRFHandComputed(t *testing.T) {
	bm25 := hitList("a", "b", "c")
	vec := hitList("c", "a", "d")
	// a: 1/61 + 1/62 = 0.032522474874536
	// c: 1/63 + 1/61 = 0.032266458495966
	// b: 1/62        = 0.016129032258065
	// d: 1/63        = 0.015873015873016
	want := []index.Fused{
		{Hit: index.Hit{ChunkID: "a", DocID: "doc-a", Score: 0.032522474874536, Rank: 1}, Ranks: []int{1, 2}},
		{Hit: index.Hit{ChunkID: "c", DocID: "doc-c", Score: 0.032266458495966, Rank: 2}, Ranks: []int{3, 1}},
		{Hit: index.Hit{ChunkID: "b", DocID: "doc-b", Score: 0.016129032258065, Rank: 3}, Ranks: []int{2, 0}},
		{Hit: index.Hit{ChunkID: "d", DocID: "doc-d", Score: 0.015873015873016, Rank: 4}, Ranks: []int{0, 3}},
	}
	for _, c := range []float64{60, 0, -1} { // 0 or less means 60
		got := index.RRF(10, c, bm25, vec)
		assertFused(t, got, want)
	}
	assertFused(t, index.RRF(2, 60, bm25, vec), want[:2])
}

func TestWeightedRRF(t *testing.T) {
	bm25 := hitList("a", "b", "c")
	vec := hitList("c", "a", "d")
	// Vector votes weigh 1/4:
	// a: 1/61 + 0.25/62 = 0.020425700687467
	// b: 1/62           = 0.016129032258065
	// c: 1/63 + 0.25/61 = 0.019971376528754
	// d: 0.25/63        = 0.003968253968254
	want := []index.Fused{
		{Hit: index.Hit{ChunkID: "a", DocID: "doc-a", Score: 0.020425700687467, Rank: 1}, Ranks: []int{1, 2}},
		{Hit: index.Hit{ChunkID: "c", DocID: "doc-c", Score: 0.019971376528754, Rank: 2}, Ranks: []int{3, 1}},
		{Hit: index.Hit{ChunkID: "b", DocID: "doc-b", Score: 0.016129032258065, Rank: 3}, Ranks: []int{2, 0}},
		{Hit: index.Hit{ChunkID: "d", DocID: "doc-d", Score: 0.003968253968254, Rank: 4}, Ranks: []int{0, 3}},
	}
	assertFused(t, index.WeightedRRF(10, 60, []float64{1, 0.25}, bm25, vec), want)
	// Missing weights are 1: plain RRF.
	for _, w := range [][]float64{nil, {1}, {1, 1, 7}} {
		assertFused(t, index.WeightedRRF(10, 60, w, bm25, vec), index.RRF(10, 60, bm25, vec))
	}
	// A list of weight 0 (or not finite) keeps its ranks and adds nothing.
	for _, w := range []float64{0, -1, math.NaN(), math.Inf(1)} {
		got := index.WeightedRRF(10, 60, []float64{1, w}, bm25, vec)
		if ids := []string{got[0].ChunkID, got[1].ChunkID, got[2].ChunkID, got[3].ChunkID}; !slices.Equal(ids, []string{"a", "b", "c", "d"}) || got[3].Score != 0 || got[3].Ranks[1] != 3 {
			t.Errorf("vector weight %v: %+v, want BM25's order, then d with score 0 and vector rank 3", w, got)
		}
	}
}

func TestRRFEdgeCases(t *testing.T) {
	if got := index.RRF(0, 60, hitList("a")); got != nil {
		t.Errorf("k = 0: %v, want nil", got)
	}
	if got := index.RRF(5, 60); got != nil {
		t.Errorf("no lists: %v, want nil", got)
	}
	if got := index.RRF(5, 60, nil, nil); got != nil {
		t.Errorf("empty lists: %v, want nil", got)
	}
	// Equal scores are ordered by ChunkID; a repeat counts at its first
	// position; the constant is applied as given.
	got := index.RRF(5, 1, hitList("y", "x", "y"), hitList("x", "y"))
	want := []index.Fused{
		{Hit: index.Hit{ChunkID: "x", DocID: "doc-x", Score: 1.0/3 + 1.0/2, Rank: 1}, Ranks: []int{2, 1}},
		{Hit: index.Hit{ChunkID: "y", DocID: "doc-y", Score: 1.0/2 + 1.0/3, Rank: 2}, Ranks: []int{1, 2}},
	}
	assertFused(t, got, want)
	if got[0].Score != got[1].Score {
		t.Errorf("mirror-image ranks give different scores: %v, %v", got[0].Score, got[1].Score)
	}
}

func assertFused(t *testing.T, got, want []index.Fused) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d results %v, want %d", len(got), got, len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.ChunkID != w.ChunkID || g.DocID != w.DocID || g.Rank != w.Rank || math.Abs(g.Score-w.Score) > 1e-9 || !slices.Equal(g.Ranks, w.Ranks) {
			t.Errorf("result %d = %+v, want %+v", i, g, w)
		}
	}
}
