package index

import (
	"fmt"
	"math"
	"runtime"
	"sync"
)

// BM25 parameters used when Options leaves them zero.
const (
	DefaultK1 = 1.2  // term-frequency saturation
	DefaultB  = 0.75 // length normalisation: 0 none, 1 full
)

// compactMinDead is the fewest dead slots that trigger an automatic
// compaction; below it the dead slots cost too little to be worth it.
const compactMinDead = 1024

// Entry is one chunk to index.
type Entry struct {
	ChunkID string // unique in the tenant; ties in scores are broken by it
	DocID   string // empty, or the docID passed to Replace
	// Text is what BM25 indexes: the caller passes title, heading path and
	// chunk text.
	Text string
	// Vector is the chunk's embedding, nil when vector search is off. It is
	// copied and, if its norm is not 1, L2-normalised. Every vector in an
	// Index has the same dimension.
	Vector []float32
	// Metadata is the document's metadata: string, float64 or bool values
	// (Go integers and float32 are taken as float64). It is copied.
	Metadata map[string]any
}

// Hit is one search result.
type Hit struct {
	ChunkID string
	DocID   string
	Score   float64 // BM25 score, cosine similarity, or RRF score
	Rank    int     // 1-based position in its list
}

// Options configure an Index. The zero value means the defaults.
type Options struct {
	K1 float64 // BM25 k1; 0 or less means DefaultK1
	B  float64 // BM25 b; outside (0, 1] means DefaultB
	// Analyzer turns Text and queries into terms; nil means the package's
	// shared Analyzer (the one Terms uses).
	Analyzer *Analyzer
	// Parallelism caps the goroutines one vector search splits its scan
	// across; 0 means runtime.GOMAXPROCS(0), 1 means no splitting. Small
	// indexes are always scanned by one goroutine.
	Parallelism int
	// FullVectors keeps vectors as float32s, four times the memory of the
	// default int8 codes (see Vector), for exact cosine similarities.
	FullVectors bool
}

// flags of a slot.
const (
	slotLive uint8 = 1 << iota // not tombstoned
	slotVec                    // live and has a vector row
)

// deadSlot marks a dead slot in compaction's renumbering.
const deadSlot = math.MaxUint32

// postings are one term's postings, sorted by slot.
type postings struct {
	slots []uint32
	tfs   []uint16
}

// Index is one tenant's retrieval index. Use New; it is safe for concurrent
// use by many readers and one writer at a time.
type Index struct {
	k1, b       float64
	an          *Analyzer
	parallelism int

	mu sync.RWMutex

	// Per slot.
	chunkIDs []string
	docIDs   []string
	lens     []uint32 // terms in the chunk's text, stopwords excluded
	flags    []uint8
	metaIdx  []uint32 // into metas

	// metas[0] is the empty metadata; chunks of one Replace with equal
	// metadata share an entry.
	metas []map[string]any

	docs map[string][]uint32 // live slots of each document

	dict     map[string]uint32 // term -> id
	terms    []string          // id -> term
	post     []postings        // id -> postings
	totalLen uint64            // sum of lens over live slots
	live     int
	dead     int

	vecs     slab     // one row per vector, its dim is the Index's
	vecSlot  []uint32 // row -> slot
	liveVecs int

	// backing keeps alive the memory that arrays read from an image point
	// into (ReadImage).
	backing any
}

// New returns an empty Index with the default options.
func New() *Index { return NewWithOptions(Options{}) }

// NewWithOptions returns an empty Index configured by o.
func NewWithOptions(o Options) *Index {
	ix := &Index{
		k1:          o.K1,
		b:           o.B,
		an:          o.Analyzer,
		parallelism: o.Parallelism,
		metas:       []map[string]any{nil},
		vecs:        slab{full: o.FullVectors},
		docs:        make(map[string][]uint32),
		dict:        make(map[string]uint32),
	}
	if ix.k1 <= 0 {
		ix.k1 = DefaultK1
	}
	if ix.b <= 0 || ix.b > 1 {
		ix.b = DefaultB
	}
	if ix.an == nil {
		ix.an = &defaultAnalyzer
	}
	if ix.parallelism <= 0 {
		ix.parallelism = runtime.GOMAXPROCS(0)
	}
	return ix
}

// Len returns the number of live chunks.
func (ix *Index) Len() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.live
}

// Terms returns the number of distinct terms in the dictionary, including
// some only dead slots use until the next compaction.
func (ix *Index) Terms() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return len(ix.terms)
}

// Docs returns the number of documents with at least one chunk.
func (ix *Index) Docs() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return len(ix.docs)
}

// termFreq is one distinct term of a chunk and its count.
type termFreq struct {
	term string
	tf   uint16
}

