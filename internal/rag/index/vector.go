package index

import (
	"math"
	"runtime"
	"sync"
	"sync/atomic"
)

// minRowsPerWorker is the fewest vector rows worth a goroutine of their own:
// below it, starting and joining one costs more than it saves.
const minRowsPerWorker = 4096

// scans counts the vector searches in progress in the process, across all
// Indexes, since they share the cores.
var scans atomic.Int32

// Vector returns the k chunks whose vectors are most similar to q by cosine
// similarity, best first, among those that satisfy f. Ties are broken by
// ChunkID ascending. q need not be normalised. It returns nil when k < 1,
// when q's dimension differs from the Index's, when q is zero, or when f is
// invalid.
//
// Vectors are held as int8 codes with a scale per vector (see slab) unless
// Options.FullVectors is set; q is then quantised to int16 codes, and a
// score is the cosine similarity of q and the vector the codes stand for,
// within about 0.002 of the exact one for 384-dimension embeddings.
//
// The search is exact: it scans every row of the slab, skipping dead and
// filtered-out chunks before computing their dot product. A large index is
// scanned by up to Options.Parallelism goroutines, each over a contiguous
// share of the rows, but only by as many as there are cores left idle by
// the other vector searches in progress: under concurrent queries splitting
// would only add queueing.
func (ix *Index) Vector(q []float32, k int, f Filter) []Hit {
	if k < 1 || len(q) == 0 {
		return nil
	}
	conds, err := f.compile()
	if err != nil {
		return nil
	}
	qn, ok := normalize(q)
	if !ok {
		return nil
	}
	qv := queryVector{f: qn}
	qv.codes, qv.scale = quantizeQuery(qn)

	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.liveVecs == 0 || len(qn) != ix.vecs.dim {
		return nil
	}
	keep := ix.filterMetas(conds)
	if keep != nil && !anyTrue(keep) {
		return nil
	}

	rows := len(ix.vecSlot)
	busy := int(scans.Add(1))
	defer scans.Add(-1)
	workers := min(ix.parallelism, rows/minRowsPerWorker, runtime.GOMAXPROCS(0)-busy+1)
	if workers <= 1 {
		top := newTopK(k, ix.chunkIDs)
		ix.scan(&top, &qv, keep, 0, rows)
		return top.hits(ix.docIDs)
	}
	tops := make([]topK, workers)
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := rows*w/workers, rows*(w+1)/workers
		tops[w] = newTopK(k, ix.chunkIDs)
		if w == workers-1 {
			ix.scan(&tops[w], &qv, keep, lo, hi) // this goroutine takes a share
			break
		}
		wg.Go(func() { ix.scan(&tops[w], &qv, keep, lo, hi) })
	}
	wg.Wait()
	top := tops[0]
	for _, t := range tops[1:] {
		for _, c := range t.items {
			top.push(c)
		}
	}
	return top.hits(ix.docIDs)
}

// queryVector is a unit query vector, as float32s for a slab of float32
// rows and as int16 codes times scale for a quantised one.
type queryVector struct {
	f     []float32
	codes []int16
	scale float32
}

// quantizeQuery returns the int16 codes of the unit vector q and the scale
// that turns them back into q. The largest magnitude becomes the largest
// code that keeps a dot product with int8 codes inside an int32: 32767 up
// to 516 dimensions, 5504 at 3072.
func quantizeQuery(q []float32) ([]int16, float32) {
	top := min(math.MaxInt16, math.MaxInt32/(codeMax*max(len(q), 1)))
	var m float32
	for _, x := range q {
		m = max(m, x, -x)
	}
	out := make([]int16, len(q))
	if m == 0 {
		return out, 0
	}
	f := float64(top) / float64(m)
	for i, x := range q {
		out[i] = int16(math.Round(float64(x) * f))
	}
	return out, float32(1 / f)
}

// scan offers the rows lo to hi to top. Callers hold the read lock.
func (ix *Index) scan(top *topK, q *queryVector, keep []bool, lo, hi int) {
	d := ix.vecs.dim
	vecSlot, flags, metaIdx := ix.vecSlot[:hi], ix.flags, ix.metaIdx
	floor := float32(math.Inf(-1)) // a row must reach it to enter top
	for r := lo; r < hi; {
		// The rows of r's block, up to hi.
		bi, first := r/blockRows, r%blockRows
		end := min(hi, (bi+1)*blockRows)
		var block []float32
		var codes []int8
		var scales []float32
		if ix.vecs.full {
			block = ix.vecs.blocks[bi]
		} else {
			codes, scales = ix.vecs.codes[bi], ix.vecs.scales[bi]
		}
		for ; r < end; r, first = r+1, first+1 {
			s := vecSlot[r]
			if flags[s]&slotLive == 0 || keep != nil && !keep[metaIdx[s]] {
				continue
			}
			o := first * d
			var score float32
			if block != nil {
				score = dot(q.f, block[o:o+d:o+d])
			} else {
				score = float32(dotCodes(q.codes, codes[o:o+d:o+d])) * q.scale * scales[first]
			}
			if score < floor {
				continue
			}
			top.push(cand{score: float64(score), slot: s})
			if top.full() {
				floor = float32(top.min())
			}
		}
	}
}

// dotCodesGo returns the dot product of the query codes a and the row
// codes b, which have the same length, as dot does for float32s; dotCodes
// calls it where no vector instructions serve. The query's codes are
// bounded (quantizeQuery) so that no sum overflows.
func dotCodesGo(a []int16, b []int8) int32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 int32
	for len(a) >= 8 && len(b) >= 8 {
		x, y := a[:8:8], b[:8:8]
		s0 += int32(x[0])*int32(y[0]) + int32(x[4])*int32(y[4])
		s1 += int32(x[1])*int32(y[1]) + int32(x[5])*int32(y[5])
		s2 += int32(x[2])*int32(y[2]) + int32(x[6])*int32(y[6])
		s3 += int32(x[3])*int32(y[3]) + int32(x[7])*int32(y[7])
		a, b = a[8:], b[8:]
	}
	for i, x := range a {
		s0 += int32(x) * int32(b[i])
	}
	return (s0 + s1) + (s2 + s3)
}

// dot returns the dot product of a and b, which have the same length. The
// loop takes eight elements a step into four partial sums, so that additions
// do not wait on each other, and reslices so that its body has no bounds
// checks. (Eight sums spill a register; sixteen elements a step are no
// faster.)
func dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	for len(a) >= 8 && len(b) >= 8 {
		x, y := a[:8:8], b[:8:8]
		s0 += x[0]*y[0] + x[4]*y[4]
		s1 += x[1]*y[1] + x[5]*y[5]
		s2 += x[2]*y[2] + x[6]*y[6]
		s3 += x[3]*y[3] + x[7]*y[7]
		a, b = a[8:], b[8:]
	}
	for i, x := range a {
		s0 += x * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}
