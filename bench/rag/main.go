// Command rag measures the knowledge base of a built `crispy serve`:
// ingest throughput, retrieval latency at two corpus sizes, and memory and
// load time of a large knowledge base.
//
//	go build -o /tmp/crispy ./cmd/crispy && go run ./bench/rag -bin /tmp/crispy
//	go run ./bench/rag -bin /tmp/crispy -chunks 10000 -queries 200   # about a minute
//
// Corpus. Documents are Markdown of about -doc-bytes bytes each (from 0.6
// to 1.4 times it): a "#" title, "##" sections and some "###"
// subsections, paragraphs of 2 to 7 sentences of 6 to 24 words, and now
// and then a bullet list. Words are drawn from a vocabulary of -vocab
// words with Zipf frequencies (exponent -zipf): 109 common English
// words first, then the words that cl100k_base holds as one token, in
// token ID order (roughly their frequency in English text), so that text
// has about one token a word, as English has. Queries are 3 to 6 words
// drawn with the same frequencies, leaving out the common words. Generation
// is deterministic for a -seed; documents are generated before they are
// timed.
//
// Server. One tenant, with the builtin/hash-384 embedder, the default
// chunk sizes (256 tokens, 32 of overlap) and no rate limits, budgets or
// cache. The server runs with --env dev on a fresh data folder (under
// -data) and is ready when GET /readyz answers 200.
//
// Ingest. Documents go in NDJSON batches of -batch documents (more than 8,
// so each runs as a background job), with -inflight jobs submitted at once
// so that the server always has the next one queued; each job is polled at
// GET /jobs/{id} until done. Throughput is the documents' Markdown bytes
// (not the JSON around them) and the chunks made, over the wall time from
// the first POST to the last job done. The server ingests a tenant's
// documents one at a time, whatever the number of jobs. The same
// rag.Service.Ingest is also timed in this process without HTTP, on
// -inproc-docs other documents, one after the other, then as one
// rag.Jobs batch (its workers and group commit, still without HTTP) over
// as many more, and each of its steps on its own (over -inproc-docs more).
//
// Retrieval. At each size of -chunks (a chunk count, reached or just passed
// by ingesting), for each of -modes, POST
// /retrieve with topK -topk: -queries queries (after -warmup unmeasured)
// from one client, then from -clients concurrent clients, each sending its
// next query when its last is answered. It reports the client's latency
// (request to decoded answer, on localhost), the retrieval's own time
// (timings.total of the answer, exact), the server's histogram
// crispy_rag_retrieve_seconds by mode (the delta over the run from GET
// /metrics, quantiles interpolated inside its buckets as Prometheus's
// histogram_quantile does; its buckets are 5, 10, 20 and 50 ms around the
// goal, so read it as a range), and the mean of each stage the server
// timed. The clients run on the same machine and take CPU from the server.
//
// Backends. -store, -redis and -redis-prefix are given to the server
// (PostgreSQL and Redis instead of SQLite and memory), and -limits is
// merged into the tenant's "limits" (rate limits, for admission to run).
//
// Search. Mode search posts the same queries to POST /search with the
// tenant's cache off, so every one runs (builtin rewrite, retrieval,
// builtin extractive answer, follow-ups); its server time is the answer's
// timings.total and its histogram crispy_search_stage_seconds{stage="total"}.
// Mode search-cached turns the tenant's cache on (rewriting the tenant file
// and sending SIGHUP), answers every query once unmeasured, then measures
// them all again, each of which must come from the cache; its histogram is
// stage="cache". The cache is turned off again after it.
//
// Image. A server that keeps knowledge-base images writes one when the
// writes of a tenant pause (docs/rag.md, Speed): after each ingest the
// benchmark waits for it (crispy_rag_index_images_total{event="written"}
// moving), so that queries are not measured while it is written, and
// reports how long it took. A build without images is not waited for.
//
// Memory and restart. VmRSS of the server process (/proc/PID/status) when
// ready with an empty knowledge base and after the largest size is
// ingested (with the peak, VmHWM). Then the server is stopped and started
// again on the same data: time from exec to GET /readyz answering 200
// (the knowledge base is loaded before the server listens), the load time
// the server logs, the first query, and RSS after it; then -restart-queries
// hybrid queries from one client, and from -clients.
//
// It prints a Markdown table with the goals beside the numbers (ingest
// ≥ 5 MB/s, hybrid p95 ≤ 20 ms at 100k chunks), and exits non-zero when
// something fails to run, never because a goal is missed.
package main

import (
	"context"
	"debug/buildinfo"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crispy-enigma/crispy/bench/internal/backends"
	"github.com/crispy-enigma/crispy/internal/rag"
)

// logw receives progress; the table goes to standard output.
var logw io.Writer = os.Stderr

