package index

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"unicode"
	"unicode/utf8"

	"github.com/kljensen/snowball/english"
	"golang.org/x/text/unicode/norm"
)

// MaxTermBytes is the longest term the analyzer keeps; longer tokens (hashes,
// base64, run-together junk) are dropped.
const MaxTermBytes = 64

// stemSlots is the size of an Analyzer's stem cache, in words it remembers
// (a power of two; 1 MiB of pointers).
const stemSlots = 1 << 17

// Analyzer turns text into index terms. The zero value is ready to use and
// safe for concurrent use; it caches stems, so share one where you can.
//
// Text that is not ASCII is first put in Unicode NFKC form, so that
// composed and decomposed accents, ligatures ("ﬁ") and full-width forms
// ("Ａ") index alike. Tokenisation is Unicode-aware: a token is a run of letters and digits
// (with combining marks), and anything else (spaces, punctuation, symbols)
// separates tokens, so "don't" gives "don" and "t" and "3.14" gives "3" and
// "14". Han and Hiragana characters, which are written without spaces, are
// one token each. Tokens are lowercased; English stopwords (the Snowball
// list: "the", "of", "is", "how", ...) are dropped; the rest are stemmed
// with the Snowball (Porter2) English stemmer, except tokens containing a
// digit, which are kept as they are.
type Analyzer struct {
	once  sync.Once
	seed  maphash.Seed
	stems []atomic.Pointer[stemEntry] // stemSlots of them, by the word's hash
}

// stemEntry is a word and its index term ("" for a stopword). The cache is
// lock-free: a slot holds one entry, read and replaced atomically; a word
// whose slot holds another word is stemmed again and takes the slot.
type stemEntry struct{ word, term string }

func (a *Analyzer) init() {
	a.once.Do(func() {
		a.seed = maphash.MakeSeed()
		a.stems = make([]atomic.Pointer[stemEntry], stemSlots)
	})
}

func (a *Analyzer) slot(word []byte) *atomic.Pointer[stemEntry] {
	return &a.stems[maphash.Bytes(a.seed, word)&(stemSlots-1)]
}

// NewAnalyzer returns an Analyzer with an empty stem cache.
func NewAnalyzer() *Analyzer { return &Analyzer{} }

var defaultAnalyzer Analyzer

// Terms returns the index terms of text with the package's shared Analyzer.
func Terms(text string) []string { return defaultAnalyzer.Terms(text) }

// Terms returns the index terms of text, in order, repeats included.
func (a *Analyzer) Terms(text string) []string {
	if !isASCII(text) {
		text = norm.NFKC.String(text)
	}
	var (
		out     []string
		misses  []miss // words not in the cache, in out unstemmed
		buf     [MaxTermBytes + utf8.UTFMax]byte
		tok     = buf[:0]
		digit   bool
		toolong bool
	)
	a.init()
	flush := func() {
		if len(tok) > 0 && !toolong {
			if e := a.slot(tok).Load(); e != nil && e.word == string(tok) { // no allocation for the comparison
				if e.term != "" {
					out = append(out, e.term)
				}
			} else {
				misses = append(misses, miss{len(out), digit})
				out = append(out, string(tok))
			}
		}
		tok, digit, toolong = buf[:0], false, false
	}
	for _, r := range text {
		if r < utf8.RuneSelf {
			switch {
			case 'a' <= r && r <= 'z':
			case 'A' <= r && r <= 'Z':
				r += 'a' - 'A'
			case '0' <= r && r <= '9':
				digit = true
			default:
				flush()
				continue
			}
		} else {
			switch {
			case unicode.IsLetter(r):
				if unicode.In(r, unicode.Han, unicode.Hiragana) {
					flush()
					tok = utf8.AppendRune(tok, r)
					flush()
					continue
				}
				r = unicode.ToLower(r)
			case unicode.IsNumber(r):
				digit = true
			case unicode.In(r, unicode.Mn, unicode.Mc) && len(tok) > 0:
			default:
				flush()
				continue
			}
		}
		if len(tok)+utf8.RuneLen(r) > MaxTermBytes {
			toolong = true
			continue
		}
		tok = utf8.AppendRune(tok, r)
	}
	flush()
	if len(misses) == 0 {
		return out
	}

	words := make([]string, len(misses))
	for i, m := range misses {
		words[i] = out[m.at]
		out[m.at] = stem(words[i], m.digit)
	}
	for i, m := range misses {
		a.stems[maphash.String(a.seed, words[i])&(stemSlots-1)].Store(&stemEntry{word: words[i], term: out[m.at]})
	}
	// Drop the stopwords among the misses.
	kept := out[:0]
	for _, t := range out {
		if t != "" {
			kept = append(kept, t)
		}
	}
	return kept
}

// miss is a word of a text that was not in the stem cache: its position in
// the output and whether it has a digit.
type miss struct {
	at    int
	digit bool
}

// stem returns the index term of the lowercased word w: "" for a stopword,
// w itself when it has a digit, else its Snowball stem.
func stem(w string, digit bool) string {
	switch {
	case english.IsStopWord(w):
		return ""
	case digit:
		return w
	}
	return english.Stem(w, true)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