// prepared is an Entry analysed and validated outside the lock.
type prepared struct {
	chunkID string
	terms   []termFreq
	length  uint32
	vector  []float32 // the caller's, read again under the lock
	scale   float32   // that normalises vector
	meta    int       // index into the metas prepare returns, -1 for none
}

// Replace atomically replaces every chunk of docID with entries: readers see
// the old chunks or the new ones, never a mix. Empty entries delete the
// document. On error (wrapping ErrInvalid) the index is unchanged.
func (ix *Index) Replace(docID string, entries []Entry) error {
	b, err := ix.Prepare(docID, entries)
	if err != nil {
		return err
	}
	return ix.ReplacePrepared(b)
}

// Prepared is a document's entries validated and analysed by Prepare, ready
// for ReplacePrepared.
type Prepared struct {
	docID string
	ps    []prepared
	metas []map[string]any
}

// Prepare does the part of Replace that needs no lock: it validates entries
// and analyses their text, so that callers who serialise their writes can
// do it before they take their own lock. The entries' vectors are read
// again by ReplacePrepared: do not change them in between.
func (ix *Index) Prepare(docID string, entries []Entry) (*Prepared, error) {
	if docID == "" {
		return nil, fmt.Errorf("%w: document id is empty", ErrInvalid)
	}
	ps, metas, err := ix.prepare(docID, entries)
	if err != nil {
		return nil, err
	}
	return &Prepared{docID: docID, ps: ps, metas: metas}, nil
}

// Postings returns the number of postings the document's chunks add: one
// for each distinct term of each chunk. Each costs 6 bytes.
func (b *Prepared) Postings() int {
	n := 0
	for _, p := range b.ps {
		n += len(p.terms)
	}
	return n
}

// ReplacePrepared is Replace with entries made ready by Prepare.
func (ix *Index) ReplacePrepared(b *Prepared) error {
	docID, ps, metas := b.docID, b.ps, b.metas
	ix.mu.Lock()
	defer ix.mu.Unlock()
	dim := 0
	for _, p := range ps {
		if p.vector != nil {
			dim = len(p.vector)
			break
		}
	}
	if dim != 0 && dim != ix.vecs.dim && ix.liveVecs > ix.ownVectors(docID) {
		return fmt.Errorf("%w: vector dimension %d, the index holds %d", ErrInvalid, dim, ix.vecs.dim)
	}
	ix.remove(docID)
	if dim != 0 && dim != ix.vecs.dim {
		// No live vector is left: start a slab of the new dimension.
		ix.vecs.reset(dim)
		ix.vecSlot = nil
	}
	ix.add(docID, ps, metas)
	ix.maybeCompact()
	return nil
}

// Delete removes every chunk of docID; deleting an unknown document does
// nothing.
func (ix *Index) Delete(docID string) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.remove(docID)
	ix.maybeCompact()
}

// Compact drops dead slots, postings and vector rows now, instead of when a
// quarter of the slots are dead, and releases the spare capacity that
// appending leaves in postings and per-chunk tables (a quarter of their size
// after a bulk load). Call it after the rebuild at start.
func (ix *Index) Compact() {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.compact(true)
}

// prepare validates entries and analyses their text, without the lock.
func (ix *Index) prepare(docID string, entries []Entry) ([]prepared, []map[string]any, error) {
	ps := make([]prepared, len(entries))
	var metas []map[string]any
	seen := make(map[string]bool, len(entries))
	counts := make(map[string]int)
	dim := 0
	for i, e := range entries {
		switch {
		case e.ChunkID == "":
			return nil, nil, fmt.Errorf("%w: entry %d has no chunk id", ErrInvalid, i)
		case seen[e.ChunkID]:
			return nil, nil, fmt.Errorf("%w: chunk id %q appears twice", ErrInvalid, e.ChunkID)
		case e.DocID != "" && e.DocID != docID:
			return nil, nil, fmt.Errorf("%w: chunk %q belongs to document %q, not %q", ErrInvalid, e.ChunkID, e.DocID, docID)
		}
		seen[e.ChunkID] = true
		p := prepared{chunkID: e.ChunkID, meta: -1}

		clear(counts)
		terms := ix.an.Terms(e.Text)
		for _, t := range terms {
			counts[t]++
		}
		p.length = uint32(len(terms))
		p.terms = make([]termFreq, 0, len(counts))
		for t, n := range counts {
			p.terms = append(p.terms, termFreq{t, uint16(min(n, math.MaxUint16))})
		}

		if e.Vector != nil {
			if len(e.Vector) == 0 {
				return nil, nil, fmt.Errorf("%w: chunk %q: vector is empty", ErrInvalid, e.ChunkID)
			}
			if dim == 0 {
				dim = len(e.Vector)
			} else if len(e.Vector) != dim {
				return nil, nil, fmt.Errorf("%w: chunk %q: vector dimension %d, other chunks have %d", ErrInvalid, e.ChunkID, len(e.Vector), dim)
			}
			scale, ok := unitScale(e.Vector)
			if !ok {
				return nil, nil, fmt.Errorf("%w: chunk %q: vector is zero or not finite", ErrInvalid, e.ChunkID)
			}
			p.vector, p.scale = e.Vector, scale
		}

		if len(e.Metadata) > 0 {
			if n := len(metas); n > 0 && sameMeta(metas[n-1], e.Metadata) {
				p.meta = n - 1
			} else {
				m, err := copyMeta(e.Metadata)
				if err != nil {
					return nil, nil, fmt.Errorf("chunk %q: %w", e.ChunkID, err)
				}
				metas = append(metas, m)
				p.meta = len(metas) - 1
			}
		}
		ps[i] = p
	}
	return ps, metas, nil
}