func logf(format string, args ...any) {
	fmt.Fprintf(logw, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// options are the command's flags.
type options struct {
	bin            string
	sizes          []int
	docBytes       int
	vocab          int
	zipf           float64
	batch          int
	inflight       int
	poll           time.Duration
	queries        int
	warmup         int
	clients        int
	topK           int
	modes          []string
	inprocDocs     int
	cpuProfile     string
	data           string
	keep           bool
	seed           uint64
	restartQueries int
	reuse          string
	backends       backends.Flags // --store, --redis and the tenant's extra limits
}

func parseFlags() (options, error) {
	var o options
	var sizes, modes string
	flag.StringVar(&o.bin, "bin", "", "crispy binary to measure (required)")
	flag.StringVar(&sizes, "chunks", "10000,100000", "corpus sizes in chunks, comma-separated; queries are measured at each, memory and restart at the largest")
	flag.IntVar(&o.docBytes, "doc-bytes", 5000, "mean document size in bytes")
	flag.IntVar(&o.vocab, "vocab", 20000, "vocabulary size in words")
	flag.Float64Var(&o.zipf, "zipf", 1.07, "Zipf exponent of word frequencies (> 1)")
	flag.IntVar(&o.batch, "batch", 200, "documents per NDJSON batch (9 to 10000: each runs as a job)")
	flag.IntVar(&o.inflight, "inflight", 2, "ingest jobs submitted at once")
	flag.DurationVar(&o.poll, "poll", 20*time.Millisecond, "interval between GET /jobs/{id} polls")
	flag.IntVar(&o.queries, "queries", 500, "measured queries per size, mode and client count")
	flag.IntVar(&o.warmup, "warmup", 20, "unmeasured queries before each run")
	flag.IntVar(&o.clients, "clients", 4, "concurrent clients of the concurrent runs")
	flag.IntVar(&o.topK, "topk", 8, "topK of each query")
	flag.StringVar(&modes, "modes", "hybrid,bm25,vector,search,search-cached", "retrieval modes, and search (uncached) and search-cached, comma-separated")
	flag.IntVar(&o.inprocDocs, "inproc-docs", 2000, "documents ingested in this process without HTTP (0: skip)")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the in-process ingest to this file")
	flag.StringVar(&o.data, "data", "", "folder for the benchmark's work folder (default: the system's temporary folder; /dev/shm takes the disk out)")
	flag.BoolVar(&o.keep, "keep", false, "keep the work folder (data, tenants, and the tenant's API key in key) instead of removing it")
	flag.Uint64Var(&o.seed, "seed", 1, "seed of the generated corpus and queries")
	flag.IntVar(&o.restartQueries, "restart-queries", 200, "hybrid queries after the restart")
	flag.StringVar(&o.reuse, "reuse", "", "work folder of a run with -keep: measure only the restart on its data (to compare builds on one knowledge base)")
	o.backends.Register(flag.CommandLine)
	flag.Parse()
	if err := o.backends.Validate(); err != nil {
		return o, err
	}

	if o.bin == "" {
		return o, errors.New("-bin is required: go build -o /tmp/crispy ./cmd/crispy && go run ./bench/rag -bin /tmp/crispy")
	}
	for s := range strings.SplitSeq(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return o, fmt.Errorf("-chunks: %q is not a positive chunk count", s)
		}
		o.sizes = append(o.sizes, n)
	}
	slices.Sort(o.sizes)
	o.sizes = slices.Compact(o.sizes)
	for m := range strings.SplitSeq(modes, ",") {
		m = strings.TrimSpace(m)
		if m != rag.ModeHybrid && m != rag.ModeBM25 && m != rag.ModeVector && m != modeSearch && m != modeSearchCached {
			return o, fmt.Errorf("-modes: %q is not hybrid, bm25, vector, search or search-cached", m)
		}
		o.modes = append(o.modes, m)
	}
	switch {
	case o.batch < 9 || o.batch > 10000:
		return o, errors.New("-batch must be from 9 to 10000")
	case o.inflight < 1 || o.clients < 1 || o.queries < 1 || o.warmup < 0:
		return o, errors.New("-inflight, -clients and -queries must be positive, -warmup not negative")
	case o.zipf <= 1:
		return o, errors.New("-zipf must be above 1")
	case o.docBytes < 200:
		return o, errors.New("-doc-bytes must be at least 200")
	}
	return o, nil
}

func main() {
	o, err := parseFlags()
	if err != nil {
		fmt.Fprintln(os.Stderr, "rag:", err)
		os.Exit(2)
	}
	r, err := run(context.Background(), o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "rag:", err)
		os.Exit(1)
	}
	r.print(os.Stdout, o)
}

