package index

import "unsafe"

// Stats describes an Index's contents and approximate memory.
type Stats struct {
	Chunks       int   // live chunks
	Docs         int   // documents with at least one live chunk
	Dead         int   // tombstoned slots awaiting compaction
	Terms        int   // distinct terms, including some only dead slots use
	Postings     int   // postings, including dead ones
	Dim          int   // vector dimension, 0 before the first vector
	Vectors      int   // vector rows, including dead ones
	PostingBytes int64 // postings and term strings
	VectorBytes  int64 // the slab and its row-to-slot table
	TotalBytes   int64 // the above and per-chunk bookkeeping
}

// Stats returns the Index's counts and an estimate of its memory: postings,
// vectors and per-chunk bookkeeping by capacity, strings by length. It does
// not count the term dictionary's map or the metadata maps.
func (ix *Index) Stats() Stats {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	st := Stats{
		Chunks:  ix.live,
		Docs:    len(ix.docs),
		Dead:    ix.dead,
		Terms:   len(ix.terms),
		Dim:     ix.vecs.dim,
		Vectors: len(ix.vecSlot),
	}
	for i, pl := range ix.post {
		st.Postings += len(pl.slots)
		st.PostingBytes += int64(cap(pl.slots))*4 + int64(cap(pl.tfs))*2 + int64(len(ix.terms[i]))
	}
	st.PostingBytes += int64(cap(ix.post))*int64(unsafe.Sizeof(postings{})) + int64(cap(ix.terms))*16
	st.VectorBytes = ix.vecs.bytes() + int64(cap(ix.vecSlot))*4
	var slots int64
	for i := range ix.chunkIDs {
		slots += int64(len(ix.chunkIDs[i]))
	}
	slots += int64(cap(ix.chunkIDs))*16 + int64(cap(ix.docIDs))*16 + int64(cap(ix.lens))*4 +
		int64(cap(ix.flags)) + int64(cap(ix.metaIdx))*4
	st.TotalBytes = st.PostingBytes + st.VectorBytes + slots
	return st
}
