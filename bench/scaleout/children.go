package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// build builds pkg (an import path of this module) into dir and returns
// the binary's path.
func build(ctx context.Context, dir, pkg string) (string, error) {
	out := filepath.Join(dir, filepath.Base(pkg))
	logf("go build -o %s %s", out, pkg)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build %s: %w", pkg, err)
	}
	return out, nil
}

// runChild runs a benchmark program and returns its standard output (its
// report); its progress goes to this program's standard error. It runs in
// a process group of its own, with the servers it starts: when ctx ends,
// the group gets SIGINT, which drains and stops the servers.
func runChild(ctx context.Context, bin string, args []string) (string, error) {
	logf("%s %s", bin, strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = childEnv()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGINT) }
	cmd.WaitDelay = 45 * time.Second
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("%s: %w", filepath.Base(bin), err)
	}
	return out.String(), nil
}

// chatArgs are bench/chat's arguments for mode e.
func chatArgs(o options, crispy string, e *env) []string {
	args := []string{"-bin", crispy, "-phase", "sessions", "-sessions", itoa(o.sessions), "-turns", itoa(o.turns), "-think", o.think}
	return append(args, flagArgs(e)...)
}

// ragArgs are bench/rag's arguments for mode e: hybrid retrieval only, no
// in-process ingest (it would measure SQLite whatever the mode).
func ragArgs(o options, crispy string, e *env) []string {
	args := []string{"-bin", crispy, "-chunks", itoa(o.chunks), "-modes", "hybrid", "-inproc-docs", "0",
		"-queries", itoa(o.queries), "-clients", itoa(o.clients), "-restart-queries", "0"}
	return append(args, flagArgs(e)...)
}

// flagArgs are the pass-through flags of bench/chat and bench/rag.
func flagArgs(e *env) []string {
	f := e.flags(raisedLimitsJSON())
	args := []string{"-limits", f.Limits}
	if f.Store != "" {
		args = append(args, "-store", f.Store)
	}
	if f.Redis != "" {
		args = append(args, "-redis", f.Redis, "-redis-prefix", f.RedisPrefix)
	}
	return args
}

// saveReport writes a child's report into dir, when set.
func saveReport(dir, name, text string) error {
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644)
}

// cells returns the cells of a Markdown table row, trimmed of spaces and
// bold markers, or nil for a line that is not a row.
func cells(line string) []string {
	line = strings.TrimSpace(line)
	if !strings.HasPrefix(line, "|") || !strings.HasSuffix(line, "|") || len(line) < 2 {
		return nil
	}
	parts := strings.Split(line[1:len(line)-1], "|")
	for i, p := range parts {
		parts[i] = strings.TrimSpace(strings.Trim(strings.TrimSpace(p), "*"))
	}
	return parts
}

// parseDur reads a duration as the benchmarks print it ("850 µs",
// "1.23 ms", "12.3 s"); "n/a" is -1.
func parseDur(s string) (time.Duration, error) {
	s = strings.TrimSpace(strings.Trim(strings.TrimSpace(s), "*"))
	if s == "n/a" {
		return -1, nil
	}
	return time.ParseDuration(strings.ReplaceAll(s, " ", ""))
}

// parseDurs reads "a / b / c".
func parseDurs(s string, out []time.Duration) error {
	f := strings.Split(s, " / ")
	if len(f) != len(out) {
		return fmt.Errorf("%q: want %d durations", s, len(out))
	}
	for i := range out {
		d, err := parseDur(f[i])
		if err != nil {
			return fmt.Errorf("%q: %w", s, err)
		}
		out[i] = d
	}
	return nil
}

// firstFloat reads the number that starts s ("123 turns/s (4.5 s)").
func firstFloat(s string) (float64, error) {
	f := strings.Fields(s)
	if len(f) == 0 {
		return 0, fmt.Errorf("%q: no number", s)
	}
	return strconv.ParseFloat(f[0], 64)
}

// chatRun is one sessions run of bench/chat, as its report gives it.
type chatRun struct {
	loop       string // "closed loop" or "think 1s"
	ok, errors int
	throughput float64          // turns/s
	e2e        [3]time.Duration // client, request to done: p50, p95, p99
	ttft       [3]time.Duration // client, request to first token
	server     [2]time.Duration // server histogram p50, p95 (-1: n/a)
	firstErr   string
}

