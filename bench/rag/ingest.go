package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/crispy-enigma/crispy/internal/rag"
	"github.com/crispy-enigma/crispy/internal/rag/chunk"
	"github.com/crispy-enigma/crispy/internal/rag/extract"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// chunkOptions are the tenant's chunk sizes: the defaults.
var chunkOptions = chunk.Options{ChunkTokens: tenant.DefaultChunkTokens, OverlapTokens: tenant.DefaultOverlapTokens}

// batch is one NDJSON body of POST /documents.
type batch struct {
	body  []byte
	docs  int
	bytes int64 // the documents' Markdown, without the JSON around it
}

// docSource numbers and generates the benchmark's documents.
type docSource struct {
	c    *corpus
	size int
	next int
}

func (s *docSource) doc() rag.DocumentInput {
	s.next++
	return rag.DocumentInput{ID: fmt.Sprintf("doc-%07d", s.next), Markdown: s.c.document(s.size)}
}

// batches generates n documents in NDJSON bodies of up to per documents.
func (s *docSource) batches(n, per int) ([]batch, error) {
	var out []batch
	for n > 0 {
		k := min(n, per)
		var b batch
		var body bytes.Buffer
		enc := json.NewEncoder(&body)
		for range k {
			d := s.doc()
			if err := enc.Encode(d); err != nil {
				return nil, err
			}
			b.bytes += int64(len(d.Markdown))
		}
		b.body, b.docs = body.Bytes(), k
		out = append(out, b)
		n -= k
	}
	return out, nil
}

// chunksPerDoc returns the mean chunks of n sample documents, chunked here
// as the server chunks them, and their mean size in bytes.
func chunksPerDoc(c *corpus, size, n int) (chunks, bytes float64) {
	for range n {
		md := c.document(size)
		chunks += float64(len(chunk.Split(extract.Markdown(md), chunkOptions)))
		bytes += float64(len(md))
	}
	return chunks / float64(n), bytes / float64(n)
}

// ingested is what an ingest phase did.
type ingested struct {
	docs, chunks int
	bytes        int64
	wall         time.Duration
	image        time.Duration // from the last job to the image written, 0: none
}

func (a *ingested) add(b ingested) {
	a.docs += b.docs
	a.chunks += b.chunks
	a.bytes += b.bytes
	a.wall += b.wall
}

func (a ingested) mbps() float64 {
	return float64(a.bytes) / 1e6 / a.wall.Seconds()
}

func (a ingested) chunksPerSec() float64 { return float64(a.chunks) / a.wall.Seconds() }

// ingest posts the batches, each an NDJSON batch of more than eight
// documents that the server runs as a job, keeping up to inflight jobs
// running so that the server never waits for the next one, and polls each
// job until it is done. Its wall time runs from the first POST to the end
// of the last job, as seen by polling every poll.
func (c *client) ingest(batches []batch, inflight int, poll time.Duration) (ingested, error) {
	var (
		mu    sync.Mutex
		total ingested
		errs  []error
		wg    sync.WaitGroup
		todo  = make(chan batch)
	)
	start := time.Now()
	for range inflight {
		wg.Go(func() {
			for b := range todo {
				chunks, err := c.runJob(b, poll)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				}
				total.docs += b.docs
				total.bytes += b.bytes
				total.chunks += chunks
				mu.Unlock()
			}
		})
	}
	for _, b := range batches {
		todo <- b
	}
	close(todo)
	wg.Wait()
	total.wall = time.Since(start)
	return total, errors.Join(errs...)
}

// runJob posts one batch and waits for its job (a batch of up to eight
// documents is ingested before the answer, without a job); it returns the
// chunks the documents made.
func (c *client) runJob(b batch, poll time.Duration) (int, error) {
	var job rag.Job
	status, err := c.send("POST", "/documents", "application/x-ndjson", b.body, []int{200, 202}, &job)
	if err != nil {
		return 0, err
	}
	if status == 200 { // {"results": [...]}, decoded into job.Results
		job.Status = rag.JobDone
	}
	for job.Status != rag.JobDone {
		time.Sleep(poll)
		if err := c.do("GET", "/jobs/"+job.ID, "", nil, 200, &job); err != nil {
			return 0, err
		}
	}
	if job.Failed > 0 {
		e := job.Errors[0]
		return 0, fmt.Errorf("job %s: %d of %d documents failed, the first (%s): %s", job.ID, job.Failed, job.Total, e.ID, e.Error.Message)
	}
	chunks := 0
	for _, r := range job.Results {
		if r.Status != "created" {
			return 0, fmt.Errorf("job %s: document %s %s, want created", job.ID, r.ID, r.Status)
		}
		chunks += r.Chunks
	}
	return chunks, nil
}
