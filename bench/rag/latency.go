package main

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/rag"
)

// retrieveHistogram is the server's retrieval latency histogram, by mode;
// searchHistogram the search's, by stage.
const (
	retrieveHistogram = "crispy_rag_retrieve_seconds"
	searchHistogram   = "crispy_search_stage_seconds"
)

// Search modes: POST /search with the tenant's cache off, and with it on
// and every query already answered once.
const (
	modeSearch       = "search"
	modeSearchCached = "search-cached"
)

// histogramOf names the server histogram, and its label, that times mode:
// retrieval by mode, a search that ran by its total, a cached one by its
// cache stage.
func histogramOf(mode string) (name, label, value string) {
	switch mode {
	case modeSearch:
		return searchHistogram, "stage", "total"
	case modeSearchCached:
		return searchHistogram, "stage", "cache"
	}
	return retrieveHistogram, "mode", mode
}

// queryRun is one measured run of queries in one mode.
type queryRun struct {
	chunks  int
	mode    string
	clients int
	wall    time.Duration
	// client is each query's time from sending the request to its decoded
	// answer; server the retrieval's own time (timings.total), in ms.
	client, server []float64
	// stages are the mean milliseconds of each stage the server timed.
	stages map[string]float64
	// hist are p50, p95 and p99 of the histogram's counts over the run,
	// interpolated inside its buckets, in ms.
	hist [3]float64
	hits float64 // mean chunks returned
}

func (r queryRun) qps() float64 { return float64(len(r.client)) / r.wall.Seconds() }

