package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/crispy-enigma/crispy/bench/internal/freeaddr"
	"github.com/crispy-enigma/crispy/internal/mockupstream"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// The mock upstream's key and model, and the gateway tenant.
const (
	mockKey     = "mock-key"
	mockModel   = "bench-model"
	crispyModel = "mock/" + mockModel
	gwTenant    = "bench-gateway"
	// reply is the mock's answer: 20 tokens.
	reply = "The quick brown fox jumps over the lazy dog while the cat sleeps on a warm mat by the door."
)

// bigRate is a rate limit no run of this program reaches: admission runs,
// and admits.
var bigRate = map[string]any{"requests": 10_000_000, "per": "1s", "burst": 10_000_000}

// raisedLimits are the limits of every benchmark tenant: rate limits on the
// tenant, the key and the IP, and a stream cap, all far above the load (so
// that every request goes through the limiter, and is admitted), and an
// in-flight share that no run reaches.
func raisedLimits() map[string]any {
	return map[string]any{
		"maxInFlight": 100_000,
		"rate": map[string]any{
			"tenant": bigRate, "key": bigRate, "ip": bigRate,
			"concurrentStreams": 100_000,
		},
	}
}

// raisedLimitsJSON is raisedLimits for the -limits flag of bench/chat and
// bench/rag.
func raisedLimitsJSON() string {
	b, _ := json.Marshal(raisedLimits())
	return string(b)
}

// writeGatewayTenant writes the gateway tenant into dir and returns its key.
func writeGatewayTenant(dir, mockURL string) (string, error) {
	key := tenant.NewKey()
	cfg := map[string]any{
		"id": gwTenant, "name": "Scale-out gateway benchmark",
		"keys": []any{map[string]any{"id": "bench", "hash": tenant.HashKey(key), "scopes": []string{"chat"}}},
		"providers": map[string]any{
			"mock": map[string]any{"type": "openai", "baseUrl": mockURL, "apiKeyEnv": "MOCK_API_KEY"},
		},
		"models": map[string]any{"chat": map[string]any{"model": crispyModel}},
		// Every call must reach the mock: a cached answer would measure the cache.
		"cache":  map[string]any{"enabled": false},
		"limits": raisedLimits(),
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Join(dir, gwTenant), 0o755); err != nil {
		return "", err
	}
	return key, os.WriteFile(filepath.Join(dir, gwTenant, tenant.FileName), b, 0o644)
}

// server is a running `crispy serve`.
type server struct {
	cmd     *exec.Cmd
	base    string
	metrics string
	done    chan struct{}
	err     error
}

// startServer runs bin serve on a data folder of its own under work with
// the extra arguments args, and waits until GET /readyz answers 200.
func startServer(ctx context.Context, bin, work, tenants string, args []string) (*server, error) {
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
	cmd := exec.Command(bin, append([]string{"serve", "--addr", addr, "--metrics-addr", maddr, "--data", data,
		"--tenants", tenants, "--env", "prod", "--log-level", "error"}, args...)...)
	cmd.Env = childEnv("MOCK_API_KEY=" + mockKey)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, base: "http://" + addr, metrics: "http://" + maddr, done: make(chan struct{})}
	go func() { s.err = cmd.Wait(); close(s.done) }()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, err := client.Get(s.base + "/readyz")
		if err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("crispy exited before it was ready: %v", s.err)
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, errors.New("crispy not ready after 60 s")
		}
	}
}

// stop asks the server to drain and exit, and kills it after 30 s.
func (s *server) stop() {
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// counter returns the sum of a counter's series (every label set) in the
// server's GET /metrics; 0 when it has none.
func (s *server) counter(client *http.Client, name string) (float64, error) {
	res, err := client.Get(s.metrics + "/metrics")
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	return sumCounter(res.Body, name)
}

// sumCounter sums the samples of name, with or without labels, in a
// Prometheus text exposition.
func sumCounter(r io.Reader, name string) (float64, error) {
	sum := 0.0
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (rest == "" || (rest[0] != ' ' && rest[0] != '{')) {
			continue
		}
		if i := strings.LastIndexByte(rest, '}'); i >= 0 {
			rest = rest[i+1:]
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return 0, fmt.Errorf("metrics: %q: %w", line, err)
		}
		sum += v
	}
	return sum, sc.Err()
}

// path is one way to reach the chat completions route.
type path struct {
	name  string // "direct" or the mode
	url   string
	authz string
	body  []byte
}

func newPath(name, url, key, model string) path {
	body, _ := json.Marshal(map[string]any{
		"model":    model,
		"messages": []map[string]string{{"role": "user", "content": "Write one sentence about a fox and a dog."}},
	})
	return path{name: name, url: url + "/v1/chat/completions", authz: "Bearer " + key, body: body}
}

