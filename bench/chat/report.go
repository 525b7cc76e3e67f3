package main

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
)

// Targets from the spec.
const (
	targetP95     = 5 * time.Millisecond
	targetStreams = 1000
)

// report is the benchmark's outcome; a phase not run is nil.
type report struct {
	opts     options
	sessions []*latencyResult // one for each think time
	streams  *streamsResult
}

func (rep report) print(w io.Writer, machine string) {
	o := rep.opts
	fmt.Fprintf(w, "# POST /chat benchmark\n\n")
	fmt.Fprintf(w, "- machine: %s\n- crispy: %s\n- backends: %s\n", machine, o.bin, o.backends.Describe())
	for _, r := range rep.sessions {
		fmt.Fprintf(w, "- sessions phase, %s: %d sessions at once x %d streamed turns (after %d warm-up turns per client); builtin/extractive, %d token events a turn\n",
			r.loop(), r.sessions, r.turns, o.warmup, r.tokens)
	}
	if r := rep.streams; r != nil {
		fmt.Fprintf(w, "- streams phase: %d streams at once; mock model: first token after %s, then %g tokens/s, %d tokens (%.1f s a stream)\n",
			r.streams, r.mock.TTFT, r.mock.TokensPerSecond, r.mock.CompletionTokens,
			r.mock.TTFT.Seconds()+float64(r.mock.CompletionTokens-1)/r.mock.TokensPerSecond)
	}
	fmt.Fprintf(w, "\n| measure | value | target | |\n|---|---|---|---|\n")
	row := func(name, value, target, verdict string) {
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", name, value, target, verdict)
	}
	for _, r := range rep.sessions {
		row(fmt.Sprintf("**%d concurrent sessions, builtin model, %s**", r.sessions, r.loop()), "", "", "")
		row("machine load average, start → end", r.load[0]+" → "+r.load[1], "", "")
		row("disk: 4 KiB write + fsync in the data folder, p50 / p95 (just before)", pcts2(r.fsync), "", "")
		row("turns ok / errors", fmt.Sprintf("%d / %d", r.ok, r.errors), "0 errors", verdict(r.errors == 0))
		tput := float64(r.ok) / r.wall.Seconds()
		row("throughput", fmt.Sprintf("%.0f turns/s (%.1f s)", tput, r.wall.Seconds()), "", "")
		if r.think == 0 {
			// Little's law: in a closed loop the mean time in the server is
			// the number of clients over the throughput.
			row("p95 ≤ 5 ms in a closed loop needs (Little's law: mean ≤ 5 ms)", fmt.Sprintf("≥ %.0f turns/s, %.0f× this", float64(r.sessions)/targetP95.Seconds(), float64(r.sessions)/targetP95.Seconds()/tput), "", "")
		}
		p95 := r.server.quantile(.95)
		row("server time (histogram), p50 / p95", ms(r.server.quantile(.5))+" / "+ms(p95), "p95 ≤ 5 ms", verdict(p95 <= targetP95.Seconds()))
		row("server time (histogram), mean; turns observed", fmt.Sprintf("%s; %.0f", ms(r.server.mean()), r.server.count), "", "")
		row("client request → done, p50 / p95 / p99", pcts(r.e2e), "(p95 ≤ 5 ms)", verdict(pct(r.e2e, .95) <= targetP95))
		row("client request → first token, p50 / p95 / p99", pcts(r.ttft), "", "")
		if r.ledgerErr != nil {
			row("gateway call → first output (ledger)", "unread: "+r.ledgerErr.Error(), "", "")
		} else {
			row(fmt.Sprintf("gateway call → first output (ledger, %d calls), p50 / p95 / p99", len(r.ledgerTTFT)), pcts(r.ledgerTTFT), "", "")
			row("gateway call → stream closed (ledger), p50 / p95 / p99", pcts(r.ledgerLatency), "", "")
		}
		if len(r.modelAlone) > 0 {
			row("builtin model alone (in process), p50 / p95 / p99", pcts(r.modelAlone), "", "")
		}
		if r.firstErr != nil {
			row("first error", escape(r.firstErr.Error()), "", "")
		}
	}
	if r := rep.streams; r != nil {
		row(fmt.Sprintf("**%d concurrent open streams, slow mock model**", r.streams), "", "", "")
		row("machine load average, start → all open", r.load[0]+" → "+r.load[1], "", "")
		row("streams open at once (first token received; mock sending)", fmt.Sprintf("%d; %d (all open %.1f s after the start)", r.open, r.upstream, r.openTime.Seconds()),
			fmt.Sprintf("%d", targetStreams), verdict(r.allOpen && r.streams >= targetStreams))
		errs := 0
		var kinds []string
		for _, k := range slices.Sorted(maps.Keys(r.errors)) {
			errs += r.errors[k]
			kinds = append(kinds, fmt.Sprintf("%s %d", k, r.errors[k]))
		}
		detail := ""
		if len(kinds) > 0 {
			detail = " (" + strings.Join(kinds, ", ") + ")"
		}
		row("streams ok / errors", fmt.Sprintf("%d / %d%s", r.ok, errs, detail), "0 errors", verdict(errs == 0 && r.ok == r.streams))
		n := float64(r.streams)
		gc := "no GC within -settle"
		if r.gcWait > 0 {
			gc = fmt.Sprintf("GC %.0f s later", r.gcWait.Seconds())
		}
		four := func(f func(u usage) float64, format string) string {
			return fmt.Sprintf(format+" / "+format+" / "+format+" / "+format, f(r.before), f(r.during), f(r.after), f(r.afterGC))
		}
		row("readings: before / all open / closed / after a GC", "("+gc+")", "", "")
		row("RSS", four(func(u usage) float64 { return u.rss }, "%.1f")+" MiB", "", "")
		row("**memory per open stream (RSS)**", fmt.Sprintf("%.1f KiB", (r.during.rss-r.before.rss)*1024/n), "measured", "")
		row("Go runtime's memory from the OS (sys − released)", four(func(u usage) float64 { return u.goHeld }, "%.1f")+" MiB", "", "")
		row("Go heap in use", four(func(u usage) float64 { return u.heap }, "%.1f")+" MiB", "", "")
		row("Go stacks in use", four(func(u usage) float64 { return u.stack }, "%.1f")+" MiB", "", "")
		row("Go heap + stacks per open stream", fmt.Sprintf("%.1f KiB (heap %.1f, stacks %.1f)",
			(r.during.heap+r.during.stack-r.before.heap-r.before.stack)*1024/n, (r.during.heap-r.before.heap)*1024/n, (r.during.stack-r.before.stack)*1024/n), "", "")
		if r.gcWait > 0 {
			// Not a verdict: after one collection the heap still holds
			// sync.Pool caches (net/http's buffers) and the runtime's free
			// goroutine descriptors, which it keeps for reuse.
			row("Go heap after a GC − before", fmt.Sprintf("%+.1f MiB", r.afterGC.heap-r.before.heap), "", "")
		}
		row("goroutines", four(func(u usage) float64 { return u.goroutines }, "%.0f"), "no growth", verdict(r.after.goroutines <= r.before.goroutines+5))
		row("goroutines per open stream", fmt.Sprintf("%.2f", (r.during.goroutines-r.before.goroutines)/n), "", "")
		row("client request → first token, p50 / p95 / p99", pcts(r.ttft), "", "")
		row("client request → done, p50 / p95 / p99", pcts(r.whole), "", "")
		if r.firstErr != nil {
			row("first error", escape(r.firstErr.Error()), "", "")
		}
	}
}

// loop describes how the sessions sent their turns.
func (r *latencyResult) loop() string {
	if r.think == 0 {
		return "closed loop (no think time)"
	}
	return fmt.Sprintf("think time %s ± 50%% (about %.0f turns/s offered)", r.think, float64(r.sessions)/r.think.Seconds())
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

// pct returns the q-quantile of v by nearest rank.
func pct(v []time.Duration, q float64) time.Duration {
	if len(v) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(v))
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func pcts2(v []time.Duration) string {
	if len(v) == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%s / %s", dur(pct(v, .5)), dur(pct(v, .95)))
}

func pcts(v []time.Duration) string {
	if len(v) == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%s / %s / %s", dur(pct(v, .5)), dur(pct(v, .95)), dur(pct(v, .99)))
}

// dur formats d in ms with a precision that suits it.
func dur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	case d < 100*time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	case d < 10*time.Second:
		return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}

// ms formats seconds.
func ms(s float64) string {
	if math.IsNaN(s) {
		return "n/a"
	}
	return dur(time.Duration(s * float64(time.Second)))
}

func escape(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