// parseChat reads the sessions runs of a bench/chat report.
func parseChat(report string) ([]chatRun, error) {
	var runs []chatRun
	var cur *chatRun
	for line := range strings.Lines(report) {
		c := cells(line)
		if len(c) < 2 {
			continue
		}
		name, value := c[0], c[1]
		switch {
		case strings.Contains(name, "concurrent open streams"):
			cur = nil
		case strings.Contains(name, "concurrent sessions"):
			runs = append(runs, chatRun{loop: loopName(name)})
			cur = &runs[len(runs)-1]
		case cur == nil:
		case name == "turns ok / errors":
			if _, err := fmt.Sscanf(value, "%d / %d", &cur.ok, &cur.errors); err != nil {
				return nil, fmt.Errorf("chat report: %q: %w", value, err)
			}
		case name == "throughput":
			v, err := firstFloat(value)
			if err != nil {
				return nil, fmt.Errorf("chat report: %w", err)
			}
			cur.throughput = v
		case name == "client request → done, p50 / p95 / p99":
			if err := parseDurs(value, cur.e2e[:]); err != nil {
				return nil, fmt.Errorf("chat report: %w", err)
			}
		case name == "client request → first token, p50 / p95 / p99":
			if err := parseDurs(value, cur.ttft[:]); err != nil {
				return nil, fmt.Errorf("chat report: %w", err)
			}
		case name == "server time (histogram), p50 / p95":
			if err := parseDurs(value, cur.server[:]); err != nil {
				return nil, fmt.Errorf("chat report: %w", err)
			}
		case name == "first error":
			cur.firstErr = value
		}
	}
	if len(runs) == 0 {
		return nil, fmt.Errorf("chat report: no sessions run in:\n%s", report)
	}
	for _, r := range runs {
		if r.ok == 0 && r.errors == 0 || r.e2e[0] == 0 && r.ok > 0 {
			return nil, fmt.Errorf("chat report: run %q incomplete", r.loop)
		}
	}
	return runs, nil
}

// loopName shortens bench/chat's description of a run.
func loopName(row string) string {
	if strings.Contains(row, "closed loop") {
		return "closed loop"
	}
	if _, rest, ok := strings.Cut(row, "think time "); ok {
		if f := strings.Fields(rest); len(f) > 0 {
			return "think " + f[0]
		}
	}
	return row
}

// ragResult is what a bench/rag report gives.
type ragResult struct {
	docs, chunks       int
	mb, seconds        float64
	mbps, chunksPerSec float64
	runs               []ragRun
	restartReady       time.Duration // exec to /readyz 200
	restartFirstQuery  time.Duration
	restartToAnswering time.Duration
	chunkLabel         string // the corpus size as the report writes it
}

// ragRun is one retrieval run: client and server p50, p95, p99 in ms.
type ragRun struct {
	mode           string
	clients        int
	qps            float64
	client, server [3]float64
}

// parseRAG reads a bench/rag report.
func parseRAG(report string) (*ragResult, error) {
	r := &ragResult{}
	section := ""
	for line := range strings.Lines(report) {
		t := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(t, "### "):
			section = strings.TrimRight(strings.Fields(t)[1], ",:")
			continue
		case strings.HasPrefix(t, "Server stages"):
			section = "stages"
			continue
		}
		c := cells(line)
		if len(c) < 2 {
			continue
		}
		switch section {
		case "Ingest":
			if c[0] != "HTTP NDJSON jobs, total" || len(c) < 8 {
				continue
			}
			var err error
			nums := make([]float64, 6)
			for i := range nums {
				if nums[i], err = strconv.ParseFloat(c[i+1], 64); err != nil {
					return nil, fmt.Errorf("rag report: ingest %q: %w", c[i+1], err)
				}
			}
			r.docs, r.chunks, r.mb, r.seconds, r.mbps, r.chunksPerSec = int(nums[0]), int(nums[1]), nums[2], nums[3], nums[4], nums[5]
		case "Retrieve":
			if len(c) < 13 || c[0] == "chunks" || strings.HasPrefix(c[0], "-") {
				continue
			}
			run := ragRun{mode: c[1]}
			var err error
			if run.clients, err = strconv.Atoi(c[2]); err != nil {
				return nil, fmt.Errorf("rag report: clients %q: %w", c[2], err)
			}
			if run.qps, err = strconv.ParseFloat(c[3], 64); err != nil {
				return nil, fmt.Errorf("rag report: q/s %q: %w", c[3], err)
			}
			for i := range 3 {
				if run.client[i], err = strconv.ParseFloat(c[4+i], 64); err != nil {
					return nil, fmt.Errorf("rag report: %q: %w", c[4+i], err)
				}
				if run.server[i], err = strconv.ParseFloat(c[7+i], 64); err != nil {
					return nil, fmt.Errorf("rag report: %q: %w", c[7+i], err)
				}
			}
			r.chunkLabel = c[0]
			r.runs = append(r.runs, run)
		case "Memory":
			var dst *time.Duration
			switch {
			case strings.HasPrefix(c[0], "restart: exec to /readyz 200"):
				dst = &r.restartReady
			case c[0] == "restart: first hybrid query, client":
				dst = &r.restartFirstQuery
			case c[0] == "restart: ready to answering, total":
				dst = &r.restartToAnswering
			default:
				continue
			}
			d, err := parseDur(c[1])
			if err != nil {
				return nil, fmt.Errorf("rag report: %q: %w", c[1], err)
			}
			*dst = d
		}
	}
	if r.chunks == 0 || len(r.runs) == 0 {
		return nil, fmt.Errorf("rag report: no ingest total or no retrieval run in:\n%s", report)
	}
	return r, nil
}

// run returns the retrieval run of mode with clients, if any.
func (r *ragResult) run(mode string, clients int) (ragRun, bool) {
	for _, q := range r.runs {
		if q.mode == mode && q.clients == clients {
			return q, true
		}
	}
	return ragRun{}, false
}
