package search

import (
	"math"
	"regexp"
	"strconv"

	"github.com/crispy-enigma/crispy/internal/prose"
	"github.com/crispy-enigma/crispy/internal/rag"
	"github.com/crispy-enigma/crispy/internal/rag/index"
)

// coverageDepth is how many of the best chunks the coverage of the query is
// measured against; agreeTop is the rank within which the retrievers must
// place the best chunk to agree on it.
const (
	coverageDepth = 3
	agreeTop      = 10
)

// retrievalConfidence measures, before any answer, how well the retrieved
// chunks bear on the query, in [0, 1]:
//
//	0.7 · coverage + 0.3 · agreement
//
// coverage is the share of the query's index terms (stemmed, stopwords
// dropped) found in the title, headings or text of the best coverageDepth
// chunks; agreement is the share of the retrievers that ran (BM25, vectors)
// that rank the best chunk within their first agreeTop. No chunks, or a
// query with no index terms, give 0.
func retrievalConfidence(query string, chunks []rag.Chunk) float64 {
	if len(chunks) == 0 {
		return 0
	}
	qterms := dedup(index.Terms(query))
	if len(qterms) == 0 {
		return 0
	}
	var texts []string
	for _, ch := range chunks[:min(len(chunks), coverageDepth)] {
		texts = append(texts, ch.Title, ch.Text)
		texts = append(texts, ch.HeadingPath...)
	}
	coverage := float64(found(qterms, termSet(texts...))) / float64(len(qterms))

	top := chunks[0].Ranks
	agree := 0.0
	if top.BM25 > 0 && top.BM25 <= agreeTop {
		agree += 0.5
	}
	if top.Vector > 0 && top.Vector <= agreeTop {
		agree += 0.5
	}
	return round3(0.7*coverage + 0.3*agree)
}

// marker is a citation run such as "[1]" or "[1][3]".
var marker = regexp.MustCompile(`(\s*\[\d{1,4}\])+`)
var markerNum = regexp.MustCompile(`\[(\d{1,4})\]`)

// support measures how much of an answer its citations back, in [0, 1].
// The answer is cut after each citation run into claims; a claim's support
// is the share of its index terms found in the passages it cites (0 when it
// cites none, or when it is code, data or markup rather than a sentence:
// a passage may hold the very JSON an answer quotes, but quoting it
// answers nothing), and the answer's is the mean over claims that have
// terms. passages[n-1] is the text of source n. The second result reports
// whether any claim cites a source.
func support(answer string, passages []string) (float64, bool) {
	terms := make([]map[string]bool, len(passages))
	for i, p := range passages {
		terms[i] = termSet(p)
	}
	var sum float64
	claims, citing := 0, false
	measure := func(text string, cites []int) {
		ts := dedup(index.Terms(text))
		if len(ts) == 0 {
			return
		}
		claims++
		if len(cites) == 0 {
			return
		}
		citing = true
		if prose.IsCode(text) {
			return
		}
		backed := 0
		for _, t := range ts {
			for _, n := range cites {
				if terms[n-1][t] {
					backed++
					break
				}
			}
		}
		sum += float64(backed) / float64(len(ts))
	}
	last := 0
	for _, loc := range marker.FindAllStringIndex(answer, -1) {
		var cites []int
		for _, m := range markerNum.FindAllStringSubmatch(answer[loc[0]:loc[1]], -1) {
			if n, _ := strconv.Atoi(m[1]); n >= 1 && n <= len(passages) {
				cites = append(cites, n)
			}
		}
		measure(answer[last:loc[0]], cites)
		last = loc[1]
	}
	measure(answer[last:], nil)
	if claims == 0 {
		return 0, citing
	}
	return round3(sum / float64(claims)), citing
}

// answerConfidence combines the retrieval confidence with the answer's
// support and its coverage of the query: an answer its sources fully back
// and that speaks of every term of the query keeps the retrieval figure;
// one its sources do not back at all, or that speaks of none of the
// query's terms, halves it. An answer that cites no source at all is
// grounded in none ("I don't have enough information", or a model's own
// knowledge): its confidence is 0.
func answerConfidence(retrieval, support float64, cites bool, coverage float64) float64 {
	if !cites {
		return 0
	}
	return round3(retrieval * (0.5 + 0.5*support) * (0.5 + 0.5*coverage))
}

// answerCoverage is the share of the query's index terms that the answer
// holds: an answer that never names what was asked about is less likely
// to answer it. A query with no index terms gives 1.
func answerCoverage(query, answer string) float64 {
	qs := dedup(index.Terms(query))
	if len(qs) == 0 {
		return 1
	}
	return float64(found(qs, termSet(answer))) / float64(len(qs))
}

// termSet is the set of the index terms of texts.
func termSet(texts ...string) map[string]bool {
	set := map[string]bool{}
	for _, text := range texts {
		for _, t := range index.Terms(text) {
			set[t] = true
		}
	}
	return set
}

// found counts the terms that are in set.
func found(terms []string, set map[string]bool) int {
	n := 0
	for _, t := range terms {
		if set[t] {
			n++
		}
	}
	return n
}

func dedup(ts []string) []string {
	seen := make(map[string]bool, len(ts))
	out := ts[:0:0]
	for _, t := range ts {
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }
