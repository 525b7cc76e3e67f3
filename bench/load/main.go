// Command load is crispy's load gate. It runs `crispy serve` on a temporary
// tenant whose chat model is the mock upstream (internal/mockupstream, in
// this process), sends a mix of requests for a while, and checks what it
// measured against the thresholds in a JSON file:
//
//	go run ./bench/load                          # a short run: the CI gate
//	go run ./bench/load -duration 10m            # the soak
//
// The mix, from -workers clients that each wait -think between requests:
// streamed POST /chat turns on sessions of their own (a new session every
// 20 turns; the tenant's knowledge base holds the example documents, so
// every turn retrieves), POST /search queries, and POST
// /v1/chat/completions. One more client measures the gateway's added
// latency: it sends the same completion to the mock directly and through
// crispy, alternately, one at a time. Every second the server's
// goroutines, heap and RSS are read; memory and goroutine growth compare
// the median of the last third of the run with that of its first third
// (after the warm-up).
//
// It prints a Markdown table of every measure beside its threshold, and
// exits 1 when a threshold fails, 2 when something fails to run. Without
// -bin it builds ./cmd/crispy first.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/crispy-enigma/crispy/bench/internal/freeaddr"
	"github.com/crispy-enigma/crispy/internal/mockupstream"
	"github.com/crispy-enigma/crispy/internal/tenant"
	"github.com/crispy-enigma/crispy/tenants"
)

const (
	tenantID = "load"
	mockKey  = "mock-key"
	model    = "load-model"
	reply    = "Hotel costs are refunded up to the limit per night, as the travel handbook says. [1]"
)

// Thresholds are the gates, read from a JSON file. Every one is checked: a
// threshold the file leaves out is zero.
type Thresholds struct {
	ChatP95Ms         float64 `json:"chatP95Ms"`         // POST /chat, request to done
	SearchP95Ms       float64 `json:"searchP95Ms"`       // POST /search
	GatewayAddedP95Ms float64 `json:"gatewayAddedP95Ms"` // completion through crispy minus direct, at p95
	ErrorRate         float64 `json:"errorRate"`         // failed requests / requests
	Max5xx            int64   `json:"max5xx"`            // responses with a 5xx status
	HeapGrowthMiB     float64 `json:"heapGrowthMiB"`     // heap in use, last third minus first third
	RSSGrowthMiB      float64 `json:"rssGrowthMiB"`      // resident set, the same
	GoroutineGrowth   float64 `json:"goroutineGrowth"`   // goroutines, the same
	MinRequestsPerSec float64 `json:"minRequestsPerSec"` // the load actually offered
}

type options struct {
	bin, thresholds, work string
	duration, warmup      time.Duration
	think                 time.Duration
	workers               int
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "", "crispy binary; empty: build ./cmd/crispy")
	flag.StringVar(&o.thresholds, "thresholds", "bench/load/thresholds.json", "JSON file of thresholds")
	flag.StringVar(&o.work, "work", "", "folder for the data and tenants (default: a temporary one)")
	flag.DurationVar(&o.duration, "duration", 30*time.Second, "how long to send requests, warm-up included")
	flag.DurationVar(&o.warmup, "warmup", 5*time.Second, "first part of the run left out of the measures")
	flag.DurationVar(&o.think, "think", 20*time.Millisecond, "each client's wait between requests")
	flag.IntVar(&o.workers, "workers", 6, "clients sending the mix")
	flag.Parse()
	th, err := readThresholds(o.thresholds)
	if err != nil {
		fatal(err)
	}
	res, err := run(o)
	if err != nil {
		fatal(err)
	}
	checks := evaluate(res, th)
	fmt.Print(table(o, res, checks))
	for _, c := range checks {
		if !c.ok {
			os.Exit(1)
		}
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "load:", err)
	os.Exit(2)
}

