package main

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"unicode"

	"github.com/tiktoken-go/tokenizer"
)

// functionWords are the most frequent English words, which head the
// vocabulary in this order; most are stopwords that the BM25 analyzer drops
// and the builtin embedder skips.
var functionWords = strings.Fields(`the of and to a in is that for it as was with be by on not he
this are or his from at which but have an they you were her she there one all we their has been
would more will if no when can other its so what up out who some them only into then could time
these two may first any new like our also than after most such made over see where how each
use used many well way because through must should between while both under same those being
very much before part work during system number based data example information process`)

// vocabulary returns n distinct lowercase words, most frequent first: the
// function words, then the words that cl100k_base holds as a single token
// with a leading space (four letters or more, with a vowel), in token ID
// order, which is roughly the order of their frequency in the tokenizer's
// training text. Text made of them has about one token a word, as English
// does.
func vocabulary(n int) ([]string, error) {
	c, err := tokenizer.Get(tokenizer.Cl100kBase)
	if err != nil {
		return nil, fmt.Errorf("vocabulary: %w", err)
	}
	seen := make(map[string]bool, n)
	words := make([]string, 0, n)
	add := func(w string) {
		if len(words) < n && !seen[w] {
			seen[w] = true
			words = append(words, w)
		}
	}
	for _, w := range functionWords {
		add(w)
	}
	for id := uint(0); id < 100256 && len(words) < n; id++ {
		s, err := c.Decode([]uint{id})
		if err != nil {
			continue
		}
		w, ok := strings.CutPrefix(s, " ")
		if ok && len(w) >= 4 && isWord(w) {
			add(w)
		}
	}
	if len(words) < n {
		return nil, fmt.Errorf("vocabulary: only %d words, %d asked for", len(words), n)
	}
	return words, nil
}

// isWord reports whether w is lowercase ASCII letters with a vowel.
func isWord(w string) bool {
	vowel := false
	for _, r := range w {
		if r < 'a' || r > 'z' {
			return false
		}
		vowel = vowel || strings.ContainsRune("aeiouy", r)
	}
	return vowel
}

// corpus generates Markdown documents and queries from a vocabulary, with
// word frequencies following Zipf's law.
type corpus struct {
	words []string
	rng   *rand.Rand
	zipf  *rand.Zipf
	// queryMinRank is the first rank a query word may have: queries are
	// made of content words, not of the function words.
	queryMinRank int
}

// newCorpus returns a generator over words with Zipf exponent s (> 1).
func newCorpus(words []string, s float64, seed uint64) *corpus {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	return &corpus{
		words:        words,
		rng:          rng,
		zipf:         rand.NewZipf(rng, s, 2, uint64(len(words)-1)),
		queryMinRank: min(len(functionWords), len(words)/2),
	}
}

func (c *corpus) word() string { return c.words[c.zipf.Uint64()] }

// between returns a uniform integer in [lo, hi].
func (c *corpus) between(lo, hi int) int { return lo + c.rng.IntN(hi-lo+1) }

// phrase appends n words, the first capitalised when title is set.
func (c *corpus) phrase(b *strings.Builder, n int, title bool) {
	for i := range n {
		if i > 0 {
			b.WriteByte(' ')
		}
		w := c.word()
		if title || i == 0 {
			b.WriteString(capitalize(w))
		} else {
			b.WriteString(w)
		}
	}
}

// sentence appends a sentence of 6 to 24 words, with a comma now and then.
func (c *corpus) sentence(b *strings.Builder) {
	n := c.between(6, 24)
	comma := -1
	if n > 10 && c.rng.IntN(2) == 0 {
		comma = c.between(3, n-4)
	}
	for i := range n {
		w := c.word()
		switch {
		case i == 0:
			b.WriteString(capitalize(w))
		default:
			b.WriteByte(' ')
			b.WriteString(w)
		}
		if i == comma {
			b.WriteByte(',')
		}
	}
	b.WriteByte('.')
}

// document returns a Markdown document of about size bytes (from 0.6 to 1.4
// times size): a title, sections with "##" headings and now and then a
// "###" subsection, paragraphs of 2 to 7 sentences, and a bullet list in
// about one section of five.
func (c *corpus) document(size int) string {
	target := size * c.between(60, 140) / 100
	var b strings.Builder
	b.Grow(target + 1024)
	b.WriteString("# ")
	c.phrase(&b, c.between(3, 7), true)
	b.WriteString("\n\n")
	for b.Len() < target {
		if b.Len() > 0 && c.rng.IntN(4) == 0 {
			b.WriteString("### ")
		} else {
			b.WriteString("## ")
		}
		c.phrase(&b, c.between(2, 5), true)
		b.WriteString("\n\n")
		for p := c.between(1, 4); p > 0 && b.Len() < target; p-- {
			for i := range c.between(2, 7) {
				if i > 0 {
					b.WriteByte(' ')
				}
				c.sentence(&b)
			}
			b.WriteString("\n\n")
		}
		if c.rng.IntN(5) == 0 {
			for range c.between(3, 6) {
				b.WriteString("- ")
				c.phrase(&b, c.between(3, 10), false)
				b.WriteByte('\n')
			}
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// query returns 3 to 6 content words, drawn with the documents' Zipf
// frequencies.
func (c *corpus) query() string {
	n := c.between(3, 6)
	ws := make([]string, 0, n)
	for len(ws) < n {
		r := int(c.zipf.Uint64())
		if r >= c.queryMinRank {
			ws = append(ws, c.words[r])
		}
	}
	return strings.Join(ws, " ")
}

func capitalize(w string) string {
	if w == "" {
		return w
	}
	return string(unicode.ToUpper(rune(w[0]))) + w[1:]
}