// runQueries sends the queries in mode with topK from clients concurrent
// clients, each sending its next query when its last is answered. The
// first warmup queries are sent first and not measured.
func (c *client) runQueries(queries []string, mode string, topK, clients, warmup int) (queryRun, error) {
	run := queryRun{mode: mode, clients: clients, stages: map[string]float64{}}
	for _, q := range queries[:min(warmup, len(queries))] {
		if _, err := c.query(q, mode, topK); err != nil {
			return run, err
		}
	}
	queries = queries[min(warmup, len(queries)):]
	before, err := c.scrape()
	if err != nil {
		return run, err
	}

	var (
		next   atomic.Int64
		mu     sync.Mutex
		firstE error
		wg     sync.WaitGroup
		hits   int
	)
	start := time.Now()
	for range clients {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(queries) {
					return
				}
				t0 := time.Now()
				res, err := c.query(queries[i], mode, topK)
				elapsed := ms(time.Since(t0))
				mu.Lock()
				if err != nil {
					firstE = cmpOr(firstE, err)
				} else {
					run.client = append(run.client, elapsed)
					run.server = append(run.server, res.timings["total"])
					for k, v := range res.timings {
						run.stages[k] += v
					}
					hits += res.hits
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	run.wall = time.Since(start)
	if firstE != nil {
		return run, firstE
	}
	for k := range run.stages {
		run.stages[k] /= float64(len(run.server))
	}
	run.hits = float64(hits) / float64(len(run.server))

	after, err := c.scrape()
	if err != nil {
		return run, err
	}
	name, label, value := histogramOf(mode)
	h0, err := histogram(before, name, label, value)
	if err != nil {
		return run, err
	}
	h1, err := histogram(after, name, label, value)
	if err != nil {
		return run, err
	}
	d := h1.minus(h0)
	if n := d.total(); int(n) != len(queries) {
		return run, fmt.Errorf("histogram %s{%s=%q} counted %v queries in mode %s, %d were sent", name, label, value, n, mode, len(queries))
	}
	for i, q := range []float64{.5, .95, .99} {
		run.hist[i] = d.quantile(q) * 1000
	}
	return run, nil
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// answer is what the benchmark keeps of a query's answer.
type answer struct {
	timings map[string]float64
	hits    int // chunks or sources returned
}

// query runs one query in mode: a retrieval, or a search (which must come
// from the cache in mode search-cached, and must not otherwise).
func (c *client) query(q, mode string, topK int) (answer, error) {
	if mode != modeSearch && mode != modeSearchCached {
		res, _, err := c.retrieve(q, mode, topK)
		if err != nil {
			return answer{}, err
		}
		return answer{res.Timings, len(res.Chunks)}, nil
	}
	body, err := json.Marshal(map[string]any{"query": q, "topK": topK})
	if err != nil {
		return answer{}, err
	}
	var res api.SearchResult
	if err := c.do("POST", "/search", "application/json", body, 200, &res); err != nil {
		return answer{}, err
	}
	if res.Cached != (mode == modeSearchCached) {
		return answer{}, fmt.Errorf("search %q: cached %v in mode %s", q, res.Cached, mode)
	}
	return answer{res.Timings, len(res.Sources)}, nil
}

// retrieve runs one query and returns the result and the client's time.
func (c *client) retrieve(query, mode string, topK int) (*rag.Result, time.Duration, error) {
	body, err := json.Marshal(rag.Query{Text: query, TopK: topK, Mode: mode})
	if err != nil {
		return nil, 0, err
	}
	t0 := time.Now()
	var res rag.Result
	if err := c.do("POST", "/retrieve", "application/json", body, 200, &res); err != nil {
		return nil, 0, err
	}
	return &res, time.Since(t0), nil
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

// percentile returns the p-th percentile of xs (nearest rank), 0 for none.
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// bucket is a cumulative histogram bucket: count observations ≤ le.
type bucket struct {
	le    float64
	count float64
}

// hist is a Prometheus histogram's buckets, by le ascending, +Inf last.
type hist []bucket

// histogram returns the buckets of the histogram name with label=value
// from a text exposition.
func histogram(text, name, label, value string) (hist, error) {
	var h hist
	want := label + `="` + value + `"`
	for line := range strings.Lines(text) {
		rest, ok := strings.CutPrefix(line, name+"_bucket{")
		if !ok {
			continue
		}
		labels, num, ok := strings.Cut(rest, "} ")
		if !ok || !slices.Contains(strings.Split(labels, ","), want) {
			continue
		}
		var le string
		for l := range strings.SplitSeq(labels, ",") {
			if v, ok := strings.CutPrefix(l, `le="`); ok {
				le = strings.TrimSuffix(v, `"`)
			}
		}
		bound, err := strconv.ParseFloat(le, 64) // "+Inf" parses as +Inf
		if err != nil {
			return nil, fmt.Errorf("%s: le %q: %w", name, le, err)
		}
		count, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
		if err != nil {
			return nil, fmt.Errorf("%s: count %q: %w", name, num, err)
		}
		h = append(h, bucket{bound, count})
	}
	slices.SortFunc(h, func(a, b bucket) int { return cmpFloat(a.le, b.le) })
	return h, nil
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// minus returns the counts of h less those of before (h's buckets; a bucket
// missing from before counts 0).
func (h hist) minus(before hist) hist {
	out := slices.Clone(h)
	for i := range out {
		for _, b := range before {
			if b.le == out[i].le {
				out[i].count -= b.count
			}
		}
	}
	return out
}

func (h hist) total() float64 {
	if len(h) == 0 {
		return 0
	}
	return h[len(h)-1].count
}

// quantile estimates the q-quantile as Prometheus's histogram_quantile
// does: linearly inside the bucket that holds it, from 0 for the first
// bucket, and the largest finite bound when it falls in +Inf.
func (h hist) quantile(q float64) float64 {
	n := h.total()
	if n == 0 {
		return math.NaN()
	}
	rank := q * n
	lower, below := 0.0, 0.0
	for _, b := range h {
		if b.count >= rank {
			if math.IsInf(b.le, 1) {
				return lower
			}
			if b.count == below {
				return b.le
			}
			return lower + (b.le-lower)*(rank-below)/(b.count-below)
		}
		lower, below = b.le, b.count
	}
	return lower
}

// gauge returns the value of an unlabelled metric, or NaN.
func gauge(text, name string) float64 {
	for line := range strings.Lines(text) {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			if v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64); err == nil {
				return v
			}
		}
	}
	return math.NaN()
}

// imagesMetric counts the knowledge-base images a server wrote.
const imagesMetric = `crispy_rag_index_images_total{event="written"}`

// imagesWritten returns the server's count of images written, or -1 when
// it keeps none (a build without images).
func (c *client) imagesWritten() float64 {
	m, err := c.scrape()
	if err != nil {
		return -1
	}
	if v := gauge(m, imagesMetric); !math.IsNaN(v) {
		return v
	}
	return -1
}

// settle waits, up to limit, until the server has written an image since
// its count was before, and returns how long that took; false when the
// server keeps no images or wrote none in time.
func (c *client) settle(before float64, limit time.Duration) (time.Duration, bool) {
	if before < 0 {
		return 0, false
	}
	t0 := time.Now()
	for time.Since(t0) < limit {
		if c.imagesWritten() > before {
			return time.Since(t0), true
		}
		time.Sleep(50 * time.Millisecond)
	}
	logf("no index image written within %s of the ingest", limit)
	return 0, false
}
