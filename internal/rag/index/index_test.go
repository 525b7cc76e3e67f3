package index_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/crispy-enigma/crispy/internal/rag/index"
)

func TestReplaceValidation(t *testing.T) {
	tests := []struct {
		name    string
		docID   string
		entries []index.Entry
		wantErr string
	}{
		{"empty doc id", "", nil, "document id is empty"},
		{"no chunk id", "d", []index.Entry{{Text: "x"}}, "no chunk id"},
		{"duplicate chunk id", "d", []index.Entry{{ChunkID: "c"}, {ChunkID: "c"}}, "appears twice"},
		{"other document", "d", []index.Entry{{ChunkID: "c", DocID: "e"}}, `belongs to document "e"`},
		{"mixed dimensions", "d", []index.Entry{{ChunkID: "a", Vector: []float32{1}}, {ChunkID: "b", Vector: []float32{1, 0}}}, "dimension 2"},
		{"empty vector", "d", []index.Entry{{ChunkID: "a", Vector: []float32{}}}, "vector is empty"},
		{"zero vector", "d", []index.Entry{{ChunkID: "a", Vector: []float32{0, 0}}}, "zero or not finite"},
		{"bad metadata", "d", []index.Entry{{ChunkID: "a", Metadata: map[string]any{"tags": []string{"x"}}}}, "unsupported value of type []string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ix := index.New()
			mustReplace(t, ix, "d", []index.Entry{{ChunkID: "old", Text: "old text"}})
			err := ix.Replace(tt.docID, tt.entries)
			if !errors.Is(err, index.ErrInvalid) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Replace() = %v, want ErrInvalid with %q", err, tt.wantErr)
			}
			// A rejected Replace changes nothing.
			if got := ix.BM25("old", 5, nil); len(got) != 1 || got[0].ChunkID != "old" {
				t.Errorf("after a rejected Replace: %v", got)
			}
		})
	}
}

func TestReplaceAndDeleteLeaveNothing(t *testing.T) {
	ix := index.New()
	mustReplace(t, ix, "d1", []index.Entry{
		{ChunkID: "d1#0", Text: "zebra stripes", Vector: []float32{1, 0, 0}, Metadata: map[string]any{"v": 1.0}},
		{ChunkID: "d1#1", Text: "zebra herds", Vector: []float32{0, 1, 0}, Metadata: map[string]any{"v": 1.0}},
	})
	mustReplace(t, ix, "d2", []index.Entry{{ChunkID: "d2#0", Text: "lions hunt zebras", Vector: []float32{0, 0, 1}}})

	// A new version of d1 without "stripes", with other vectors and metadata.
	mustReplace(t, ix, "d1", []index.Entry{{ChunkID: "d1#0", Text: "zebra foals", Vector: []float32{0, 0.6, 0.8}, Metadata: map[string]any{"v": 2.0}}})
	if got := ix.BM25("stripes", 10, nil); got != nil {
		t.Errorf("old text still found: %v", got)
	}
	if got := ix.BM25("zebra", 10, nil); !slices.Equal(sorted(ids(got)), []string{"d1#0", "d2#0"}) {
		t.Errorf("zebra = %v, want d1#0, d2#0 once each", got)
	}
	if got := ix.Vector([]float32{1, 0, 0}, 10, nil); len(got) != 2 || got[0].Score > 1e-6 {
		t.Errorf("old vector still found: %v", got)
	}
	if got := ix.BM25("zebra", 10, index.Filter{"v": {Eq: 1.0}}); got != nil {
		t.Errorf("old metadata still matches: %v", got)
	}
	if got := ix.BM25("zebra", 10, index.Filter{"v": {Eq: 2.0}}); len(got) != 1 || got[0].ChunkID != "d1#0" {
		t.Errorf("new metadata = %v", got)
	}
	if ix.Len() != 2 || ix.Docs() != 2 {
		t.Errorf("Len, Docs = %d, %d, want 2, 2", ix.Len(), ix.Docs())
	}

	ix.Delete("d1")
	ix.Delete("d1")      // twice is fine
	ix.Delete("unknown") // and unknown
	mustReplace(t, ix, "d2", nil)
	for _, q := range []string{"zebra", "foals", "lions"} {
		if got := ix.BM25(q, 10, nil); got != nil {
			t.Errorf("BM25(%q) after delete = %v", q, got)
		}
	}
	if got := ix.Vector([]float32{0, 0.6, 0.8}, 10, nil); got != nil {
		t.Errorf("Vector after delete = %v", got)
	}
	if ix.Len() != 0 || ix.Docs() != 0 {
		t.Errorf("Len, Docs = %d, %d, want 0, 0", ix.Len(), ix.Docs())
	}
	if st := ix.Stats(); st.Dead != 4 || st.Postings == 0 {
		t.Errorf("before Compact: %+v, want 4 dead slots with postings left", st)
	}
	ix.Compact()
	if st := ix.Stats(); st.Dead != 0 || st.Postings != 0 || st.Terms != 0 || st.Vectors != 0 || st.Dim != 0 {
		t.Errorf("after Compact: %+v, want nothing left", st)
	}
}

