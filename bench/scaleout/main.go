// Command scaleout measures, in one run on one machine, the replicated
// backends of `crispy serve` (PostgreSQL for the store, Redis for rate
// limits, stream slots and budgets) against the embedded ones (SQLite and
// memory), end to end through real server processes, and prints one table,
// a column per mode and a row per measure:
//
//	go run ./bench/scaleout -quick                    # a few minutes: 5k chunks, short runs
//	go run ./bench/scaleout                           # the full run: 100k chunks
//	go run ./bench/scaleout -bin /tmp/crispy -chunks 20000
//
// It builds crispy, bench/chat and bench/rag once into a temporary folder
// (or takes -bin, -chat-bin and -rag-bin). Each mode gets a fresh
// PostgreSQL database, crispy_bench_<random>, made through the superuser
// of -postgres and dropped at the end, and a random Redis key prefix
// (--redis-prefix) whose keys are deleted at the end. The modes are
// sqlite (the embedded server), sqlite+redis (only the limits in Redis),
// postgres (only the store in PostgreSQL) and postgres+redis.
//
// The measures:
//
//   - gateway: the latency crispy adds to a non-streaming POST
//     /v1/chat/completions whose upstream is a mock (internal/mockupstream,
//     in this process). One server per mode of -gateway-modes runs at once,
//     and requests go one at a time in rotation to the mock directly (the
//     baseline) and through each server, so that the machine's noise falls
//     on all alike. "Added" is through minus direct at the same
//     percentile. The tenant has tenant, key and IP rate limits (far above
//     the load) and a stream cap, so every request is admitted by the
//     limiter: in memory, or by one Redis script. The run fails if a
//     response lacks the RateLimit-Policy header, if a server counted a
//     limiter or Redis error (admission would then fail open), or if a
//     Redis mode left no rate-limit key under its prefix. The spec's goal
//     is a Redis admission that adds at most 150 µs at p50 over the
//     in-memory one: each mode's added p50 minus sqlite's.
//   - chat: bench/chat's sessions phase (-sessions concurrent sessions of
//     -turns streamed POST /chat turns, builtin model, once per -think
//     time), with the tenants' rate limits and stream cap raised far above
//     the load and passed to the server through bench/chat's -store,
//     -redis and -limits.
//   - rag: bench/rag, hybrid retrieval only: ingest through POST
//     /documents (NDJSON batch jobs) up to -chunks chunks, MB/s; POST
//     /retrieve p50/p95 from 1 and -clients clients; then a restart that
//     loads the knowledge base again. The tenant's quotas (chunks,
//     documents, bytes, jobs) are raised by bench/rag itself, its rate
//     limits by -limits.
//
// The full reports of bench/chat and bench/rag are written to -reports
// when set. The table's header gives the machine's load average at the
// start and end of each measure: on a shared machine, tails move with it.
// The command exits non-zero when something fails to run, never because
// a goal is missed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// logw receives progress; the table goes to standard output.
var logw io.Writer = os.Stderr