func readThresholds(path string) (Thresholds, error) {
	var th Thresholds
	b, err := os.ReadFile(path)
	if err != nil {
		return th, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&th); err != nil {
		return th, fmt.Errorf("%s: %w", path, err)
	}
	return th, nil
}

// result is what a run measured.
type result struct {
	elapsed                time.Duration
	requests, failed, s5xx int64
	failures               map[string]int64 // by route and status, for the report
	chat, search, through  []time.Duration
	direct, gwThrough      []time.Duration
	samples                []sample
}

type sample struct {
	at         time.Duration
	goroutines float64
	heapMiB    float64
	rssMiB     float64
}

func run(o options) (*result, error) {
	work := o.work
	if work == "" {
		d, err := os.MkdirTemp("", "crispy-load-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		work = d
	}
	bin := o.bin
	if bin == "" {
		bin = filepath.Join(work, "crispy")
		cmd := exec.Command("go", "build", "-o", bin, "./cmd/crispy")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("build crispy: %w", err)
		}
	}
	mock, mockSrv := mockupstream.NewHTTPTest(mockupstream.Config{APIKey: mockKey, Reply: reply})
	defer func() { mock.Close(); mockSrv.Close() }()
	mockURL := mockSrv.URL + "/v1"

	key := tenant.NewKey()
	tdir := filepath.Join(work, "tenants")
	if err := writeTenant(tdir, mockURL, key); err != nil {
		return nil, err
	}
	srv, err := startCrispy(bin, work, tdir)
	if err != nil {
		return nil, err
	}
	defer srv.stop()

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}, Timeout: 30 * time.Second}
	res := &result{failures: map[string]int64{}}
	var mu sync.Mutex
	start := time.Now()
	measuring := func() bool { return time.Since(start) >= o.warmup }
	record := func(route string, status int, err error, d time.Duration, into *[]time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		if !measuring() {
			return
		}
		res.requests++
		if err != nil || status < 200 || status > 299 {
			res.failed++
			what := fmt.Sprintf("%s %d", route, status)
			if err != nil {
				what = fmt.Sprintf("%s %v", route, err)
			}
			res.failures[what]++
			if status >= 500 {
				res.s5xx++
			}
			return
		}
		if into != nil {
			*into = append(*into, d)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), o.duration)
	defer cancel()
	var wg sync.WaitGroup
	// The mix.
	for w := range o.workers {
		wg.Go(func() {
			turns, session := 0, ""
			for i := 0; ctx.Err() == nil; i++ {
				switch (w + i) % 3 {
				case 0:
					if turns%20 == 0 {
						session = ""
					}
					t0 := time.Now()
					sid, status, err := chatTurn(ctx, client, srv.base, key, session, fmt.Sprintf("How are hotel costs refunded? (%d.%d)", w, i))
					if ctx.Err() != nil {
						return
					}
					record("POST /chat", status, err, time.Since(t0), &res.chat)
					session, turns = sid, turns+1
				case 1:
					t0 := time.Now()
					status, err := post(ctx, client, srv.base+"/search", key, fmt.Sprintf(`{"query":"What is the refund policy for orders? %d"}`, i%50))
					if ctx.Err() != nil {
						return
					}
					record("POST /search", status, err, time.Since(t0), &res.search)
				case 2:
					t0 := time.Now()
					status, err := post(ctx, client, srv.base+"/v1/chat/completions", key, completion("mock/"+model))
					if ctx.Err() != nil {
						return
					}
					record("POST /v1/chat/completions", status, err, time.Since(t0), &res.through)
				}
				sleep(ctx, o.think)
			}
		})
	}
	// The gateway's added latency: the same call direct and through.
	wg.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			t0 := time.Now()
			if i%2 == 0 {
				status, err := post(ctx, client, mockURL+"/chat/completions", mockKey, completion(model))
				if ctx.Err() == nil {
					record("direct to the mock", status, err, time.Since(t0), &res.direct)
				}
			} else {
				status, err := post(ctx, client, srv.base+"/v1/chat/completions", key, completion("mock/"+model))
				if ctx.Err() == nil {
					record("POST /v1/chat/completions", status, err, time.Since(t0), &res.gwThrough)
				}
			}
			sleep(ctx, o.think)
		}
	})
	// The server's footprint, every second.
	wg.Go(func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if !measuring() {
				continue
			}
			s, err := srv.footprint(client)
			if err != nil {
				continue
			}
			s.at = time.Since(start)
			mu.Lock()
			res.samples = append(res.samples, s)
			mu.Unlock()
		}
	})
	wg.Wait()
	res.elapsed = time.Since(start) - o.warmup
	if err := srv.stop(); err != nil {
		return nil, err
	}
	return res, nil
}

