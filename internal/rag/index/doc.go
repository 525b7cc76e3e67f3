// Package index is one tenant's in-memory retrieval index over knowledge-base
// chunks: BM25 over analysed text, exact cosine search over L2-normalised
// vectors, metadata filters, pseudo-relevance feedback for both, and
// (weighted) reciprocal rank fusion of result lists.
//
// A query is a bag of words: QueryTerms weighs each distinct term by how
// many times the query says it, as Robertson's BM25 (with k3 → ∞), Lucene
// and Anserini do, and RM3's P(w|Q) counts the same way.
//
// The server keeps one Index per tenant, so a query can only ever see its
// own tenant's chunks; there is no tenant field anywhere in this package. An
// Index is read at start from its image (ReadImage, written by WriteImage),
// whose arrays it uses in place until a write grows or compacts them, or
// rebuilt from the stored chunks and vectors; it is updated on every ingest
// (Replace) and delete (Delete).
//
// # Storage
//
// Every chunk occupies a slot, numbered in insertion order. Postings are per
// term, as two parallel compact slices (slot uint32, term frequency uint16),
// sorted by slot because slots only grow. Vectors live in a []float32 slab,
// one row of Dim floats per vector with a row-to-slot table, allocated in
// blocks of 1024 rows so that growth never copies rows; a scan reads each
// block front to back.
//
// Removal is lazy: Replace and Delete mark the old slots dead (a tombstone)
// and leave their postings and vector rows in place; queries skip dead slots
// and compute document frequencies, the chunk count and the average length
// over live chunks only, so scores are exactly those of an index built from
// the live chunks alone. When dead slots reach a quarter of all slots (and at
// least 1024), the writer compacts in place: it drops dead postings,
// rows and slots and renumbers the rest, in time linear in the index size and
// without extra memory. Compact forces it.
//
// # Feedback
//
// Pseudo-relevance feedback takes the best chunks of a first search as
// relevant and searches again. Expand builds an RM3 query (Lavrenko and
// Croft's relevance model mixed with the original query) from their text,
// which BM25Terms runs as a weighted query; Rocchio moves a query vector
// toward the centroid of their vectors. Both use textbook settings (10
// feedback chunks, 10 expansion terms, λ = 0.5; β = 0.75). On the Cranfield
// collection (bench/eval) RM3 lifts BM25's nDCG@10 from 0.369 to 0.397 (see
// docs/rag.md for every mode).
//
// # Concurrency
//
// An Index is safe for concurrent use: searches share a read lock, and
// Replace, Delete and Compact take the write lock. Replace analyses the text
// and validates its input before it takes the lock, so a rebuild can call it
// from several goroutines and analyse in parallel.
//
// # Cost
//
// A BM25 query reads only the postings of its terms; a vector query reads
// every row, Dim multiply-adds each: about 10-15 ms of one core for 100k
// chunks of 384 dimensions, split across idle cores. Memory is about 230 MiB
// per 100k such chunks of 150 words: 147 MiB of vectors, 70 MiB of postings.
// Feedback keeps no state: Expand analyses the feedback chunks' text again
// (about 20 µs per 150 words) and the expanded query reads the postings of
// its added terms, which are frequent ones, so BM25 with feedback costs
// about ten times plain BM25: some 0.5 ms for 10k chunks and 2 ms for 100k.
// Rocchio reads a few rows.
package index
