package index

import (
	"cmp"
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
		for _, r := range out[i].Ranks {
			if r > 0 {
				s += 1 / (constant + float64(r))
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
