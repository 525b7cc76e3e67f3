package index

import (
	"math"
	"slices"
	"sync"
)

// BM25 returns the k chunks that best match query by Okapi BM25, best first,
// among those that satisfy f. Ties are broken by ChunkID ascending. It
// returns nil when k < 1, when no query term is indexed, or when f is
// invalid (see Filter.Validate).
//
// A chunk's score is the sum over the distinct terms t of the query of
//
//	qtf(t) · idf(t) · tf·(k1+1) / (tf + k1·(1 − b + b·len/avglen))
//	idf(t) = ln(1 + (N − df(t) + 0.5) / (df(t) + 0.5))
//
// where qtf is how many times the query says t (Robertson's query-term
// weight with k3 → ∞, as Lucene and Anserini score a query: a term said
// twice is two clauses), tf is t's count in the chunk, len the chunk's term
// count, and N,
// avglen and df are taken over all live chunks of the Index, whatever f
// keeps (a filter narrows the results; it does not change the scores).
func (ix *Index) BM25(query string, k int, f Filter) []Hit {
	return ix.BM25Terms(ix.QueryTerms(query), k, f)
}

// QueryTerm is one term of a weighted query: an index term (see Terms) and
// the factor its BM25 contribution is multiplied by.
type QueryTerm struct {
	Term   string
	Weight float64
}

// QueryTerms returns the distinct index terms of query, in first-seen
// order, each weighted by how many times the query says it (its query term
// frequency): the query BM25 runs. "Cats chase the cat" is cat 2, chase 1.
func (ix *Index) QueryTerms(query string) []QueryTerm {
	return merge(termsOf(ix.an.Terms(query)))
}

// termsOf returns terms as a query of weight 1 each, repeats included.
func termsOf(terms []string) []QueryTerm {
	out := make([]QueryTerm, len(terms))
	for i, t := range terms {
		out[i] = QueryTerm{Term: t, Weight: 1}
	}
	return out
}

// BM25Terms is BM25 with a weighted query: a chunk's score is the sum over
// the distinct terms of their Weight · the term's BM25 weight in the chunk.
// Terms whose Weight is not positive and finite are ignored, and a term
// given several times weighs the sum of its weights, as a Lucene query of
// one clause per term would score it. With every weight 1 it is BM25 of
// those terms, repeats included.
func (ix *Index) BM25Terms(q []QueryTerm, k int, f Filter) []Hit {
	if k < 1 {
		return nil
	}
	conds, err := f.compile()
	if err != nil {
		return nil
	}
	qterms := usable(q)
	if len(qterms) == 0 {
		return nil
	}

	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.live == 0 || ix.totalLen == 0 {
		return nil
	}
	keep := ix.filterMetas(conds)
	if keep != nil && !anyTrue(keep) {
		return nil
	}
	n := float64(ix.live)
	// norm(len) = k1·(1 − b) + len·k1·b/avglen
	normBase := ix.k1 * (1 - ix.b)
	normPerLen := ix.k1 * ix.b / (float64(ix.totalLen) / n)
	k1p1 := ix.k1 + 1

	sc := getScratch(len(ix.flags))
	defer putScratch(sc)
	acc, flags, lens, metaIdx := sc.acc, ix.flags, ix.lens, ix.metaIdx
	for _, qt := range qterms {
		id, ok := ix.dict[qt.Term]
		if !ok {
			continue
		}
		pl := ix.post[id]
		df := len(pl.slots)
		if ix.dead > 0 {
			df = 0
			for _, s := range pl.slots {
				if flags[s]&slotLive != 0 {
					df++
				}
			}
			if df == 0 {
				continue
			}
		}
		idf := qt.Weight * math.Log(1+(n-float64(df)+0.5)/(float64(df)+0.5))
		tfs := pl.tfs[:len(pl.slots)]
		for i, s := range pl.slots {
			if flags[s]&slotLive == 0 || keep != nil && !keep[metaIdx[s]] {
				continue
			}
			tf := float64(tfs[i])
			w := idf * tf * k1p1 / (tf + normBase + float64(lens[s])*normPerLen)
			if acc[s] == 0 {
				sc.touched = append(sc.touched, s)
			}
			acc[s] += w
		}
	}

	top := newTopK(k, ix.chunkIDs)
	for _, s := range sc.touched {
		c := cand{score: acc[s], slot: s}
		if !top.full() || c.score >= top.min() {
			top.push(c)
		}
		acc[s] = 0
	}
	sc.touched = sc.touched[:0]
	return top.hits(ix.docIDs)
}

// usable returns the distinct terms of q with a positive, finite weight,
// in first-seen order, each weighing the sum of its weights.
func usable(q []QueryTerm) []QueryTerm {
	out := make([]QueryTerm, 0, len(q))
	for _, t := range q {
		if !(t.Weight > 0) || math.IsInf(t.Weight, 0) {
			continue
		}
		out = append(out, t)
	}
	return merge(out)
}

// merge returns q with each term once, in first-seen order, weighing the
// sum of its weights. It reuses q's array.
func merge(q []QueryTerm) []QueryTerm {
	out := q[:0]
	if len(q) > 32 { // long queries: a map; short ones scan out
		at := make(map[string]int, len(q))
		for _, t := range q {
			if i, ok := at[t.Term]; ok {
				out[i].Weight += t.Weight
				continue
			}
			at[t.Term] = len(out)
			out = append(out, t)
		}
		return out
	}
	for _, t := range q {
		if i := slices.IndexFunc(out, func(u QueryTerm) bool { return u.Term == t.Term }); i >= 0 {
			out[i].Weight += t.Weight
			continue
		}
		out = append(out, t)
	}
	return out
}

func anyTrue(bs []bool) bool {
	for _, b := range bs {
		if b {
			return true
		}
	}
	return false
}

// filterMetas evaluates conds once per distinct metadata: keep[i] reports
// whether metas[i] satisfies them. It returns nil when there are no
// conditions. Callers hold the read lock.
func (ix *Index) filterMetas(conds []cond) []bool {
	if len(conds) == 0 {
		return nil
	}
	keep := make([]bool, len(ix.metas))
	for i, m := range ix.metas {
		keep[i] = matches(conds, m)
	}
	return keep
}

// scratch is a BM25 query's score accumulator, one float64 per slot, all
// zero between uses, and the slots it touched.
type scratch struct {
	acc     []float64
	touched []uint32
}

var scratchPool sync.Pool

func getScratch(n int) *scratch {
	sc, _ := scratchPool.Get().(*scratch)
	if sc == nil {
		sc = &scratch{}
	}
	if len(sc.acc) < n {
		sc.acc = make([]float64, n+n/8)
	}
	return sc
}

func putScratch(sc *scratch) { scratchPool.Put(sc) }
