package index

import (
	"fmt"
	"slices"

	"github.com/crispy-enigma/crispy/internal/rag/snap"
)

// Image section of an Index: what WriteImage writes and ReadImage reads.
//
//	u8 full, u32 dim, u64 slots
//	chunk IDs: strings (blob and offsets)
//	documents: u64 count, strings; per slot u32 document number
//	per slot: u32 length, u32 metadata number, u8 flags
//	metadata: u64 count, each u32 keys, then key, type, value
//	terms: u64 count, strings; u64 offsets (terms+1) into the postings;
//	       u32 slots and u16 term frequencies of every posting
//	vectors: u64 rows, u32 slot of each row; int8 codes and float32 scales
//	       (or float32 rows with full vectors)
//
// Arrays are aligned to 8 bytes so that ReadImage can use them in place.

// metadata value types in an image.
const (
	metaString uint8 = iota + 1
	metaNumber
	metaBool
)

// WriteImage writes the Index to w, without its dead slots (it compacts
// first when it has any). Writes must not run meanwhile; searches may.
func (ix *Index) WriteImage(w *snap.Writer) error {
	ix.mu.Lock()
	if ix.dead > 0 {
		ix.compact(false)
	}
	ix.mu.Unlock()
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.dead > 0 {
		return fmt.Errorf("index: a write ran during WriteImage")
	}
	n := len(ix.flags)
	w.Bool(ix.vecs.full)
	w.U32(uint32(ix.vecs.dim))
	w.U64(uint64(n))
	snap.WriteStrings(w, ix.chunkIDs)

	// Documents, numbered in slot order.
	docNum := make(map[string]uint32, len(ix.docs))
	var docs []string
	slotDoc := make([]uint32, n)
	for s, d := range ix.docIDs {
		i, ok := docNum[d]
		if !ok {
			i = uint32(len(docs))
			docNum[d] = i
			docs = append(docs, d)
		}
		slotDoc[s] = i
	}
	w.U64(uint64(len(docs)))
	snap.WriteStrings(w, docs)
	snap.Array(w, slotDoc)
	snap.Array(w, ix.lens)
	snap.Array(w, ix.metaIdx)
	snap.Array(w, ix.flags)

	w.U64(uint64(len(ix.metas)))
	for _, m := range ix.metas {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		w.U32(uint32(len(keys)))
		for _, k := range keys {
			w.String(k)
			switch v := m[k].(type) {
			case string:
				w.U8(metaString)
				w.String(v)
			case float64:
				w.U8(metaNumber)
				w.F64(v)
			case bool:
				w.U8(metaBool)
				w.Bool(v)
			default:
				return fmt.Errorf("index: metadata %q of type %T", k, v)
			}
		}
	}

	w.U64(uint64(len(ix.terms)))
	snap.WriteStrings(w, ix.terms)
	offs := make([]uint64, len(ix.post)+1)
	for i, pl := range ix.post {
		offs[i+1] = offs[i] + uint64(len(pl.slots))
	}
	snap.Array(w, offs)
	w.Align(8)
	for _, pl := range ix.post {
		snap.Raw(w, pl.slots)
	}
	w.Align(8)
	for _, pl := range ix.post {
		snap.Raw(w, pl.tfs)
	}

	rows := len(ix.vecSlot)
	w.U64(uint64(rows))
	snap.Array(w, ix.vecSlot)
	if ix.vecs.full {
		w.Align(8)
		for _, b := range ix.vecs.blocks {
			snap.Raw(w, b)
		}
	} else {
		w.Align(8)
		for _, b := range ix.vecs.codes {
			snap.Raw(w, b)
		}
		w.Align(8)
		for _, b := range ix.vecs.scales {
			snap.Raw(w, b)
		}
	}
	w.Align(8)
	return w.Err()
}