func completion(model string) string {
	return `{"model":"` + model + `","messages":[{"role":"user","content":"Summarise the travel handbook's hotel rules."}]}`
}

// chatTurn sends a streamed turn and reads it to its done event.
func chatTurn(ctx context.Context, c *http.Client, base, key, session, msg string) (string, int, error) {
	body, _ := json.Marshal(map[string]any{"message": msg, "sessionId": session})
	if session == "" {
		body, _ = json.Marshal(map[string]any{"message": msg})
	}
	req, _ := http.NewRequestWithContext(ctx, "POST", base+"/chat", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	res, err := c.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, res.Body)
		return "", res.StatusCode, nil
	}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	event := ""
	for sc.Scan() {
		line := sc.Text()
		if ev, ok := strings.CutPrefix(line, "event: "); ok {
			event = ev
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		switch event {
		case "done":
			var d struct {
				SessionID string `json:"sessionId"`
			}
			_ = json.Unmarshal([]byte(data), &d)
			_, _ = io.Copy(io.Discard, res.Body)
			return d.SessionID, res.StatusCode, nil
		case "error":
			return "", res.StatusCode, fmt.Errorf("error event: %s", data)
		}
	}
	if err := sc.Err(); err != nil {
		return "", res.StatusCode, err
	}
	return "", res.StatusCode, errors.New("the stream ended without done")
}

// post sends a JSON body and reads the whole answer.
func post(ctx context.Context, c *http.Client, url, key, body string) (int, error) {
	req, _ := http.NewRequestWithContext(ctx, "POST", url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	res, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	_, err = io.Copy(io.Discard, res.Body)
	return res.StatusCode, err
}

func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// writeTenant writes the load tenant, with the example documents of acme
// as its knowledge base's seed.
func writeTenant(dir, mockURL, key string) error {
	cfg := map[string]any{
		"id": tenantID, "name": "Load gate",
		"keys": []any{map[string]any{"id": "load", "hash": tenant.HashKey(key), "scopes": []string{"chat", "search"}}},
		"providers": map[string]any{
			"mock": map[string]any{"type": "openai", "baseUrl": mockURL, "apiKeyEnv": "MOCK_API_KEY"},
		},
		"models": map[string]any{
			"chat":      map[string]any{"model": "mock/" + model},
			"embedding": map[string]any{"model": "builtin/hash-384"},
			"pricing":   map[string]any{"mock/" + model: map[string]any{"inputPerMTok": 0.5, "outputPerMTok": 1.5}},
		},
		"rag": map[string]any{"enabled": true, "seed": "docs"},
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	tdir := filepath.Join(dir, tenantID)
	if err := os.MkdirAll(filepath.Join(tdir, "docs"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tdir, tenant.FileName), b, 0o644); err != nil {
		return err
	}
	docs, err := fs.Sub(tenants.Examples, "acme/docs")
	if err != nil {
		return err
	}
	return os.CopyFS(filepath.Join(tdir, "docs"), docs)
}

// server is a running `crispy serve`.
type server struct {
	cmd           *exec.Cmd
	base, metrics string
	done          chan struct{}
	err           error
	once          sync.Once
	stopErr       error
}

func startCrispy(bin, work, tenants string) (*server, error) {
	addr, err := freeaddr.Get()
	if err != nil {
		return nil, err
	}
	maddr, err := freeaddr.Get()
	if err != nil {
		return nil, err
	}
	data, err := os.MkdirTemp(work, "data-")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve", "--addr", addr, "--metrics-addr", maddr, "--data", data, "--tenants", tenants, "--env", "dev", "--log-level", "error")
	cmd.Env = append(os.Environ(), "MOCK_API_KEY="+mockKey)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, base: "http://" + addr, metrics: "http://" + maddr, done: make(chan struct{})}
	go func() { s.err = cmd.Wait(); close(s.done) }()
	c := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(30 * time.Second); ; {
		if res, err := c.Get(s.base + "/readyz"); err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("crispy exited before it was ready: %v", s.err)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = s.stop()
			return nil, errors.New("crispy not ready after 30s")
		}
	}
}

