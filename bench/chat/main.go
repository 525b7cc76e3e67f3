// Command chat measures POST /chat, the streaming chat endpoint, on a built
// `crispy serve`:
//
//	go build -o /tmp/crispy ./cmd/crispy && go run ./bench/chat -bin /tmp/crispy
//
// It writes a temporary tenants folder with two tenants, neither with rate
// limits, stream caps or budgets: one whose chat model is the offline
// builtin/extractive, and one whose chat model is the mock upstream
// (internal/mockupstream, run in this process) answering slowly. Each phase
// runs its own server on a fresh data folder, started with --env dev and
// --log-level error, and ready when GET /readyz answers 200.
//
// Sessions phase: -sessions clients run at once, each with its own session
// (the first turn creates it, the later ones pass its sessionId), sending
// -turns streamed turns one after the other. It runs once for each -think
// time. With 0, a closed loop, each client sends its next turn as soon as
// the done event of the last one has arrived: the server is saturated, and
// latency is its queue (by Little's law, mean latency = sessions /
// throughput). With a think time T, each client waits a random time in
// [0, T) before its first turn and between 0.5 T and 1.5 T between turns,
// so that turns arrive spread out, at about sessions / T a second. It
// reports, per turn:
//
//   - the client's time from sending the request to the done event, and to
//     the first token event, on localhost;
//   - the server's own histogram crispy_http_request_duration_seconds for
//     route "POST /chat" from GET /metrics (the delta over the measured
//     turns; p50 and p95 interpolated inside its buckets as Prometheus's
//     histogram_quantile does; the mean exact, from _sum and _count). It
//     covers the handler: tenant and key resolution, rate limits, the
//     session's reads, the model, the token and done events written and
//     flushed, and the turn's commit, but not reading the request headers
//     or the TCP round trip;
//   - the model's share: from the usage ledger (read from the server's
//     database after it stops), the gateway's time from the call's start to
//     the builtin model's first output, which includes routing, counting
//     the prompt's tokens and the budget check; and the builtin model alone,
//     answering the same prompts in this process.
//
// Both the client's and the server's times include the builtin model, which
// answers in microseconds. The clients run on the same machine as the
// server and take CPU from it. The table also gives the machine's load
// average and the disk's fsync time in the data folder (every turn's commit
// waits for one; -data /dev/shm takes the disk out), since both move the
// results a lot on a shared machine.
//
// Streams phase: -streams streams are opened at once on the slow tenant
// (the mock waits -ttft, then sends -tokens tokens at -tps a second, about
// 20 s a stream by default). Once every stream has had its first token, it
// reads the server's RSS (VmRSS of /proc/PID/status), goroutines and Go
// heap and stacks (GET /metrics); memory and goroutines per open stream are
// (open - before) / streams. Then every stream must end with a done event
// and all its tokens; any other status, an error event, a missing done
// event or a short answer is an error. The footprint is read again once
// the streams have ended and the idle keep-alive connections on both hops
// are closed, and after the server's next garbage collection (the Go
// runtime forces one within two minutes; -settle bounds the wait).
//
// BenchmarkTurn and BenchmarkOpenStreams (chat_test.go) run the same work
// against an in-process server, for CPU and heap profiles.
//
// It prints a Markdown table with the targets beside the numbers. It exits
// non-zero when something fails to run, never because a target is missed.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/crispy-enigma/crispy/bench/internal/backends"
	"github.com/crispy-enigma/crispy/internal/mockupstream"
)

// logw receives progress and problems; the table goes to standard output.
var logw io.Writer = os.Stderr

// options are the command's flags.
type options struct {
	bin         string
	phase       string
	sessions    int
	turns       int
	warmup      int
	thinks      []time.Duration
	message     string
	streams     int
	ttft        time.Duration
	tps         float64
	tokens      int
	openTimeout time.Duration
	dataParent  string
	settle      time.Duration
	keep        bool
	backends    backends.Flags // --store, --redis and the tenants' extra limits
}

