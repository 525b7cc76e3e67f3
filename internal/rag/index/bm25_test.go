package index_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/crispy-enigma/crispy/internal/rag/index"
)

// handIndex is the example whose scores are worked out by hand below.
//
//	c1 "Cats chase mice."           cat chase mice        len 3
//	c2 "Dogs chase cats; cats run." dog chase cat cat run len 5
//	c3 "Mice eat cheese."           mice eat chees        len 3
//	c4 "The the THE of"             (stopwords only)      len 0
//
// N = 4, avglen = 11/4 = 2.75, k1 = 1.2, b = 0.75.
func handIndex(t *testing.T) *index.Index {
	t.Helper()
	ix := index.New()
	mustReplace(t, ix, "d1", []index.Entry{
		{ChunkID: "c1", Text: "Cats chase mice.", Metadata: map[string]any{"lang": "en"}},
		{ChunkID: "c2", Text: "Dogs chase cats; cats run.", Metadata: map[string]any{"lang": "en"}},
	})
	mustReplace(t, ix, "d2", []index.Entry{
		{ChunkID: "c3", Text: "Mice eat cheese.", Metadata: map[string]any{"lang": "fr"}},
		{ChunkID: "c4", Text: "The the THE of"},
	})
	return ix
}

func TestBM25HandComputed(t *testing.T) {
	// cat, chase: df 2, idf = ln(1 + (4-2+0.5)/(2+0.5)) = ln 2 = 0.693147180559945
	// chees:      df 1, idf = ln(1 + (4-1+0.5)/(1+0.5)) = ln(10/3) = 1.203972804325936
	// norm(len)   = 1.2·(0.25 + 0.75·len/2.75): norm(3) = 1.281818181818182,
	//               norm(5) = 1.936363636363636
	// w(tf, len)  = idf · tf·2.2 / (tf + norm(len))
	//   cat   c2: ln 2 · 4.4 / 3.936363636363636 = 0.774788072496567
	//   cat   c1: ln 2 · 2.2 / 2.281818181818182 = 0.668293297591660
	//   chase c1: the same                      = 0.668293297591660
	//   chase c2: ln 2 · 2.2 / 2.936363636363636 = 0.519323893794139
	//   chees c3: ln(10/3) · 2.2 / 2.281818181818182 = 1.160802464728592
	tests := []struct {
		query string
		want  []index.Hit
	}{
		{"cats", []index.Hit{
			{ChunkID: "c2", DocID: "d1", Score: 0.774788072496567, Rank: 1},
			{ChunkID: "c1", DocID: "d1", Score: 0.668293297591660, Rank: 2},
		}},
		// Length normalisation lets the short chunk win over two "cats".
		{"Which cats are chasing?", []index.Hit{
			{ChunkID: "c1", DocID: "d1", Score: 0.668293297591660 * 2, Rank: 1},
			{ChunkID: "c2", DocID: "d1", Score: 0.774788072496567 + 0.519323893794139, Rank: 2},
		}},
		{"cheese", []index.Hit{{ChunkID: "c3", DocID: "d2", Score: 1.160802464728592, Rank: 1}}},
		// A query term weighs how many times the query says it.
		{"cheese cheeses CHEESE", []index.Hit{{ChunkID: "c3", DocID: "d2", Score: 3 * 1.160802464728592, Rank: 1}}},
		{"the of", nil},
		{"elephant", nil},
		{"", nil},
	}
	ix := handIndex(t)
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			got := ix.BM25(tt.query, 10, nil)
			assertHits(t, got, tt.want)
		})
	}
}

func TestBM25FilterKeepsScores(t *testing.T) {
	ix := handIndex(t)
	got := ix.BM25("cats", 10, index.Filter{"lang": {Eq: "en"}})
	want := []index.Hit{
		{ChunkID: "c2", DocID: "d1", Score: 0.774788072496567, Rank: 1},
		{ChunkID: "c1", DocID: "d1", Score: 0.668293297591660, Rank: 2},
	}
	assertHits(t, got, want)
	if got := ix.BM25("cats", 10, index.Filter{"lang": {Eq: "fr"}}); got != nil {
		t.Errorf("BM25 with lang=fr = %v, want none", got)
	}
}

func TestBM25Options(t *testing.T) {
	// With b = 1 and k1 = 2: w = idf · tf·3 / (tf + 2·len/avglen).
	ix := index.NewWithOptions(index.Options{K1: 2, B: 1})
	mustReplace(t, ix, "d", []index.Entry{
		{ChunkID: "a", Text: "apple"},
		{ChunkID: "b", Text: "pear pear plum"},
	})
	// apple: N 2, df 1, idf = ln(1 + 1.5/1.5) = ln 2; len 1, avglen 2.
	got := ix.BM25("apple", 1, nil)
	want := []index.Hit{{ChunkID: "a", DocID: "d", Score: math.Ln2 * 3 / (1 + 2*1.0/2), Rank: 1}}
	assertHits(t, got, want)
}

func TestBM25TopKAndTies(t *testing.T) {
	ix := index.New()
	// Twenty chunks with the same text tie; they come back by ChunkID
	// whatever order they were added in.
	for _, i := range []int{7, 3, 19, 0, 12, 5, 1, 18, 9, 14, 2, 16, 11, 4, 8, 17, 6, 13, 10, 15} {
		id := fmt.Sprintf("c%02d", i)
		mustReplace(t, ix, "d"+id, []index.Entry{{ChunkID: id, Text: "tied words"}})
	}
	mustReplace(t, ix, "dz", []index.Entry{{ChunkID: "z", Text: "tied tied tied words"}})
	got := ix.BM25("tied", 5, nil)
	wantIDs := []string{"z", "c00", "c01", "c02", "c03"}
	if len(got) != len(wantIDs) {
		t.Fatalf("got %d hits, want %d", len(got), len(wantIDs))
	}
	for i, h := range got {
		if h.ChunkID != wantIDs[i] || h.Rank != i+1 {
			t.Errorf("hit %d = %s rank %d, want %s rank %d", i, h.ChunkID, h.Rank, wantIDs[i], i+1)
		}
	}
	if got[1].Score != got[4].Score {
		t.Errorf("tied scores differ: %v, %v", got[1].Score, got[4].Score)
	}
	if got := ix.BM25("tied", 0, nil); got != nil {
		t.Errorf("k = 0: got %v, want nil", got)
	}
	if got := ix.BM25("tied", 100, nil); len(got) != 21 {
		t.Errorf("k = 100: got %d hits, want 21", len(got))
	}
}

func TestBM25InvalidFilterMatchesNothing(t *testing.T) {
	ix := handIndex(t)
	if got := ix.BM25("cats", 10, index.Filter{"lang": {}}); got != nil {
		t.Errorf("got %v, want nil", got)
	}
}
