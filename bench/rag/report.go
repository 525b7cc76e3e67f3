package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crispy-enigma/crispy/internal/rag"
)

// report is everything measured.
type report struct {
	vocab            int
	chunksPerDoc     float64
	bytesPerDoc      float64
	inproc           *inProcess
	phases           []ingested // one per size
	runs             []queryRun
	rssEmpty         float64
	rssIngested      float64
	hwmIngested      float64
	heapIngested     float64
	dbMiB            float64
	imageMiB         float64 // of the data folder's index images
	restartReady     time.Duration
	restartLoadMS    float64
	firstQuery       time.Duration
	rssLoaded        float64
	heapLoaded       float64
	restartRuns      []queryRun // after the restart: 1 client, then -clients
	rssAfterQueries  float64
	loadStart        string
	loadAvg          string
	build            string
	workDir, dataDir string
}

// print writes the report as Markdown.
func (r *report) print(w io.Writer, o options) {
	host, _ := os.Hostname()
	fmt.Fprintf(w, "## crispy knowledge base benchmark\n\n")
	fmt.Fprintf(w, "%s, %s/%s, %d CPUs; %s (%s) on %s; load average %s at the start, %s at the end; work folder %s.\n",
		host, runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), o.bin, r.build, o.backends.Describe(), r.loadStart, r.loadAvg, r.workDir)
	fmt.Fprintf(w, "Corpus: Markdown of %.0f bytes and %.2f chunks a document on average (256-token chunks, 32 of overlap), %d-word Zipf vocabulary (s = %.2f), seed %d.\n\n", r.bytesPerDoc, r.chunksPerDoc, r.vocab, o.zipf, o.seed)

	fmt.Fprintf(w, "### Ingest (builtin/hash-384)\n\n")
	fmt.Fprintf(w, "| path | documents | chunks | MB | seconds | MB/s | chunks/s | goal ≥ 5 MB/s |\n|---|--:|--:|--:|--:|--:|--:|---|\n")
	var total ingested
	from := 0
	for _, p := range r.phases {
		total.add(p)
		fmt.Fprintf(w, "| HTTP NDJSON jobs, %s → %s chunks | %d | %d | %.1f | %.1f | %.2f | %.0f | |\n", kilo(from), kilo(from+p.chunks), p.docs, p.chunks, float64(p.bytes)/1e6, p.wall.Seconds(), p.mbps(), p.chunksPerSec())
		from += p.chunks
	}
	fmt.Fprintf(w, "| **HTTP NDJSON jobs, total** | %d | %d | %.1f | %.1f | **%.2f** | %.0f | %s |\n", total.docs, total.chunks, float64(total.bytes)/1e6, total.wall.Seconds(), total.mbps(), total.chunksPerSec(), verdict(total.mbps() >= 5))
	if ip := r.inproc; ip != nil {
		fmt.Fprintf(w, "| rag.Service.Ingest in process, no HTTP | %d | %d | %.1f | %.1f | %.2f | %.0f | %s |\n", ip.docs, ip.chunks, float64(ip.bytes)/1e6, ip.wall.Seconds(), ip.mbps(), ip.chunksPerSec(), verdict(ip.mbps() >= 5))
		j := ip.jobs
		fmt.Fprintf(w, "| rag.Jobs in process (parallel workers, group commit), no HTTP | %d | %d | %.1f | %.1f | %.2f | %.0f | %s |\n", j.docs, j.chunks, float64(j.bytes)/1e6, j.wall.Seconds(), j.mbps(), j.chunksPerSec(), verdict(j.mbps() >= 5))

		fmt.Fprintf(w, "\nWhere an in-process ingest spends its time (each step alone, in Ingest's order, over %d more documents like them, one goroutine; per chunk of the Ingest run):\n\n", ip.docs)
		fmt.Fprintf(w, "| step | seconds | µs per chunk | share of Ingest |\n|---|--:|--:|--:|\n")
		var sum time.Duration
		for _, s := range ip.stages {
			sum += s.d
			fmt.Fprintf(w, "| %s | %.2f | %.0f | %.0f%% |\n", s.name, s.d.Seconds(), float64(s.d.Microseconds())/float64(ip.chunks), 100*s.d.Seconds()/ip.wall.Seconds())
		}
		rest := ip.wall - sum
		fmt.Fprintf(w, "| rest of Ingest (validation, hashes, lookups, gateway, ledger) | %.2f | %.0f | %.0f%% |\n", rest.Seconds(), float64(rest.Microseconds())/float64(ip.chunks), 100*rest.Seconds()/ip.wall.Seconds())
		fmt.Fprintf(w, "| **rag.Service.Ingest** | %.2f | %.0f | 100%% |\n", ip.wall.Seconds(), float64(ip.wall.Microseconds())/float64(ip.chunks))
	}

	fmt.Fprintf(w, "\n### Retrieve, topK %d, %d queries of 3-6 words per row (ms)\n\n", o.topK, o.queries)
	fmt.Fprintf(w, "| chunks | mode | clients | q/s | client p50 | p95 | p99 | server p50 | p95 | p99 | histogram p50 | p95 | p99 | goal p95 (ms) |\n")
	fmt.Fprintf(w, "|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n")
	runs := slices.Clone(r.runs)
	runs = append(runs, r.restartRuns...)
	restarted := len(runs) - len(r.restartRuns) // the first run after the restart
	largest := 0
	if n := len(r.phases); n > 0 {
		largest = r.runs[len(r.runs)-1].chunks
	}
	for i, q := range runs {
		name := q.mode
		if i >= restarted {
			name += " (after restart)"
		}
		goal := ""
		if limit, ok := p95Goals[q.mode]; ok && q.chunks == largest && q.chunks >= 100000 {
			if q.mode == rag.ModeHybrid && q.chunks >= 1_000_000 {
				limit = 25
			}
			goal = fmt.Sprintf("≤ %g: %s server, %s client", limit, verdict(percentile(q.server, 95) <= limit), verdict(percentile(q.client, 95) <= limit))
		}
		fmt.Fprintf(w, "| %s | %s | %d | %.0f | %.2f | %.2f | %.2f | %.2f | **%.2f** | %.2f | %.1f | %.1f | %.1f | %s |\n",
			kilo(q.chunks), name, q.clients, q.qps(),
			percentile(q.client, 50), percentile(q.client, 95), percentile(q.client, 99),
			percentile(q.server, 50), percentile(q.server, 95), percentile(q.server, 99),
			q.hist[0], q.hist[1], q.hist[2], goal)
	}
	names := stageNames(runs)
	fmt.Fprintf(w, "\nServer stages, mean ms (the timings of the answers; total includes what no stage times):\n\n")
	fmt.Fprintf(w, "| chunks | mode | clients | %s | total | untimed | chunks returned |\n|--:|---|--:|%s--:|--:|--:|\n",
		strings.Join(names, " | "), strings.Repeat("--:|", len(names)))
	for i, q := range runs {
		name := q.mode
		if i >= restarted {
			name += " (after restart)"
		}
		fmt.Fprintf(w, "| %s | %s | %d |", kilo(q.chunks), name, q.clients)
		timed := 0.0
		for _, n := range names {
			fmt.Fprintf(w, " %s |", stageMS(q, n))
			timed += q.stages[n]
		}
		fmt.Fprintf(w, " %.2f | %.2f | %.1f |\n", q.stages["total"], q.stages["total"]-timed, q.hits)
	}

	if len(runs) > 0 && (len(r.phases) > 0 || len(r.restartRuns) > 0) {
		n := float64(runs[len(runs)-1].chunks)
		per := func(mib float64) float64 { return mib * 100000 / n }
		fmt.Fprintf(w, "\n### Memory and restart at %s chunks\n\n", kilo(int(n)))
		fmt.Fprintf(w, "| measure | value |\n|---|--:|\n")
		if len(r.phases) > 0 {
			fmt.Fprintf(w, "| RSS when ready, empty knowledge base | %.0f MiB |\n", r.rssEmpty)
			fmt.Fprintf(w, "| RSS after ingest and queries (peak VmHWM) | %.0f MiB (%.0f MiB) |\n", r.rssIngested, r.hwmIngested)
			fmt.Fprintf(w, "| Go heap in use after ingest | %.0f MiB |\n", r.heapIngested)
			fmt.Fprintf(w, "| **RSS per 100k chunks, after ingest** (RSS − empty) | **%.0f MiB** |\n", per(r.rssIngested-r.rssEmpty))
		}
		if o.backends.Store == "" {
			fmt.Fprintf(w, "| data folder (SQLite and index image) | %.0f MiB |\n", r.dbMiB)
		}
		if r.imageMiB > 0 {
			fmt.Fprintf(w, "| index image | %.0f MiB |\n", r.imageMiB)
		}
		if len(r.phases) > 0 && r.phases[len(r.phases)-1].image > 0 {
			p := r.phases[len(r.phases)-1]
			fmt.Fprintf(w, "| index image written, after the last ingest job | %.1f s |\n", p.image.Seconds())
		}
		fmt.Fprintf(w, "| restart: exec to /readyz 200 (loads the knowledge base) | **%.2f s** |\n", r.restartReady.Seconds())
		if r.restartLoadMS >= 0 {
			fmt.Fprintf(w, "| restart: knowledge base load, as the server logs it | %.2f s |\n", r.restartLoadMS/1000)
		}
		fmt.Fprintf(w, "| restart: first hybrid query, client | %.1f ms |\n", ms(r.firstQuery))
		fmt.Fprintf(w, "| restart: ready to answering, total | %.2f s |\n", (r.restartReady + r.firstQuery).Seconds())
		fmt.Fprintf(w, "| RSS after load and first query | %.0f MiB |\n", r.rssLoaded)
		fmt.Fprintf(w, "| Go heap in use after load | %.0f MiB |\n", r.heapLoaded)
		fmt.Fprintf(w, "| **RSS per 100k chunks, after load** (RSS − empty) | **%.0f MiB** |\n", per(r.rssLoaded-r.rssEmpty))
		if n := len(r.restartRuns); n > 0 {
			fmt.Fprintf(w, "| RSS after %d more queries | %.0f MiB |\n", n*len(r.restartRuns[0].client), r.rssAfterQueries)
		}
		fmt.Fprintf(w, "| vector search | exact int8 scan at every size: recall@10 against exact 1 (docs/rag.md, Scale) |\n")
	}
}

