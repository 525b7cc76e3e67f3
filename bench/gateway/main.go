// Command gateway measures the overhead the crispy gateway adds to a model
// call. It starts the mock upstream (internal/mockupstream) in this process,
// runs `crispy serve` on a temporary tenant whose chat model is the mock, and
// sends the same POST /v1/chat/completions to the mock directly and through
// crispy, then prints a Markdown table:
//
//	go build -o /tmp/crispy ./cmd/crispy && go run ./bench/gateway -bin /tmp/crispy
//
// The measures are: sequential latency (direct and through requests
// alternate, so that machine noise falls on both alike), time to the first
// content chunk of a stream, latency under a fixed open-loop rate,
// throughput at a fixed concurrency with crispy's CPU time per request, and
// crispy's memory and goroutines. "Added" is through minus direct at the
// same percentile. Two reference rows help read it: the floor proxy, this
// program run as a bare net/http reverse proxy process in crispy's place
// (what any Go proxy adds here: a process hop each way and net/http's
// server and client, with no work), so that through crispy minus through
// the floor is crispy's own share; and crispy's GET /livez (one more
// process on the path, with no proxying at all). Since the mock runs in
// this process, the direct path has no process hop at all. Every path
// shares one keep-alive HTTP client.
//
// With -mock-bin the mock runs as its own process instead, as a real
// upstream does, so the direct path crosses one process boundary and a
// call through crispy two; "added" is then crispy's hop and its work:
//
//	go build -o /tmp/mockupstream ./bench/mockupstream
//	go run ./bench/gateway -bin /tmp/crispy -mock-bin /tmp/mockupstream
//
// The command exits non-zero when something fails (setup or any request),
// never because a target is missed. The header gives the machine's load
// average: on a busy machine the tail percentiles mean little.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crispy-enigma/crispy/bench/internal/freeaddr"
	"github.com/crispy-enigma/crispy/internal/mockupstream"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// The mock's key and the benchmark's model, as the mock and crispy name it.
const (
	mockKey     = "mock-key"
	mockModel   = "bench-model"
	crispyModel = "mock/" + mockModel
	tenantID    = "bench"
)

// reply is the mock's answer: 20 tokens.
const reply = "The quick brown fox jumps over the lazy dog while the cat sleeps on a warm mat by the door."

// options are the command's flags.
type options struct {
	bin        string
	n          int
	streams    int
	warmup     int
	rate       int
	rateFor    time.Duration
	workers    int
	workersFor time.Duration
	idle       time.Duration
	ttft       time.Duration
	mockBin    string
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == floorArg {
		if err := runFloor(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, "bench/gateway: floor proxy:", err)
			os.Exit(1)
		}
		return
	}
	var o options
	flag.StringVar(&o.bin, "bin", "./crispy", "crispy binary to measure")
	flag.IntVar(&o.n, "n", 2000, "sequential non-streaming requests per path")
	flag.IntVar(&o.streams, "streams", 1000, "sequential streaming requests per path")
	flag.IntVar(&o.warmup, "warmup", 200, "warm-up requests per path before measuring")
	flag.IntVar(&o.rate, "rate", 1000, "open-loop rate in requests per second")
	flag.DurationVar(&o.rateFor, "rate-duration", 5*time.Second, "how long each open-loop run lasts")
	flag.IntVar(&o.workers, "concurrency", 32, "workers of the throughput runs")
	flag.DurationVar(&o.workersFor, "concurrency-duration", 5*time.Second, "how long each throughput run lasts")
	flag.DurationVar(&o.idle, "idle", 2*time.Second, "idle time before counting goroutines")
	flag.DurationVar(&o.ttft, "ttft", 0, "the mock's wait before the first token of a stream")
	flag.StringVar(&o.mockBin, "mock-bin", "", "run the mock as its own process from this bench/mockupstream binary (default: in this process)")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench/gateway:", err)
		os.Exit(1)
	}
}

// endpoint is one way to reach the chat completions route, or with no
// body, a GET.
type endpoint struct {
	url    string
	authz  string // "Bearer <key>", or empty
	body   []byte // non-streaming request
	stream []byte // streaming request
}

