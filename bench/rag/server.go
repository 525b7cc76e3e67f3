package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/bench/internal/backends"
	"github.com/crispy-enigma/crispy/bench/internal/freeaddr"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// benchTenant is the benchmark's tenant: the knowledge base on, the builtin
// embedder, the default chunk sizes (256 tokens, 32 of overlap), topK up
// to 20, knowledge quotas far above what it ingests, and no rate limits,
// budgets or cache (-limits may add limits).
const benchTenant = "bench-rag"

// tenantConfig returns the tenant's config with key's hash, its cache on or
// off, and extra's limits merged into its own.
func tenantConfig(key string, cache bool, extra backends.Flags) ([]byte, error) {
	limits, err := extra.MergeLimits(map[string]any{"knowledge": map[string]any{
		"maxDocuments": 10_000_000, "maxChunks": 10_000_000, "maxStoredBytes": 1 << 40, "maxJobs": 64,
	}})
	if err != nil {
		return nil, err
	}
	return json.MarshalIndent(map[string]any{
		"id": benchTenant, "name": "Knowledge base benchmark",
		"keys": []any{map[string]any{
			"id": "bench", "hash": tenant.HashKey(key),
			"scopes": []string{"search", "documents:read", "documents:write"},
		}},
		"models": map[string]any{
			"chat":      map[string]any{"model": "builtin/extractive"},
			"embedding": map[string]any{"model": "builtin/hash-384"},
		},
		"rag":    map[string]any{"enabled": true, "topK": 8, "maxTopK": 20},
		"cache":  map[string]any{"enabled": cache, "searchTtl": "24h"},
		"limits": limits,
	}, "", "  ")
}

// writeTenant writes the tenant, its cache off, into a tenants folder dir
// and returns its API key.
func writeTenant(dir string, extra backends.Flags) (string, error) {
	key := tenant.NewKey()
	return key, putTenant(dir, key, false, extra)
}

func putTenant(dir, key string, cache bool, extra backends.Flags) error {
	b, err := tenantConfig(key, cache, extra)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, benchTenant), 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, benchTenant, tenant.FileName), b, 0o644)
}

// setCache turns the tenant's cache on or off: it rewrites the tenant file
// and has the server reload it (SIGHUP), waiting until the reload counter
// of /metrics moves.
func (c *crispy) setCache(cl *client, dir, key string, extra backends.Flags, on bool) error {
	count := func() float64 {
		m, err := cl.scrape()
		if err != nil {
			return -1
		}
		if v := gauge(m, `crispy_config_reloads_total{result="ok"}`); !math.IsNaN(v) {
			return v
		}
		return 0 // no reload yet
	}
	before := count()
	if err := putTenant(dir, key, on, extra); err != nil {
		return err
	}
	if err := c.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		return err
	}
	for range 500 {
		if count() > before {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return errors.New("the server did not reload its tenants within 5 s of SIGHUP")
}

// crispy is a running `crispy serve`.
type crispy struct {
	cmd     *exec.Cmd
	base    string        // http://127.0.0.1:PORT
	metrics string        // the operator listener: http://127.0.0.1:PORT
	ready   time.Duration // from exec to the first 200 of GET /readyz
	log     *syncBuffer   // its standard error (JSON logs)
	done    chan struct{}
	err     error // the process's exit, once done is closed
}

// startCrispy runs `crispy serve` on the data folder data at logLevel, with
// the extra arguments args, and waits until GET /readyz answers 200. The server loads every tenant's
// knowledge base before it listens, so ready includes that load.
func startCrispy(bin, data, tenants, logLevel string, args []string) (*crispy, error) {
	addr, err := freeaddr.Get()
	if err != nil {
		return nil, err
	}
	metricsAddr, err := freeaddr.Get()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, append([]string{"serve", "--addr", addr, "--metrics-addr", metricsAddr, "--data", data, "--tenants", tenants, "--env", "dev", "--log-level", logLevel}, args...)...)
	c := &crispy{cmd: cmd, base: "http://" + addr, metrics: "http://" + metricsAddr, log: &syncBuffer{}, done: make(chan struct{})}
	// At level info the logs are only kept (for loadMS); above it, problems
	// are shown as well.
	cmd.Stdout, cmd.Stderr = os.Stderr, io.MultiWriter(c.log, os.Stderr)
	if logLevel == "info" || logLevel == "debug" {
		cmd.Stderr = c.log
	}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() { c.err = cmd.Wait(); close(c.done) }()

	client := &http.Client{Timeout: time.Second}
	deadline := t0.Add(5 * time.Minute)
	for {
		res, err := client.Get(c.base + "/readyz")
		if err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				c.ready = time.Since(t0)
				return c, nil
			}
		}
		select {
		case <-c.done:
			return nil, fmt.Errorf("crispy exited before it was ready: %v", c.err)
		case <-time.After(time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = c.stop()
			return nil, errors.New("crispy not ready after 5 minutes")
		}
	}
}