func run(ctx context.Context, o options) (*report, error) {
	r := &report{loadStart: loadAvg(), build: buildOf(o.bin)}
	if _, err := os.Stat(o.bin); err != nil {
		return nil, fmt.Errorf("-bin: %w", err)
	}
	if o.reuse != "" {
		return r, r.reused(o)
	}
	work, err := os.MkdirTemp(o.data, "crispy-bench-rag-")
	if err != nil {
		return nil, err
	}
	if o.keep {
		logf("work folder %s (kept)", work)
	} else {
		defer os.RemoveAll(work)
	}
	r.workDir = work

	words, err := vocabulary(o.vocab)
	if err != nil {
		return nil, err
	}
	r.vocab = len(words)
	r.chunksPerDoc, r.bytesPerDoc = chunksPerDoc(newCorpus(words, o.zipf, o.seed+1000), o.docBytes, 200)
	logf("corpus: %d words, %.0f bytes and %.2f chunks a document", len(words), r.bytesPerDoc, r.chunksPerDoc)

	if o.inprocDocs > 0 {
		src := &docSource{c: newCorpus(words, o.zipf, o.seed+2000), size: o.docBytes}
		docs := make([]rag.DocumentInput, 3*o.inprocDocs)
		for i := range docs {
			docs[i] = src.doc()
		}
		logf("in-process: ingesting %d documents", o.inprocDocs)
		n := o.inprocDocs
		ip, err := runInProcess(ctx, work, docs[:n], docs[n:2*n], docs[2*n:], o.cpuProfile)
		if err != nil {
			return nil, err
		}
		r.inproc = &ip
		logf("in-process: %.2f MB/s, %.0f chunks/s", ip.mbps(), ip.chunksPerSec())
	}

	tenants := filepath.Join(work, "tenants")
	key, err := writeTenant(tenants, o.backends)
	if err != nil {
		return nil, err
	}
	if o.keep { // for serving the kept data again by hand
		if err := os.WriteFile(filepath.Join(work, "key"), []byte(key+"\n"), 0o600); err != nil {
			return nil, err
		}
	}
	r.dataDir = filepath.Join(work, "data")
	srv, err := startCrispy(o.bin, r.dataDir, tenants, "warn", o.backends.Args())
	if err != nil {
		return nil, err
	}
	defer func() { _ = srv.stop() }()
	c := newClient(srv, key, o.clients)
	time.Sleep(500 * time.Millisecond)
	st, err := procStatus(srv.pid())
	if err != nil {
		return nil, err
	}
	r.rssEmpty = st["VmRSS"]

	docs := &docSource{c: newCorpus(words, o.zipf, o.seed), size: o.docBytes}
	queries := newCorpus(words, o.zipf, o.seed+3000)
	have := 0
	imagesBefore := c.imagesWritten()
	for _, target := range o.sizes {
		var phase ingested
		for have < target {
			n := int(math.Ceil(float64(target-have) / r.chunksPerDoc))
			bs, err := docs.batches(n, o.batch)
			if err != nil {
				return nil, err
			}
			logf("ingest: %d documents for %d more chunks", n, target-have)
			got, err := c.ingest(bs, o.inflight, o.poll)
			if err != nil {
				return nil, err
			}
			phase.add(got)
			have += got.chunks
		}
		r.phases = append(r.phases, phase)
		logf("ingest: %d chunks, %.2f MB/s, %.0f chunks/s", have, phase.mbps(), phase.chunksPerSec())
		if d, ok := c.settle(imagesBefore, 10*time.Minute); ok {
			logf("ingest: the server wrote the knowledge base's image %.1f s after the last job", d.Seconds())
			phase.image = d
			r.phases[len(r.phases)-1] = phase
		}
		imagesBefore = c.imagesWritten()

		qs := make([]string, o.warmup+o.queries)
		for i := range qs {
			qs[i] = queries.query()
		}
		for _, mode := range o.modes {
			if mode == modeSearchCached {
				if err := srv.setCache(c, tenants, key, o.backends, true); err != nil {
					return nil, err
				}
				logf("search: answering %d queries once to fill the cache", len(qs))
				for _, q := range qs {
					if _, err := c.query(q, modeSearch, o.topK); err != nil {
						return nil, err
					}
				}
			}
			for _, clients := range slices.Compact([]int{1, o.clients}) {
				qr, err := c.runQueries(qs, mode, o.topK, clients, o.warmup)
				if err != nil {
					return nil, err
				}
				qr.chunks = have
				r.runs = append(r.runs, qr)
				logf("retrieve %s at %d chunks, %d clients: p50 %.2f ms, p95 %.2f ms (server)", mode, have, clients, percentile(qr.server, 50), percentile(qr.server, 95))
			}
			if mode == modeSearchCached {
				if err := srv.setCache(c, tenants, key, o.backends, false); err != nil {
					return nil, err
				}
			}
		}
	}

	st, err = procStatus(srv.pid())
	if err != nil {
		return nil, err
	}
	r.rssIngested, r.hwmIngested = st["VmRSS"], st["VmHWM"]
	if m, err := c.scrape(); err == nil {
		r.heapIngested = gauge(m, "go_memstats_heap_inuse_bytes") / (1 << 20)
	}
	if err := srv.stop(); err != nil {
		return nil, fmt.Errorf("stop: %w", err)
	}
	r.dbMiB = dirMiB(r.dataDir)
	r.imageMiB = dirMiB(filepath.Join(r.dataDir, "index"))

	if o.keep {
		if err := os.WriteFile(filepath.Join(work, "chunks"), []byte(strconv.Itoa(have)+"\n"), 0o644); err != nil {
			return nil, err
		}
	}
	if err := r.restart(o, tenants, key, have, queries); err != nil {
		return nil, err
	}
	r.loadAvg = loadAvg()
	return r, nil
}

