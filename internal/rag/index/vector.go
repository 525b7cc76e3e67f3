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
		ix.scan(&top, qn, keep, 0, rows)
		return top.hits(ix.docIDs)
	}
	tops := make([]topK, workers)
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := rows*w/workers, rows*(w+1)/workers
		tops[w] = newTopK(k, ix.chunkIDs)
		if w == workers-1 {
			ix.scan(&tops[w], qn, keep, lo, hi) // this goroutine takes a share
			break
		}
		wg.Go(func() { ix.scan(&tops[w], qn, keep, lo, hi) })
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

// scan offers the rows lo to hi to top. Callers hold the read lock.
func (ix *Index) scan(top *topK, q []float32, keep []bool, lo, hi int) {
	d := len(q)
	vecSlot, flags, metaIdx := ix.vecSlot[:hi], ix.flags, ix.metaIdx
	floor := float32(math.Inf(-1)) // a row must reach it to enter top
	for r := lo; r < hi; {
		// The rows of r's block, up to hi.
		bi, first := r/blockRows, r%blockRows
		block := ix.vecs.blocks[bi]
		end := min(hi, (bi+1)*blockRows)
		for ; r < end; r, first = r+1, first+1 {
			s := vecSlot[r]
			if flags[s]&slotLive == 0 || keep != nil && !keep[metaIdx[s]] {
				continue
			}
			o := first * d
			score := dot(q, block[o:o+d:o+d])
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