// copyMeta returns m with its values normalised.
func copyMeta(m map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(m))
	for k, v := range m {
		n, ok := scalar(v)
		if !ok {
			return nil, fmt.Errorf("%w: metadata %q: unsupported value of type %T", ErrInvalid, k, v)
		}
		out[k] = n
	}
	return out, nil
}

// sameMeta reports whether raw normalises to norm.
func sameMeta(norm, raw map[string]any) bool {
	if len(norm) != len(raw) {
		return false
	}
	for k, v := range raw {
		n, ok := scalar(v)
		if !ok {
			return false
		}
		if w, ok := norm[k]; !ok || w != n {
			return false
		}
	}
	return true
}

// unitScale returns the factor that gives v a unit L2 norm (exactly 1 when
// its norm is within 1e-6 of 1), or false for a zero or non-finite vector.
func unitScale(v []float32) (float32, bool) {
	var ss float64
	for _, x := range v {
		ss += float64(x) * float64(x)
	}
	if ss == 0 || math.IsInf(ss, 0) || math.IsNaN(ss) {
		return 0, false
	}
	if math.Abs(ss-1) < 1e-6 {
		return 1, true
	}
	return float32(1 / math.Sqrt(ss)), true
}

// normalize returns a copy of v with unit L2 norm, or false for a zero or
// non-finite vector.
func normalize(v []float32) ([]float32, bool) {
	scale, ok := unitScale(v)
	if !ok {
		return nil, false
	}
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = x * scale
	}
	return out, true
}

// ownVectors counts the live vectors of docID's chunks. Callers hold the
// lock.
func (ix *Index) ownVectors(docID string) int {
	n := 0
	for _, s := range ix.docs[docID] {
		if ix.flags[s]&slotVec != 0 {
			n++
		}
	}
	return n
}

// remove tombstones docID's slots. Callers hold the write lock.
func (ix *Index) remove(docID string) {
	slots, ok := ix.docs[docID]
	if !ok {
		return
	}
	for _, s := range slots {
		if ix.flags[s]&slotVec != 0 {
			ix.liveVecs--
		}
		ix.flags[s] = 0
		ix.totalLen -= uint64(ix.lens[s])
	}
	ix.live -= len(slots)
	ix.dead += len(slots)
	delete(ix.docs, docID)
}

// add appends the prepared chunks of docID. Callers hold the write lock.
func (ix *Index) add(docID string, ps []prepared, metas []map[string]any) {
	if len(ps) == 0 {
		return
	}
	base := uint32(len(ix.metas))
	ix.metas = append(ix.metas, metas...)
	slots := make([]uint32, 0, len(ps))
	for _, p := range ps {
		s := uint32(len(ix.chunkIDs))
		slots = append(slots, s)
		ix.chunkIDs = append(ix.chunkIDs, p.chunkID)
		ix.docIDs = append(ix.docIDs, docID)
		ix.lens = append(ix.lens, p.length)
		f := slotLive
		if p.vector != nil {
			f |= slotVec
		}
		ix.flags = append(ix.flags, f)
		mi := uint32(0)
		if p.meta >= 0 {
			mi = base + uint32(p.meta)
		}
		ix.metaIdx = append(ix.metaIdx, mi)
		ix.totalLen += uint64(p.length)

		for _, tf := range p.terms {
			id, ok := ix.dict[tf.term]
			if !ok {
				id = uint32(len(ix.terms))
				ix.dict[tf.term] = id
				ix.terms = append(ix.terms, tf.term)
				ix.post = append(ix.post, postings{})
			}
			pl := &ix.post[id]
			pl.slots = append(pl.slots, s)
			pl.tfs = append(pl.tfs, tf.tf)
		}

		if p.vector != nil {
			ix.vecs.add(p.vector, p.scale)
			ix.vecSlot = append(ix.vecSlot, s)
			ix.liveVecs++
		}
	}
	ix.live += len(ps)
	ix.docs[docID] = slots
}

