package rag

import (
	"fmt"
	"testing"

	"github.com/crispy-enigma/crispy/internal/rag/index"
)

func TestVectorWeight(t *testing.T) {
	for model, want := range map[string]float64{
		"builtin/hash-384":                    LexicalVectorWeight,
		"builtin/hash-1024":                   LexicalVectorWeight,
		"openai/text-embedding-3-small":       1,
		"workersai/@cf/baai/bge-base-en-v1.5": 1,
		"":                                    1,
	} {
		if got := VectorWeight(model); got != want {
			t.Errorf("VectorWeight(%q) = %v, want %v", model, got, want)
		}
	}
}

// With the hashing embedder's weight, the vectors reorder BM25's candidates
// but never put a chunk BM25 did not find before one it found.
func TestLexicalWeightKeepsBM25Candidates(t *testing.T) {
	var bm25, vec []index.Hit
	for i := range candidates {
		bm25 = append(bm25, index.Hit{ChunkID: fmt.Sprintf("b%03d", i), DocID: "d"})
	}
	// The vectors' best chunk is one BM25 did not find; then BM25's last
	// candidate and its second.
	vec = append(vec, index.Hit{ChunkID: "v", DocID: "d"}, bm25[candidates-1], bm25[1])
	fused := index.WeightedRRF(candidates+1, index.DefaultRRFConstant, []float64{1, LexicalVectorWeight}, bm25, vec)
	if len(fused) != candidates+1 || fused[candidates].ChunkID != "v" {
		t.Fatalf("the vector-only chunk is not last: %v", fused[len(fused)-1])
	}
	// Near-ties move: b001 (vector rank 3) passes b000 (no vector rank).
	if fused[0].ChunkID != "b001" || fused[1].ChunkID != "b000" {
		t.Errorf("fused top = %s, %s; want b001, b000", fused[0].ChunkID, fused[1].ChunkID)
	}
	// Equal votes (a semantic model) put the vector-only chunk well ahead
	// of BM25's last candidates.
	fused = index.WeightedRRF(candidates+1, index.DefaultRRFConstant, []float64{1, SemanticVectorWeight}, bm25, vec)
	for i, f := range fused {
		if f.ChunkID == "v" && i > 20 {
			t.Errorf("equal weights: the vector-only chunk is at %d", i+1)
		}
	}
}
