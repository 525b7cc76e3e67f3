package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/crispy-enigma/crispy/bench/internal/backends"
	"github.com/crispy-enigma/crispy/bench/internal/freeaddr"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// The benchmark's tenants: one answered by the builtin model, one by the
// slow mock upstream. Neither has rate limits, stream caps or budgets,
// unless -limits adds them.
const (
	fastTenant = "bench-fast"
	slowTenant = "bench-slow"
	mockKey    = "mock-key"
	slowModel  = "mock/slow"
)

// keys are the API keys of the benchmark's tenants.
type keys struct{ fast, slow string }

// writeTenants writes the two tenants into dir, with extra's limits, and
// returns their keys.
func writeTenants(dir, mockURL string, extra backends.Flags) (keys, error) {
	k := keys{fast: tenant.NewKey(), slow: tenant.NewKey()}
	key := func(id, k string) []any {
		return []any{map[string]any{"id": id, "hash": tenant.HashKey(k), "scopes": []string{"chat"}}}
	}
	cfgs := map[string]map[string]any{
		fastTenant: {
			"id": fastTenant, "name": "Chat benchmark, builtin model",
			"keys":   key("bench", k.fast),
			"models": map[string]any{"chat": map[string]any{"model": "builtin/extractive"}},
		},
		slowTenant: {
			"id": slowTenant, "name": "Chat benchmark, slow mock model",
			"keys": key("bench", k.slow),
			"providers": map[string]any{
				"mock": map[string]any{"type": "openai", "baseUrl": mockURL, "apiKeyEnv": "MOCK_API_KEY"},
			},
			"models": map[string]any{"chat": map[string]any{"model": slowModel}},
		},
	}
	for id, cfg := range cfgs {
		limits, err := extra.MergeLimits(nil)
		if err != nil {
			return keys{}, err
		}
		if len(limits) > 0 {
			cfg["limits"] = limits
		}
		b, err := json.MarshalIndent(cfg, "", "  ")
		if err != nil {
			return keys{}, err
		}
		if err := os.MkdirAll(filepath.Join(dir, id), 0o755); err != nil {
			return keys{}, err
		}
		if err := os.WriteFile(filepath.Join(dir, id, tenant.FileName), b, 0o644); err != nil {
			return keys{}, err
		}
	}
	return k, nil
}

// crispy is a running `crispy serve`.
type crispy struct {
	cmd     *exec.Cmd
	base    string // http://127.0.0.1:PORT
	metrics string // the operator listener: http://127.0.0.1:PORT
	data    string // its data folder
	done    chan struct{}
	err     error // the process's exit, once done is closed

	stopOnce sync.Once
	stopErr  error
}

// startCrispy runs `crispy serve` on a fresh data folder under work, with
// the extra arguments args, and waits until /readyz answers 200.
func startCrispy(bin, work, tenants string, args []string) (*crispy, error) {
	addr, err := freeaddr.Get()
	if err != nil {
		return nil, err
	}
	metricsAddr, err := freeaddr.Get()
	if err != nil {
		return nil, err
	}
	data, err := os.MkdirTemp(work, "data-")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, append([]string{"serve", "--addr", addr, "--metrics-addr", metricsAddr, "--data", data, "--tenants", tenants, "--env", "dev", "--log-level", "error"}, args...)...)
	cmd.Env = append(os.Environ(), "MOCK_API_KEY="+mockKey)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &crispy{cmd: cmd, base: "http://" + addr, metrics: "http://" + metricsAddr, data: data, done: make(chan struct{})}
	go func() { c.err = cmd.Wait(); close(c.done) }()

	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(15 * time.Second)
	for {
		res, err := client.Get(c.base + "/readyz")
		if err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return c, nil
			}
		}
		select {
		case <-c.done:
			return nil, fmt.Errorf("crispy exited before it was ready: %v", c.err)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.stop()
			return nil, errors.New("crispy not ready after 15s")
		}
	}
}

// pid is the process ID of the server.
func (c *crispy) pid() int { return c.cmd.Process.Pid }

// stop asks the server to drain and exit (SIGINT), killing it after 30 s.
// The server flushes its usage ledger on the way out. It is safe to call
// more than once.
func (c *crispy) stop() error {
	c.stopOnce.Do(func() { c.stopErr = c.interrupt() })
	return c.stopErr
}

func (c *crispy) interrupt() error {
	_ = c.cmd.Process.Signal(os.Interrupt)
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
		return errors.New("crispy did not exit within 30s of SIGINT; killed")
	}
	var ee *exec.ExitError
	if errors.As(c.err, &ee) {
		return fmt.Errorf("crispy exited: %v", c.err)
	}
	return c.err
}

// rssMiB returns the resident set size of pid in MiB.
func rssMiB(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// raiseNoFile lifts the soft limit on open files to at least want (within
// the hard limit), for this process and the processes it starts. It
// returns the soft limit in force.
func raiseNoFile(want uint64) (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur >= want {
		return lim.Cur, nil
	}
	lim.Cur = min(want, lim.Max)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	return lim.Cur, nil
}

// newClient returns a keep-alive client that never caps connections to the
// server, so that n streams get n connections at once.
func newClient(n int) *http.Client {
	t := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		MaxConnsPerHost:     0,
		MaxIdleConns:        n + 16,
		MaxIdleConnsPerHost: n + 16,
		IdleConnTimeout:     5 * time.Minute,
		DisableCompression:  true,
	}
	return &http.Client{Transport: t}
}
