package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"time"

	"github.com/crispy-enigma/crispy/bench/internal/backends"
	"github.com/crispy-enigma/crispy/internal/gateway"
	"github.com/crispy-enigma/crispy/internal/provider"
	"github.com/crispy-enigma/crispy/internal/provider/builtin"
	"github.com/crispy-enigma/crispy/internal/rag"
	"github.com/crispy-enigma/crispy/internal/rag/chunk"
	"github.com/crispy-enigma/crispy/internal/rag/extract"
	"github.com/crispy-enigma/crispy/internal/rag/index"
	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/store/sqlite"
	"github.com/crispy-enigma/crispy/internal/tenant"
	"github.com/crispy-enigma/crispy/internal/tokens"
)

// stage is the time one step of ingestion took over all the documents.
type stage struct {
	name string
	d    time.Duration
}

// inProcess is what ingesting in this process measured.
type inProcess struct {
	ingested
	stages []stage
	// jobs is the same ingest as one rag.Jobs batch: parallel workers,
	// shared store transactions.
	jobs ingested
}

// runInProcess ingests docs with rag.Service.Ingest, wired as internal/app
// wires it (SQLite in dir, the builtin embedder through the gateway, a
// usage ledger) but without HTTP, one document after the other; then it
// times each step of that ingestion on its own over other documents like
// them, stageDocs (not the same ones: internal/tokens remembers the counts
// of texts it has seen). With profile set, it writes a CPU profile of the
// Ingest calls there.
func runInProcess(ctx context.Context, dir string, docs, jobDocs, stageDocs []rag.DocumentInput, profile string) (inProcess, error) {
	var out inProcess
	cfgJSON, err := tenantConfig(tenant.NewKey(), false, backends.Flags{})
	if err != nil {
		return out, err
	}
	cfg, probs := tenant.Parse("bench", cfgJSON, tenant.Options{})
	if len(probs) > 0 {
		return out, probs
	}
	reg, err := tenant.NewRegistry([]*tenant.Config{cfg}, tenant.Options{})
	if err != nil {
		return out, err
	}
	t, _ := reg.Tenant(benchTenant)

	db, err := sqlite.Open(ctx, filepath.Join(dir, "inproc.db"), sqlite.Options{SweepInterval: -1})
	if err != nil {
		return out, err
	}
	defer db.Close()
	bp := builtin.New()
	catalog := gateway.NewCatalog(reg, gateway.Adapter{Chat: bp, Embed: bp}, func(*tenant.Tenant, string, tenant.Provider) gateway.Adapter {
		return gateway.Adapter{Err: errors.New("no providers in the benchmark")}
	})
	ledger := gateway.NewLedger(db.Usage(), nil)
	defer ledger.Close()
	gw := gateway.New(gateway.Options{Catalog: func() *gateway.Catalog { return catalog }, Ledger: ledger})
	svc := rag.New(gw, db.Documents(), nil, nil)

	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			return out, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return out, err
		}
	}
	start := time.Now()
	for _, d := range docs {
		res, err := svc.Ingest(ctx, tenant.Caller{Tenant: t}, d)
		if err != nil {
			pprof.StopCPUProfile()
			return out, fmt.Errorf("in-process ingest of %s: %w", d.ID, err)
		}
		out.docs++
		out.chunks += res.Chunks
		out.bytes += int64(len(d.Markdown))
	}
	out.wall = time.Since(start)
	pprof.StopCPUProfile()

	jobs := rag.NewJobs(svc, nil)
	start = time.Now()
	job, err := jobs.Start(tenant.Caller{Tenant: t}, jobDocs)
	if err != nil {
		return out, err
	}
	jobs.Wait()
	out.jobs.wall = time.Since(start)
	done, err := jobs.Get(t.ID, job.ID)
	if err != nil {
		return out, err
	}
	if done.Failed > 0 {
		return out, fmt.Errorf("in-process job: %d documents failed, the first: %v", done.Failed, done.Errors[0].Error)
	}
	for i, res := range done.Results {
		out.jobs.docs++
		out.jobs.chunks += res.Chunks
		out.jobs.bytes += int64(len(jobDocs[i].Markdown))
	}

	out.stages, err = stages(ctx, dir, t.ID, stageDocs)
	return out, err
}

