package index_test

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/crispy-enigma/crispy/internal/rag/index"
)

func TestQueryTerms(t *testing.T) {
	// Each distinct term once, weighing how many times the query says it.
	got := index.New().QueryTerms("Which cats chase the cat? CHASING cats!")
	want := []index.QueryTerm{{Term: "cat", Weight: 3}, {Term: "chase", Weight: 2}}
	if !slices.Equal(got, want) {
		t.Errorf("QueryTerms = %v, want %v", got, want)
	}
	if got := index.New().QueryTerms("the of"); len(got) != 0 {
		t.Errorf("QueryTerms of stopwords = %v, want none", got)
	}
}

func TestBM25Terms(t *testing.T) {
	ix := handIndex(t) // scores worked out in TestBM25HandComputed
	const (
		catC1   = 0.668293297591660
		catC2   = 0.774788072496567
		chaseC1 = 0.668293297591660
		chaseC2 = 0.519323893794139
	)
	tests := []struct {
		name string
		q    []index.QueryTerm
		want []index.Hit
	}{
		{"weights 1 are BM25", ix.QueryTerms("cats chasing"), ix.BM25("cats chasing", 10, nil)},
		{"a weight scales its term", []index.QueryTerm{{"cat", 1}, {"chase", 0.25}}, []index.Hit{
			{ChunkID: "c2", DocID: "d1", Score: catC2 + 0.25*chaseC2, Rank: 1},
			{ChunkID: "c1", DocID: "d1", Score: catC1 + 0.25*chaseC1, Rank: 2},
		}},
		{"weights can turn the ranking", []index.QueryTerm{{"cat", 0.25}, {"chase", 1}}, []index.Hit{
			{ChunkID: "c1", DocID: "d1", Score: 0.25*catC1 + chaseC1, Rank: 1},
			{ChunkID: "c2", DocID: "d1", Score: 0.25*catC2 + chaseC2, Rank: 2},
		}},
		{"a repeated term weighs the sum of its weights", []index.QueryTerm{{"cat", 2}, {"cat", 5}}, []index.Hit{
			{ChunkID: "c2", DocID: "d1", Score: 7 * catC2, Rank: 1},
			{ChunkID: "c1", DocID: "d1", Score: 7 * catC1, Rank: 2},
		}},
		{"a repeat with an unusable weight adds nothing", []index.QueryTerm{{"cat", 2}, {"cat", -5}, {"cat", math.NaN()}}, []index.Hit{
			{ChunkID: "c2", DocID: "d1", Score: 2 * catC2, Rank: 1},
			{ChunkID: "c1", DocID: "d1", Score: 2 * catC1, Rank: 2},
		}},
		{"weights that are not positive and finite are ignored",
			[]index.QueryTerm{{"cat", 0}, {"chase", -1}, {"mice", math.NaN()}, {"dog", math.Inf(1)}, {"chees", 1}},
			[]index.Hit{{ChunkID: "c3", DocID: "d2", Score: 1.160802464728592, Rank: 1}}},
		{"a long query sums a repeated term's weights too", append(unknownTerms(40), index.QueryTerm{"cat", 2}, index.QueryTerm{"cat", 5}), []index.Hit{
			{ChunkID: "c2", DocID: "d1", Score: 7 * catC2, Rank: 1},
			{ChunkID: "c1", DocID: "d1", Score: 7 * catC1, Rank: 2},
		}},
		{"unknown terms", []index.QueryTerm{{"zebra", 1}}, nil},
		{"no terms", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertHits(t, ix.BM25Terms(tt.q, 10, nil), tt.want)
		})
	}
}

// unknownTerms returns n terms of weight 1 that no chunk has.
func unknownTerms(n int) []index.QueryTerm {
	out := make([]index.QueryTerm, n)
	for i := range out {
		out[i] = index.QueryTerm{Term: fmt.Sprintf("zz%d", i), Weight: 1}
	}
	return out
}

func assertTerms(t *testing.T, got, want []index.QueryTerm) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range got {
		if got[i].Term != want[i].Term || math.Abs(got[i].Weight-want[i].Weight) > 1e-12 {
			t.Errorf("term %d = %v, want %v", i, got[i], want[i])
		}
	}
}