// restart starts the server again on the data folder, which holds have
// chunks, and measures its load, first query, memory and queries.
func (r *report) restart(o options, tenants, key string, have int, queries *corpus) error {
	logf("restart: loading %d chunks", have)
	srv, err := startCrispy(o.bin, r.dataDir, tenants, "info", o.backends.Args())
	if err != nil {
		return err
	}
	r.restartReady, r.restartLoadMS = srv.ready, srv.loadMS()
	defer func() { _ = srv.stop() }()
	c := newClient(srv, key, o.clients)
	res, d, err := c.retrieve(queries.query(), rag.ModeHybrid, o.topK)
	if err != nil {
		return err
	}
	if len(res.Chunks) == 0 {
		return errors.New("restart: the first query found nothing")
	}
	r.firstQuery = d
	st, err := procStatus(srv.pid())
	if err != nil {
		return err
	}
	r.rssLoaded = st["VmRSS"]
	if m, err := c.scrape(); err == nil {
		r.heapLoaded = gauge(m, "go_memstats_heap_inuse_bytes") / (1 << 20)
	}
	if o.restartQueries > 0 {
		qs := make([]string, o.warmup+o.restartQueries)
		for i := range qs {
			qs[i] = queries.query()
		}
		for _, clients := range slices.Compact([]int{1, o.clients}) {
			qr, err := c.runQueries(qs, rag.ModeHybrid, o.topK, clients, o.warmup)
			if err != nil {
				return err
			}
			qr.chunks = have
			r.restartRuns = append(r.restartRuns, qr)
			logf("retrieve hybrid after the restart, %d clients: p50 %.2f ms, p95 %.2f ms (server)", clients, percentile(qr.server, 50), percentile(qr.server, 95))
		}
		if st, err = procStatus(srv.pid()); err != nil {
			return err
		}
		r.rssAfterQueries = st["VmRSS"]
	}
	return nil
}

// reused measures the restart alone, on the work folder of a run with
// -keep (its data, tenants, key and chunk count): to compare builds on one
// knowledge base.
func (r *report) reused(o options) error {
	r.workDir = o.reuse
	r.dataDir = filepath.Join(o.reuse, "data")
	key, err := os.ReadFile(filepath.Join(o.reuse, "key"))
	if err != nil {
		return fmt.Errorf("-reuse: %w", err)
	}
	n, err := os.ReadFile(filepath.Join(o.reuse, "chunks"))
	if err != nil {
		return fmt.Errorf("-reuse: %w", err)
	}
	have, err := strconv.Atoi(strings.TrimSpace(string(n)))
	if err != nil {
		return fmt.Errorf("-reuse: chunks: %w", err)
	}
	words, err := vocabulary(o.vocab)
	if err != nil {
		return err
	}
	r.vocab = len(words)
	r.dbMiB = dirMiB(r.dataDir)
	r.imageMiB = dirMiB(filepath.Join(r.dataDir, "index"))
	if err := r.restart(o, filepath.Join(o.reuse, "tenants"), strings.TrimSpace(string(key)), have, newCorpus(words, o.zipf, o.seed+3000)); err != nil {
		return err
	}
	r.loadAvg = loadAvg()
	return nil
}

// loadAvg returns the machine's load averages over 1, 5 and 15 minutes.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "?"
}

// buildOf describes what bin was built from: its module version and VCS
// revision, and whether the tree had uncommitted changes.
func buildOf(bin string) string {
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		return "unknown build"
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	out := bi.GoVersion
	if rev := settings["vcs.revision"]; rev != "" {
		out += ", commit " + rev[:min(12, len(rev))]
		if settings["vcs.modified"] == "true" {
			out += " with uncommitted changes"
		}
	}
	return out
}

// dirMiB returns the size of the files in dir, in MiB.
func dirMiB(dir string) float64 {
	var n int64
	_ = filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return float64(n) / (1 << 20)
}
