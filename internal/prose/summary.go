package prose

import (
	"cmp"
	"slices"
	"strings"
	"unicode"
)

// defaultSummarySentences is the length of a summary when none is asked.
const defaultSummarySentences = 3

// leadBonus favours earlier sentences, which tend to state what a text is
// about: the first sentence gets it whole, the last none.
const leadBonus = 0.1

// Summarize returns up to n sentences of text that together stand for it
// best, in the order of the text: each sentence is scored by the cosine of
// its tf-idf vector with the text's centroid, plus a small bonus for coming
// early, and picked with the same maximal marginal relevance as answers, so
// that the summary does not repeat itself. Title, when given, counts as
// part of the text's subject. Code is never quoted (see IsCode). The
// result depends only on the arguments.
func Summarize(title, text string, n int) []string {
	if n <= 0 {
		n = defaultSummarySentences
	}
	c := NewCorpus([]Passage{{Cite: 1, Title: title, Text: text}})
	if len(c.Candidates) == 0 {
		return nil
	}
	centroid := map[int]float64{}
	for _, cand := range c.Candidates {
		for _, w := range cand.vec {
			centroid[w.term] += w.w
		}
		for _, t := range cand.Context {
			centroid[t] += 0.5 / float64(len(c.Candidates))
		}
	}
	var cvec []weight
	var norm float64
	for term, w := range centroid {
		cvec = append(cvec, weight{term, w})
		norm += w * w
	}
	slices.SortFunc(cvec, func(a, b weight) int { return cmp.Compare(a.term, b.term) })
	normalize(cvec, norm)
	last := float64(max(len(c.Candidates)-1, 1))
	for _, cand := range c.Candidates {
		cand.Score = cosine(cand.vec, cvec) + leadBonus*(1-float64(cand.Order)/last)
	}
	chosen := c.Choose(n, nil)
	out := make([]string, len(chosen))
	for i, cand := range chosen {
		out[i] = cand.Text
	}
	return out
}

// Keyword is a word that characterises a text, with how often it occurs.
type Keyword struct {
	Word  string
	Count int
}

// Keywords returns up to n words that characterise text: content words of
// three letters or more that are not numbers, folded for plurals, counted,
// and ranked by count, then by first occurrence. Each keyword is shown in
// the lowercase form that first occurred.
func Keywords(text string, n int) []Keyword {
	type stat struct {
		word  string
		count int
		first int
	}
	stats := map[string]*stat{}
	for i, w := range Words(nil, text) {
		if len([]rune(w)) < 3 || IsStopword(w) || strings.IndexFunc(w, unicode.IsLetter) < 0 {
			continue
		}
		s := Stem(w)
		st := stats[s]
		if st == nil {
			st = &stat{word: w, first: i}
			stats[s] = st
		}
		st.count++
	}
	all := make([]*stat, 0, len(stats))
	for _, st := range stats {
		all = append(all, st)
	}
	slices.SortFunc(all, func(a, b *stat) int {
		return cmp.Or(cmp.Compare(b.count, a.count), cmp.Compare(a.first, b.first))
	})
	out := make([]Keyword, 0, min(n, len(all)))
	for _, st := range all[:min(n, len(all))] {
		out = append(out, Keyword{Word: st.word, Count: st.count})
	}
	return out
}
