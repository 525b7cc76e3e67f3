package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/crispy-enigma/crispy/bench/eval/cranfield"
)

// Floors of nDCG@10 on Cranfield, from the measurement of the change that
// set them (BM25 with RM3 0.3970, vector 0.2724, hybrid 0.3986,
// builtin/hash-384, default chunking) less 0.01. The evaluation is
// deterministic, so a drop below them is a change in retrieval, not noise.
var floors = map[string]float64{
	"bm25":   0.387,
	"vector": 0.262,
	"hybrid": 0.388,
}

// bestFloor is the floor of the best mode's nDCG@10.
const bestFloor = 0.388

// TestCranfieldFloor runs the evaluation in every mode and fails when
// retrieval quality drops below the floors, or when hybrid, the default,
// scores below BM25: on the builtin embedder, hybrid must never be worse
// than its best single retriever. It needs the collection: at
// $CRISPY_CRANFIELD, or at ../shared/data/cranfield beside the module root.
func TestCranfieldFloor(t *testing.T) {
	if testing.Short() {
		t.Skip("the Cranfield evaluation takes seconds; skipped in -short mode")
	}
	dir := collectionDir(t)
	// nDCG@10 needs only the first ten documents: the first topK chunks of
	// a result are the same whatever topK (fusion ranks 100 candidates of
	// each list either way), and fewer chunks cost less JSON under -race.
	// Recall@100 and MAP are therefore over fewer documents than the
	// command's and are not checked.
	o := options{Data: dir, Model: "builtin/hash-384", Modes: []string{"bm25", "vector", "hybrid"}, TopK: 30, Batch: 8, Workers: 2}
	rep, err := evaluate(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	var table bytes.Buffer
	printReport(&table, o, rep)
	t.Logf("\n%s", table.String())

	if rep.Docs != 1398 || rep.Skipped != 2 {
		t.Errorf("%d documents ingested, %d skipped; want 1398 and 2", rep.Docs, rep.Skipped)
	}
	best := 0.0
	for _, m := range rep.Modes {
		best = max(best, m.Scores.NDCG10)
		if m.DocsPerQuery < 10 {
			t.Errorf("%s: %.1f documents a query; nDCG@10 needs 10", m.Mode, m.DocsPerQuery)
		}
		if m.Scores.Queries != 225 {
			t.Errorf("%s: %d queries scored, want 225", m.Mode, m.Scores.Queries)
		}
		if floor, ok := floors[m.Mode]; ok && m.Scores.NDCG10 < floor {
			t.Errorf("%s: nDCG@10 %.4f is below its floor %.3f", m.Mode, m.Scores.NDCG10, floor)
		}
	}
	ndcg := map[string]float64{}
	for _, m := range rep.Modes {
		ndcg[m.Mode] = m.Scores.NDCG10
	}
	if ndcg["hybrid"] < ndcg["bm25"] || ndcg["hybrid"] < ndcg["vector"] {
		t.Errorf("hybrid nDCG@10 %.4f is below a single retriever's: bm25 %.4f, vector %.4f", ndcg["hybrid"], ndcg["bm25"], ndcg["vector"])
	}
	if best < bestFloor {
		t.Errorf("best nDCG@10 %.4f is below the floor %.3f", best, bestFloor)
	}
}

// collectionDir returns the collection's folder or skips the test.
func collectionDir(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("CRISPY_CRANFIELD"); dir != "" {
		if _, err := os.Stat(filepath.Join(dir, cranfield.DocsFile)); err != nil {
			t.Skipf("CRISPY_CRANFIELD=%s holds no Cranfield collection (%v); skipping the retrieval quality floor", dir, err)
		}
		return dir
	}
	dir, err := cranfield.DefaultDir()
	if err != nil {
		t.Skipf("%v; skipping the retrieval quality floor (set CRISPY_CRANFIELD to the folder of cran.all.1400, cran.qry and cranqrel)", err)
	}
	return dir
}
