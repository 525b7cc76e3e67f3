package index

import (
	"cmp"
	"math"
	"slices"
)

// DefaultRRFConstant is the usual constant of reciprocal rank fusion, from
// Cormack, Clarke and Büttcher (2009).
const DefaultRRFConstant = 60

// Fused is one result of RRF: a Hit whose Score is the fused score and whose
// Rank is its position in the fused list, with its rank in each input list.
type Fused struct {
	Hit
	// Ranks holds, for each input list in order, the chunk's 1-based rank
	// in it, or 0 when the list does not have it.
	Ranks []int
}

// RRF fuses ranked lists by reciprocal rank fusion and returns the best k.
// A chunk's score is the sum, over the lists that have it, of
// 1/(constant + rank), where rank is its 1-based position in the list (the
// Rank fields of the input are not read); a constant of 0 or less means
// DefaultRRFConstant. Chunks are identified by ChunkID, and a chunk that a
// list repeats counts at its first position. Ties are broken by ChunkID
// ascending. It returns nil when k < 1.
func RRF(k int, constant float64, lists ...[]Hit) []Fused {
	return WeightedRRF(k, constant, nil, lists...)
}

// WeightedRRF is RRF in which list i's votes are multiplied by weights[i]:
// a chunk's score is the sum, over the lists that have it, of
// weights[i]/(constant + rank). A missing weight (weights shorter than
// lists, or nil) is 1, so that equal weights are RRF; a list whose weight
// is not positive and finite still reports its ranks but adds nothing to
// the scores.
func WeightedRRF(k int, constant float64, weights []float64, lists ...[]Hit) []Fused {
	if k < 1 {
		return nil
	}
	if constant <= 0 {
		constant = DefaultRRFConstant
	}
	n := 0
	for _, l := range lists {
		n += len(l)
	}
	pos := make(map[string]int, n)
	var out []Fused
	for li, l := range lists {
		for i, h := range l {
			j, ok := pos[h.ChunkID]
			if !ok {
				j = len(out)
				pos[h.ChunkID] = j
				out = append(out, Fused{Hit: Hit{ChunkID: h.ChunkID, DocID: h.DocID}, Ranks: make([]int, len(lists))})
			}
			f := &out[j]
			if f.Ranks[li] != 0 {
				continue
			}
			f.Ranks[li] = i + 1
		}
	}
	for i := range out {
		// Sum in list order, so that equal rank patterns give equal scores.
		var s float64
		for li, r := range out[i].Ranks {
			if r > 0 {
				s += weight(weights, li) / (constant + float64(r))
			}
		}
		out[i].Score = s
	}
	slices.SortFunc(out, func(a, b Fused) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return cmp.Compare(a.ChunkID, b.ChunkID)
	})
	out = out[:min(k, len(out))]
	for i := range out {
		out[i].Rank = i + 1
	}
	return slices.Clip(out)
}

// weight returns weights[i], 1 when there is none, and 0 when it is not
// positive and finite.
func weight(weights []float64, i int) float64 {
	if i >= len(weights) {
		return 1
	}
	w := weights[i]
	if !(w > 0) || math.IsInf(w, 0) {
		return 0
	}
	return w
}