// TestChurnScoresLikeFreshIndex checks that dead slots, before and after
// compaction, change no score: an index that went through many replaces and
// deletes answers exactly like one built from its live chunks alone.
func TestChurnScoresLikeFreshIndex(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	words := strings.Fields("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau upsilon")
	text := func() string {
		n := 3 + r.IntN(20)
		ws := make([]string, n)
		for i := range ws {
			ws[i] = words[min(r.IntN(len(words)), r.IntN(len(words)))] // skewed
		}
		return strings.Join(ws, " ")
	}
	churned := index.New()
	final := map[string][]index.Entry{}
	for i := range 3000 {
		doc := fmt.Sprint("doc", r.IntN(200))
		if r.IntN(4) == 0 {
			churned.Delete(doc)
			delete(final, doc)
			continue
		}
		var es []index.Entry
		for c := range 1 + r.IntN(4) {
			es = append(es, index.Entry{
				ChunkID:  fmt.Sprintf("%s#%d", doc, c),
				Text:     text(),
				Vector:   randomVector(r, 8),
				Metadata: map[string]any{"shard": float64(i % 3)},
			})
		}
		mustReplace(t, churned, doc, es)
		final[doc] = es
	}
	fresh := index.New()
	for doc, es := range final {
		mustReplace(t, fresh, doc, es)
	}
	compare := func(stage string) {
		t.Helper()
		if churned.Len() != fresh.Len() || churned.Docs() != fresh.Docs() {
			t.Fatalf("%s: Len, Docs = %d, %d, want %d, %d", stage, churned.Len(), churned.Docs(), fresh.Len(), fresh.Docs())
		}
		for _, q := range []string{"alpha", "upsilon tau", "beta gamma delta", "omicron pi rho sigma"} {
			for _, f := range []index.Filter{nil, {"shard": {Eq: 1}}} {
				a, b := churned.BM25(q, 30, f), fresh.BM25(q, 30, f)
				if !slices.Equal(a, b) {
					t.Fatalf("%s: BM25(%q, %v):\nchurned %v\nfresh   %v", stage, q, f, a, b)
				}
			}
		}
		q := randomVector(r, 8)
		if a, b := churned.Vector(q, 30, nil), fresh.Vector(q, 30, nil); !slices.Equal(a, b) {
			t.Fatalf("%s: Vector:\nchurned %v\nfresh   %v", stage, a, b)
		}
	}
	if churned.Stats().Dead == 0 {
		t.Fatal("the churn left no dead slots to test")
	}
	compare("with dead slots")
	churned.Compact()
	compare("after Compact")
	if st, fs := churned.Stats(), fresh.Stats(); st.Postings != fs.Postings || st.Terms != fs.Terms || st.Vectors != fs.Vectors {
		t.Errorf("after Compact: %+v, fresh index: %+v", st, fs)
	}
}

