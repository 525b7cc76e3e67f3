package builtin

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/crispy-enigma/crispy/internal/provider"
	"github.com/crispy-enigma/crispy/internal/tokens"
)

// Ranking parameters.
const (
	bm25K1 = 1.2  // term frequency saturation
	bm25B  = 0.75 // length normalisation

	phraseBonus  = 0.25 // per question word pair found in order, times the pair's idf
	contextBonus = 0.3  // per question word in the title or heading only, times its idf

	minWords    = 3    // a shorter sentence is not quoted
	minRelative = 0.5  // a quoted sentence scores at least this share of the best
	mmrLambda   = 0.7  // relevance against novelty in maximal marginal relevance
	maxSimilar  = 0.75 // cosine above which a sentence repeats one already chosen

	defaultMaxSentences = 3
)

// candidate is a sentence that may be quoted.
type candidate struct {
	order   int    // position over all passages, for ties and answer order
	cite    int    // the passage's N
	text    string // as quoted
	terms   []int  // content terms, in order
	context []int  // content terms of the passage title and section heading
	score   float64
	vec     []weight // tf-idf, sorted by term, unit length
}

type weight struct {
	term int
	w    float64
}

// corpus holds the candidate sentences of one request and their statistics.
type corpus struct {
	vocab map[string]int
	df    []int
	cands []*candidate
	total int // content terms over all candidates
}

func (c *corpus) id(w string) int {
	id, ok := c.vocab[w]
	if !ok {
		id = len(c.df)
		c.vocab[w] = id
		c.df = append(c.df, 0)
	}
	return id
}

// terms returns the ids of the content words among ws, stemmed, in order.
func (c *corpus) terms(ws []string) []int {
	var ids []int
	for _, w := range ws {
		if !isStopword(w) {
			ids = append(ids, c.id(stem(w)))
		}
	}
	return ids
}

// idf is BM25's inverse document frequency, always positive.
func (c *corpus) idf(term int) float64 {
	n := float64(len(c.cands))
	df := 0.0
	if term < len(c.df) {
		df = float64(c.df[term])
	}
	return math.Log(1 + (n-df+0.5)/(df+0.5))
}

// newCorpus splits the passages into candidate sentences.
func newCorpus(passages []provider.Passage) *corpus {
	c := &corpus{vocab: make(map[string]int)}
	var buf []string
	order := 0
	for i, p := range passages {
		cite := p.N
		if cite <= 0 {
			cite = i + 1
		}
		text := strings.ToValidUTF8(p.Text, "\uFFFD")
		buf = words(buf[:0], p.Title)
		title := c.terms(buf)
		heading := title
		var lead []int // the terms of a line ending in ':' before a list
		for _, sp := range splitSentences(text) {
			raw := text[sp.start:sp.end]
			buf = words(buf[:0], raw)
			if sp.heading {
				heading = append(slices.Clip(title), c.terms(buf)...)
				lead = nil
				continue
			}
			context := heading
			switch {
			case isListItem(raw):
				context = append(slices.Clip(heading), lead...)
			case strings.HasSuffix(raw, ":"):
				lead = c.terms(buf)
			default:
				lead = nil
			}
			if len(buf) < minWords {
				continue
			}
			cand := &candidate{order: order, cite: cite, text: sentenceText(raw), terms: c.terms(buf), context: context}
			order++
			c.cands = append(c.cands, cand)
			c.total += len(cand.terms)
			seen := make(map[int]bool, len(cand.terms))
			for _, t := range cand.terms {
				if !seen[t] {
					seen[t] = true
					c.df[t]++
				}
			}
		}
	}
	for _, cand := range c.cands {
		cand.vec = c.vector(cand.terms)
	}
	return c
}

// vector returns the unit tf-idf vector of terms, with tf as 1+ln(tf).
func (c *corpus) vector(terms []int) []weight {
	sorted := slices.Clone(terms)
	slices.Sort(sorted)
	var vec []weight
	var norm float64
	for i := 0; i < len(sorted); {
		j := i
		for j < len(sorted) && sorted[j] == sorted[i] {
			j++
		}
		w := (1 + math.Log(float64(j-i))) * c.idf(sorted[i])
		vec = append(vec, weight{sorted[i], w})
		norm += w * w
		i = j
	}
	if norm > 0 {
		norm = math.Sqrt(norm)
		for i := range vec {
			vec[i].w /= norm
		}
	}
	return vec
}