func newEndpoint(url, key, model string) endpoint {
	msg := []map[string]string{{"role": "user", "content": "Write one sentence about a fox and a dog."}}
	body, _ := json.Marshal(map[string]any{"model": model, "messages": msg})
	stream, _ := json.Marshal(map[string]any{"model": model, "messages": msg, "stream": true})
	return endpoint{url: url, authz: "Bearer " + key, body: body, stream: stream}
}

// results are the numbers of the table.
type results struct {
	seqDirect, seqThrough   []time.Duration
	seqFloor                []time.Duration // through the floor proxy: a bare net/http reverse proxy process
	seqLivez                []time.Duration // GET /livez of crispy: the process hop without gateway work
	cpuPerRequest           time.Duration   // crispy's CPU time per request at fixed concurrency
	loadBefore, loadAfter   string          // the machine's load averages
	ttftDirect, ttftThrough []time.Duration
	rateDirect, rateThrough load
	workDirect, workThrough load
	rssPeak, rssEnd         float64
	goroutBefore, goroutEnd int
}

func run(o options) error {
	var mockURL string
	var conns *connSet // the in-process mock's connections; nil for a mock process
	if o.mockBin != "" {
		stop, url, err := startMock(o)
		if err != nil {
			return fmt.Errorf("mock process: %w", err)
		}
		defer stop()
		mockURL = url
	} else {
		mock := mockupstream.New(mockupstream.Config{APIKey: mockKey, Reply: reply, TTFT: o.ttft})
		ml, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		conns = &connSet{m: map[net.Conn]http.ConnState{}}
		ms := &http.Server{Handler: mock, ReadHeaderTimeout: 10 * time.Second, ConnState: conns.track}
		go func() { _ = ms.Serve(ml) }()
		defer func() { mock.Close(); _ = ms.Close() }()
		mockURL = "http://" + ml.Addr().String()
	}

	dir, err := os.MkdirTemp("", "crispy-bench-gateway-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	key, err := writeTenant(filepath.Join(dir, "tenants"), mockURL+"/v1")
	if err != nil {
		return err
	}

	addr, err := freeaddr.Get()
	if err != nil {
		return err
	}
	metricsAddr, err := freeaddr.Get()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, o.bin, "serve", "--addr", addr, "--metrics-addr", metricsAddr, "--data", filepath.Join(dir, "data"),
		"--tenants", filepath.Join(dir, "tenants"), "--env", "prod", "--log-level", "error")
	cmd.Env = append(os.Environ(), "MOCK_API_KEY="+mockKey)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { _ = cmd.Process.Signal(os.Interrupt); _ = cmd.Wait() }()
	crispyURL, metricsURL := "http://"+addr, "http://"+metricsAddr

	pool := max(o.workers, 64) * 4
	client := &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns:        pool * 2,
			MaxIdleConnsPerHost: pool,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
	if err := waitReady(client, crispyURL, 10*time.Second); err != nil {
		return err
	}
	direct := newEndpoint(mockURL+"/v1/chat/completions", mockKey, mockModel)
	through := newEndpoint(crispyURL+"/v1/chat/completions", key, crispyModel)
	if err := check(client, direct, through); err != nil {
		return err
	}

	var r results
	r.loadBefore = loadAvg()
	livez := endpoint{url: crispyURL + "/livez"}
	stopFloor, floorURL, err := startFloor(mockURL)
	if err != nil {
		return fmt.Errorf("floor proxy: %w", err)
	}
	defer stopFloor()
	floor := newEndpoint(floorURL+"/v1/chat/completions", mockKey, mockModel)
	if err := check(client, floor); err != nil {
		return err
	}
	plain := []probe{{ep: direct}, {ep: through}, {ep: floor}, {ep: livez}}
	streams := []probe{{ep: direct, stream: true}, {ep: through, stream: true}}
	fmt.Fprintln(os.Stderr, "warm-up")
	if _, err := alternate(client, plain, o.warmup); err != nil {
		return err
	}
	if _, err := alternate(client, streams, o.warmup/4); err != nil {
		return err
	}
	if r.goroutBefore, err = quietGoroutines(client, conns, metricsURL, o.idle); err != nil {
		return err
	}

	fmt.Fprintf(os.Stderr, "sequential: %d requests per path\n", o.n)
	seq, err := alternate(client, plain, o.n)
	if err != nil {
		return err
	}
	r.seqDirect, r.seqThrough, r.seqFloor, r.seqLivez = seq[0], seq[1], seq[2], seq[3]

	fmt.Fprintf(os.Stderr, "streaming: %d requests per path\n", o.streams)
	ttft, err := alternate(client, streams, o.streams)
	if err != nil {
		return err
	}
	r.ttftDirect, r.ttftThrough = ttft[0], ttft[1]

	fmt.Fprintf(os.Stderr, "open loop: %d req/s for %s per path\n", o.rate, o.rateFor)
	r.rateDirect = openLoop(client, direct, o.rate, o.rateFor)
	r.rateThrough = openLoop(client, through, o.rate, o.rateFor)

	fmt.Fprintf(os.Stderr, "throughput: %d workers for %s per path\n", o.workers, o.workersFor)
	r.workDirect = closedLoop(client, direct, o.workers, o.workersFor)
	cpu0, err := cpuTime(cmd.Process.Pid)
	if err != nil {
		return err
	}
	r.workThrough = closedLoop(client, through, o.workers, o.workersFor)
	cpu1, err := cpuTime(cmd.Process.Pid)
	if err != nil {
		return err
	}
	if n := len(r.workThrough.lat); n > 0 {
		r.cpuPerRequest = (cpu1 - cpu0) / time.Duration(n)
	}

	if r.goroutEnd, err = quietGoroutines(client, conns, metricsURL, o.idle); err != nil {
		return err
	}
	r.loadAfter = loadAvg()
	if r.rssPeak, err = procStatus(cmd.Process.Pid, "VmHWM:"); err != nil {
		return err
	}
	if r.rssEnd, err = procStatus(cmd.Process.Pid, "VmRSS:"); err != nil {
		return err
	}

	printTable(o, r)
	if n := r.rateDirect.errors + r.rateThrough.errors + r.workDirect.errors + r.workThrough.errors; n > 0 {
		for _, l := range []load{r.rateDirect, r.rateThrough, r.workDirect, r.workThrough} {
			if l.firstErr != nil {
				fmt.Fprintln(os.Stderr, "first error:", l.firstErr)
			}
		}
		return fmt.Errorf("%d requests failed under load", n)
	}
	return nil
}