// maybeCompact compacts when dead slots are a quarter of all slots.
func (ix *Index) maybeCompact() {
	if ix.dead >= compactMinDead && ix.dead*4 >= len(ix.flags) {
		ix.compact(false)
	}
}

// compact drops dead slots in place, renumbering the live ones in order.
// With trim it also copies every slice into one of its length. Callers hold
// the write lock.
func (ix *Index) compact(trim bool) {
	if ix.dead == 0 && !trim {
		return
	}
	fit := shrink[uint32]
	if trim {
		fit = exact[uint32]
	}
	remap := make([]uint32, len(ix.flags)) // old slot -> new slot or deadSlot
	n := uint32(0)
	for s, f := range ix.flags {
		if f&slotLive == 0 {
			remap[s] = deadSlot
			continue
		}
		remap[s] = n
		n++
	}
	ix.compactPostings(remap, trim)
	ix.compactVectors(remap, fit)

	usedMeta := make([]bool, len(ix.metas))
	usedMeta[0] = true
	for s, to := range remap {
		if to == deadSlot {
			continue
		}
		ix.chunkIDs[to] = ix.chunkIDs[s]
		ix.docIDs[to] = ix.docIDs[s]
		ix.lens[to] = ix.lens[s]
		ix.flags[to] = ix.flags[s]
		ix.metaIdx[to] = ix.metaIdx[s]
		usedMeta[ix.metaIdx[s]] = true
	}
	clear(ix.chunkIDs[n:]) // let the strings go
	clear(ix.docIDs[n:])
	ix.chunkIDs = ix.chunkIDs[:n]
	ix.docIDs = ix.docIDs[:n]
	ix.lens = ix.lens[:n]
	ix.flags = ix.flags[:n]
	ix.metaIdx = ix.metaIdx[:n]
	if trim {
		ix.chunkIDs, ix.docIDs = exact(ix.chunkIDs), exact(ix.docIDs)
		ix.lens, ix.flags, ix.metaIdx = exact(ix.lens), exact(ix.flags), exact(ix.metaIdx)
		ix.metas, ix.post, ix.terms = exact(ix.metas), exact(ix.post), exact(ix.terms)
	}

	mremap := make([]uint32, len(ix.metas))
	m := uint32(0)
	for i, used := range usedMeta {
		if used {
			mremap[i] = m
			ix.metas[m] = ix.metas[i]
			m++
		}
	}
	clear(ix.metas[m:])
	ix.metas = ix.metas[:m]
	for s, mi := range ix.metaIdx {
		ix.metaIdx[s] = mremap[mi]
	}

	for _, slots := range ix.docs {
		for i, s := range slots {
			slots[i] = remap[s]
		}
	}
	ix.dead = 0
}

// compactPostings drops dead postings and terms left with none, and
// renumbers slots.
func (ix *Index) compactPostings(remap []uint32, trim bool) {
	t := uint32(0)
	for id := range ix.post {
		pl := ix.post[id]
		j := 0
		for i, s := range pl.slots {
			if to := remap[s]; to != deadSlot {
				pl.slots[j], pl.tfs[j] = to, pl.tfs[i]
				j++
			}
		}
		term := ix.terms[id]
		if j == 0 {
			delete(ix.dict, term)
			continue
		}
		if trim {
			pl.slots, pl.tfs = exact(pl.slots[:j]), exact(pl.tfs[:j])
		} else {
			pl.slots, pl.tfs = shrink(pl.slots[:j]), shrink(pl.tfs[:j])
		}
		ix.post[t], ix.terms[t] = pl, term
		ix.dict[term] = t
		t++
	}
	clear(ix.post[t:])
	clear(ix.terms[t:])
	ix.post, ix.terms = ix.post[:t], ix.terms[:t]
}

// shrink returns s in a smaller array when more than half of its capacity is
// unused.
func shrink[T any](s []T) []T {
	if cap(s) > 2*len(s)+8 {
		return exact(s)
	}
	return s
}

// exact returns s in an array of its length.
func exact[T any](s []T) []T {
	if cap(s) == len(s) {
		return s
	}
	return append(make([]T, 0, len(s)), s...)
}

// compactVectors drops the rows of dead slots and renumbers slots.
func (ix *Index) compactVectors(remap []uint32, fit func([]uint32) []uint32) {
	j := 0
	for i, s := range ix.vecSlot {
		to := remap[s]
		if to == deadSlot {
			continue
		}
		if i != j {
			ix.vecs.move(j, i)
		}
		ix.vecSlot[j] = to
		j++
	}
	ix.vecSlot = fit(ix.vecSlot[:j])
	ix.vecs.truncate(j)
	if j == 0 {
		ix.vecs.reset(0)
		ix.vecSlot = nil
	}
}
