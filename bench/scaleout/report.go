package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// admissionGoal is the spec's bound on what Redis admission adds at p50
// over the in-memory one.
const admissionGoal = 150 * time.Microsecond

// report is everything measured.
type report struct {
	o        options
	machine  string
	started  time.Time
	loads    []string // "measure: load before → after"
	commands []string
	gateway  *gatewayResult
	chat     map[mode][]chatRun
	rag      map[mode]*ragResult
}

func newReport(o options) *report {
	return &report{o: o, machine: machine(), started: time.Now(), chat: map[mode][]chatRun{}, rag: map[mode]*ragResult{}}
}

// machine describes where the benchmark ran.
func machine() string {
	cpu := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if rest, ok := strings.CutPrefix(line, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(rest), ":"))
				break
			}
		}
	}
	s := fmt.Sprintf("%s/%s, %d CPUs", runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	if cpu != "" {
		s += " (" + cpu + ")"
	}
	return s + ", " + runtime.Version()
}

// pct returns the q-quantile (0..1) of v by nearest rank, without
// reordering v; 0 for none.
func pct(v []time.Duration, q float64) time.Duration {
	if len(v) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(v))
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// fmtDur writes d with a precision that suits it; negative is n/a.
func fmtDur(d time.Duration) string {
	switch {
	case d < 0:
		return "n/a"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	case d < 100*time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	case d < 10*time.Second:
		return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}

// signedUS writes d in µs with its sign.
func signedUS(d time.Duration) string {
	return fmt.Sprintf("%+.0f µs", float64(d)/float64(time.Microsecond))
}

// columns are the modes of the table, in order.
func (r *report) columns() []mode {
	var out []mode
	for _, m := range modeOrder {
		_, chat := r.chat[m]
		_, rag := r.rag[m]
		gw := r.gateway != nil && r.gateway.through[m] != nil
		if chat || rag || gw {
			out = append(out, m)
		}
	}
	return out
}

// table is the report's Markdown table: a row per measure, a column per
// mode, and a goal.
type table struct {
	cols []mode
	rows [][]string
}

func (t *table) row(name string, goal string, value func(m mode) string) {
	r := []string{name}
	for _, m := range t.cols {
		v := value(m)
		if v == "" {
			v = "–"
		}
		r = append(r, v)
	}
	t.rows = append(t.rows, append(r, goal))
}

func (t *table) write(w io.Writer) {
	fmt.Fprintf(w, "| measure |")
	for _, m := range t.cols {
		fmt.Fprintf(w, " %s |", m)
	}
	fmt.Fprintf(w, " goal |\n|---|%s---|\n", strings.Repeat("--:|", len(t.cols)))
	for _, r := range t.rows {
		fmt.Fprintf(w, "| %s |\n", strings.Join(r, " | "))
	}
}

// build fills the table.
func (r *report) build() *table {
	t := &table{cols: r.columns()}
	if g := r.gateway; g != nil {
		added := func(m mode, q float64) time.Duration { return pct(g.through[m], q) - pct(g.direct, q) }
		for _, q := range []struct {
			name string
			q    float64
		}{{"p50", .50}, {"p95", .95}, {"p99", .99}} {
			t.row(fmt.Sprintf("gateway: added latency %s (through crispy − direct, %d requests)", q.name, g.n), "", func(m mode) string {
				if g.through[m] == nil {
					return ""
				}
				return fmtDur(added(m, q.q))
			})
		}
		_, haveBase := g.through[modeSQLite]
		t.row("gateway: added p50 over sqlite's (Redis admission over in-memory)", "≤ 150 µs (Redis modes)", func(m mode) string {
			if g.through[m] == nil || !haveBase || m == modeSQLite {
				return ""
			}
			d := added(m, .5) - added(modeSQLite, .5)
			s := signedUS(d)
			if m.redis() {
				s += " " + verdict(d <= admissionGoal)
			}
			return s
		})
		t.row("gateway: through crispy, p50 / p95 / p99", "", func(m mode) string {
			if g.through[m] == nil {
				return ""
			}
			return fmt.Sprintf("%s / %s / %s", fmtDur(pct(g.through[m], .5)), fmtDur(pct(g.through[m], .95)), fmtDur(pct(g.through[m], .99)))
		})
	}
	// Chat: one group of rows per think time, in bench/chat's order.
	var loops []string
	for _, m := range modeOrder {
		for _, c := range r.chat[m] {
			if !slices.Contains(loops, c.loop) {
				loops = append(loops, c.loop)
			}
		}
	}
	for _, loop := range loops {
		get := func(m mode) (chatRun, bool) {
			for _, c := range r.chat[m] {
				if c.loop == loop {
					return c, true
				}
			}
			return chatRun{}, false
		}
		pre := fmt.Sprintf("chat: %d streaming sessions, %s:", r.o.sessions, loop)
		t.row(pre+" turn p50 / p95 / p99 (client, request → done event)", "", func(m mode) string {
			if c, ok := get(m); ok {
				return fmt.Sprintf("%s / **%s** / %s", fmtDur(c.e2e[0]), fmtDur(c.e2e[1]), fmtDur(c.e2e[2]))
			}
			return ""
		})
		t.row(pre+" TTFT p50 / p95 (client, request → first token)", "", func(m mode) string {
			if c, ok := get(m); ok {
				return fmt.Sprintf("%s / %s", fmtDur(c.ttft[0]), fmtDur(c.ttft[1]))
			}
			return ""
		})
		t.row(pre+" server time p50 / p95 (histogram)", "", func(m mode) string {
			if c, ok := get(m); ok {
				return fmt.Sprintf("%s / %s", fmtDur(c.server[0]), fmtDur(c.server[1]))
			}
			return ""
		})
		t.row(pre+" throughput; turns ok / failed", "0 failed", func(m mode) string {
			if c, ok := get(m); ok {
				return fmt.Sprintf("%.0f turns/s; %d / %d", c.throughput, c.ok, c.errors)
			}
			return ""
		})
	}
	if len(r.rag) > 0 {
		t.row("ingest: POST /documents (NDJSON batch jobs), MB/s", "", func(m mode) string {
			if g := r.rag[m]; g != nil {
				return fmt.Sprintf("**%.2f MB/s**", g.mbps)
			}
			return ""
		})
		t.row("ingest: chunks/s; chunks, MB, seconds", "", func(m mode) string {
			if g := r.rag[m]; g != nil {
				return fmt.Sprintf("%.0f; %d, %.1f MB, %.1f s", g.chunksPerSec, g.chunks, g.mb, g.seconds)
			}
			return ""
		})
		for _, clients := range slices.Compact([]int{1, r.o.clients}) {
			label := ""
			for _, g := range r.rag {
				label = g.chunkLabel
			}
			name := fmt.Sprintf("retrieve: POST /retrieve hybrid at %s chunks, %d client(s): p50 / p95 / p99, ms (client; server)", label, clients)
			t.row(name, "", func(m mode) string {
				g := r.rag[m]
				if g == nil {
					return ""
				}
				q, ok := g.run("hybrid", clients)
				if !ok {
					return ""
				}
				return fmt.Sprintf("%.2f / **%.2f** / %.2f; %.2f / %.2f / %.2f", q.client[0], q.client[1], q.client[2], q.server[0], q.server[1], q.server[2])
			})
		}
		t.row("restart: exec → /readyz 200; → first retrieval answered", "", func(m mode) string {
			if g := r.rag[m]; g != nil && g.restartReady > 0 {
				return fmt.Sprintf("%s; %s", fmtDur(g.restartReady), fmtDur(g.restartToAnswering))
			}
			return ""
		})
	}
	return t
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

// print writes the report.
func (r *report) print(w io.Writer) {
	o := r.o
	fmt.Fprintf(w, "## crispy scale-out benchmark: PostgreSQL + Redis against SQLite\n\n")
	fmt.Fprintf(w, "- machine: %s; %s\n", r.machine, r.started.UTC().Format(time.RFC3339))
	for _, l := range r.loads {
		fmt.Fprintf(w, "- load average (1, 5, 15 min) %s\n", l)
	}
	if g := r.gateway; g != nil {
		fmt.Fprintf(w, "- gateway: %d non-streaming POST /v1/chat/completions per path after %d warm-up, one at a time in rotation: the mock upstream directly (in this process; p50 / p95 / p99 %s / %s / %s) and one crispy serve per mode (--env prod), all running at once; a 20-token reply; the tenant has tenant, key and IP rate limits and a stream cap far above the load, so admission runs on every request",
			g.n, o.warmup, fmtDur(pct(g.direct, .5)), fmtDur(pct(g.direct, .95)), fmtDur(pct(g.direct, .99)))
		var keys []string
		for _, m := range g.modesOrder {
			if n, ok := g.redisKeys[m]; ok {
				keys = append(keys, fmt.Sprintf("%s %d", m, n))
			}
		}
		if len(keys) > 0 {
			fmt.Fprintf(w, "; rate-limit keys in Redis after a request: %s; limiter and Redis errors: 0", strings.Join(keys, ", "))
		}
		fmt.Fprintln(w)
	}
	if len(r.chat) > 0 {
		fmt.Fprintf(w, "- chat: bench/chat's sessions phase, %d sessions at once × %d streamed POST /chat turns each (builtin/extractive), think times %s, a fresh server per run\n", o.sessions, o.turns, o.think)
	}
	if len(r.rag) > 0 {
		fmt.Fprintf(w, "- rag: bench/rag, ingest to %d chunks (builtin/hash-384, 256-token chunks), then %d hybrid queries (topK 8) from 1 and %d clients; server = the answer's timings.total\n", o.chunks, o.queries, o.clients)
	}
	fmt.Fprintln(w)
	r.build().write(w)
	if len(r.commands) > 0 {
		fmt.Fprintf(w, "\nCommands run (databases and key prefixes are made for the run and removed after it):\n\n```\n%s\n```\n", strings.Join(r.commands, "\n"))
	}
}
