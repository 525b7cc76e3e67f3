package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/rag"
	"github.com/crispy-enigma/crispy/internal/rag/extract"
)

// ingestBatch bounds one NDJSON request of `crispy ingest`.
const (
	ingestBatchDocs  = 100
	ingestBatchBytes = 8 << 20
)

type ingestOptions struct {
	server string
	key    string
	tenant string
	poll   time.Duration
}

func newIngest(e *env) *cobra.Command {
	o := ingestOptions{server: "http://127.0.0.1:8080", poll: 200 * time.Millisecond}
	cmd := &cobra.Command{
		Use:   "ingest PATH --tenant ID",
		Short: "Upload a folder of documents to a tenant's knowledge base",
		Long: `Upload every .txt, .md and .html file under PATH (a folder or one file) to the
knowledge base of a tenant on a running server, with a progress bar and a
summary. A document's ID is its path relative to PATH, so running the
command again replaces changed files and leaves unchanged ones alone.

The key comes from --key or CRISPY_KEY and needs the documents:write scope;
--tenant is sent as X-Tenant-ID and must be the key's tenant.`,
		Example: `  CRISPY_KEY=ck_dev_acme crispy ingest ./docs --tenant acme`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.key == "" {
				o.key, _ = e.lookup("CRISPY_KEY")
			}
			if v, ok := e.lookup("CRISPY_SERVER"); ok && !cmd.Flags().Changed("server") {
				o.server = v
			}
			if o.key == "" {
				return &exitError{code: 2, err: errors.New("no key: pass --key or set CRISPY_KEY")}
			}
			if o.tenant == "" {
				return &exitError{code: 2, err: errors.New("--tenant is required")}
			}
			return ingest(cmd.Context(), e, args[0], o)
		},
	}
	cmd.Flags().StringVar(&o.server, "server", o.server, "base URL of the server (or CRISPY_SERVER)")
	cmd.Flags().StringVar(&o.key, "key", "", "API key with the documents:write scope (or CRISPY_KEY)")
	cmd.Flags().StringVar(&o.tenant, "tenant", "", "tenant ID; must match the key's tenant")
	return cmd
}

// ingestSummary counts what an ingest did.
type ingestSummary struct {
	files, bytes                       int
	created, updated, unchanged, chunk int
	failed                             []string
}

func ingest(ctx context.Context, e *env, root string, o ingestOptions) error {
	docs, total, err := collectDocuments(root)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	if len(docs) == 0 {
		return &exitError{code: 1, err: fmt.Errorf("no .txt, .md or .html file under %s", root)}
	}
	c := &ingestClient{base: strings.TrimRight(o.server, "/"), key: o.key, tenant: o.tenant, http: &http.Client{Timeout: 5 * time.Minute}}
	bar := &progress{w: e.stderr, tty: isTerminal(e.stderr), total: len(docs), bytes: total, start: time.Now()}
	sum := ingestSummary{files: len(docs), bytes: total}

	for lo := 0; lo < len(docs); {
		hi, size := lo, 0
		for hi < len(docs) && hi-lo < ingestBatchDocs && (hi == lo || size+len(docs[hi].raw) <= ingestBatchBytes) {
			size += len(docs[hi].raw)
			hi++
		}
		batch := docs[lo:hi]
		results, errs, err := c.send(ctx, batch, o.poll, func(done int) { bar.set(lo + done) })
		if err != nil {
			bar.finish()
			return &exitError{code: 1, err: err}
		}
		for _, r := range results {
			switch r.Status {
			case "created":
				sum.created++
			case "updated":
				sum.updated++
			default:
				sum.unchanged++
			}
			sum.chunk += r.Chunks
		}
		sum.failed = append(sum.failed, errs...)
		lo = hi
		bar.set(lo)
	}
	bar.finish()
	elapsed := time.Since(bar.start)
	fmt.Fprintf(e.stdout, "%s, %.1f MB in %s (%.2f MB/s): %d created, %d updated, %d unchanged, %d failed; %s\n",
		plural(sum.files, "file"), float64(sum.bytes)/1e6, elapsed.Round(time.Millisecond), float64(sum.bytes)/1e6/elapsed.Seconds(),
		sum.created, sum.updated, sum.unchanged, len(sum.failed), plural(sum.chunk, "chunk"))
	for _, f := range sum.failed {
		fmt.Fprintln(e.stdout, "  failed:", f)
	}
	if len(sum.failed) > 0 {
		return &exitError{code: 1}
	}
	return nil
}

// fileDoc is a document read from disk.
type fileDoc struct {
	path string
	raw  []byte // the NDJSON line
}

// collectDocuments reads every accepted file under root as a document.
func collectDocuments(root string) ([]fileDoc, int, error) {
	info, err := os.Stat(root)
	if err != nil {
		return nil, 0, err
	}
	base := root
	if !info.IsDir() {
		base = filepath.Dir(root)
	}
	var docs []fileDoc
	total := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		field := extract.FormatOf(path) // the document's field is named after its format
		if field == "" {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(base, path)
		rel = filepath.ToSlash(rel)
		doc := map[string]any{
			"id":       rag.DocumentIDFrom(rel),
			"title":    strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)),
			field:      string(b),
			"metadata": map[string]any{"path": rel},
		}
		line, err := json.Marshal(doc)
		if err != nil {
			return err
		}
		docs = append(docs, fileDoc{path: rel, raw: line})
		total += len(b)
		return nil
	})
	return docs, total, err
}

