package chunk

import (
	"sort"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/crispy-enigma/crispy/internal/tokens"
)

// Counting tokens is what chunking spends its time on: tokens.Count runs at
// a few MB/s. The counter below makes it both exact and cheap.
//
// cl100k_base first cuts text into pieces with a regular expression and then
// encodes each piece on its own. In that expression a space never follows a
// non-space character within one piece: a space comes only at the start of
// a piece or in a piece of white space alone. Nor does a piece go on from a
// letter or digit into punctuation or a line break. So wherever a space
// follows a letter, a digit or a visible ASCII character, or punctuation or
// a line break follows an ASCII letter or digit, a piece boundary lies
// between the two, whatever text surrounds them; and the count of any text
// is the sum of the counts of its parts cut at such boundaries.
//
// The counter cuts a section at those places into segments (" word", ",",
// " the"), counts each segment once, through a cache of frequent segments
// shared by all calls, and keeps prefix sums, so that the exact count of any
// range is two short counts at its ends plus a subtraction. TestCountExact
// holds it to tokens.Count on adversarial text.

const (
	maxCachedLen = 32      // longer segments are counted, not cached
	maxCached    = 1 << 16 // entries in the shared cache before it starts over
	batch        = 256     // segments looked up under one read lock
)

// segments caches the counts of short segments across calls. Counts are
// exact whatever the cache holds, so the cache never changes a result.
var segments = struct {
	sync.RWMutex
	m map[string]int32
}{m: make(map[string]int32)}

// counter counts the tokens of ranges of one section of text.
type counter struct {
	text   string
	bounds []int // boundary offsets in the section, ascending
	prefix []int // prefix[k] is the count of text[bounds[0]:bounds[k]]
	miss   map[string]int32

	memoA, memoB, memoN int // the last left edge counted: text[memoA:memoB] has memoN tokens
}

// reset prepares the counter for text[start:end].
func (c *counter) reset(text string, start, end int) {
	c.text = text
	c.bounds = c.bounds[:0]
	c.memoA, c.memoB = -1, -1
	for p := start + 1; p < end; p++ {
		switch class[text[p]] {
		case space:
			if solidBefore(text, p) {
				c.bounds = append(c.bounds, p)
			}
		case mark:
			if class[text[p-1]] == alnum {
				c.bounds = append(c.bounds, p)
			}
		}
	}
	n := len(c.bounds)
	if cap(c.prefix) < n {
		c.prefix = make([]int, n)
	}
	c.prefix = c.prefix[:n]
	if n == 0 {
		return
	}
	// Look segments up in batches under one read lock, then count the
	// misses with the lock released.
	c.prefix[0] = 0
	for k0 := 1; k0 < n; k0 += batch {
		k1 := min(k0+batch, n)
		segments.RLock()
		for k := k0; k < k1; k++ {
			seg := text[c.bounds[k-1]:c.bounds[k]]
			v, ok := int32(-1), false
			if len(seg) <= maxCachedLen {
				v, ok = segments.m[seg]
			}
			if !ok {
				v = -1
			}
			c.prefix[k] = int(v)
		}
		segments.RUnlock()
		for k := k0; k < k1; k++ {
			if c.prefix[k] < 0 {
				c.prefix[k] = c.countMiss(text[c.bounds[k-1]:c.bounds[k]])
			}
		}
	}
	for k := 1; k < n; k++ {
		c.prefix[k] += c.prefix[k-1]
	}
}

// flush shares the segments counted by this counter through the cache.
func (c *counter) flush() {
	if len(c.miss) == 0 {
		return
	}
	segments.Lock()
	if len(segments.m)+len(c.miss) > maxCached {
		segments.m = make(map[string]int32, maxCached)
	}
	for s, n := range c.miss {
		segments.m[strings.Clone(s)] = n
	}
	segments.Unlock()
	clear(c.miss)
}

// countMiss counts a segment the shared cache lacks.
func (c *counter) countMiss(s string) int {
	if len(s) > maxCachedLen {
		return tokens.Count(s)
	}
	if n, ok := c.miss[s]; ok {
		return int(n)
	}
	n := tokens.Count(s)
	if c.miss == nil {
		c.miss = make(map[string]int32)
	}
	c.miss[s] = int32(n)
	return n
}

// direct counts text[a:b] as one piece.
func (c *counter) direct(a, b int) int {
	s := c.text[a:b]
	if len(s) <= maxCachedLen {
		segments.RLock()
		n, ok := segments.m[s]
		segments.RUnlock()
		if ok {
			return int(n)
		}
	}
	return c.countMiss(s)
}

// count returns the exact number of tokens in text[a:b], a range of the
// section.
func (c *counter) count(a, b int) int {
	if a >= b {
		return 0
	}
	// The first boundary with its left neighbour in range, the last with
	// its space in range.
	i := sort.SearchInts(c.bounds, a+1)
	j := sort.SearchInts(c.bounds, b) - 1
	if i >= len(c.bounds) || j < i {
		return c.direct(a, b)
	}
	var left int
	if c.memoA == a && c.memoB == c.bounds[i] {
		left = c.memoN
	} else {
		left = c.direct(a, c.bounds[i])
		c.memoA, c.memoB, c.memoN = a, c.bounds[i], left
	}
	return left + c.prefix[j] - c.prefix[i] + c.direct(c.bounds[j], b)
}

// Byte classes for finding boundaries.
const (
	other = iota
	space // ' ': a boundary after a solid character
	alnum // an ASCII letter or digit
	mark  // ASCII punctuation or '\n': a boundary after alnum
)

var class = func() (t [256]uint8) {
	for c := 0x21; c < 0x7f; c++ {
		t[c] = mark
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = alnum
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = alnum
		t[c-'a'+'A'] = alnum
	}
	t[' '] = space
	t['\n'] = mark
	return t
}()

// solidBefore reports whether the character before offset p is one that no
// tokenizer piece can carry on past into a following space: a visible ASCII
// character, or a letter or digit.
func solidBefore(text string, p int) bool {
	if p == 0 {
		return false
	}
	if c := text[p-1]; c < utf8.RuneSelf {
		return c > ' ' && c < 0x7f
	}
	r, size := utf8.DecodeLastRuneInString(text[:p])
	if r == utf8.RuneError && size <= 1 {
		return false
	}
	return unicode.IsLetter(r) || unicode.IsDigit(r)
}
