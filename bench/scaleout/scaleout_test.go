package main

import (
	"bytes"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// The tests check the command's own logic (flags, parsing of the reports
// of bench/chat and bench/rag, percentiles, the table); none starts a
// server. testdata holds reports as those programs print them.

func init() { logw = io.Discard }

func TestParseArgs(t *testing.T) {
	o, err := parseArgs(nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.chunks != 100000 || o.turns != 20 || o.think != "0,1s" || o.n != 2000 {
		t.Errorf("defaults: %+v", o)
	}
	if !slices.Equal(o.modes, []mode{modeSQLite, modePostgresRedis}) || len(o.gatewayModes) != 3 || len(o.measures) != 3 {
		t.Errorf("default modes and measures: %v %v %v", o.modes, o.gatewayModes, o.measures)
	}
	if got := o.allModes(); !slices.Equal(got, []mode{modeSQLite, modeSQLiteRedis, modePostgresRedis}) {
		t.Errorf("allModes() = %v", got)
	}

	o, err = parseArgs([]string{"-quick", "-chunks", "20000", "-measures", "rag,chat,rag", "-modes", "postgres+redis,sqlite,sqlite"})
	if err != nil {
		t.Fatal(err)
	}
	if o.chunks != 20000 || o.turns != 5 || o.think != "0" || o.n != 500 || o.queries != 200 {
		t.Errorf("-quick with -chunks: %+v", o)
	}
	if !slices.Equal(o.measures, []string{measureRAG, measureChat}) {
		t.Errorf("measures = %v", o.measures)
	}
	// Without the gateway, its modes are not made.
	if got := o.allModes(); !slices.Equal(got, []mode{modeSQLite, modePostgresRedis}) {
		t.Errorf("allModes() = %v", got)
	}

	for _, bad := range [][]string{
		{"-modes", "mysql"}, {"-modes", ""}, {"-gateway-modes", "sqlite,redis"}, {"-measures", "gateway,tts"},
		{"-think", "soon"}, {"-n", "0"}, {"-sessions", "0"}, {"-chunks", "0"}, {"extra"},
	} {
		if _, err := parseArgs(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestModes(t *testing.T) {
	for _, tt := range []struct {
		m               mode
		postgres, redis bool
		args            int
	}{
		{modeSQLite, false, false, 0},
		{modeSQLiteRedis, false, true, 4},
		{modePostgres, true, false, 2},
		{modePostgresRedis, true, true, 6},
	} {
		if tt.m.postgres() != tt.postgres || tt.m.redis() != tt.redis {
			t.Errorf("%s: postgres %v, redis %v", tt.m, tt.m.postgres(), tt.m.redis())
		}
		e := env{mode: tt.m}
		if tt.postgres {
			e.dsn = "postgres://postgres@127.0.0.1/crispy_bench_x"
		}
		if tt.redis {
			e.redis, e.prefix = "redis://127.0.0.1:6379/0", "crispy_bench_y:"
		}
		if got := e.serveArgs(); len(got) != tt.args {
			t.Errorf("%s: serveArgs() = %q", tt.m, got)
		}
		if err := e.flags(raisedLimitsJSON()).Validate(); err != nil {
			t.Errorf("%s: %v", tt.m, err)
		}
	}
	dsn, err := withDatabase("postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "crispy_bench_ab")
	if err != nil || dsn != "postgres://postgres@127.0.0.1:5432/crispy_bench_ab?sslmode=disable" {
		t.Errorf("withDatabase = %q, %v", dsn, err)
	}
	if _, err := withDatabase("host=x dbname=y", "z"); err == nil {
		t.Error("withDatabase of key=value pairs: no error")
	}
}

func TestPct(t *testing.T) {
	var v []time.Duration
	for i := 100; i >= 1; i-- {
		v = append(v, time.Duration(i)*time.Microsecond)
	}
	for _, tt := range []struct {
		q    float64
		want time.Duration
	}{{.5, 50 * time.Microsecond}, {.95, 95 * time.Microsecond}, {.99, 99 * time.Microsecond}, {1, 100 * time.Microsecond}, {0, time.Microsecond}} {
		if got := pct(v, tt.q); got != tt.want {
			t.Errorf("pct(%v) = %v, want %v", tt.q, got, tt.want)
		}
	}
	if v[0] != 100*time.Microsecond {
		t.Error("pct reordered its argument")
	}
	if pct(nil, .5) != 0 {
		t.Error("pct(nil) != 0")
	}
}

func TestParseDur(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"850 µs": 850 * time.Microsecond, "1.25 ms": 1250 * time.Microsecond, "**998 ms**": 998 * time.Millisecond,
		"12.5 s": 12500 * time.Millisecond, "n/a": -1,
	} {
		if got, err := parseDur(in); err != nil || got != want {
			t.Errorf("parseDur(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := parseDur("soon"); err == nil {
		t.Error("parseDur(soon): no error")
	}
	for _, d := range []time.Duration{-1, 850 * time.Microsecond, 1250 * time.Microsecond, 998 * time.Millisecond, 12500 * time.Millisecond} {
		if got, err := parseDur(fmtDur(d)); err != nil || got != d {
			t.Errorf("parseDur(fmtDur(%v)) = %v, %v", d, got, err)
		}
	}
}

func TestParseChat(t *testing.T) {
	b, err := os.ReadFile("testdata/chat.md")
	if err != nil {
		t.Fatal(err)
	}
	// A second run, with a think time, as bench/chat prints it.
	think := strings.ReplaceAll(string(b), "closed loop (no think time)", "think time 1s ± 50% (about 200 turns/s offered)")
	report := string(b) + think[strings.Index(think, "| **200"):]
	runs, err := parseChat(report)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 || runs[0].loop != "closed loop" || runs[1].loop != "think 1s" {
		t.Fatalf("runs: %+v", runs)
	}
	r := runs[0]
	if r.ok != 1000 || r.errors != 0 || r.throughput != 312 {
		t.Errorf("counts: %+v", r)
	}
	if r.e2e != [3]time.Duration{629 * time.Millisecond, 998 * time.Millisecond, 1006 * time.Millisecond} {
		t.Errorf("e2e = %v", r.e2e)
	}
	if r.ttft != [3]time.Duration{312 * time.Millisecond, 516 * time.Millisecond, 529 * time.Millisecond} {
		t.Errorf("ttft = %v", r.ttft)
	}
	if r.server != [2]time.Duration{696 * time.Millisecond, 990 * time.Millisecond} {
		t.Errorf("server = %v", r.server)
	}
	if _, err := parseChat("# POST /chat benchmark\n"); err == nil {
		t.Error("empty report: no error")
	}
}

func TestParseRAG(t *testing.T) {
	b, err := os.ReadFile("testdata/rag.md")
	if err != nil {
		t.Fatal(err)
	}
	r, err := parseRAG(string(b))
	if err != nil {
		t.Fatal(err)
	}
	if r.docs != 707 || r.chunks != 5000 || r.mbps != 1.37 || r.chunksPerSec != 1848 || r.seconds != 2.7 {
		t.Errorf("ingest: %+v", r)
	}
	if len(r.runs) != 2 || r.chunkLabel != "5000" {
		t.Fatalf("runs: %+v", r.runs)
	}
	q, ok := r.run("hybrid", 4)
	if !ok || q.qps != 591 || q.client != [3]float64{5.40, 14.39, 24.87} || q.server != [3]float64{1.24, 6.05, 13.99} {
		t.Errorf("4 clients: %+v", q)
	}
	if r.restartReady != 1020*time.Millisecond || r.restartToAnswering != 1030*time.Millisecond || r.restartFirstQuery != 5400*time.Microsecond {
		t.Errorf("restart: %v %v %v", r.restartReady, r.restartToAnswering, r.restartFirstQuery)
	}
	if _, err := parseRAG("## crispy knowledge base benchmark\n"); err == nil {
		t.Error("empty report: no error")
	}
}

func TestSumCounter(t *testing.T) {
	const text = `# TYPE crispy_rate_limit_errors_total counter
crispy_rate_limit_errors_total 2
crispy_rate_limit_errors_totally 9
crispy_redis_errors_total{op="eval"} 1
crispy_redis_errors_total{op="renew"} 3 1700000000
`
	for name, want := range map[string]float64{"crispy_rate_limit_errors_total": 2, "crispy_redis_errors_total": 4, "go_goroutines": 0} {
		if got, err := sumCounter(strings.NewReader(text), name); err != nil || got != want {
			t.Errorf("%s = %v, %v; want %v", name, got, err, want)
		}
	}
}

func TestTable(t *testing.T) {
	us := func(n ...int) []time.Duration {
		var out []time.Duration
		for _, x := range n {
			out = append(out, time.Duration(x)*time.Microsecond)
		}
		return out
	}
	o, err := parseArgs([]string{"-quick"})
	if err != nil {
		t.Fatal(err)
	}
	r := newReport(o)
	r.gateway = &gatewayResult{
		n:      3,
		direct: us(100, 100, 100),
		through: map[mode][]time.Duration{
			modeSQLite:        us(400, 400, 400),
			modeSQLiteRedis:   us(500, 500, 500),
			modePostgresRedis: us(600, 600, 600),
		},
		redisKeys:  map[mode]int{modeSQLiteRedis: 3, modePostgresRedis: 3},
		modesOrder: []mode{modeSQLite, modeSQLiteRedis, modePostgresRedis},
	}
	r.chat[modeSQLite] = []chatRun{{loop: "closed loop", ok: 10, throughput: 5, e2e: [3]time.Duration{time.Millisecond, 2 * time.Millisecond, 3 * time.Millisecond}}}
	r.rag[modePostgresRedis] = &ragResult{chunks: 5000, mbps: 1.5, chunkLabel: "5000", runs: []ragRun{{mode: "hybrid", clients: 1, server: [3]float64{1, 2, 3}}}}
	var buf bytes.Buffer
	r.print(&buf)
	out := buf.String()
	for _, want := range []string{
		"| measure | sqlite | sqlite+redis | postgres+redis | goal |",
		"| gateway: added latency p50 (through crispy − direct, 3 requests) | 300 µs | 400 µs | 500 µs |  |",
		"| gateway: added p50 over sqlite's (Redis admission over in-memory) | – | +100 µs met | +200 µs **missed** | ≤ 150 µs (Redis modes) |",
		"| chat: 200 streaming sessions, closed loop: turn p50 / p95 / p99 (client, request → done event) | 1.00 ms / **2.00 ms** / 3.00 ms | – | – |  |",
		"| ingest: POST /documents (NDJSON batch jobs), MB/s | – | – | **1.50 MB/s** |  |",
		"rate-limit keys in Redis after a request: sqlite+redis 3, postgres+redis 3",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

func TestCommandLine(t *testing.T) {
	got := commandLine("/x/rag", []string{"-limits", `{"a":1}`, "-redis-prefix", "p:", "-n", "it's"})
	if want := `/x/rag -limits '{"a":1}' -redis-prefix p: -n 'it'\''s'`; got != want {
		t.Errorf("commandLine = %s, want %s", got, want)
	}
}