// p95Goals are the p95 goals in ms at 100k chunks, by mode.
// (hybrid: 25 ms at 1M chunks).
var p95Goals = map[string]float64{rag.ModeHybrid: 10, modeSearch: 30, modeSearchCached: 2}

// stageNames returns the stages the runs timed, but total: the usual ones
// in the order they run, then any other by name.
func stageNames(runs []queryRun) []string {
	order := []string{"cache", "rewrite", "bm25", "feedback", "embed", "vector", "fuse", "retrieve", "rerank", "answer", "followUps"}
	seen := map[string]bool{}
	for _, q := range runs {
		for k := range q.stages {
			seen[k] = k != "total"
		}
	}
	var out []string
	for _, n := range order {
		if seen[n] {
			out = append(out, n)
			delete(seen, n)
		}
	}
	var rest []string
	for n, ok := range seen {
		if ok {
			rest = append(rest, n)
		}
	}
	slices.Sort(rest)
	return append(out, rest...)
}

func stageMS(q queryRun, name string) string {
	v, ok := q.stages[name]
	if !ok {
		return "–"
	}
	return fmt.Sprintf("%.2f", v)
}

func verdict(ok bool) string {
	if ok {
		return "✓"
	}
	return "✗"
}

// kilo writes n as 10.0k, 100.4k, 1.2M or n itself.
func kilo(n int) string {
	switch {
	case n >= 1e6:
		return strconv.FormatFloat(float64(n)/1e6, 'f', 1, 64) + "M"
	case n >= 1e4:
		return strconv.FormatFloat(float64(n)/1e3, 'f', 1, 64) + "k"
	}
	return strconv.Itoa(n)
}