// mockConfig is the slow model's configuration.
func (o options) mockConfig() mockupstream.Config {
	return mockupstream.Config{APIKey: mockKey, TTFT: o.ttft, TokensPerSecond: o.tps, CompletionTokens: o.tokens}
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "./crispy", "crispy binary to measure")
	flag.StringVar(&o.phase, "phase", "all", "phases to run: all, sessions or streams")
	flag.IntVar(&o.sessions, "sessions", 200, "concurrent sessions of the sessions phase")
	flag.IntVar(&o.turns, "turns", 20, "measured turns per session")
	flag.IntVar(&o.warmup, "warmup", 2, "warm-up turns per client, on throwaway sessions, before measuring")
	think := flag.String("think", "0,1s", "comma-separated think times; the sessions phase runs once with each (0: closed loop)")
	flag.StringVar(&o.message, "message", "What are your opening hours on Sundays?", "the user message of every turn")
	flag.IntVar(&o.streams, "streams", 1000, "concurrent open streams of the streams phase")
	flag.DurationVar(&o.ttft, "ttft", 50*time.Millisecond, "slow model: time to first token")
	flag.Float64Var(&o.tps, "tps", 2, "slow model: tokens per second after the first")
	flag.IntVar(&o.tokens, "tokens", 40, "slow model: tokens per answer")
	flag.DurationVar(&o.openTimeout, "open-timeout", time.Minute, "how long to wait for every stream's first token")
	flag.DurationVar(&o.settle, "settle", 150*time.Second, "after the streams, how long to wait for the server's next garbage collection before the last reading (0: do not wait)")
	flag.StringVar(&o.dataParent, "data", "", "folder in which each server's data folder is made (default: the temporary folder); on a tmpfs such as /dev/shm, commits cost no disk sync")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary folder (tenants, databases)")
	o.backends.Register(flag.CommandLine)
	flag.Parse()
	for f := range strings.SplitSeq(*think, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(f))
		if err != nil || d < 0 {
			fmt.Fprintf(logw, "chat: -think %q: want durations such as 0,1s\n", *think)
			os.Exit(2)
		}
		o.thinks = append(o.thinks, d)
	}
	if err := o.validate(); err != nil {
		fmt.Fprintln(logw, "chat:", err)
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(logw, "chat:", err)
		os.Exit(1)
	}
}

func (o options) validate() error {
	switch {
	case o.phase != "all" && o.phase != "sessions" && o.phase != "streams":
		return fmt.Errorf("-phase %q: want all, sessions or streams", o.phase)
	case o.sessions < 1 || o.turns < 1 || o.streams < 1:
		return fmt.Errorf("-sessions, -turns and -streams must be at least 1")
	case o.tps <= 0 || o.tokens < 1:
		return fmt.Errorf("-tps must be positive and -tokens at least 1")
	case strings.TrimSpace(o.message) == "":
		return fmt.Errorf("-message must not be empty")
	}
	if err := o.backends.Validate(); err != nil {
		return err
	}
	if _, err := os.Stat(o.bin); err != nil {
		return fmt.Errorf("-bin: %w", err)
	}
	return nil
}

func run(o options) error {
	// Each stream holds a connection at both ends of both hops: the client
	// and the mock live in this process, crispy inherits the limit.
	limit, err := raiseNoFile(uint64(4*o.streams + 1024))
	if err != nil {
		return fmt.Errorf("raise RLIMIT_NOFILE: %w", err)
	}
	if need := uint64(2*o.streams + 256); limit < need && o.phase != "sessions" {
		return fmt.Errorf("RLIMIT_NOFILE is %d, below the %d that %d streams need", limit, need, o.streams)
	}

	work, err := os.MkdirTemp("", "crispy-bench-chat-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintln(logw, "keeping", work)
	} else {
		defer os.RemoveAll(work)
	}
	mock, hs := mockupstream.NewHTTPTest(o.mockConfig())
	defer func() { mock.Close(); hs.Close() }()
	tenants := filepath.Join(work, "tenants")
	if o.dataParent == "" {
		o.dataParent = work
	} else if o.dataParent, err = os.MkdirTemp(o.dataParent, "crispy-bench-chat-data-"); err != nil {
		return err
	} else if !o.keep {
		defer os.RemoveAll(o.dataParent)
	}
	k, err := writeTenants(tenants, hs.URL+"/v1", o.backends)
	if err != nil {
		return err
	}

	var rep report
	rep.opts = o
	if o.phase != "streams" {
		for _, think := range o.thinks {
			fmt.Fprintf(logw, "sessions: %d sessions x %d turns, think time %s...\n", o.sessions, o.turns, think)
			r, err := runSessions(o, think, tenants, k)
			if err != nil {
				return fmt.Errorf("sessions: %w", err)
			}
			rep.sessions = append(rep.sessions, &r)
		}
	}
	if o.phase != "sessions" {
		fmt.Fprintf(logw, "streams: %d streams...\n", o.streams)
		r, err := runStreams(o, tenants, k, mock, hs)
		if err != nil {
			return fmt.Errorf("streams: %w", err)
		}
		rep.streams = &r
	}
	rep.print(os.Stdout, machine())
	return nil
}

// loadAvg returns the 1-minute load average, or "?".
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "?"
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
