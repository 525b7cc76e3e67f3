package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/bench/eval/cranfield"
	"github.com/crispy-enigma/crispy/internal/app"
	"github.com/crispy-enigma/crispy/internal/config"
)

// The evaluation tenant and its development key.
const (
	tenantID = "eval"
	apiKey   = "ck_dev_eval"
)

// options configure one evaluation.
type options struct {
	Data  string   // the collection's folder
	Model string   // the tenant's embedding model
	Modes []string // retrieval modes, in the table's order
	// ChunkTokens and OverlapTokens are the tenant's rag settings; 0 leaves
	// the server's defaults.
	ChunkTokens, OverlapTokens int
	TopK                       int // chunks asked of /retrieve, at most 100
	Batch                      int // documents per POST /documents
	// Workers send queries at once; 1 (or less) sends them one after the
	// other, which is what the latency columns are meant to show.
	Workers int
	Log     io.Writer
}

// report is what an evaluation measured.
type report struct {
	Docs, Skipped, Chunks int
	Ingest                time.Duration
	Modes                 []modeReport
}

// modeReport is the quality and latency of one retrieval mode.
type modeReport struct {
	Mode   string
	Scores cranfield.Scores
	// Client-side time of POST /retrieve on loopback, and the server's own
	// timings.total, in milliseconds.
	MeanMS, P95MS, ServerMeanMS, ServerP95MS float64
	DocsPerQuery                             float64 // distinct documents in a result
}

// evaluate runs the collection through a server built in this process: it
// ingests the documents with POST /documents, sends every query to POST
// /retrieve in each mode, and scores the documents in the order of their
// first chunk.
func evaluate(ctx context.Context, o options) (*report, error) {
	if o.Log == nil {
		o.Log = io.Discard
	}
	coll, err := cranfield.Load(o.Data)
	if err != nil {
		return nil, err
	}
	srv, err := startServer(ctx, o)
	if err != nil {
		return nil, err
	}
	defer srv.stop()

	rep := &report{}
	t0 := time.Now()
	if err := srv.ingest(ctx, coll.Docs, o.Batch, rep); err != nil {
		return nil, err
	}
	rep.Ingest = time.Since(t0)
	fmt.Fprintf(o.Log, "ingested %d documents (%d chunks) in %.1f s\n", rep.Docs, rep.Chunks, rep.Ingest.Seconds())

	for _, mode := range o.Modes {
		mr, err := srv.queries(ctx, coll, mode, o)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(o.Log, "%s: nDCG@10 %.4f\n", mode, mr.Scores.NDCG10)
		rep.Modes = append(rep.Modes, mr)
	}
	return rep, nil
}

