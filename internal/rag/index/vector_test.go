package index_test

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/crispy-enigma/crispy/internal/rag/index"
)

func randomVector(r *rand.Rand, dim int) []float32 {
	v := make([]float32, dim)
	var ss float64
	for i := range v {
		x := r.NormFloat64()
		v[i] = float32(x)
		ss += x * x
	}
	inv := 1 / math.Sqrt(ss)
	for i := range v {
		v[i] = float32(float64(v[i]) * inv)
	}
	return v
}

func cosine(a, b []float32) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	return ab / math.Sqrt(aa*bb)
}

// TestVectorMatchesBruteForce compares the scan with cosine similarities
// computed here: exactly with full vectors, within the quantisation error
// (scores within 0.003, at least 18 of the top 20) with int8 codes, on
// random vectors, where the scores are closest together.
func TestVectorMatchesBruteForce(t *testing.T) {
	for _, full := range []bool{true, false} {
		for _, dim := range []int{1, 7, 13, 384} {
			t.Run(fmt.Sprint("full=", full, "/dim=", dim), func(t *testing.T) {
				vectorMatchesBruteForce(t, dim, full)
			})
		}
	}
}

func vectorMatchesBruteForce(t *testing.T, dim int, full bool) {
	r := rand.New(rand.NewPCG(1, uint64(dim)))
	ix := index.NewWithOptions(index.Options{FullVectors: full})
	vecs := map[string][]float32{}
	for d := range 50 {
		var es []index.Entry
		for c := range 10 {
			id := fmt.Sprintf("d%02d#%d", d, c)
			v := randomVector(r, dim)
			// Store some unnormalised: the index normalises them.
			if c%3 == 0 {
				for i := range v {
					v[i] *= 3
				}
			}
			vecs[id] = v
			es = append(es, index.Entry{ChunkID: id, Vector: v})
		}
		mustReplace(t, ix, fmt.Sprintf("d%02d", d), es)
	}
	q := randomVector(r, dim)
	for i := range q {
		q[i] *= 0.5 // unnormalised query
	}
	type scored struct {
		id    string
		score float64
	}
	var all []scored
	for id, v := range vecs {
		all = append(all, scored{id, cosine(q, v)})
	}
	slices.SortFunc(all, func(a, b scored) int {
		if c := cmp.Compare(b.score, a.score); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	got := ix.Vector(q, 20, nil)
	if len(got) != 20 {
		t.Fatalf("got %d hits, want 20", len(got))
	}
	if !full {
		exact := map[string]float64{}
		for _, s := range all {
			exact[s.id] = s.score
		}
		for i, h := range got {
			if math.Abs(h.Score-exact[h.ChunkID]) > 0.003 || h.Rank != i+1 {
				t.Errorf("hit %d: %s %.7f rank %d, its cosine is %.7f", i, h.ChunkID, h.Score, h.Rank, exact[h.ChunkID])
			}
		}
		want := idsOf(all[:20], func(s scored) string { return s.id })
		found := 0
		for _, h := range got {
			found += min(1, slices.Index(want, h.ChunkID)+1)
		}
		if found < 18 {
			t.Errorf("%d of the top 20 found: %v, want %v", found, ids(got), want)
		}
		return
	}
	for i, h := range got {
		if math.Abs(h.Score-all[i].score) > 1e-5 {
			t.Errorf("hit %d: %s %.7f, want %s %.7f", i, h.ChunkID, h.Score, all[i].id, all[i].score)
		}
		if h.Rank != i+1 {
			t.Errorf("hit %d has rank %d", i, h.Rank)
		}
	}
	// float32 sums may swap near-equal neighbours: compare the sets.
	if g, w := sorted(ids(got)), sorted(idsOf(all[:20], func(s scored) string { return s.id })); !slices.Equal(g, w) {
		if math.Abs(all[19].score-all[20].score) > 1e-5 {
			t.Errorf("top 20 = %v, want %v", g, w)
		}
	}
}

func sorted(s []string) []string { slices.Sort(s); return s }

func idsOf[T any](xs []T, id func(T) string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = id(x)
	}
	return out
}

func TestVectorTiesAndK(t *testing.T) {
	ix := index.New()
	for _, id := range []string{"e", "b", "d", "a", "c"} {
		mustReplace(t, ix, "doc-"+id, []index.Entry{{ChunkID: id, Vector: []float32{0.6, 0.8}}})
	}
	mustReplace(t, ix, "doc-z", []index.Entry{{ChunkID: "z", Vector: []float32{1, 0}}})
	got := ix.Vector([]float32{0.6, 0.8}, 3, nil)
	if want := []string{"a", "b", "c"}; !slices.Equal(ids(got), want) {
		t.Errorf("top 3 = %v, want %v", ids(got), want)
	}
	if math.Abs(got[0].Score-1) > 1e-5 { // the int8 codes of 0.6 and 0.8 are 95 and 127
		t.Errorf("cosine of equal vectors = %v, want 1", got[0].Score)
	}
	if got := ix.Vector([]float32{1, 0}, 0, nil); got != nil {
		t.Errorf("k = 0: %v, want nil", got)
	}
	all := ix.Vector([]float32{1, 0}, 100, nil)
	if want := []string{"z", "a", "b", "c", "d", "e"}; !slices.Equal(ids(all), want) {
		t.Errorf("all = %v, want %v", ids(all), want)
	}
}

func TestVectorDimensions(t *testing.T) {
	ix := index.New()
	if got := ix.Vector([]float32{1, 0}, 5, nil); got != nil {
		t.Errorf("empty index: %v, want nil", got)
	}
	mustReplace(t, ix, "a", []index.Entry{{ChunkID: "a#0", Vector: []float32{1, 0}}, {ChunkID: "a#1", Text: "no vector"}})
	if got := ix.Vector([]float32{1, 0, 0}, 5, nil); got != nil {
		t.Errorf("query of another dimension: %v, want nil", got)
	}
	if got := ix.Vector([]float32{0, 0}, 5, nil); got != nil {
		t.Errorf("zero query: %v, want nil", got)
	}
	if got := ix.Vector([]float32{0, 1}, 5, nil); len(got) != 1 || got[0].ChunkID != "a#0" {
		t.Errorf("chunk without a vector returned, or vector missing: %v", got)
	}
	err := ix.Replace("b", []index.Entry{{ChunkID: "b#0", Vector: []float32{1, 0, 0}}})
	if !errors.Is(err, index.ErrInvalid) {
		t.Errorf("Replace with another dimension = %v, want ErrInvalid", err)
	}
	// Replacing the only document with vectors may change the dimension.
	mustReplace(t, ix, "a", []index.Entry{{ChunkID: "a#0", Vector: []float32{0, 0, 1}}})
	if got := ix.Vector([]float32{0, 0, 1}, 5, nil); len(got) != 1 || got[0].ChunkID != "a#0" {
		t.Errorf("after a change of dimension: %v", got)
	}
	if got := ix.Vector([]float32{1, 0}, 5, nil); got != nil {
		t.Errorf("old dimension still answers: %v", got)
	}
}

func TestVectorParallelScanAgrees(t *testing.T) {
	const dim, docs, perDoc = 24, 1250, 16 // 20,000 rows: split four ways
	r := rand.New(rand.NewPCG(7, 7))
	serial := index.NewWithOptions(index.Options{Parallelism: 1})
	parallel := index.NewWithOptions(index.Options{Parallelism: 4})
	for d := range docs {
		es := make([]index.Entry, perDoc)
		for c := range es {
			v := randomVector(r, dim)
			if c%5 == 0 {
				v = []float32{1} // many exact ties, broken by ChunkID
				v = append(v, make([]float32, dim-1)...)
			}
			es[c] = index.Entry{ChunkID: fmt.Sprintf("%05d#%02d", d, c), Vector: v, Metadata: map[string]any{"odd": d%2 == 1}}
		}
		mustReplace(t, serial, fmt.Sprint(d), es)
		mustReplace(t, parallel, fmt.Sprint(d), es)
	}
	for i := range 10 {
		q := randomVector(r, dim)
		if i == 0 {
			q = append([]float32{1}, make([]float32, dim-1)...)
		}
		for _, f := range []index.Filter{nil, {"odd": {Eq: true}}} {
			a, b := serial.Vector(q, 50, f), parallel.Vector(q, 50, f)
			if !slices.Equal(a, b) {
				t.Fatalf("query %d filter %v: serial %v, parallel %v", i, f, ids(a), ids(b))
			}
		}
	}
}
