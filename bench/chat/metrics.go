package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// durationMetric is the server's request histogram, observed by its access
// log middleware around the handler: from the request's headers being
// parsed to the handler returning (the done event written and flushed).
const durationMetric = "crispy_http_request_duration_seconds"

// scrape is what GET /metrics said at one moment.
type scrape struct {
	hist       histogram // durationMetric for route "POST /chat", every tenant and code
	goroutines float64   // go_goroutines
	heapInuse  float64   // go_memstats_heap_inuse_bytes
	stackInuse float64   // go_memstats_stack_inuse_bytes
	gcCycles   float64   // go_gc_duration_seconds_count
	sys        float64   // go_memstats_sys_bytes: what the Go runtime has from the OS
	released   float64   // go_memstats_heap_released_bytes: what it gave back
}

// histogram is a cumulative Prometheus histogram: counts by upper bound.
type histogram struct {
	le    []float64 // upper bounds, ascending, +Inf last
	cum   []float64 // cumulative counts by bound
	sum   float64
	count float64
}

// readMetrics scrapes base/metrics.
func readMetrics(client *http.Client, base string) (scrape, error) {
	res, err := client.Get(base + "/metrics")
	if err != nil {
		return scrape{}, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return scrape{}, fmt.Errorf("GET /metrics: %s", res.Status)
	}
	return parseMetrics(res.Body)
}

// parseMetrics reads the Prometheus text format, keeping the few series
// the benchmark needs. Histogram series of route "POST /chat" are summed
// over their other labels (tenant, code).
func parseMetrics(r io.Reader) (scrape, error) {
	var s scrape
	byLE := map[float64]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, labels, value, err := splitSample(line)
		if err != nil {
			return scrape{}, err
		}
		switch name {
		case "go_goroutines":
			s.goroutines = value
		case "go_memstats_heap_inuse_bytes":
			s.heapInuse = value
		case "go_memstats_stack_inuse_bytes":
			s.stackInuse = value
		case "go_gc_duration_seconds_count":
			s.gcCycles = value
		case "go_memstats_sys_bytes":
			s.sys = value
		case "go_memstats_heap_released_bytes":
			s.released = value
		case durationMetric + "_bucket", durationMetric + "_sum", durationMetric + "_count":
			if label(labels, "route") != "POST /chat" {
				continue
			}
			switch strings.TrimPrefix(name, durationMetric) {
			case "_bucket":
				le, err := strconv.ParseFloat(label(labels, "le"), 64)
				if err != nil {
					return scrape{}, fmt.Errorf("metrics: %q: bad le", line)
				}
				byLE[le] += value
			case "_sum":
				s.hist.sum += value
			case "_count":
				s.hist.count += value
			}
		}
	}
	if err := sc.Err(); err != nil {
		return scrape{}, err
	}
	for le := range byLE {
		s.hist.le = append(s.hist.le, le)
	}
	slices.Sort(s.hist.le)
	for _, le := range s.hist.le {
		s.hist.cum = append(s.hist.cum, byLE[le])
	}
	return s, nil
}

// splitSample splits `name{labels} value` (labels optional).
func splitSample(line string) (name, labels string, value float64, err error) {
	rest := line
	if i := strings.IndexByte(line, '{'); i >= 0 {
		j := strings.LastIndexByte(line, '}')
		if j < i {
			return "", "", 0, fmt.Errorf("metrics: %q: unbalanced braces", line)
		}
		name, labels, rest = line[:i], line[i+1:j], strings.TrimSpace(line[j+1:])
	} else {
		var ok bool
		name, rest, ok = strings.Cut(line, " ")
		if !ok {
			return "", "", 0, fmt.Errorf("metrics: %q: no value", line)
		}
	}
	if f := strings.Fields(rest); len(f) > 0 {
		rest = f[0] // drop a timestamp
	}
	value, err = strconv.ParseFloat(rest, 64)
	if err != nil {
		return "", "", 0, fmt.Errorf("metrics: %q: %w", line, err)
	}
	return name, labels, value, nil
}

// label returns the value of label name in `a="x",b="y"`. Values here hold
// no escaped quotes, so a plain scan is enough.
func label(labels, name string) string {
	for labels != "" {
		k, rest, ok := strings.Cut(labels, `="`)
		if !ok {
			return ""
		}
		v, rest, _ := strings.Cut(rest, `"`)
		if strings.TrimSpace(k) == name {
			return v
		}
		labels = strings.TrimPrefix(rest, ",")
	}
	return ""
}

// sub returns h minus an earlier scrape of the same histogram: what was
// observed in between.
func (h histogram) sub(before histogram) histogram {
	out := histogram{le: h.le, cum: slices.Clone(h.cum), sum: h.sum - before.sum, count: h.count - before.count}
	for i, le := range h.le {
		if j := slices.Index(before.le, le); j >= 0 {
			out.cum[i] -= before.cum[j]
		}
	}
	return out
}

// quantile estimates the q-quantile as Prometheus's histogram_quantile
// does: linear interpolation inside the bucket that holds the rank, the
// lower bound of the first bucket taken as 0, and the highest finite bound
// when the rank falls in the +Inf bucket.
func (h histogram) quantile(q float64) float64 {
	if h.count == 0 || len(h.le) == 0 {
		return math.NaN()
	}
	rank := q * h.cum[len(h.cum)-1]
	i, _ := slices.BinarySearch(h.cum, rank)
	for i < len(h.cum) && h.cum[i] < rank {
		i++
	}
	if i >= len(h.le) {
		i = len(h.le) - 1
	}
	if math.IsInf(h.le[i], 1) {
		if i == 0 {
			return math.NaN()
		}
		return h.le[i-1]
	}
	lo, below := 0.0, 0.0
	if i > 0 {
		lo, below = h.le[i-1], h.cum[i-1]
	}
	n := h.cum[i] - below
	if n == 0 {
		return h.le[i]
	}
	return lo + (h.le[i]-lo)*(rank-below)/n
}

// mean is the exact mean of the observations, from _sum and _count.
func (h histogram) mean() float64 {
	if h.count == 0 {
		return math.NaN()
	}
	return h.sum / h.count
}
