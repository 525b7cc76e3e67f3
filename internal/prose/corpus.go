package prose

import (
	"cmp"
	"math"
	"slices"
	"strings"
)

// Selection parameters.
const (
	// MinWords is the fewest words a sentence needs to be a Candidate.
	MinWords = 3

	minRelative = 0.5  // a chosen sentence scores at least this share of the best
	mmrLambda   = 0.7  // relevance against novelty in maximal marginal relevance
	maxSimilar  = 0.75 // cosine above which a sentence repeats one already chosen
)

// Passage is a text to quote from: its title, its text, and the number a
// quote of it is cited by.
type Passage struct {
	Cite  int
	Title string
	Text  string
}

// Candidate is a sentence of a Corpus that may be quoted.
type Candidate struct {
	Order   int    // position over all passages, for ties and answer order
	Cite    int    // the passage's Cite
	Text    string // as quoted (see Sentence)
	Terms   []int  // content terms, in order
	Context []int  // content terms of the passage's title and the sentence's heading
	// Score is the sentence's relevance, set by the caller before Choose.
	Score float64
	vec   []weight // tf-idf, sorted by term, unit length
}

type weight struct {
	term int
	w    float64
}

// Corpus holds the candidate sentences of a few passages and their term
// statistics. Terms are stemmed content words (see Words, Stem and
// IsStopword), numbered as they are first seen.
type Corpus struct {
	Candidates []*Candidate
	vocab      map[string]int
	df         []int
	total      int // content terms over all candidates
}

// NewCorpus splits the passages into candidate sentences: every sentence
// of MinWords words or more that is neither a heading nor code (see Split)
// is one. Headings give context to the sentences under them, and a line
// ending in ':' to the list items after it.
func NewCorpus(passages []Passage) *Corpus {
	c := &Corpus{vocab: make(map[string]int)}
	var buf []string
	order := 0
	for _, p := range passages {
		text := strings.ToValidUTF8(p.Text, "\uFFFD")
		buf = Words(buf[:0], p.Title)
		title := c.Terms(buf)
		heading := title
		var lead []int // the terms of a line ending in ':' before a list
		for _, sp := range Split(text) {
			raw := text[sp.Start:sp.End]
			buf = Words(buf[:0], raw)
			if sp.Heading {
				heading = append(slices.Clip(title), c.Terms(buf)...)
				lead = nil
				continue
			}
			context := heading
			switch {
			case sp.Code:
				lead = nil
				continue
			case IsListItem(raw):
				context = append(slices.Clip(heading), lead...)
			case strings.HasSuffix(raw, ":"):
				lead = c.Terms(buf)
			default:
				lead = nil
			}
			if len(buf) < MinWords {
				continue
			}
			cand := &Candidate{Order: order, Cite: p.Cite, Text: Sentence(raw), Terms: c.Terms(buf), Context: context}
			order++
			c.Candidates = append(c.Candidates, cand)
			c.total += len(cand.Terms)
			seen := make(map[int]bool, len(cand.Terms))
			for _, t := range cand.Terms {
				if !seen[t] {
					seen[t] = true
					c.df[t]++
				}
			}
		}
	}
	for _, cand := range c.Candidates {
		cand.vec = c.vector(cand.Terms)
	}
	return c
}

func (c *Corpus) id(w string) int {
	id, ok := c.vocab[w]
	if !ok {
		id = len(c.df)
		c.vocab[w] = id
		c.df = append(c.df, 0)
	}
	return id
}

// Terms returns the terms of the content words among ws, stemmed, in
// order, numbering new ones.
func (c *Corpus) Terms(ws []string) []int {
	var ids []int
	for _, w := range ws {
		if !IsStopword(w) {
			ids = append(ids, c.id(Stem(w)))
		}
	}
	return ids
}

// IDF is BM25's inverse document frequency of a term over the candidates,
// always positive.
func (c *Corpus) IDF(term int) float64 {
	n := float64(len(c.Candidates))
	df := 0.0
	if term < len(c.df) {
		df = float64(c.df[term])
	}
	return math.Log(1 + (n-df+0.5)/(df+0.5))
}

// AvgLen is the mean number of terms of a candidate, at least 1.
func (c *Corpus) AvgLen() float64 {
	if len(c.Candidates) == 0 {
		return 1
	}
	return max(float64(c.total)/float64(len(c.Candidates)), 1)
}

// vector returns the unit tf-idf vector of terms, with tf as 1+ln(tf).
func (c *Corpus) vector(terms []int) []weight {
	sorted := slices.Clone(terms)
	slices.Sort(sorted)
	var vec []weight
	var norm float64
	for i := 0; i < len(sorted); {
		j := i
		for j < len(sorted) && sorted[j] == sorted[i] {
			j++
		}
		w := (1 + math.Log(float64(j-i))) * c.IDF(sorted[i])
		vec = append(vec, weight{sorted[i], w})
		norm += w * w
		i = j
	}
	normalize(vec, norm)
	return vec
}

func normalize(vec []weight, norm float64) {
	if norm > 0 {
		norm = math.Sqrt(norm)
		for i := range vec {
			vec[i].w /= norm
		}
	}
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

// Choose picks up to n candidates with maximal marginal relevance: none
// that scores 0 or less or below half the best score, none too similar to
// one already chosen, and, when fits is not nil, only those with which the
// chosen set, in passage order, still fits; the best candidate is taken
// regardless. They come back in passage order.
func (c *Corpus) Choose(n int, fits func([]*Candidate) bool) []*Candidate {
	var pool []*Candidate
	for _, cand := range c.Candidates {
		if cand.Score > 0 {
			pool = append(pool, cand)
		}
	}
	if len(pool) == 0 {
		return nil
	}
	slices.SortStableFunc(pool, func(a, b *Candidate) int {
		return cmp.Or(cmp.Compare(b.Score, a.Score), cmp.Compare(a.Order, b.Order))
	})
	best := pool[0].Score
	pool = slices.DeleteFunc(pool, func(cand *Candidate) bool { return cand.Score < minRelative*best })

	var chosen []*Candidate
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
			if mmr := mmrLambda*pool[i].Score/best - (1-mmrLambda)*sim; mmr > pickMMR {
				pick, pickMMR = i, mmr
			}
		}
		if pick < 0 {
			break
		}
		cand := pool[pick]
		pool = slices.Delete(pool, pick, pick+1)
		if fits != nil && len(chosen) > 0 {
			with := append(slices.Clone(chosen), cand)
			slices.SortFunc(with, byOrder)
			if !fits(with) {
				continue
			}
		}
		chosen = append(chosen, cand)
	}
	slices.SortFunc(chosen, byOrder)
	return chosen
}

func byOrder(a, b *Candidate) int { return cmp.Compare(a.Order, b.Order) }

// HasProse reports whether text holds a sentence of prose that a Corpus
// would quote: one of MinWords words or more that is neither a heading nor
// code.
func HasProse(text string) bool {
	var buf []string
	for _, sp := range Split(text) {
		if sp.Heading || sp.Code {
			continue
		}
		if buf = Words(buf[:0], text[sp.Start:sp.End]); len(buf) >= MinWords {
			return true
		}
	}
	return false
}