type ingestClient struct {
	base, key, tenant string
	http              *http.Client
}

// send posts a batch and, when the server runs it as a job, polls it. It
// returns the results, the failures ("path: message") and an error when
// the batch could not be sent at all.
func (c *ingestClient) send(ctx context.Context, batch []fileDoc, poll time.Duration, progress func(done int)) ([]ingestResult, []string, error) {
	var body bytes.Buffer
	for _, d := range batch {
		body.Write(d.raw)
		body.WriteByte('\n')
	}
	status, env, err := c.do(ctx, "POST", "/documents", "application/x-ndjson", &body)
	if err != nil {
		return nil, nil, err
	}
	switch status {
	case http.StatusOK:
		var out struct {
			Results []ingestResult `json:"results"`
		}
		if err := json.Unmarshal(env.Data, &out); err != nil {
			return nil, nil, err
		}
		progress(len(batch))
		return out.Results, nil, nil
	case http.StatusAccepted:
		var job ingestJob
		if err := json.Unmarshal(env.Data, &job); err != nil {
			return nil, nil, err
		}
		for job.Status != "done" {
			select {
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			case <-time.After(poll):
			}
			status, env, err := c.do(ctx, "GET", "/jobs/"+job.ID, "", nil)
			if err != nil {
				return nil, nil, err
			}
			if status != http.StatusOK {
				return nil, nil, serverError(status, env)
			}
			if err := json.Unmarshal(env.Data, &job); err != nil {
				return nil, nil, err
			}
			progress(job.Done + job.Failed)
		}
		var failed []string
		for _, je := range job.Errors {
			path := ""
			if je.Line >= 1 && je.Line <= len(batch) {
				path = batch[je.Line-1].path
			}
			failed = append(failed, fmt.Sprintf("%s: %s", path, je.Error.Message))
		}
		return job.Results, failed, nil
	default:
		if status >= 400 && status < 500 && status != http.StatusUnauthorized && status != http.StatusForbidden && status != http.StatusTooManyRequests {
			// The batch was refused as a whole: say which file.
			msg := serverError(status, env).Error()
			return nil, []string{msg}, nil
		}
		return nil, nil, serverError(status, env)
	}
}

type ingestResult struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Chunks int    `json:"chunks"`
}

type ingestJob struct {
	ID      string         `json:"id"`
	Status  string         `json:"status"`
	Done    int            `json:"done"`
	Failed  int            `json:"failed"`
	Results []ingestResult `json:"results"`
	Errors  []struct {
		Line  int        `json:"line"`
		Error *api.Error `json:"error"`
	} `json:"errors"`
}

func (c *ingestClient) do(ctx context.Context, method, path, contentType string, body io.Reader) (int, api.Envelope, error) {
	var env api.Envelope
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return 0, env, err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("X-Tenant-ID", c.tenant)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return 0, env, fmt.Errorf("cannot reach %s: %w", c.base, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return 0, env, err
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return 0, env, fmt.Errorf("%s %s: status %d, not an API answer: %.200s", method, path, res.StatusCode, raw)
	}
	return res.StatusCode, env, nil
}

func serverError(status int, env api.Envelope) error {
	if env.Error != nil {
		return fmt.Errorf("server answered %d %s: %s", status, env.Error.Code, env.Error.Message)
	}
	return fmt.Errorf("server answered %d", status)
}

// plural returns n and noun, with an s unless n is 1: "1 file", "2 files".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// isTerminal reports whether w is a terminal (a character device), where a
// progress bar may redraw its line with carriage returns.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progress reports how far an ingest got: on a terminal, a one-line bar
// redrawn in place; elsewhere (a log file, a pipe, CI), a plain line at
// most every plainEvery, and one at the end.
type progress struct {
	w     io.Writer
	tty   bool
	total int
	bytes int
	start time.Time
	last  time.Time
	done  int // last reported
}

// plainEvery is how often a progress line is written when not on a terminal.
const plainEvery = 5 * time.Second

func (p *progress) set(done int) {
	now := time.Now()
	if !p.tty {
		if done == p.done || (done < p.total && now.Sub(p.last) < plainEvery) {
			return
		}
		p.last, p.done = now, done
		fmt.Fprintf(p.w, "ingested %d/%s in %s\n", done, plural(p.total, "file"), now.Sub(p.start).Round(100*time.Millisecond))
		return
	}
	if done < p.total && now.Sub(p.last) < 100*time.Millisecond {
		return
	}
	p.last, p.done = now, done
	const width = 30
	filled := width * done / max(p.total, 1)
	fmt.Fprintf(p.w, "\r[%s%s] %d/%s  %s", strings.Repeat("=", filled), strings.Repeat(" ", width-filled), done, plural(p.total, "file"), now.Sub(p.start).Round(100*time.Millisecond))
}

// finish ends the bar's line on a terminal.
func (p *progress) finish() {
	if p.tty {
		fmt.Fprintln(p.w)
	}
}