// stop asks the server to drain and exit, killing it after 30 s.
func (s *server) stop() error {
	s.once.Do(func() {
		_ = s.cmd.Process.Signal(os.Interrupt)
		select {
		case <-s.done:
			if s.err != nil {
				s.stopErr = fmt.Errorf("crispy exited: %w", s.err)
			}
		case <-time.After(30 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
			s.stopErr = errors.New("crispy did not exit within 30s of SIGINT")
		}
	})
	return s.stopErr
}

// footprint reads the server's goroutines and heap from its metrics, and
// its RSS from /proc when there is one.
func (s *server) footprint(c *http.Client) (sample, error) {
	res, err := c.Get(s.metrics + "/metrics")
	if err != nil {
		return sample{}, err
	}
	defer res.Body.Close()
	var out sample
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			continue
		}
		switch name {
		case "go_goroutines":
			out.goroutines = v
		case "go_memstats_heap_inuse_bytes":
			out.heapMiB = v / (1 << 20)
		case "process_resident_memory_bytes":
			out.rssMiB = v / (1 << 20)
		}
	}
	if runtime.GOOS == "linux" && out.rssMiB == 0 {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid)); err == nil {
			for line := range strings.Lines(string(b)) {
				if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
					kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
					out.rssMiB = kb / 1024
				}
			}
		}
	}
	return out, sc.Err()
}

// check is one threshold's verdict.
type check struct {
	name       string
	value, max string
	ok         bool
}

// pct returns the p-th percentile (0..100) of ds in milliseconds, by the
// nearest rank; NaN-free: 0 for no values.
func pct(ds []time.Duration, p float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(p/100*float64(len(s))+0.5) - 1
	i = min(max(i, 0), len(s)-1)
	return float64(s[i].Microseconds()) / 1000
}