// queries sends every query in one mode and scores the results.
func (s *server) queries(ctx context.Context, coll *cranfield.Collection, mode string, o options) (modeReport, error) {
	n := len(coll.Queries)
	docs := make([][]string, n)
	client, server := make([]float64, n), make([]float64, n)
	errs := make([]error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range max(o.Workers, 1) {
		wg.Go(func() {
			for i := range next {
				q := coll.Queries[i]
				t := time.Now()
				res, err := s.retrieve(ctx, q.Text, o.TopK, mode)
				if err != nil {
					errs[i] = fmt.Errorf("query %d (%s): %w", q.Num, mode, err)
					continue
				}
				client[i] = float64(time.Since(t).Microseconds()) / 1000
				server[i] = res.Timings["total"]
				docs[i] = docOrder(res)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return modeReport{}, err
	}
	runs := make(map[int][]string, n)
	ndocs := 0
	for i, q := range coll.Queries {
		runs[q.Num] = docs[i]
		ndocs += len(docs[i])
	}
	return modeReport{
		Mode: mode, Scores: cranfield.Evaluate(runs, coll.Qrels),
		MeanMS: mean(client), P95MS: quantile(client, 0.95), ServerMeanMS: mean(server), ServerP95MS: quantile(server, 0.95),
		DocsPerQuery: float64(ndocs) / float64(n),
	}, nil
}

// retrieved is the part of /retrieve's data the evaluation reads.
type retrieved struct {
	Chunks []struct {
		DocID string `json:"docId"`
	} `json:"chunks"`
	Timings map[string]float64 `json:"timings"`
}

// docOrder is a result's documents in the order of their first chunk.
func docOrder(r *retrieved) []string {
	var out []string
	seen := map[string]bool{}
	for _, c := range r.Chunks {
		if !seen[c.DocID] {
			seen[c.DocID] = true
			out = append(out, c.DocID)
		}
	}
	return out
}

// server is the app under evaluation, listening on loopback.
type server struct {
	url    string
	client *http.Client
	stop   func()
}

// startServer writes a tenants folder with the evaluation tenant (no rate
// limits, no budget, no cache) and runs the app on a free port with a
// fresh data folder.
func startServer(ctx context.Context, o options) (*server, error) {
	tmp, err := os.MkdirTemp("", "crispy-eval-")
	if err != nil {
		return nil, err
	}
	cleanup := func() { os.RemoveAll(tmp) }
	tenants := filepath.Join(tmp, "tenants")
	if err := os.MkdirAll(filepath.Join(tenants, tenantID), 0o755); err != nil {
		cleanup()
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(tenants, tenantID, "tenant.jsonc"), []byte(tenantConfig(o)), 0o644); err != nil {
		cleanup()
		return nil, err
	}
	cfg := config.Defaults()
	cfg.Addr = "127.0.0.1:0"
	cfg.MetricsAddr = config.MetricsOff
	cfg.DataDir = filepath.Join(tmp, "data")
	cfg.TenantsDir = tenants
	cfg.Env = config.Dev
	cfg.LogLevel = "error"
	cfg.ShutdownTimeout = 5 * time.Second
	a, err := app.New(ctx, cfg, app.Deps{})
	if err != nil {
		cleanup()
		return nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	addr := make(chan net.Addr, 1)
	go func() { done <- a.ListenAndServe(sctx, func(x net.Addr) { addr <- x }) }()
	var url string
	select {
	case x := <-addr:
		url = "http://" + x.String()
	case err := <-done:
		cancel()
		a.Close()
		cleanup()
		return nil, err
	}
	s := &server{url: url, client: &http.Client{Timeout: 5 * time.Minute}}
	s.stop = func() {
		cancel()
		<-done
		s.client.CloseIdleConnections()
		if err := a.Close(); err != nil {
			fmt.Fprintf(o.Log, "close: %v\n", err)
		}
		cleanup()
	}
	return s, nil
}

func tenantConfig(o options) string {
	sum := sha256.Sum256([]byte(apiKey))
	rag := map[string]any{"enabled": true, "topK": 10, "maxTopK": max(o.TopK, 10)}
	if o.ChunkTokens > 0 {
		rag["chunkTokens"] = o.ChunkTokens
	}
	if o.OverlapTokens > 0 {
		rag["overlapTokens"] = o.OverlapTokens
	}
	cfg := map[string]any{
		"id": tenantID, "name": "Cranfield evaluation",
		"keys": []any{map[string]any{
			"id": "eval", "hash": "sha256:" + hex.EncodeToString(sum[:]), "dev": true,
			"scopes": []string{"search", "documents:read", "documents:write"},
		}},
		"models": map[string]any{"chat": map[string]any{"model": "builtin/extractive"}, "embedding": map[string]any{"model": o.Model}},
		"rag":    rag,
	}
	b, _ := json.MarshalIndent(cfg, "", "  ")
	return string(b)
}

// ingest sends the documents in NDJSON batches. A document with neither
// text nor title (471 and 995) cannot be ingested and is skipped; one
// with a title only would be ingested with its title as text.
func (s *server) ingest(ctx context.Context, docs []cranfield.Doc, batch int, rep *report) error {
	var buf bytes.Buffer
	n := 0
	flush := func() error {
		if n == 0 {
			return nil
		}
		chunks, err := s.postBatch(ctx, buf.Bytes())
		if err != nil {
			return err
		}
		rep.Chunks += chunks
		rep.Docs += n
		buf.Reset()
		n = 0
		return nil
	}
	enc := json.NewEncoder(&buf)
	for _, d := range docs {
		text := d.Text
		if strings.TrimSpace(text) == "" {
			text = d.Title
		}
		if strings.TrimSpace(text) == "" {
			rep.Skipped++
			continue
		}
		meta := map[string]any{}
		if d.Authors != "" {
			meta["authors"] = truncate(d.Authors, 1024)
		}
		if d.Biblio != "" {
			meta["source"] = truncate(d.Biblio, 1024)
		}
		if err := enc.Encode(map[string]any{"id": d.ID, "title": d.Title, "text": text, "metadata": meta}); err != nil {
			return err
		}
		if n++; n == batch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// ingestResult is the part of an ingest result the evaluation reads.
type ingestResult struct {
	Chunks int `json:"chunks"`
}

// postBatch posts one NDJSON batch and returns the chunks it made. A batch
// the server runs as a job is polled until the job is done.
func (s *server) postBatch(ctx context.Context, body []byte) (int, error) {
	status, data, err := s.do(ctx, "POST", "/documents", "application/x-ndjson", body)
	if err != nil {
		return 0, err
	}
	if status == http.StatusAccepted {
		var job struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(data, &job); err != nil {
			return 0, err
		}
		return s.waitJob(ctx, job.ID)
	}
	var res struct {
		Results []ingestResult `json:"results"`
	}
	if err := json.Unmarshal(data, &res); err != nil {
		return 0, err
	}
	chunks := 0
	for _, r := range res.Results {
		chunks += r.Chunks
	}
	return chunks, nil
}

func (s *server) waitJob(ctx context.Context, id string) (int, error) {
	for {
		_, data, err := s.do(ctx, "GET", "/jobs/"+id, "", nil)
		if err != nil {
			return 0, err
		}
		var job struct {
			Status  string          `json:"status"`
			Failed  int             `json:"failed"`
			Results []ingestResult  `json:"results"`
			Errors  json.RawMessage `json:"errors"`
		}
		if err := json.Unmarshal(data, &job); err != nil {
			return 0, err
		}
		if job.Status != "running" {
			if job.Failed > 0 {
				return 0, fmt.Errorf("job %s: %d documents failed: %s", id, job.Failed, job.Errors)
			}
			chunks := 0
			for _, r := range job.Results {
				chunks += r.Chunks
			}
			return chunks, nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (s *server) retrieve(ctx context.Context, query string, topK int, mode string) (*retrieved, error) {
	body, _ := json.Marshal(map[string]any{"query": query, "topK": topK, "mode": mode})
	_, data, err := s.do(ctx, "POST", "/retrieve", "application/json", body)
	if err != nil {
		return nil, err
	}
	var r retrieved
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// do sends a request with the evaluation key and returns the status and
// the envelope's data, or the envelope's error.
func (s *server) do(ctx context.Context, method, path, contentType string, body []byte) (int, json.RawMessage, error) {
	req, err := http.NewRequestWithContext(ctx, method, s.url+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+apiKey)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := s.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, nil, err
	}
	var env api.Envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return 0, nil, fmt.Errorf("%s %s: %d %.200s", method, path, res.StatusCode, b)
	}
	if !env.OK || res.StatusCode >= 300 {
		if env.Error != nil {
			return 0, nil, fmt.Errorf("%s %s: %d %s: %s", method, path, res.StatusCode, env.Error.Code, env.Error.Message)
		}
		return 0, nil, fmt.Errorf("%s %s: status %d", method, path, res.StatusCode)
	}
	return res.StatusCode, env.Data, nil
}

func mean(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// quantile returns the q-quantile of v by the nearest rank.
func quantile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}