func TestExpand(t *testing.T) {
	ix := index.New()
	// Index terms: d1 cat chase mice (3), d2 dog chase cat (3). Scores
	// 3 and 1 normalise to 0.75 and 0.25, so the relevance model is
	//   cat   0.75/3 + 0.25/3 = 1/3    chase 1/3
	//   mice  0.75/3          = 1/4    dog   0.25/3 = 1/12
	// which sums to 1. With λ = 0.5 and one query term the weights are
	// RM · (1 − λ)/λ · |Q| = RM, plus 1 for the query's own term.
	fb := []index.Feedback{{Text: "Cats chase mice.", Score: 3}, {Text: "Dogs chase cats.", Score: 1}}
	tests := []struct {
		name string
		e    index.Expansion
		fb   []index.Feedback
		want []index.QueryTerm
	}{
		{"defaults", index.Expansion{}, fb, []index.QueryTerm{{"cat", 1 + 1.0/3}, {"chase", 1.0 / 3}, {"mice", 0.25}, {"dog", 1.0 / 12}}},
		// The two best of the model, cat and chase (tied, by term), are
		// renormalised to 1/2 each.
		{"two terms", index.Expansion{Terms: 2}, fb, []index.QueryTerm{{"cat", 1.5}, {"chase", 0.5}}},
		// (1 − 0.8)/0.8 = 1/4 of the model.
		{"λ 0.8", index.Expansion{OriginalWeight: 0.8}, fb, []index.QueryTerm{{"cat", 1 + 1.0/12}, {"chase", 1.0 / 12}, {"mice", 1.0 / 16}, {"dog", 1.0 / 48}}},
		{"λ 1 is the query", index.Expansion{OriginalWeight: 1}, fb, []index.QueryTerm{{"cat", 1}}},
		{"λ out of range is the default", index.Expansion{OriginalWeight: 7}, fb, []index.QueryTerm{{"cat", 1 + 1.0/3}, {"chase", 1.0 / 3}, {"mice", 0.25}, {"dog", 1.0 / 12}}},
		{"no feedback", index.Expansion{}, nil, []index.QueryTerm{{"cat", 1}}},
		{"no positive score", index.Expansion{}, []index.Feedback{{Text: "dogs", Score: 0}, {Text: "mice", Score: -2}, {Text: "cheese", Score: math.NaN()}}, []index.QueryTerm{{"cat", 1}}},
		// Single characters and numbers are not added: the model is
		// x 1/3, 42 1/3, dog 1/3 and only dog is kept, renormalised to 1.
		{"letters and numbers", index.Expansion{}, []index.Feedback{{Text: "x 42 dogs", Score: 1}}, []index.QueryTerm{{"cat", 1}, {"dog", 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertTerms(t, ix.Expand("cats?", tt.fb, tt.e), tt.want)
		})
	}
	if got := ix.Expand("the of", fb, index.Expansion{}); len(got) != 0 {
		t.Errorf("Expand of stopwords = %v, want none", got)
	}
	// Two query terms: each weighs 1, the model (1 − λ)/λ · 2 = 2 times.
	assertTerms(t, ix.Expand("cats and mice", fb, index.Expansion{}), []index.QueryTerm{
		{"cat", 1 + 2.0/3}, {"mice", 1 + 0.5}, {"chase", 2.0 / 3}, {"dog", 2.0 / 12},
	})
	// P(w|Q) counts repeats: "cats" said twice is P(cat|Q) = 2/3 and
	// P(mice|Q) = 1/3, |Q| = 3, so the query's own terms weigh 2 and 1 and
	// the model (1 − λ)/λ · 3 = 3 times.
	assertTerms(t, ix.Expand("cats, mice and cats", fb, index.Expansion{}), []index.QueryTerm{
		{"cat", 2 + 1}, {"mice", 1 + 0.75}, {"chase", 1}, {"dog", 0.25},
	})
}

// A query term said twice weighs twice a term said once, in BM25 and in
// the RM3 query built from it (Robertson's query term frequency; Lucene and
// Anserini score a query the same way).
func TestQueryTermFrequency(t *testing.T) {
	ix := index.New()
	// cat and dog have the same idf, and x and y the same length.
	mustReplace(t, ix, "d", []index.Entry{
		{ChunkID: "x", Text: "Cats sleep all day."},
		{ChunkID: "y", Text: "Dogs sleep all day."},
		{ChunkID: "z", Text: "Birds sing."},
	})
	once := ix.BM25("dog", 10, nil)
	twice := ix.BM25("cat dog cat", 10, nil)
	if len(once) != 1 || len(twice) != 2 {
		t.Fatalf("BM25 = %v and %v, want 1 and 2 hits", once, twice)
	}
	if twice[0].ChunkID != "x" || twice[1].ChunkID != "y" {
		t.Errorf("cat dog cat = %v, want x (cat, said twice) before y (dog, said once)", twice)
	}
	if math.Abs(twice[0].Score-2*once[0].Score) > 1e-12 || math.Abs(twice[1].Score-once[0].Score) > 1e-12 {
		t.Errorf("scores %v and %v, want twice and once the score of a dog alone %v", twice[0].Score, twice[1].Score, once[0].Score)
	}
	// The relevance model is the same for both queries, so that only
	// P(w|Q) tells them apart.
	fb := []index.Feedback{{Text: "Cats and dogs sleep.", Score: 1}}
	weights := map[string]float64{}
	for _, qt := range ix.Expand("cat dog cat", fb, index.Expansion{}) {
		weights[qt.Term] = qt.Weight
	}
	if !(weights["cat"] > weights["dog"]) {
		t.Errorf("expanded weights cat %v, dog %v: cat, said twice, should weigh more", weights["cat"], weights["dog"])
	}
}

// Feedback finds a chunk that shares no word with the query but shares
// the vocabulary of the chunks that match it.
func TestExpandFindsRelatedChunks(t *testing.T) {
	ix := index.New()
	texts := map[string]string{
		"a": "Jet engine turbine blades run hot.",
		"b": "A jet engine turbine needs blade cooling.",
		"c": "Turbine blade cooling uses bleed air.",
		"d": "Cheese is made from milk.",
		"e": "Milk comes from cows.",
	}
	for id, text := range texts {
		mustReplace(t, ix, id, []index.Entry{{ChunkID: id, Text: text}})
	}
	const query = "jet engine"
	first := ix.BM25(query, 10, nil)
	if got := ids(first); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("first run = %v, want [a b]", got)
	}
	var fb []index.Feedback
	for _, h := range first {
		fb = append(fb, index.Feedback{Text: texts[h.ChunkID], Score: h.Score})
	}
	got := ix.BM25Terms(ix.Expand(query, fb, index.Expansion{}), 10, nil)
	if ids := ids(got); len(ids) != 3 || !slices.Contains(ids[:2], "a") || !slices.Contains(ids[:2], "b") || ids[2] != "c" {
		t.Errorf("expanded run = %v, want a and b, then c", ids)
	}
}

