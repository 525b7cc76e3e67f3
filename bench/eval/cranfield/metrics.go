package cranfield

import (
	"math"
	"slices"
)

// Relevant reports whether a judgment code counts as relevant: codes 1 to
// 4. Code -1, which the collection also holds, does not.
func Relevant(code int) bool { return code >= 1 && code <= 4 }

// Gain is the graded gain of a code for nDCG: 5 - code for codes 1 to 4
// (a complete answer gains 4, minimal interest 1), else 0.
func Gain(code int) float64 {
	if !Relevant(code) {
		return 0
	}
	return float64(5 - code)
}

// NDCG returns nDCG@k of a ranked list of document IDs against one query's
// judgments (document ID -> code): the DCG of the list's first k,
// sum of Gain / log2(rank + 1), divided by that of the ideal order of every
// judged document. It is 0 when no document is relevant. A document repeated
// in ranked counts at its first position only.
func NDCG(ranked []string, judged map[string]int, k int) float64 {
	var gains []float64
	for _, code := range judged {
		if g := Gain(code); g > 0 {
			gains = append(gains, g)
		}
	}
	if len(gains) == 0 || k < 1 {
		return 0
	}
	slices.Sort(gains)
	slices.Reverse(gains)
	var ideal float64
	for i, g := range gains[:min(k, len(gains))] {
		ideal += g / math.Log2(float64(i+2))
	}
	var dcg float64
	for i, id := range firstK(ranked, k) {
		dcg += Gain(judged[id]) / math.Log2(float64(i+2))
	}
	return dcg / ideal
}

// AveragePrecision returns the average precision of ranked: the sum of the
// precision at the rank of each relevant document retrieved, divided by the
// number of relevant documents judged (retrieved or not). It is 0 when no
// document is relevant.
func AveragePrecision(ranked []string, judged map[string]int) float64 {
	nrel := relevantCount(judged)
	if nrel == 0 {
		return 0
	}
	var sum float64
	hits := 0
	for i, id := range firstK(ranked, len(ranked)) {
		if Relevant(judged[id]) {
			hits++
			sum += float64(hits) / float64(i+1)
		}
	}
	return sum / float64(nrel)
}

// Recall returns the share of the relevant documents found in the first k
// of ranked. It is 0 when no document is relevant.
func Recall(ranked []string, judged map[string]int, k int) float64 {
	nrel := relevantCount(judged)
	if nrel == 0 {
		return 0
	}
	hits := 0
	for _, id := range firstK(ranked, k) {
		if Relevant(judged[id]) {
			hits++
		}
	}
	return float64(hits) / float64(nrel)
}

func relevantCount(judged map[string]int) int {
	n := 0
	for _, code := range judged {
		if Relevant(code) {
			n++
		}
	}
	return n
}

// firstK returns the first k distinct IDs of ranked.
func firstK(ranked []string, k int) []string {
	out := make([]string, 0, min(k, len(ranked)))
	seen := make(map[string]bool, cap(out))
	for _, id := range ranked {
		if len(out) == k {
			break
		}
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// Scores are the means of the metrics over a set of queries.
type Scores struct {
	NDCG10    float64 // mean nDCG@10
	MAP       float64 // mean average precision (over the lists as given)
	Recall100 float64 // mean recall@100
	Queries   int     // queries averaged
}

// Evaluate averages the metrics over the queries that have at least one
// relevant document; runs maps a query number to its ranked document IDs
// (a query missing from runs retrieved nothing).
func Evaluate(runs map[int][]string, qrels Qrels) Scores {
	var s Scores
	nums := make([]int, 0, len(qrels))
	for num := range qrels {
		nums = append(nums, num)
	}
	slices.Sort(nums) // one summation order, the same sums every run
	for _, num := range nums {
		judged := qrels[num]
		if relevantCount(judged) == 0 {
			continue
		}
		ranked := runs[num]
		s.NDCG10 += NDCG(ranked, judged, 10)
		s.MAP += AveragePrecision(ranked, judged)
		s.Recall100 += Recall(ranked, judged, 100)
		s.Queries++
	}
	if s.Queries > 0 {
		n := float64(s.Queries)
		s.NDCG10, s.MAP, s.Recall100 = s.NDCG10/n, s.MAP/n, s.Recall100/n
	}
	return s
}
