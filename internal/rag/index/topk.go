package index

import "slices"

// cand is a scored slot.
type cand struct {
	score float64
	slot  uint32
}

// topK keeps the k best candidates in a min-heap whose root is the worst:
// the lowest score, and among equal scores the greatest ChunkID, so that
// ties are broken by ChunkID ascending whatever the scan order.
type topK struct {
	k     int
	ids   []string // chunk IDs by slot
	items []cand
}

func newTopK(k int, ids []string) topK {
	return topK{k: k, ids: ids, items: make([]cand, 0, min(k, 1024))}
}

// worse reports whether a ranks below b.
func (t *topK) worse(a, b cand) bool {
	if a.score != b.score {
		return a.score < b.score
	}
	return t.ids[a.slot] > t.ids[b.slot]
}

// full reports whether the heap holds k candidates; then min is the score a
// candidate must at least reach.
func (t *topK) full() bool { return len(t.items) == t.k }

func (t *topK) min() float64 { return t.items[0].score }

// push offers c.
func (t *topK) push(c cand) {
	h := t.items
	if len(h) < t.k {
		h = append(h, c)
		i := len(h) - 1
		for i > 0 {
			p := (i - 1) / 2
			if !t.worse(h[i], h[p]) {
				break
			}
			h[i], h[p] = h[p], h[i]
			i = p
		}
		t.items = h
		return
	}
	if !t.worse(h[0], c) {
		return
	}
	h[0] = c
	i := 0
	for {
		l := 2*i + 1
		if l >= len(h) {
			break
		}
		m := l
		if r := l + 1; r < len(h) && t.worse(h[r], h[l]) {
			m = r
		}
		if !t.worse(h[m], h[i]) {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

// hits returns the candidates best first, as Hits, or nil when there are
// none.
func (t *topK) hits(docIDs []string) []Hit {
	if len(t.items) == 0 {
		return nil
	}
	slices.SortFunc(t.items, func(a, b cand) int {
		switch {
		case t.worse(b, a):
			return -1
		case t.worse(a, b):
			return 1
		}
		return 0
	})
	out := make([]Hit, len(t.items))
	for i, c := range t.items {
		out[i] = Hit{ChunkID: t.ids[c.slot], DocID: docIDs[c.slot], Score: c.score, Rank: i + 1}
	}
	return out
}
