package builtin

import (
	"slices"
	"strconv"
	"strings"

	"github.com/crispy-enigma/crispy/internal/prose"
	"github.com/crispy-enigma/crispy/internal/provider"
	"github.com/crispy-enigma/crispy/internal/tokens"
)

// Ranking parameters.
const (
	bm25K1 = 1.2  // term frequency saturation
	bm25B  = 0.75 // length normalisation

	phraseBonus  = 0.25 // per question word pair found in order, times the pair's idf
	contextBonus = 0.3  // per question word in the title or heading only, times its idf

	// minCoverage is the least share of the question's idf that an answer's
	// sentences, with their titles and headings, must hold: an answer that
	// shares only the question's common words ("how much", "per") misses
	// what was asked.
	minCoverage = 0.5

	defaultMaxSentences = 3
)

// newCorpus splits the passages into candidate sentences (prose sentences
// only: code, data and markup are never quoted), citing each by its N, or
// by its position from 1 when N is not set.
func newCorpus(passages []provider.Passage) *prose.Corpus {
	ps := make([]prose.Passage, len(passages))
	for i, p := range passages {
		cite := p.N
		if cite <= 0 {
			cite = i + 1
		}
		ps[i] = prose.Passage{Cite: cite, Title: p.Title, Text: p.Text}
	}
	return prose.NewCorpus(ps)
}

// score sets each candidate's relevance to the question: BM25, raised by
// the share of the question's idf it covers, plus the phrase and context
// bonuses. It returns the question's distinct terms.
func score(c *prose.Corpus, question string) []int {
	qseq := c.Terms(prose.Words(nil, question))
	var query []int
	for _, t := range qseq {
		if !slices.Contains(query, t) {
			query = append(query, t)
		}
	}
	if len(query) == 0 || len(c.Candidates) == 0 {
		return query
	}
	var qidf float64
	for _, t := range query {
		qidf += c.IDF(t)
	}
	avgdl := c.AvgLen()
	for _, cand := range c.Candidates {
		dl := float64(len(cand.Terms))
		var bm25, covered, bonus float64
		for _, t := range query {
			tf := 0
			for _, u := range cand.Terms {
				if u == t {
					tf++
				}
			}
			idf := c.IDF(t)
			switch {
			case tf > 0:
				f := float64(tf)
				bm25 += idf * f * (bm25K1 + 1) / (f + bm25K1*(1-bm25B+bm25B*dl/avgdl))
				covered += idf
			case slices.Contains(cand.Context, t):
				bonus += contextBonus * idf
			}
		}
		for i := 1; i < len(qseq); i++ {
			if qseq[i] != qseq[i-1] && hasPair(cand.Terms, qseq[i-1], qseq[i]) {
				bonus += phraseBonus * (c.IDF(qseq[i-1]) + c.IDF(qseq[i]))
			}
		}
		cand.Score = bm25*(1+covered/qidf) + bonus
	}
	return query
}

// coverage is the share of the idf of the question's terms, query, found
// in the chosen sentences or in their titles and headings.
func coverage(c *prose.Corpus, query []int, chosen []*prose.Candidate) float64 {
	var all, found float64
	for _, t := range query {
		idf := c.IDF(t)
		all += idf
		for _, cand := range chosen {
			if slices.Contains(cand.Terms, t) || slices.Contains(cand.Context, t) {
				found += idf
				break
			}
		}
	}
	if all == 0 {
		return 0
	}
	return found / all
}

func hasPair(terms []int, a, b int) bool {
	for i := 1; i < len(terms); i++ {
		if terms[i-1] == a && terms[i] == b {
			return true
		}
	}
	return false
}

// choose picks the sentences to quote (see prose.Corpus.Choose): up to n,
// and, when budget > 0, only as many as the answer can hold in budget
// tokens; the best sentence is taken regardless, and cut later if it is
// too long.
func choose(c *prose.Corpus, n, budget int) []*prose.Candidate {
	var fits func([]*prose.Candidate) bool
	if budget > 0 {
		fits = func(with []*prose.Candidate) bool { return tokens.Count(compose(with)) <= budget }
	}
	return c.Choose(n, fits)
}

// compose joins the chosen sentences, each followed by its citation.
func compose(chosen []*prose.Candidate) string {
	var b strings.Builder
	for i, cand := range chosen {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(cand.Text)
		b.WriteString(" [")
		b.WriteString(strconv.Itoa(cand.Cite))
		b.WriteByte(']')
	}
	return b.String()
}