// ReadImage returns the Index an image section written by WriteImage holds,
// configured by o (its vector encoding must be the image's). Its arrays may
// point into r's memory, which must then outlive the Index and stay
// unchanged; keep, when not nil, is held by the Index for that purpose (a
// mapping whose cleanup unmaps it).
func ReadImage(r *snap.Reader, o Options, keep any) (*Index, error) {
	ix := NewWithOptions(o)
	ix.backing = keep
	full := r.Bool()
	dim := int(r.U32())
	n := r.Count(4 + 4 + 4 + 1)
	if r.Err() == nil && full != o.FullVectors {
		return nil, fmt.Errorf("%w: image has full vectors %v, options %v", snap.ErrCorrupt, full, o.FullVectors)
	}
	ix.chunkIDs = snap.Strings(r, n)
	nd := r.Count(1)
	docs := snap.Strings(r, nd)
	slotDoc := snap.ReadArray[uint32](r, n)
	ix.lens = snap.ReadArray[uint32](r, n)
	ix.metaIdx = snap.ReadArray[uint32](r, n)
	ix.flags = snap.ReadArray[uint8](r, n)
	if err := r.Err(); err != nil {
		return nil, err
	}
	ix.docIDs = make([]string, n)
	ix.docs = make(map[string][]uint32, nd)
	for s, d := range slotDoc {
		if int(d) >= nd {
			r.Fail("slot %d of document %d, of %d", s, d, nd)
			return nil, r.Err()
		}
		ix.docIDs[s] = docs[d]
		ix.docs[docs[d]] = append(ix.docs[docs[d]], uint32(s))
	}

	nm := r.Count(4)
	ix.metas = make([]map[string]any, nm)
	for i := range ix.metas {
		keys := int(r.U32())
		if keys == 0 {
			continue
		}
		if keys > r.Left() {
			r.Fail("metadata of %d keys", keys)
			return nil, r.Err()
		}
		m := make(map[string]any, keys)
		for range keys {
			k := r.String()
			switch r.U8() {
			case metaString:
				m[k] = r.String()
			case metaNumber:
				m[k] = r.F64()
			case metaBool:
				m[k] = r.Bool()
			default:
				r.Fail("metadata %q of unknown type", k)
			}
		}
		ix.metas[i] = m
	}
	if nm == 0 {
		ix.metas = []map[string]any{nil}
	}

	nt := r.Count(1)
	ix.terms = snap.Strings(r, nt)
	offs := snap.ReadArray[uint64](r, nt+1)
	if err := r.Err(); err != nil {
		return nil, err
	}
	var total uint64
	if nt > 0 {
		total = offs[nt]
	}
	if total > uint64(r.Left()/6) {
		r.Fail("%d postings do not fit", total)
		return nil, r.Err()
	}
	r.Align(8)
	slots := snap.ReadArray[uint32](r, int(total))
	r.Align(8)
	tfs := snap.ReadArray[uint16](r, int(total))
	if err := r.Err(); err != nil {
		return nil, err
	}
	ix.post = make([]postings, nt)
	ix.dict = make(map[string]uint32, nt)
	for i, t := range ix.terms {
		lo, hi := offs[i], offs[i+1]
		if lo > hi || hi > total {
			r.Fail("postings of term %d out of range", i)
			return nil, r.Err()
		}
		ix.post[i] = postings{slots: slots[lo:hi:hi], tfs: tfs[lo:hi:hi]}
		ix.dict[t] = uint32(i)
	}

	rows := r.Count(4)
	ix.vecSlot = snap.ReadArray[uint32](r, rows)
	ix.vecs = slab{dim: dim, rows: rows, full: full}
	if rows > 0 && (dim <= 0 || dim > 1<<16) {
		r.Fail("vector dimension %d", dim)
		return nil, r.Err()
	}
	if full {
		all := snap.ReadArray[float32](r, rows*dim)
		if err := r.Err(); err != nil {
			return nil, err
		}
		for lo := 0; lo < len(all); lo += blockRows * dim {
			hi := min(len(all), lo+blockRows*dim)
			ix.vecs.blocks = append(ix.vecs.blocks, all[lo:hi:hi])
		}
	} else {
		codes := snap.ReadArray[int8](r, rows*dim)
		scales := snap.ReadArray[float32](r, rows)
		if err := r.Err(); err != nil {
			return nil, err
		}
		for lo := 0; lo < rows; lo += blockRows {
			hi := min(rows, lo+blockRows)
			ix.vecs.codes = append(ix.vecs.codes, codes[lo*dim:hi*dim:hi*dim])
			ix.vecs.scales = append(ix.vecs.scales, scales[lo:hi:hi])
		}
	}
	if err := r.Err(); err != nil {
		return nil, err
	}

	// Check what searches index with, and count.
	for s := range n {
		if int(ix.metaIdx[s]) >= len(ix.metas) {
			r.Fail("slot %d has metadata %d of %d", s, ix.metaIdx[s], len(ix.metas))
			return nil, r.Err()
		}
		if ix.flags[s]&slotLive == 0 {
			r.Fail("slot %d is dead", s)
			return nil, r.Err()
		}
		if ix.flags[s]&slotVec != 0 {
			ix.liveVecs++
		}
		ix.totalLen += uint64(ix.lens[s])
	}
	if ix.liveVecs != rows {
		r.Fail("%d vector rows, %d slots with a vector", rows, ix.liveVecs)
		return nil, r.Err()
	}
	for i, s := range ix.vecSlot {
		if int(s) >= n || i > 0 && s <= ix.vecSlot[i-1] {
			r.Fail("vector row %d of slot %d", i, s)
			return nil, r.Err()
		}
	}
	for i, pl := range ix.post {
		for j, s := range pl.slots {
			if int(s) >= n || j > 0 && s <= pl.slots[j-1] {
				r.Fail("posting %d of term %d: slot %d", j, i, s)
				return nil, r.Err()
			}
		}
	}
	ix.live = n
	return ix, nil
}

// Install replaces the contents of ix with those of from, which must not
// be used afterwards: a knowledge base swaps in the Index of the image it
// just wrote, whose arrays live in the image's mapping, for the one it
// built, without its readers holding a new pointer.
func (ix *Index) Install(from *Index) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.chunkIDs, ix.docIDs, ix.lens, ix.flags, ix.metaIdx = from.chunkIDs, from.docIDs, from.lens, from.flags, from.metaIdx
	ix.metas, ix.docs, ix.dict, ix.terms, ix.post = from.metas, from.docs, from.dict, from.terms, from.post
	ix.totalLen, ix.live, ix.dead = from.totalLen, from.live, from.dead
	ix.vecs, ix.vecSlot, ix.liveVecs = from.vecs, from.vecSlot, from.liveVecs
	ix.backing = from.backing
}
