// Command eval measures the retrieval quality of the knowledge base on the
// Cranfield collection (1,400 aeronautics abstracts, 225 queries, graded
// judgments), through the real ingestion and retrieval path:
//
//	go run ./bench/eval -data ../shared/data/cranfield
//
// It builds the server in this process (internal/app) with a fresh data
// folder and one tenant whose embedding model is -model (builtin/hash-384 by
// default), with no rate limits, budget or cache, and serves it on loopback.
// It ingests every document with POST /documents in NDJSON batches (the
// title as title, the .W text, which repeats the title, as text, authors and
// bibliography as metadata; the two documents with no text are skipped),
// then sends the 225 queries to POST /retrieve with topK 100 in each mode.
// A mode's chunks become documents in the order of each document's first
// chunk. It prints a Markdown table of, per mode, nDCG@10 (gain 5 - code
// for codes 1 to 4; code -1 is not relevant), MAP and recall@100 (relevant:
// codes 1 to 4), the mean and p95 time of POST /retrieve as the client sees
// it on loopback (which includes encoding and decoding topK chunks of JSON)
// and as the server reports it (timings.total: retrieval alone), and the
// ingest time.
//
// The judgments number the queries 1..225 in file order, not by their .I
// numbers. MAP is over the documents of the 100 chunks returned, which may
// be fewer than 100 documents when a document has several chunks.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/crispy-enigma/crispy/bench/eval/cranfield"
)

func main() {
	o := options{Log: os.Stderr}
	var modes string
	flag.StringVar(&o.Data, "data", "", "folder of the Cranfield collection (default: ../shared/data/cranfield beside the module root)")
	flag.StringVar(&o.Model, "model", "builtin/hash-384", "the tenant's embedding model")
	flag.StringVar(&modes, "modes", "bm25,vector,hybrid", "retrieval modes, comma-separated")
	flag.IntVar(&o.ChunkTokens, "chunk-tokens", 0, "the tenant's rag.chunkTokens (0: the server's default)")
	flag.IntVar(&o.OverlapTokens, "overlap-tokens", 0, "the tenant's rag.overlapTokens (0: the server's default)")
	flag.IntVar(&o.TopK, "topk", 100, "chunks asked of /retrieve (at most 100)")
	flag.IntVar(&o.Batch, "batch", 8, "documents per POST /documents (more than 8 run as a job)")
	quiet := flag.Bool("q", false, "no progress on standard error")
	flag.Parse()
	o.Modes = strings.Split(modes, ",")
	if *quiet {
		o.Log = io.Discard
	}
	if o.Data == "" {
		dir, err := cranfield.DefaultDir()
		if err != nil {
			fmt.Fprintf(os.Stderr, "eval: %v; pass -data\n", err)
			os.Exit(2)
		}
		o.Data = dir
	}
	rep, err := evaluate(context.Background(), o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "eval: %v\n", err)
		os.Exit(1)
	}
	printReport(os.Stdout, o, rep)
}

func printReport(w io.Writer, o options, r *report) {
	fmt.Fprintf(w, "Cranfield: %d documents ingested (%d skipped, no text), %d chunks, in %.2f s (%.1f docs/s); embedding model %s; topK %d\n\n",
		r.Docs, r.Skipped, r.Chunks, r.Ingest.Seconds(), float64(r.Docs)/r.Ingest.Seconds(), o.Model, o.TopK)
	fmt.Fprintln(w, "| mode | nDCG@10 | MAP | recall@100 | docs/query | client mean ms | client p95 ms | server mean ms | server p95 ms |")
	fmt.Fprintln(w, "|------|--------:|----:|-----------:|-----------:|---------------:|--------------:|---------------:|--------------:|")
	for _, m := range r.Modes {
		fmt.Fprintf(w, "| %s | %.4f | %.4f | %.4f | %.1f | %.2f | %.2f | %.2f | %.2f |\n",
			m.Mode, m.Scores.NDCG10, m.Scores.MAP, m.Scores.Recall100, m.DocsPerQuery, m.MeanMS, m.P95MS, m.ServerMeanMS, m.ServerP95MS)
	}
}
