package tokens

import (
	"hash/maphash"
	"sync"
)

// Texts are often counted again: a chat session's history is counted on
// every turn, a passage for every prompt it joins. Counts of longer texts
// are kept in a small cache, keyed by a 64-bit hash and the length (a
// collision, about one in 2^64, would only misstate an estimate).
const (
	memoMinBytes = 16
	memoEntries  = 8192
)

var memo = newCountMemo(memoEntries)

type memoKey struct {
	hash uint64
	n    int
}

// countMemo is a map that forgets everything when it fills: simpler than an
// LRU, and the texts that matter (a live session's history) come back at
// once.
type countMemo struct {
	seed maphash.Seed
	max  int
	mu   sync.Mutex
	m    map[memoKey]int
}

func newCountMemo(max int) *countMemo {
	return &countMemo{seed: maphash.MakeSeed(), max: max, m: make(map[memoKey]int, max)}
}

func (c *countMemo) key(s string) memoKey {
	return memoKey{maphash.String(c.seed, s), len(s)}
}

func (c *countMemo) get(s string) (int, bool) {
	k := c.key(s)
	c.mu.Lock()
	n, ok := c.m[k]
	c.mu.Unlock()
	return n, ok
}

func (c *countMemo) put(s string, n int) {
	k := c.key(s)
	c.mu.Lock()
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[k] = n
	c.mu.Unlock()
}