func TestAutomaticCompaction(t *testing.T) {
	ix := index.New()
	for i := range 5000 {
		mustReplace(t, ix, "doc", []index.Entry{{ChunkID: "doc#0", Text: fmt.Sprint("word", i), Vector: []float32{1, 0}}})
	}
	st := ix.Stats()
	if st.Dead > 2000 || st.Vectors > 2001 {
		t.Errorf("after 5000 replaces of one chunk: %+v; compaction did not run", st)
	}
	if got := ix.BM25("word4999", 5, nil); len(got) != 1 {
		t.Errorf("latest text: %v", got)
	}
	if got := ix.BM25("word10", 5, nil); got != nil {
		t.Errorf("old text: %v", got)
	}
}

func TestConcurrentReadersAndWriters(t *testing.T) {
	ix := index.NewWithOptions(index.Options{Parallelism: 2})
	seed := func(w, i int) []index.Entry {
		r := rand.New(rand.NewPCG(uint64(w), uint64(i)))
		es := make([]index.Entry, 1+r.IntN(5))
		for c := range es {
			es[c] = index.Entry{
				ChunkID:  fmt.Sprintf("w%d-d%d#%d", w, i%50, c),
				Text:     fmt.Sprintf("shared words writer%d version%d", w, i),
				Vector:   randomVector(r, 16),
				Metadata: map[string]any{"writer": float64(w)},
			}
		}
		return es
	}
	// Enough rows for the vector scan to split.
	for i := range 2000 {
		mustReplace(t, ix, fmt.Sprint("bulk", i), []index.Entry{
			{ChunkID: fmt.Sprintf("bulk%d#0", i), Text: "shared bulk", Vector: randomVector(rand.New(rand.NewPCG(9, uint64(i))), 16)},
			{ChunkID: fmt.Sprintf("bulk%d#1", i), Text: "shared bulk", Vector: randomVector(rand.New(rand.NewPCG(8, uint64(i))), 16)},
			{ChunkID: fmt.Sprintf("bulk%d#2", i), Text: "shared bulk", Vector: randomVector(rand.New(rand.NewPCG(7, uint64(i))), 16)},
			{ChunkID: fmt.Sprintf("bulk%d#3", i), Text: "shared bulk", Vector: randomVector(rand.New(rand.NewPCG(6, uint64(i))), 16)},
			{ChunkID: fmt.Sprintf("bulk%d#4", i), Text: "shared bulk", Vector: randomVector(rand.New(rand.NewPCG(5, uint64(i))), 16)},
		})
	}
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Go(func() {
			for i := range 300 {
				doc := fmt.Sprintf("w%d-d%d", w, i%50)
				if i%7 == 0 {
					ix.Delete(doc)
				} else if err := ix.Replace(doc, seed(w, i)); err != nil {
					t.Error(err)
					return
				}
				if i%100 == 0 {
					ix.Compact()
				}
			}
		})
	}
	for rd := range 4 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(100, uint64(rd)))
			for range 100 {
				f := index.Filter{"writer": {Eq: float64(r.IntN(3))}}
				for _, h := range ix.BM25("shared words", 20, f) {
					if !strings.HasPrefix(h.ChunkID, fmt.Sprintf("w%v-", f["writer"].Eq)) {
						t.Errorf("filter leaked %s", h.ChunkID)
					}
				}
				hits := ix.Vector(randomVector(r, 16), 10, nil)
				fused := index.RRF(10, 0, ix.BM25("bulk", 10, nil), hits)
				if len(fused) > 10 {
					t.Errorf("RRF returned %d", len(fused))
				}
				_ = ix.Len() + ix.Docs()
				_ = ix.Stats()
			}
		})
	}
	wg.Wait()
}
