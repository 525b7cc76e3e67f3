package index_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/crispy-enigma/crispy/internal/rag/index"
	"github.com/crispy-enigma/crispy/internal/rag/snap"
)

// imageOf writes ix's image and returns its bytes.
func imageOf(t *testing.T, ix *index.Index) []byte {
	t.Helper()
	var b bytes.Buffer
	w := snap.NewWriter(&b)
	if err := ix.WriteImage(w); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// sameSearches checks that a and b answer a set of searches alike.
func sameSearches(t *testing.T, a, b *index.Index, vecs [][]float32) {
	t.Helper()
	for _, f := range []index.Filter{nil, {"group": {Eq: "even"}}, {"n": {In: []any{3, 4, 5}}}} {
		for _, q := range []string{"alpha bravo", "refund hotel night", "word17 word3"} {
			assertHits(t, a.BM25(q, 20, f), b.BM25(q, 20, f))
		}
		for _, v := range vecs[:5] {
			assertHits(t, a.Vector(v, 20, f), b.Vector(v, 20, f))
		}
	}
	if a.Len() != b.Len() || a.Docs() != b.Docs() || a.Terms() != b.Terms() {
		t.Errorf("len %d docs %d terms %d, want %d %d %d", a.Len(), a.Docs(), a.Terms(), b.Len(), b.Docs(), b.Terms())
	}
}

// TestImageRoundTrip writes an index with dead slots, metadata and
// vectors, reads it back with its arrays in place, and checks that both
// answer alike, before and after the same writes (which copy the arrays
// they grow, and compact in place).
func TestImageRoundTrip(t *testing.T) {
	for _, full := range []bool{false, true} {
		t.Run(fmt.Sprint("full=", full), func(t *testing.T) {
			docs, _ := zipfTexts(t)
			docs = docs[:600]
			vecs := embedAll(t, docs)
			o := index.Options{FullVectors: full}
			ix := index.NewWithOptions(o)
			put := func(ix *index.Index, d int, text string) {
				var es []index.Entry
				for c := range 3 {
					i := (d*3 + c) % len(vecs)
					es = append(es, index.Entry{ChunkID: fmt.Sprintf("d%03d#%d", d, c), Text: text + fmt.Sprintf(" word%d", c),
						Vector: vecs[i], Metadata: map[string]any{"group": []string{"even", "odd"}[d%2], "n": d % 7, "ok": d%3 == 0}})
				}
				mustReplace(t, ix, fmt.Sprintf("d%03d", d), es)
			}
			for d := range 200 {
				put(ix, d, docs[d])
			}
			for d := 0; d < 200; d += 5 {
				ix.Delete(fmt.Sprintf("d%03d", d))
			}
			img := imageOf(t, ix)
			got, err := index.ReadImage(snap.NewReader(img, true), o, nil)
			if err != nil {
				t.Fatal(err)
			}
			sameSearches(t, got, ix, vecs)
			if again := imageOf(t, got); !bytes.Equal(again, img) {
				t.Error("the image of the image differs")
			}
			for _, x := range []*index.Index{ix, got} {
				for d := 190; d < 260; d++ {
					put(x, d, docs[d+100])
				}
				for d := 1; d < 150; d += 2 {
					x.Delete(fmt.Sprintf("d%03d", d))
				}
				x.Compact()
			}
			sameSearches(t, got, ix, vecs)
		})
	}
}

// TestImageTruncated reads every prefix of an image (and a few damaged
// copies): each fails with snap.ErrCorrupt or, when the damage is in a
// value searches never use, reads; none panics.
func TestImageTruncated(t *testing.T) {
	docs, _ := zipfTexts(t)
	vecs := embedAll(t, docs[:40])
	ix := index.New()
	for i, v := range vecs {
		mustReplace(t, ix, fmt.Sprint("d", i), []index.Entry{{ChunkID: fmt.Sprint("c", i), Text: docs[i], Vector: v, Metadata: map[string]any{"k": "v"}}})
	}
	img := imageOf(t, ix)
	for n := 0; n < len(img); n += 1 + n/50 {
		if _, err := index.ReadImage(snap.NewReader(img[:n], false), index.Options{}, nil); err == nil {
			t.Fatalf("a prefix of %d of %d bytes reads", n, len(img))
		}
	}
	for at := 0; at < len(img); at += 31 {
		bad := bytes.Clone(img)
		bad[at] ^= 0xff
		_, _ = index.ReadImage(snap.NewReader(bad, true), index.Options{}, nil)
	}
}
