package index

import (
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/kljensen/snowball/english"
	"golang.org/x/text/unicode/norm"
)

// MaxTermBytes is the longest term the analyzer keeps; longer tokens (hashes,
// base64, run-together junk) are dropped.
const MaxTermBytes = 64

// maxStemCache bounds the number of words an Analyzer remembers stems for.
const maxStemCache = 1 << 17

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
	mu    sync.RWMutex
	stems map[string]string
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
	// One read lock for the text, not one per word; words missing from the
	// cache are stemmed after it and added under one write lock.
	a.mu.RLock()
	flush := func() {
		if len(tok) > 0 && !toolong {
			if t, ok := a.stems[string(tok)]; ok { // no allocation for the lookup
				if t != "" {
					out = append(out, t)
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
	a.mu.RUnlock()
	if len(misses) == 0 {
		return out
	}

	words := make([]string, len(misses))
	for i, m := range misses {
		words[i] = out[m.at]
		out[m.at] = stem(words[i], m.digit)
	}
	a.mu.Lock()
	if a.stems == nil {
		a.stems = make(map[string]string)
	}
	for i, m := range misses {
		if len(a.stems) >= maxStemCache {
			break
		}
		a.stems[words[i]] = out[m.at]
	}
	a.mu.Unlock()
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