// call sends one non-streaming request, reads the whole answer and returns
// the time from sending to its last byte. With check, it also makes sure
// of the answer and, through crispy, that the limiter ran.
func call(client *http.Client, p path, check bool) (time.Duration, error) {
	req, err := http.NewRequest(http.MethodPost, p.url, bytes.NewReader(p.body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", p.authz)
	req.Header.Set("Content-Type", "application/json")
	t0 := time.Now()
	res, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", p.name, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	d := time.Since(t0)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", p.name, err)
	}
	if res.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s: status %d: %.300s", p.name, res.StatusCode, b)
	}
	if check {
		var got struct {
			Choices []struct{ Message struct{ Content string } }
		}
		if err := json.Unmarshal(b, &got); err != nil || len(got.Choices) != 1 || got.Choices[0].Message.Content != reply {
			return 0, fmt.Errorf("%s: unexpected answer %.300s", p.name, b)
		}
		if p.name != "direct" && res.Header.Get("RateLimit-Policy") == "" {
			return 0, fmt.Errorf("%s: no RateLimit-Policy header: the tenant's rate limits did not run", p.name)
		}
	}
	return d, nil
}

// rotate sends n requests on each path, one at a time, rotating which goes
// first, and returns the latencies by path.
func rotate(ctx context.Context, client *http.Client, paths []path, n int) ([][]time.Duration, error) {
	lat := make([][]time.Duration, len(paths))
	for i := range n {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		for j := range paths {
			k := (i + j) % len(paths)
			d, err := call(client, paths[k], false)
			if err != nil {
				return nil, err
			}
			lat[k] = append(lat[k], d)
		}
	}
	return lat, nil
}

// gatewayResult is what the gateway measure found.
type gatewayResult struct {
	n          int
	direct     []time.Duration
	through    map[mode][]time.Duration
	redisKeys  map[mode]int // rate-limit keys under the mode's prefix after its first request
	load       [2]string
	limitErrs  map[mode]float64 // crispy_rate_limit_errors_total + crispy_redis_errors_total
	modesOrder []mode
}

// runGateway serves the gateway tenant from one server per mode, all at
// once, and measures the direct path and each server in rotation.
func runGateway(ctx context.Context, o options, bin, work string, set *backendSet) (*gatewayResult, error) {
	r := &gatewayResult{n: o.n, through: map[mode][]time.Duration{}, redisKeys: map[mode]int{}, limitErrs: map[mode]float64{}}
	mock, hs := mockupstream.NewHTTPTest(mockupstream.Config{APIKey: mockKey, Reply: reply})
	defer func() { mock.Close(); hs.Close() }()
	dir, err := os.MkdirTemp(work, "gateway-")
	if err != nil {
		return nil, err
	}
	tenants := filepath.Join(dir, "tenants")
	key, err := writeGatewayTenant(tenants, hs.URL+"/v1")
	if err != nil {
		return nil, err
	}

	paths := []path{newPath("direct", hs.URL, mockKey, mockModel)}
	servers := map[mode]*server{}
	defer func() {
		for _, s := range servers {
			s.stop()
		}
	}()
	for _, m := range o.gatewayModes {
		s, err := startServer(ctx, bin, dir, tenants, set.envs[m].serveArgs())
		if err != nil {
			return nil, fmt.Errorf("gateway: %s: %w", m, err)
		}
		servers[m] = s
		paths = append(paths, newPath(string(m), s.base, key, crispyModel))
		r.modesOrder = append(r.modesOrder, m)
	}

	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: 64, MaxIdleConnsPerHost: 16, IdleConnTimeout: 90 * time.Second, DisableCompression: true,
	}}
	defer client.CloseIdleConnections()
	for i, p := range paths {
		if _, err := call(client, p, true); err != nil {
			return nil, fmt.Errorf("gateway: check: %w", err)
		}
		if i == 0 {
			continue
		}
		// A bucket's key lives until the bucket is full again, plus 1 s:
		// look for it right after the request.
		if e := set.envs[r.modesOrder[i-1]]; e.prefix != "" {
			n, err := set.redisKeys(ctx, e.prefix, "*rl:*")
			if err != nil {
				return nil, err
			}
			r.redisKeys[e.mode] = n
			if n == 0 {
				return nil, fmt.Errorf("gateway: %s: no rate-limit key under %s after a request: admission did not run in Redis", e.mode, e.prefix)
			}
		}
	}
	logf("gateway: warm-up, %d requests per path", o.warmup)
	if _, err := rotate(ctx, client, paths, o.warmup); err != nil {
		return nil, fmt.Errorf("gateway: warm-up: %w", err)
	}
	r.load[0] = loadAvg()
	logf("gateway: %d requests per path, %d paths in rotation", o.n, len(paths))
	lat, err := rotate(ctx, client, paths, o.n)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	r.load[1] = loadAvg()
	r.direct = lat[0]
	for i, m := range r.modesOrder {
		r.through[m] = lat[i+1]
	}

	// Admission fails open: a limiter error would have admitted requests
	// without Redis, so the run would not have measured it.
	for _, m := range r.modesOrder {
		var sum float64
		for _, name := range []string{"crispy_rate_limit_errors_total", "crispy_redis_errors_total"} {
			v, err := servers[m].counter(client, name)
			if err != nil {
				return nil, fmt.Errorf("gateway: %s: %w", m, err)
			}
			sum += v
		}
		r.limitErrs[m] = sum
		if sum > 0 {
			return r, fmt.Errorf("gateway: %s counted %v limiter or Redis errors: admission did not always run", m, sum)
		}
	}
	return r, nil
}
