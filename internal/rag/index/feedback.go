package index

import (
	"cmp"
	"math"
	"slices"
)

// Defaults of Expansion, from the usual settings of RM3 (Lavrenko and
// Croft, 2001; Abdul-Jaleel et al., UMass at TREC 2004), as in Anserini.
const (
	DefaultFeedbackDocs   = 10  // first-pass chunks the expansion learns from
	DefaultExpansionTerms = 10  // terms the relevance model keeps
	DefaultOriginalWeight = 0.5 // share of the query's own terms
)

// DefaultRocchioBeta is the weight of the feedback centroid in Rocchio, the
// classic SMART setting (α = 1, β = 0.75).
const DefaultRocchioBeta = 0.75

// Feedback is a chunk that pseudo-relevance feedback learns from: the text
// it was indexed with (Entry.Text) and its score in the first retrieval.
type Feedback struct {
	Text  string
	Score float64
}

// Expansion configures Expand. The zero value means the defaults.
type Expansion struct {
	// Terms is how many terms of the relevance model are kept;
	// 0 or less means DefaultExpansionTerms.
	Terms int
	// OriginalWeight is the weight λ of the query's own terms in the
	// expanded query, the relevance model having 1 − λ; outside (0, 1]
	// means DefaultOriginalWeight.
	OriginalWeight float64
}

// Expand returns query expanded by RM3 pseudo-relevance feedback over the
// chunks of a first retrieval, best first (pass the first
// DefaultFeedbackDocs hits):
//
//	P(w|R) ∝ Σ_d score(d) · tf(w, d) / |d|       the relevance model, RM1
//	q'(w)  = λ · P(w|Q) + (1 − λ) · P(w|R)        RM3
//
// where P(w|Q) is qtf(w)/|Q|, the query's maximum-likelihood model (qtf
// counts how many times the query says w, |Q| is its number of terms,
// repeats included, as Anserini builds it), d ranges over
// the feedback chunks with their scores normalised to sum to 1, tf and |d|
// count index terms, and P(w|R) is cut to its Terms best terms (single
// ASCII characters and pure numbers are left out) and normalised again.
// The weights returned are q'(w) · |Q|/λ: the ranking is RM3's, and each
// of the query's own terms weighs its qtf (its weight in QueryTerms) plus
// its share of the relevance model, so that scores stay on the scale of
// plain BM25. The result is sorted by
// weight, then term; feed it to BM25Terms. With no usable feedback (no
// chunk, or no positive score) or λ = 1 it is QueryTerms(query).
func (ix *Index) Expand(query string, fb []Feedback, e Expansion) []QueryTerm {
	q := ix.QueryTerms(query)
	if len(q) == 0 {
		return q
	}
	if e.Terms <= 0 {
		e.Terms = DefaultExpansionTerms
	}
	lambda := e.OriginalWeight
	if !(lambda > 0 && lambda <= 1) {
		lambda = DefaultOriginalWeight
	}
	var total float64
	for _, d := range fb {
		if d.Score > 0 && !math.IsInf(d.Score, 0) {
			total += d.Score
		}
	}
	if total == 0 || lambda == 1 {
		return q
	}

	rm := make(map[string]float64, 64*len(fb))
	for _, d := range fb {
		if !(d.Score > 0) || math.IsInf(d.Score, 0) {
			continue
		}
		terms := ix.an.Terms(d.Text)
		if len(terms) == 0 {
			continue
		}
		w := d.Score / total / float64(len(terms))
		for _, t := range terms {
			rm[t] += w
		}
	}
	// The best e.Terms terms, kept sorted by insertion: most terms of the
	// model fall below the last kept one and cost one comparison.
	model := make([]QueryTerm, 0, e.Terms+1)
	for t, w := range rm {
		c := QueryTerm{t, w}
		if len(model) == e.Terms && byWeight(c, model[len(model)-1]) > 0 || !expansionTerm(t) {
			continue
		}
		i, _ := slices.BinarySearchFunc(model, c, byWeight)
		model = slices.Insert(model, i, c)
		if len(model) > e.Terms {
			model = model[:e.Terms]
		}
	}
	var sum float64
	for _, t := range model {
		sum += t.Weight
	}

	// RM3 scaled by |Q|/λ, which does not change the ranking but keeps
	// scores on the scale of BM25's: the query's own terms weigh at least 1.
	out := make(map[string]float64, len(q)+len(model))
	var qlen float64 // |Q|
	for _, t := range q {
		out[t.Term] += t.Weight
		qlen += t.Weight
	}
	scale := (1 - lambda) / lambda * qlen / sum
	for _, t := range model {
		out[t.Term] += scale * t.Weight
	}
	expanded := make([]QueryTerm, 0, len(out))
	for t, w := range out {
		expanded = append(expanded, QueryTerm{t, w})
	}
	slices.SortFunc(expanded, byWeight)
	return expanded
}

// byWeight orders terms by weight, heaviest first, then by term.
func byWeight(a, b QueryTerm) int {
	if c := cmp.Compare(b.Weight, a.Weight); c != 0 {
		return c
	}
	return cmp.Compare(a.Term, b.Term)
}

// expansionTerm reports whether a feedback term may join a query: not a
// single ASCII character and not only digits.
func expansionTerm(t string) bool {
	if len(t) < 2 {
		return false
	}
	for i := 0; i < len(t); i++ {
		if t[i] < '0' || t[i] > '9' {
			return true
		}
	}
	return false
}

// Rocchio returns the query vector q moved toward the vectors of the chunks
// of hits, pseudo-relevance feedback in vector space (Rocchio, 1971):
//
//	q' = q/|q| + β · (1/n) Σ d
//
// over the n chunks of hits that are live and have a vector (d is stored
// unit-length). Pass the first DefaultFeedbackDocs hits of a retrieval; β
// of 0 or less, or not finite, means DefaultRocchioBeta. Vector normalises
// q' again. It returns q itself when no chunk of hits has a vector, when q
// is zero, or when its dimension differs from the Index's.
func (ix *Index) Rocchio(q []float32, hits []Hit, beta float64) []float32 {
	if !(beta > 0) || math.IsInf(beta, 0) {
		beta = DefaultRocchioBeta
	}
	qn, ok := normalize(q)
	if !ok {
		return q
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if len(qn) != ix.vecs.dim {
		return q
	}
	sum := make([]float64, len(qn))
	n := 0
	for _, h := range hits {
		row, ok := ix.vectorRow(h.DocID, h.ChunkID)
		if !ok {
			continue
		}
		ix.vecs.accumulate(row, sum)
		n++
	}
	if n == 0 {
		return q
	}
	w := beta / float64(n)
	for i := range qn {
		qn[i] += float32(w * sum[i])
	}
	return qn
}

// vectorRow returns the slab row of a live chunk's vector. Callers hold the
// read lock.
func (ix *Index) vectorRow(docID, chunkID string) (int, bool) {
	for _, s := range ix.docs[docID] {
		if ix.chunkIDs[s] != chunkID {
			continue
		}
		if ix.flags[s]&slotVec == 0 {
			return 0, false
		}
		// Rows are added in slot order and compaction keeps it.
		r, found := slices.BinarySearch(ix.vecSlot, s)
		return r, found
	}
	return 0, false
}
