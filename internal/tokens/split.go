package tokens

import (
	"hash/maphash"
	"sync/atomic"
)

// cl100k_base first splits text into pieces with this pattern, then encodes
// each piece on its own with byte-pair merges:
//
//	(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//
// The library runs it with a backtracking engine, which costs more than
// the merges. pieceLen does the same split by hand for plain ASCII text (where
// \p{L} is A-Z a-z, \p{N} is 0-9 and \s is space, \t, \n, \v, \f, \r), and
// a piece's count comes from a cache of pieces, so common words cost one
// map lookup. Text with any other byte takes the library's path (plain). The test
// checks both paths agree on random and real text, and a fuzz target keeps
// checking.

// class is what the pattern can tell of an ASCII byte.
type class uint8

const (
	other  class = iota // punctuation, symbols, control characters
	letter              // A-Z a-z
	digit               // 0-9
	space               // space, \t, \v, \f
	eol                 // \r, \n
)

var classes = func() (t [128]class) {
	for c := range t {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
			t[c] = letter
		case '0' <= c && c <= '9':
			t[c] = digit
		case c == '\r' || c == '\n':
			t[c] = eol
		case c == ' ' || c == '\t' || c == '\v' || c == '\f':
			t[c] = space
		}
	}
	return t
}()

// plain reports whether s takes the fast path: printable ASCII, space,
// \t, \n, \v, \f and \r only. The library treats other control bytes
// in ways of its own (it drops DEL, and splits before NUL), so text with
// them, like text beyond ASCII, takes the library's path.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; (b < 0x20 && (b < '\t' || b > '\r')) || b >= 0x7f {
			return false
		}
	}
	return true
}

// pieceLen returns the length of the piece that starts at s[i]: the first
// alternative of the pattern that matches there, as the pattern's engine
// would take it.
func pieceLen(s string, i int) int {
	at := func(j int) class {
		if j < len(s) {
			return classes[s[j]]
		}
		return 255
	}
	c := at(i)
	// 's 't 're 've 'm 'll 'd, in any case.
	if s[i] == '\'' && i+1 < len(s) {
		switch s[i+1] | 0x20 {
		case 's', 't', 'm', 'd':
			return 2
		case 'r', 'v':
			if i+2 < len(s) && s[i+2]|0x20 == 'e' {
				return 3
			}
		case 'l':
			if i+2 < len(s) && s[i+2]|0x20 == 'l' {
				return 3
			}
		}
	}
	// An optional non-letter, non-digit, non-newline byte, then letters.
	if c == letter || (c != digit && c != eol && at(i+1) == letter) {
		j := i + 1
		for at(j) == letter {
			j++
		}
		return j - i
	}
	// One to three digits.
	if c == digit {
		j := i + 1
		for j < i+3 && at(j) == digit {
			j++
		}
		return j - i
	}
	// An optional space, punctuation, then newlines.
	if c == other || (s[i] == ' ' && at(i+1) == other) {
		j := i + 1
		for at(j) == other {
			j++
		}
		for at(j) == eol {
			j++
		}
		return j - i
	}
	// Whitespace: up to and through the last newline of the run, if it has
	// one; else all of it but a last space before a non-space; else the one
	// space.
	end, lastEOL := i, -1
	for k := at(end); k == space || k == eol; k = at(end) {
		if k == eol {
			lastEOL = end
		}
		end++
	}
	if lastEOL >= 0 {
		return lastEOL + 1 - i
	}
	if end == len(s) || end-i == 1 {
		return end - i
	}
	return end - 1 - i
}

// pieceCache caches the token counts of pieces, without locks: a table of
// 2^17 words (1 MiB), each packing the high 48 bits of a piece's 64-bit hash
// with its count, read and written atomically, so a reader sees a whole
// entry or none. The low bits of the hash pick a pair of slots; a piece is
// looked for in both and stored in the first that is free, else in the one
// its hash prefers, replacing what was there. Two pieces would be confused
// only if their hashes agreed in 64 bits but one, far rarer than anything
// the counts are used for would notice.
var pieceCache struct {
	seed  maphash.Seed
	slots [1 << pieceSlotBits]atomic.Uint64
}

const (
	pieceSlotBits = 17
	maxPieceBytes = 64     // longer pieces (rare: runs of symbols, long words) are not kept
	maxPieceCount = 0xffff // a count that does not fit the entry is not kept
)

func init() { pieceCache.seed = maphash.MakeSeed() }

// countASCII counts the tokens of s, an ASCII string, with count encoding a
// piece the library's way and the cache remembering pieces.
func countASCII(s string, count func(piece string) int) int {
	total := 0
	for i := 0; i < len(s); {
		p := s[i : i+pieceLen(s, i)]
		i += len(p)
		if len(p) > maxPieceBytes {
			total += count(p)
			continue
		}
		h := maphash.String(pieceCache.seed, p)
		i := h & (1<<pieceSlotBits - 1)
		a, b := &pieceCache.slots[i], &pieceCache.slots[i^1]
		tag := h >> 16 << 16
		ea, eb := a.Load(), b.Load()
		if ea != 0 && ea>>16<<16 == tag {
			total += int(ea & 0xffff)
			continue
		}
		if eb != 0 && eb>>16<<16 == tag {
			total += int(eb & 0xffff)
			continue
		}
		n := count(p)
		total += n
		if n > 0 && n < maxPieceCount {
			if ea != 0 && eb == 0 {
				a = b
			}
			a.Store(tag | uint64(n))
		}
	}
	return total
}