func TestRocchio(t *testing.T) {
	ix := index.New()
	mustReplace(t, ix, "d1", []index.Entry{
		{ChunkID: "c1", Text: "one", Vector: []float32{1, 0, 0}},
		{ChunkID: "c2", Text: "two", Vector: []float32{0, 2, 0}}, // stored unit-length
	})
	mustReplace(t, ix, "d2", []index.Entry{
		{ChunkID: "c3", Text: "three", Vector: []float32{0, 0, 1}},
		{ChunkID: "c4", Text: "four, no vector"},
	})
	q := []float32{2, 0, 0}
	hits := []index.Hit{{ChunkID: "c2", DocID: "d1"}, {ChunkID: "c3", DocID: "d2"}}
	tests := []struct {
		name string
		hits []index.Hit
		beta float64
		want []float32
	}{
		// q/|q| + 0.75 · (c2 + c3)/2
		{"default β", hits, 0, []float32{1, 0.375, 0.375}},
		{"β 1", hits, 1, []float32{1, 0.5, 0.5}},
		{"one chunk", hits[:1], 0.5, []float32{1, 0.5, 0}},
		// c4 has no vector, c9 does not exist, c3 is not in d1: skipped.
		{"chunks without a vector are skipped", []index.Hit{
			{ChunkID: "c4", DocID: "d2"}, {ChunkID: "c9", DocID: "d1"}, {ChunkID: "c3", DocID: "d1"}, {ChunkID: "c2", DocID: "d1"},
		}, 1, []float32{1, 1, 0}},
		{"no usable chunk", []index.Hit{{ChunkID: "c4", DocID: "d2"}}, 0, q},
		{"no hits", nil, 0, q},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ix.Rocchio(q, tt.hits, tt.beta)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Rocchio = %v, want %v", got, tt.want)
			}
		})
	}
	if got := ix.Rocchio([]float32{1, 0}, hits, 0); !slices.Equal(got, []float32{1, 0}) {
		t.Errorf("Rocchio of another dimension = %v, want the query", got)
	}
	if got := ix.Rocchio([]float32{0, 0, 0}, hits, 0); !slices.Equal(got, []float32{0, 0, 0}) {
		t.Errorf("Rocchio of a zero query = %v, want the query", got)
	}

	// A deleted chunk no longer counts, and rows stay right after a
	// compaction renumbers them.
	ix.Delete("d1")
	ix.Compact()
	if got := ix.Rocchio(q, hits, 1); !slices.Equal(got, []float32{1, 0, 1}) {
		t.Errorf("Rocchio after deleting d1 = %v, want [1 0 1]", got)
	}
}

// BenchmarkBM25Feedback is a BM25 query with RM3 feedback as the knowledge
// base runs it: the first run, the analysis of its best chunks' text, and
// the expanded run. Compare with BenchmarkBM25.
func BenchmarkBM25Feedback(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			c := makeCorpus(n)
			text := make(map[string]string, n)
			for _, es := range c.docs {
				for _, e := range es {
					text[e.ChunkID] = e.Text
				}
			}
			benchQueries(b, n, 0, func(ix *index.Index, c *corpus, i int) {
				q := c.queries[i%len(c.queries)]
				hits := ix.BM25(q, benchK, nil)
				fb := make([]index.Feedback, 0, index.DefaultFeedbackDocs)
				for _, h := range hits[:min(len(hits), index.DefaultFeedbackDocs)] {
					fb = append(fb, index.Feedback{Text: text[h.ChunkID], Score: h.Score})
				}
				ix.BM25Terms(ix.Expand(q, fb, index.Expansion{}), benchK, nil)
			})
		})
	}
}