// writeTenant writes the benchmark's tenant into dir, with a new key, and
// returns the key.
func writeTenant(dir, baseURL string) (string, error) {
	key := tenant.KeyPrefix + "bench_" + randomHex(16)
	cfg := map[string]any{
		"id":   tenantID,
		"name": "Gateway benchmark",
		"keys": []any{map[string]any{"id": "bench", "hash": tenant.HashKey(key), "scopes": []string{"chat"}}},
		"providers": map[string]any{
			"mock": map[string]any{"type": "openai", "baseUrl": baseURL, "apiKeyEnv": "MOCK_API_KEY"},
		},
		"models": map[string]any{"chat": map[string]any{"model": crispyModel}},
		// Every call must reach the mock: a cached answer would measure the cache.
		"cache": map[string]any{"enabled": false},
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return "", err
	}
	folder := filepath.Join(dir, tenantID)
	if err := os.MkdirAll(folder, 0o755); err != nil {
		return "", err
	}
	return key, os.WriteFile(filepath.Join(folder, tenant.FileName), b, 0o644)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func waitReady(client *http.Client, base string, limit time.Duration) error {
	t0 := time.Now()
	for {
		res, err := client.Get(base + "/readyz")
		if err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Since(t0) > limit {
			return fmt.Errorf("crispy not ready after %s", limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// check makes sure that both paths give the whole answer, streamed or not.
func check(client *http.Client, eps ...endpoint) error {
	for _, ep := range eps {
		body, err := post(client, ep, ep.body)
		if err != nil {
			return err
		}
		var got struct {
			Choices []struct {
				Message struct{ Content string }
			}
		}
		if err := json.Unmarshal(body, &got); err != nil || len(got.Choices) != 1 || got.Choices[0].Message.Content != reply {
			return fmt.Errorf("%s: unexpected answer %.300s", ep.url, body)
		}
		if _, _, err := do(client, ep, true); err != nil {
			return err
		}
	}
	return nil
}

func post(client *http.Client, ep endpoint, body []byte) ([]byte, error) {
	req, err := http.NewRequest(http.MethodPost, ep.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", ep.authz)
	req.Header.Set("Content-Type", "application/json")
	res, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: status %d: %.300s", ep.url, res.StatusCode, b)
	}
	return b, nil
}

var dataDone = []byte("data: [DONE]")

// do sends one request and reads the whole answer. It returns the time to
// the first chunk with content (for a stream; else to the last byte) and
// the time to the last byte.
func do(client *http.Client, ep endpoint, stream bool) (first, whole time.Duration, err error) {
	method, body := http.MethodGet, io.Reader(nil)
	switch {
	case stream:
		method, body = http.MethodPost, bytes.NewReader(ep.stream)
	case ep.body != nil:
		method, body = http.MethodPost, bytes.NewReader(ep.body)
	}
	req, err := http.NewRequest(method, ep.url, body)
	if err != nil {
		return 0, 0, err
	}
	if ep.authz != "" {
		req.Header.Set("Authorization", ep.authz)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	t0 := time.Now()
	res, err := client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		return 0, 0, fmt.Errorf("%s: status %d: %.300s", ep.url, res.StatusCode, b)
	}
	if !stream {
		if _, err := io.Copy(io.Discard, res.Body); err != nil {
			return 0, 0, err
		}
		d := time.Since(t0)
		return d, d, nil
	}
	br := bufio.NewReader(res.Body)
	var ttft time.Duration
	for ttft == 0 {
		line, err := br.ReadBytes('\n')
		if err != nil {
			return 0, 0, fmt.Errorf("%s: stream ended before any content: %w", ep.url, err)
		}
		data, ok := bytes.CutPrefix(bytes.TrimSpace(line), []byte("data: "))
		if !ok || bytes.Equal(data, []byte("[DONE]")) {
			continue
		}
		var chunk struct {
			Choices []struct {
				Delta struct{ Content string }
			}
		}
		if err := json.Unmarshal(data, &chunk); err != nil {
			return 0, 0, fmt.Errorf("%s: bad chunk %.200s: %w", ep.url, data, err)
		}
		if len(chunk.Choices) > 0 && chunk.Choices[0].Delta.Content != "" {
			ttft = time.Since(t0)
		}
	}
	rest, err := io.ReadAll(br)
	if err != nil {
		return 0, 0, err
	}
	whole = time.Since(t0)
	if !bytes.Contains(rest, dataDone) {
		return 0, 0, fmt.Errorf("%s: stream without [DONE]: %.300s", ep.url, rest)
	}
	return ttft, whole, nil
}

// probe is one kind of request of a sequential run.
type probe struct {
	ep     endpoint
	stream bool // send the streaming request, and time its first content
}

// alternate sends n requests of each probe, one at a time, rotating which
// goes first, and returns the latencies per probe.
func alternate(client *http.Client, probes []probe, n int) ([][]time.Duration, error) {
	lat := make([][]time.Duration, len(probes))
	for i := range n {
		for j := range probes {
			k := (i + j) % len(probes)
			p := probes[k]
			first, _, err := do(client, p.ep, p.stream)
			if err != nil {
				return lat, err
			}
			lat[k] = append(lat[k], first)
		}
	}
	return lat, nil
}

// load is the outcome of a run under load.
type load struct {
	sent, errors int
	rps          float64
	lat          []time.Duration
	firstErr     error
}

// openLoop sends rate requests per second for d, each on its own goroutine
// at its scheduled time whether or not earlier ones have answered.
func openLoop(client *http.Client, ep endpoint, rate int, d time.Duration) load {
	n := int(float64(rate) * d.Seconds())
	interval := time.Second / time.Duration(rate)
	lat := make([]time.Duration, n)
	var (
		wg       sync.WaitGroup
		errs     atomic.Int64
		firstErr error
		once     sync.Once
	)
	start := time.Now()
	for i := range n {
		if w := time.Until(start.Add(time.Duration(i) * interval)); w > 0 {
			time.Sleep(w)
		}
		wg.Go(func() {
			_, l, err := do(client, ep, false)
			if err != nil {
				errs.Add(1)
				once.Do(func() { firstErr = err })
				l = -1
			}
			lat[i] = l
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	lat = slices.DeleteFunc(lat, func(l time.Duration) bool { return l < 0 })
	return load{sent: n, errors: int(errs.Load()), rps: float64(len(lat)) / elapsed.Seconds(), lat: lat, firstErr: firstErr}
}

// closedLoop runs workers that each send one request after another for d.
func closedLoop(client *http.Client, ep endpoint, workers int, d time.Duration) load {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		out      load
		deadline = time.Now().Add(d)
	)
	start := time.Now()
	for range workers {
		wg.Go(func() {
			var lat []time.Duration
			var errs int
			var first error
			for time.Now().Before(deadline) {
				_, l, err := do(client, ep, false)
				if err != nil {
					errs++
					if first == nil {
						first = err
					}
					continue
				}
				lat = append(lat, l)
			}
			mu.Lock()
			out.lat = append(out.lat, lat...)
			out.sent += len(lat) + errs
			out.errors += errs
			if out.firstErr == nil {
				out.firstErr = first
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	out.rps = float64(len(out.lat)) / time.Since(start).Seconds()
	return out
}

// connSet tracks the mock's connections, so that the idle ones can be
// closed: http.Server's own closing of idle connections spares the ones
// that have not carried a request yet (which crispy's transport dials ahead
// under load) for 5 s.
type connSet struct {
	mu sync.Mutex
	m  map[net.Conn]http.ConnState
}

func (cs *connSet) track(c net.Conn, s http.ConnState) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if s == http.StateClosed || s == http.StateHijacked {
		delete(cs.m, c)
		return
	}
	cs.m[c] = s
}

// closeIdle closes every connection that is not answering a request.
func (cs *connSet) closeIdle() {
	if cs == nil {
		return // a mock process closes its idle connections itself
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for c, s := range cs.m {
		if s != http.StateActive {
			_ = c.Close()
		}
	}
}

// quietGoroutines closes the idle connections on both sides of crispy (the
// benchmark's client and the mock's server), waits for idle, and reads
// crispy's go_goroutines, so that counts taken at different times compare
// the same state: no connection open but the one that reads the metrics.
// It takes the least of three readings, half a second apart, so that a
// background goroutine that comes and goes does not count.
func quietGoroutines(client *http.Client, mock *connSet, base string, idle time.Duration) (int, error) {
	client.CloseIdleConnections()
	mock.closeIdle()
	time.Sleep(idle)
	least := math.MaxInt
	for i := range 3 {
		if i > 0 {
			time.Sleep(500 * time.Millisecond)
		}
		n, err := goroutines(client, base)
		if err != nil {
			return 0, err
		}
		least = min(least, n)
	}
	return least, nil
}

// goroutines reads go_goroutines from crispy's metrics, base being its
// operator listener.
func goroutines(client *http.Client, base string) (int, error) {
	res, err := client.Get(base + "/metrics")
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return int(f), err
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("no go_goroutines in /metrics")
}

// procStatus returns a kB field of /proc/<pid>/status in MiB.
func procStatus(pid int, field string) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, field); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// cpuTime returns the user and system CPU time pid has used, from
// /proc/<pid>/stat, in clock ticks of 10 ms (USER_HZ on Linux).
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: count fields after it.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("cannot parse /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("cannot parse /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14 of stat
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

// loadAvg returns the 1, 5 and 15 minute load averages, or "?".
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "?"
}

// pct returns the p-th percentile (0..1) of v by nearest rank; it sorts v.
func pct(v []time.Duration, p float64) time.Duration {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	i := int(math.Ceil(p*float64(len(v)))) - 1
	return v[max(i, 0)]
}

func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond)) }

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

// startMock runs the mock upstream as its own process, with the reply and
// key of the in-process one, and returns how to stop it and its base URL
// (without /v1), which it prints on its first line.
func startMock(o options) (stop func(), url string, err error) {
	return startProcess(exec.Command(o.mockBin, "-addr", "127.0.0.1:0", "-api-key", mockKey, "-reply", reply, "-ttft", o.ttft.String()))
}

func printTable(o options, r results) {
	where := "in the benchmark's process"
	if o.mockBin != "" {
		where = "in its own process"
	}
	fmt.Printf("crispy gateway overhead: %s/%s, %d CPUs, %s; load average %s before, %s after; mock %s, reply 20 tokens, TTFT %s\n\n",
		runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version(), r.loadBefore, r.loadAfter, where, o.ttft)
	fmt.Println("| measure | direct | through crispy | added | target | |")
	fmt.Println("| --- | ---: | ---: | ---: | --- | --- |")
	lat := func(name string, d, t []time.Duration, p float64, target time.Duration) {
		dp, tp := pct(d, p), pct(t, p)
		tgt, v := "", ""
		if target > 0 {
			tgt, v = "≤ "+us(target), verdict(tp-dp <= target)
		}
		fmt.Printf("| %s | %s | %s | %s | %s | %s |\n", name, us(dp), us(tp), us(tp-dp), tgt, v)
	}
	seq := fmt.Sprintf("sequential, %d requests:", o.n)
	lat(seq+" p50", r.seqDirect, r.seqThrough, 0.50, 100*time.Microsecond)
	lat(seq+" p90", r.seqDirect, r.seqThrough, 0.90, 0)
	lat(seq+" p99", r.seqDirect, r.seqThrough, 0.99, time.Millisecond)
	ref := "sequential, through the floor proxy (a bare net/http reverse proxy process) instead of crispy:"
	lat(ref+" p50", r.seqDirect, r.seqFloor, 0.50, 0)
	lat(ref+" p99", r.seqDirect, r.seqFloor, 0.99, 0)
	own := "sequential, crispy's own share (the floor proxy in the direct column):"
	lat(own+" p50", r.seqFloor, r.seqThrough, 0.50, 0)
	lat(own+" p99", r.seqFloor, r.seqThrough, 0.99, 0)
	hop := "sequential, direct chat vs crispy GET /livez (the process hop alone):"
	lat(hop+" p50", r.seqDirect, r.seqLivez, 0.50, 0)
	lat(hop+" p99", r.seqDirect, r.seqLivez, 0.99, 0)
	st := fmt.Sprintf("stream TTFT, %d requests:", o.streams)
	lat(st+" p50", r.ttftDirect, r.ttftThrough, 0.50, 0)
	lat(st+" p99", r.ttftDirect, r.ttftThrough, 0.99, 0)

	ol := fmt.Sprintf("%d req/s open loop, %s:", o.rate, o.rateFor)
	fmt.Printf("| %s achieved req/s | %.0f | %.0f | | | |\n", ol, r.rateDirect.rps, r.rateThrough.rps)
	lat(ol+" p50", r.rateDirect.lat, r.rateThrough.lat, 0.50, 0)
	lat(ol+" p99", r.rateDirect.lat, r.rateThrough.lat, 0.99, 2*time.Millisecond)
	fmt.Printf("| %s errors | %d / %d | %d / %d | | 0 | %s |\n", ol, r.rateDirect.errors, r.rateDirect.sent,
		r.rateThrough.errors, r.rateThrough.sent, verdict(r.rateDirect.errors+r.rateThrough.errors == 0))

	cl := fmt.Sprintf("%d workers, %s:", o.workers, o.workersFor)
	fmt.Printf("| %s req/s | %.0f | %.0f | %.0f %% | | |\n", cl, r.workDirect.rps, r.workThrough.rps,
		100*(r.workThrough.rps-r.workDirect.rps)/r.workDirect.rps)
	lat(cl+" p50", r.workDirect.lat, r.workThrough.lat, 0.50, 0)
	lat(cl+" p99", r.workDirect.lat, r.workThrough.lat, 0.99, 0)
	fmt.Printf("| %s crispy CPU per request | | %s | | | |\n", cl, us(r.cpuPerRequest))
	fmt.Printf("| %s errors | %d / %d | %d / %d | | 0 | %s |\n", cl, r.workDirect.errors, r.workDirect.sent,
		r.workThrough.errors, r.workThrough.sent, verdict(r.workDirect.errors+r.workThrough.errors == 0))

	fmt.Printf("| crispy peak RSS (VmHWM) | | %.1f MiB | | | |\n", r.rssPeak)
	fmt.Printf("| crispy RSS at the end | | %.1f MiB | | | |\n", r.rssEnd)
	grow := r.goroutEnd - r.goroutBefore
	fmt.Printf("| crispy goroutines, idle before / after the load | | %d / %d | %+d | no growth | %s |\n",
		r.goroutBefore, r.goroutEnd, grow, verdict(grow <= 0))
}
