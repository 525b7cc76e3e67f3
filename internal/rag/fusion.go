package rag

import (
	"strings"

	"github.com/crispy-enigma/crispy/internal/rag/index"
)

// Weights of the vector list in hybrid fusion (weighted reciprocal rank
// fusion, constant index.DefaultRRFConstant), BM25's list weighing 1.
const (
	// SemanticVectorWeight is the weight of an embedding model's list: a
	// language model's vectors carry evidence BM25 does not (synonyms,
	// paraphrase), and the two lists vote equally, as in plain RRF.
	SemanticVectorWeight = 1.0
	// LexicalVectorWeight is the weight of the builtin hashing embedder's
	// list (builtin/hash-N). Its features are the text's words, word pairs
	// and character 3-grams: the evidence BM25 weighs, less well, so its
	// list should break BM25's near-ties and fill in where BM25 finds too
	// few chunks, never overrule it. That fixes the weight: it is the
	// largest at which the vector list's first chunk, 1/(60+1) times the
	// weight, does not outvote BM25's last candidate, 1/(60+100): a chunk
	// that only the vectors find never outranks one BM25 finds.
	LexicalVectorWeight = (index.DefaultRRFConstant + 1.0) / (index.DefaultRRFConstant + candidates)
)

// VectorWeight returns the weight of the vector list in hybrid fusion for
// the vectors of an embedding model (a provider/model reference):
// LexicalVectorWeight for the builtin hashing embedder, SemanticVectorWeight
// for any other model.
func VectorWeight(model string) float64 {
	if strings.HasPrefix(model, "builtin/hash-") {
		return LexicalVectorWeight
	}
	return SemanticVectorWeight
}