func logf(format string, args ...any) {
	fmt.Fprintf(logw, "%s scaleout: "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// The measures.
const (
	measureGateway = "gateway"
	measureChat    = "chat"
	measureRAG     = "rag"
)

var allMeasures = []string{measureGateway, measureChat, measureRAG}

// options are the command's flags.
type options struct {
	bin, chatBin, ragBin string
	postgres, redis      string
	modes, gatewayModes  []mode
	measures             []string
	reports              string

	// gateway
	n, warmup int

	// chat
	sessions, turns int
	think           string

	// rag
	chunks, queries, clients int
}

// quickDefaults are the flags -quick changes, unless given.
var quickDefaults = map[string]string{
	"n":       "500",
	"warmup":  "100",
	"turns":   "5",
	"think":   "0",
	"chunks":  "5000",
	"queries": "200",
}

// parseArgs parses the command line.
func parseArgs(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("scaleout", flag.ContinueOnError)
	fs.SetOutput(logw)
	var modes, gatewayModes, measures string
	var quick bool
	fs.StringVar(&o.bin, "bin", "", "crispy binary (default: built from ./cmd/crispy into a temporary folder)")
	fs.StringVar(&o.chatBin, "chat-bin", "", "bench/chat binary (default: built from ./bench/chat)")
	fs.StringVar(&o.ragBin, "rag-bin", "", "bench/rag binary (default: built from ./bench/rag)")
	fs.StringVar(&o.postgres, "postgres", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL URL of a user that may create databases; each mode's database is made beside it")
	fs.StringVar(&o.redis, "redis", "redis://127.0.0.1:6379/0", "Redis URL")
	fs.StringVar(&modes, "modes", "sqlite,postgres+redis", "modes of the chat and rag measures: sqlite, sqlite+redis, postgres, postgres+redis")
	fs.StringVar(&gatewayModes, "gateway-modes", "sqlite,sqlite+redis,postgres+redis", "modes of the gateway measure, all served at once")
	fs.StringVar(&measures, "measures", strings.Join(allMeasures, ","), "measures to run: gateway, chat, rag")
	fs.StringVar(&o.reports, "reports", "", "folder to write the full reports of bench/chat and bench/rag into (default: not kept)")
	fs.BoolVar(&quick, "quick", false, "a short run: "+quickHelp())
	fs.IntVar(&o.n, "n", 2000, "gateway: measured requests per path (the direct one and each mode)")
	fs.IntVar(&o.warmup, "warmup", 200, "gateway: warm-up requests per path")
	fs.IntVar(&o.sessions, "sessions", 200, "chat: concurrent streaming sessions")
	fs.IntVar(&o.turns, "turns", 20, "chat: measured turns per session")
	fs.StringVar(&o.think, "think", "0,1s", "chat: think times, comma-separated (0: closed loop)")
	fs.IntVar(&o.chunks, "chunks", 100000, "rag: chunks ingested per mode before retrieval is measured")
	fs.IntVar(&o.queries, "queries", 500, "rag: measured queries per client count")
	fs.IntVar(&o.clients, "clients", 4, "rag: concurrent clients of the concurrent retrieval run")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if quick {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for name, v := range quickDefaults {
			if !set[name] {
				if err := fs.Set(name, v); err != nil {
					return o, err
				}
			}
		}
	}
	var err error
	if o.modes, err = parseModes(modes); err != nil {
		return o, fmt.Errorf("-modes: %w", err)
	}
	if o.gatewayModes, err = parseModes(gatewayModes); err != nil {
		return o, fmt.Errorf("-gateway-modes: %w", err)
	}
	for m := range strings.SplitSeq(measures, ",") {
		m = strings.TrimSpace(m)
		if !slices.Contains(allMeasures, m) {
			return o, fmt.Errorf("-measures: %q is not one of %s", m, strings.Join(allMeasures, ", "))
		}
		if !slices.Contains(o.measures, m) {
			o.measures = append(o.measures, m)
		}
	}
	for _, d := range strings.Split(o.think, ",") {
		if t, err := time.ParseDuration(strings.TrimSpace(d)); err != nil || t < 0 {
			return o, fmt.Errorf("-think: %q is not a duration", d)
		}
	}
	switch {
	case o.n < 1 || o.warmup < 0:
		return o, errors.New("-n must be at least 1, -warmup not negative")
	case o.sessions < 1 || o.turns < 1:
		return o, errors.New("-sessions and -turns must be at least 1")
	case o.chunks < 1 || o.queries < 1 || o.clients < 1:
		return o, errors.New("-chunks, -queries and -clients must be at least 1")
	}
	return o, nil
}

func quickHelp() string {
	keys := make([]string, 0, len(quickDefaults))
	for k := range quickDefaults {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, "-"+k+" "+quickDefaults[k])
	}
	return strings.Join(parts, ", ") + " (flags given win)"
}

func (o options) has(measure string) bool { return slices.Contains(o.measures, measure) }

// allModes returns the modes of every measure to run, each once, in the
// order of the modes' definitions.
func (o options) allModes() []mode {
	var out []mode
	add := func(ms []mode) {
		for _, m := range ms {
			if !slices.Contains(out, m) {
				out = append(out, m)
			}
		}
	}
	if o.has(measureGateway) {
		add(o.gatewayModes)
	}
	if o.has(measureChat) || o.has(measureRAG) {
		add(o.modes)
	}
	slices.SortStableFunc(out, func(a, b mode) int { return slices.Index(modeOrder, a) - slices.Index(modeOrder, b) })
	return out
}

func main() {
	o, err := parseArgs(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(logw, "scaleout:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := run(ctx, o)
	if rep != nil {
		rep.print(os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(logw, "scaleout:", err)
		os.Exit(1)
	}
}

// loadAvg returns the 1, 5 and 15 minute load averages, or "?".
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "?"
}

// itoa is strconv.Itoa, short.
func itoa(n int) string { return strconv.Itoa(n) }