// stages times the steps of rag.Service.Ingest one at a time, each over
// every document, in the order Ingest runs them: extracting the Markdown, chunking it (which counts
// tokens), counting the chunks' tokens once more as the gateway does for
// its budget estimate, embedding them with the builtin model (which counts
// them a third time, for usage), hashing them, storing each document in
// SQLite in its own transaction, and indexing (BM25 terms, vectors, the
// injection check of each chunk).
func stages(ctx context.Context, dir string, t tenant.ID, docs []rag.DocumentInput) ([]stage, error) {
	var out []stage
	timed := func(name string, fn func() error) error {
		t0 := time.Now()
		err := fn()
		out = append(out, stage{name, time.Since(t0)})
		return err
	}
	extracted := make([]extract.Document, len(docs))
	_ = timed("extract Markdown", func() error {
		for i, d := range docs {
			extracted[i] = extract.Markdown(d.Markdown)
		}
		return nil
	})
	parts := make([][]chunk.Chunk, len(docs))
	_ = timed("chunk (counts tokens)", func() error {
		for i := range docs {
			parts[i] = chunk.Split(extracted[i], chunkOptions)
		}
		return nil
	})
	texts := make([][]string, len(docs))
	for i := range docs {
		for _, p := range parts[i] {
			texts[i] = append(texts[i], rag.IndexText(extracted[i].Title, p.HeadingPath, p.Text))
		}
	}
	_ = timed("count tokens (gateway estimate)", func() error {
		n := 0
		for _, ts := range texts {
			for _, s := range ts {
				n += tokens.Count(s)
			}
		}
		return nil
	})
	vectors := make([][][]float32, len(docs))
	var emb builtin.HashEmbedder
	err := timed("embed hash-384 (incl. usage token count)", func() error {
		for i, ts := range texts {
			for lo := 0; lo < len(ts); lo += 64 {
				res, err := emb.Embed(ctx, &provider.EmbedRequest{Model: builtin.EmbedModel, Input: ts[lo:min(lo+64, len(ts))]})
				if err != nil {
					return err
				}
				vectors[i] = append(vectors[i], res.Vectors...)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	stored := make([][]store.StoredChunk, len(docs))
	_ = timed("sha256 of chunks", func() error {
		for i, d := range docs {
			stored[i] = make([]store.StoredChunk, len(parts[i]))
			for j, p := range parts[i] {
				sum := sha256.Sum256([]byte(p.Text))
				stored[i][j] = store.StoredChunk{
					ID: fmt.Sprintf("%s#%d", d.ID, p.Ordinal), DocID: d.ID, Ordinal: p.Ordinal, HeadingPath: p.HeadingPath,
					Text: p.Text, Start: p.Start, End: p.End, Tokens: p.Tokens, Hash: hex.EncodeToString(sum[:]), Vector: vectors[i][j],
				}
			}
		}
		return nil
	})

	db, err := sqlite.Open(ctx, filepath.Join(dir, "stages.db"), sqlite.Options{SweepInterval: -1})
	if err != nil {
		return nil, err
	}
	defer db.Close()
	docStore := db.Documents()
	err = timed("store in SQLite (a transaction a document)", func() error {
		for i, d := range docs {
			rec := store.DocumentRecord{ID: d.ID, Title: extracted[i].Title, Format: "markdown", Hash: d.ID, EmbeddingModel: "builtin/hash-384", Bytes: int64(len(d.Markdown))}
			if _, err := docStore.PutDocument(ctx, t, rec, stored[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	ix := index.New()
	err = timed("index (BM25, vectors, injection check)", func() error {
		for i, d := range docs {
			entries := make([]index.Entry, len(stored[i]))
			for j, c := range stored[i] {
				entries[j] = index.Entry{ChunkID: c.ID, DocID: d.ID, Text: texts[i][j], Vector: c.Vector}
				_ = rag.LooksLikeInjection(c.Text)
			}
			if err := ix.Replace(d.ID, entries); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}