func (c *crispy) pid() int { return c.cmd.Process.Pid }

// stop asks the server to drain and exit (SIGINT), killing it after 30 s.
func (c *crispy) stop() error {
	_ = c.cmd.Process.Signal(os.Interrupt)
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
		return errors.New("crispy did not exit within 30s of SIGINT; killed")
	}
	return c.err
}

// loadMS returns the knowledge base load time the server logged ("knowledge
// base loaded", at level info), or -1.
func (c *crispy) loadMS() float64 {
	sc := bufio.NewScanner(bytes.NewReader(c.log.Bytes()))
	for sc.Scan() {
		var rec struct {
			Msg string  `json:"msg"`
			MS  float64 `json:"ms"`
		}
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "knowledge base loaded" {
			return rec.MS
		}
	}
	return -1
}

// procStatus returns the fields of /proc/PID/status that are in kB, in MiB:
// VmRSS (resident now) and VmHWM (peak resident).
func procStatus(pid int) (map[string]float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for line := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(line, ":")
		v = strings.TrimSpace(v)
		if !ok || !strings.HasSuffix(v, " kB") {
			continue
		}
		if kb, err := strconv.ParseFloat(strings.TrimSuffix(v, " kB"), 64); err == nil {
			out[k] = kb / 1024
		}
	}
	if _, ok := out["VmRSS"]; !ok {
		return nil, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
	}
	return out, nil
}

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// Bytes returns a copy of what was written.
func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

// client talks to a server as the benchmark's tenant.
type client struct {
	base    string
	metrics string // the server's operator listener
	key     string
	http    *http.Client
}

func newClient(srv *crispy, key string, conns int) *client {
	t := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		MaxIdleConns:        conns + 4,
		MaxIdleConnsPerHost: conns + 4,
		IdleConnTimeout:     5 * time.Minute,
		DisableCompression:  true,
	}
	return &client{base: srv.base, metrics: srv.metrics, key: key, http: &http.Client{Transport: t, Timeout: 5 * time.Minute}}
}

// do sends a request and decodes the envelope's data into out; an envelope
// with an error, or a status other than want, is an error.
func (c *client) do(method, path, contentType string, body []byte, want int, out any) error {
	_, err := c.send(method, path, contentType, body, []int{want}, out)
	return err
}

// send sends a request and decodes the envelope's data into out; an
// envelope with an error, or a status not in want, is an error. It returns
// the status.
func (c *client) send(method, path, contentType string, body []byte, want []int, out any) (int, error) {
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	var env api.Envelope
	if err := json.NewDecoder(res.Body).Decode(&env); err != nil {
		return res.StatusCode, fmt.Errorf("%s %s: %d, undecodable body: %w", method, path, res.StatusCode, err)
	}
	if !slices.Contains(want, res.StatusCode) || !env.OK {
		msg := ""
		if env.Error != nil {
			msg = env.Error.Message
		}
		return res.StatusCode, fmt.Errorf("%s %s: %d, want %v: %s", method, path, res.StatusCode, want, msg)
	}
	if out == nil {
		return res.StatusCode, nil
	}
	return res.StatusCode, json.Unmarshal(env.Data, out)
}

// scrape returns the server's GET /metrics, from its operator listener.
func (c *client) scrape() (string, error) {
	res, err := c.http.Get(c.metrics + "/metrics")
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return "", err
	}
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET /metrics: %d", res.StatusCode)
	}
	return string(b), nil
}
