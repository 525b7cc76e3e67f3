package index_test

import (
	"fmt"

	"github.com/crispy-enigma/crispy/internal/rag/index"
)

// A hybrid search: BM25 and vector candidates fused by reciprocal rank.
func Example() {
	ix := index.New() // one per tenant
	docs := map[string][]index.Entry{
		"guide": {
			{ChunkID: "guide#0", Text: "Install: run the installer and restart.", Vector: []float32{1, 0, 0}},
			{ChunkID: "guide#1", Text: "Running the server behind a proxy.", Vector: []float32{0.6, 0.8, 0}},
		},
		"faq": {
			{ChunkID: "faq#0", Text: "How do I restart the server?", Vector: []float32{0, 0.6, 0.8}},
		},
	}
	for id, entries := range docs {
		for i := range entries {
			entries[i].Metadata = map[string]any{"kind": id}
		}
		if err := ix.Replace(id, entries); err != nil {
			panic(err)
		}
	}

	f := index.Filter{"kind": {In: []any{"guide", "faq"}}}
	if err := f.Validate(); err != nil {
		panic(err)
	}
	queryVector := []float32{0, 1, 0} // the embedding of the query
	fused := index.RRF(3, index.DefaultRRFConstant,
		ix.BM25("restarting the server", 10, f),
		ix.Vector(queryVector, 10, f))
	for _, h := range fused {
		fmt.Printf("%d %s bm25=%d vector=%d\n", h.Rank, h.ChunkID, h.Ranks[0], h.Ranks[1])
	}
	// Output:
	// 1 faq#0 bm25=1 vector=2
	// 2 guide#1 bm25=3 vector=1
	// 3 guide#0 bm25=2 vector=3
}