func cosine(a, b []weight) float64 {
	var dot float64
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case a[i].term < b[j].term:
			i++
		case a[i].term > b[j].term:
			j++
		default:
			dot += a[i].w * b[j].w
			i++
			j++
		}
	}
	return dot
}

// score sets each candidate's relevance to the question: BM25, raised by
// the share of the question's idf it covers, plus the phrase and context
// bonuses. It returns the question's distinct terms.
func (c *corpus) score(question string) []int {
	qseq := c.terms(words(nil, question))
	var query []int
	for _, t := range qseq {
		if !slices.Contains(query, t) {
			query = append(query, t)
		}
	}
	if len(query) == 0 || len(c.cands) == 0 {
		return query
	}
	var qidf float64
	for _, t := range query {
		qidf += c.idf(t)
	}
	avgdl := max(float64(c.total)/float64(len(c.cands)), 1)
	for _, cand := range c.cands {
		dl := float64(len(cand.terms))
		var bm25, covered, bonus float64
		for _, t := range query {
			tf := 0
			for _, u := range cand.terms {
				if u == t {
					tf++
				}
			}
			idf := c.idf(t)
			switch {
			case tf > 0:
				f := float64(tf)
				bm25 += idf * f * (bm25K1 + 1) / (f + bm25K1*(1-bm25B+bm25B*dl/avgdl))
				covered += idf
			case slices.Contains(cand.context, t):
				bonus += contextBonus * idf
			}
		}
		for i := 1; i < len(qseq); i++ {
			if qseq[i] != qseq[i-1] && hasPair(cand.terms, qseq[i-1], qseq[i]) {
				bonus += phraseBonus * (c.idf(qseq[i-1]) + c.idf(qseq[i]))
			}
		}
		cand.score = bm25*(1+covered/qidf) + bonus
	}
	return query
}

func hasPair(terms []int, a, b int) bool {
	for i := 1; i < len(terms); i++ {
		if terms[i-1] == a && terms[i] == b {
			return true
		}
	}
	return false
}

// choose picks the sentences to quote with maximal marginal relevance: up to
// n of them, none below minRelative of the best score, none too similar to
// one already chosen, and, when budget > 0, only as many as the answer can
// hold in budget tokens; the best sentence is taken regardless, and cut
// later if it is too long. They come back in passage order.
func (c *corpus) choose(n, budget int) []*candidate {
	var pool []*candidate
	for _, cand := range c.cands {
		if cand.score > 0 {
			pool = append(pool, cand)
		}
	}
	if len(pool) == 0 {
		return nil
	}
	slices.SortStableFunc(pool, func(a, b *candidate) int {
		return cmp.Or(cmp.Compare(b.score, a.score), cmp.Compare(a.order, b.order))
	})
	best := pool[0].score
	pool = slices.DeleteFunc(pool, func(cand *candidate) bool { return cand.score < minRelative*best })

	var chosen []*candidate
	for len(chosen) < n && len(pool) > 0 {
		pick, pickMMR := -1, math.Inf(-1)
		for i := 0; i < len(pool); i++ {
			sim := 0.0
			for _, ch := range chosen {
				sim = max(sim, cosine(pool[i].vec, ch.vec))
			}
			if sim >= maxSimilar {
				pool = slices.Delete(pool, i, i+1)
				i--
				continue
			}
			if mmr := mmrLambda*pool[i].score/best - (1-mmrLambda)*sim; mmr > pickMMR {
				pick, pickMMR = i, mmr
			}
		}
		if pick < 0 {
			break
		}
		cand := pool[pick]
		pool = slices.Delete(pool, pick, pick+1)
		if budget > 0 && len(chosen) > 0 {
			with := append(slices.Clone(chosen), cand)
			slices.SortFunc(with, byOrder)
			if tokens.Count(compose(with)) > budget {
				continue
			}
		}
		chosen = append(chosen, cand)
	}
	slices.SortFunc(chosen, byOrder)
	return chosen
}

func byOrder(a, b *candidate) int { return cmp.Compare(a.order, b.order) }

// compose joins the chosen sentences, each followed by its citation.
func compose(chosen []*candidate) string {
	var b strings.Builder
	for i, cand := range chosen {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(cand.text)
		b.WriteString(" [")
		b.WriteString(strconv.Itoa(cand.cite))
		b.WriteByte(']')
	}
	return b.String()
}