// growth is the median of the last third of the samples minus that of the
// first third.
func growth(samples []sample, f func(sample) float64) float64 {
	n := len(samples) / 3
	if n == 0 {
		return 0
	}
	med := func(ss []sample) float64 {
		v := make([]float64, len(ss))
		for i, s := range ss {
			v[i] = f(s)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	return med(samples[len(samples)-n:]) - med(samples[:n])
}

func evaluate(r *result, th Thresholds) []check {
	ms := func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) + " ms" }
	mib := func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) + " MiB" }
	var cs []check
	add := func(name, value, limit string, ok bool) { cs = append(cs, check{name, value, limit, ok}) }
	var rate float64
	if r.requests > 0 {
		rate = float64(r.failed) / float64(r.requests)
	}
	rps := float64(r.requests) / max(r.elapsed.Seconds(), 1e-9)
	chat, search := pct(r.chat, 95), pct(r.search, 95)
	added := pct(r.gwThrough, 95) - pct(r.direct, 95)
	add("requests per second", strconv.FormatFloat(rps, 'f', 1, 64), "≥ "+strconv.FormatFloat(th.MinRequestsPerSec, 'f', 1, 64), rps >= th.MinRequestsPerSec)
	add("error rate", fmt.Sprintf("%.4f (%d of %d)", rate, r.failed, r.requests), fmt.Sprintf("≤ %.4f", th.ErrorRate), rate <= th.ErrorRate)
	add("5xx responses", strconv.FormatInt(r.s5xx, 10), "≤ "+strconv.FormatInt(th.Max5xx, 10), r.s5xx <= th.Max5xx)
	add("POST /chat p95 (request to done)", ms(chat), "≤ "+ms(th.ChatP95Ms), len(r.chat) > 0 && chat <= th.ChatP95Ms)
	add("POST /search p95", ms(search), "≤ "+ms(th.SearchP95Ms), len(r.search) > 0 && search <= th.SearchP95Ms)
	add("gateway added latency p95 (through - direct)", ms(added), "≤ "+ms(th.GatewayAddedP95Ms), len(r.gwThrough) > 0 && added <= th.GatewayAddedP95Ms)
	heap := growth(r.samples, func(s sample) float64 { return s.heapMiB })
	rss := growth(r.samples, func(s sample) float64 { return s.rssMiB })
	gor := growth(r.samples, func(s sample) float64 { return s.goroutines })
	enough := len(r.samples) >= 3
	add("heap in use growth", mib(heap), "≤ "+mib(th.HeapGrowthMiB), enough && heap <= th.HeapGrowthMiB)
	add("RSS growth", mib(rss), "≤ "+mib(th.RSSGrowthMiB), enough && rss <= th.RSSGrowthMiB)
	add("goroutine growth", strconv.FormatFloat(gor, 'f', 0, 64), "≤ "+strconv.FormatFloat(th.GoroutineGrowth, 'f', 0, 64), enough && gor <= th.GoroutineGrowth)
	return cs
}

func table(o options, r *result, cs []check) string {
	var b strings.Builder
	fmt.Fprintf(&b, "crispy load gate: %v measured after a %v warm-up, %d clients + 1 gateway probe, think %v, %s/%s, %d CPUs\n\n",
		r.elapsed.Round(time.Second), o.warmup, o.workers, o.think, runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	b.WriteString("| measure | value | threshold | result |\n| --- | ---: | ---: | --- |\n")
	for _, c := range cs {
		verdict := "pass"
		if !c.ok {
			verdict = "**FAIL**"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", c.name, c.value, c.max, verdict)
	}
	fmt.Fprintf(&b, "\n| latency (ms) | n | p50 | p95 | p99 |\n| --- | ---: | ---: | ---: | ---: |\n")
	for _, l := range []struct {
		name string
		ds   []time.Duration
	}{{"POST /chat (request to done)", r.chat}, {"POST /search", r.search}, {"POST /v1/chat/completions (mix)", r.through},
		{"completion through crispy (probe)", r.gwThrough}, {"completion direct to the mock (probe)", r.direct}} {
		fmt.Fprintf(&b, "| %s | %d | %.1f | %.1f | %.1f |\n", l.name, len(l.ds), pct(l.ds, 50), pct(l.ds, 95), pct(l.ds, 99))
	}
	if n := len(r.samples); n > 0 {
		f, l := r.samples[0], r.samples[n-1]
		fmt.Fprintf(&b, "\nserver footprint, first and last sample: goroutines %.0f → %.0f, heap in use %.1f → %.1f MiB, RSS %.1f → %.1f MiB (%d samples)\n",
			f.goroutines, l.goroutines, f.heapMiB, l.heapMiB, f.rssMiB, l.rssMiB, n)
	}
	if len(r.failures) > 0 {
		b.WriteString("\nfailures:\n")
		keys := make([]string, 0, len(r.failures))
		for k := range r.failures {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "- %s: %d\n", k, r.failures[k])
		}
	}
	return b.String()
}
