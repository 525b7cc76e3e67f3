// Command startup measures how fast `crispy serve` starts and how much memory
// it holds when idle. It runs the binary several times on a fresh data folder
// and prints a table:
//
//	go build -o /tmp/crispy ./cmd/crispy && go run ./bench/startup -bin /tmp/crispy
//
// Start time is from exec to the first 200 from GET /readyz (so it includes
// process start, config validation, opening SQLite and migrating it). Idle RSS
// is read from /proc/<pid>/status after the server has answered a warm-up of
// requests and then sat idle.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crispy-enigma/crispy/bench/internal/freeaddr"
)

func main() {
	bin := flag.String("bin", "./crispy", "crispy binary to measure")
	tenants := flag.String("tenants", "./tenants", "tenants folder")
	runs := flag.Int("runs", 10, "number of starts")
	warm := flag.Int("warmup", 200, "GET /health requests before reading idle RSS")
	idle := flag.Duration("idle", 2*time.Second, "idle time before reading RSS")
	flag.Parse()

	var starts, rssStart, rssIdle []float64
	for i := range *runs {
		s, r0, r1, err := once(*bin, *tenants, *warm, *idle)
		if err != nil {
			fmt.Fprintf(os.Stderr, "run %d: %v\n", i, err)
			os.Exit(1)
		}
		starts, rssStart, rssIdle = append(starts, s), append(rssStart, r0), append(rssIdle, r1)
	}
	fmt.Printf("crispy serve, %d runs (%s)\n\n", *runs, *bin)
	fmt.Printf("| %-34s | %8s | %8s | %8s |\n", "measure", "min", "median", "max")
	fmt.Printf("|%s|%s|%s|%s|\n", strings.Repeat("-", 36), strings.Repeat("-", 10), strings.Repeat("-", 10), strings.Repeat("-", 10))
	row("start to ready (ms)", starts)
	row("RSS when ready (MiB)", rssStart)
	row(fmt.Sprintf("RSS idle after %d requests (MiB)", *warm), rssIdle)
}

func row(name string, v []float64) {
	slices.Sort(v)
	fmt.Printf("| %-34s | %8.1f | %8.1f | %8.1f |\n", name, v[0], v[len(v)/2], v[len(v)-1])
}

func once(bin, tenants string, warm int, idle time.Duration) (startMS, rssReady, rssIdle float64, err error) {
	addr, err := freeaddr.Get()
	if err != nil {
		return 0, 0, 0, err
	}
	data, err := os.MkdirTemp("", "crispy-bench-")
	if err != nil {
		return 0, 0, 0, err
	}
	defer os.RemoveAll(data)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "serve", "--addr", addr, "--metrics-addr", "127.0.0.1:0", "--data", filepath.Join(data, "d"), "--tenants", tenants, "--log-level", "error")
	cmd.Stderr = os.Stderr
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, 0, err
	}
	defer func() { _ = cmd.Process.Signal(os.Interrupt); _ = cmd.Wait() }()

	client := &http.Client{Timeout: time.Second}
	for {
		res, err := client.Get("http://" + addr + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		if time.Since(t0) > 10*time.Second {
			return 0, 0, 0, fmt.Errorf("not ready after 10s")
		}
		time.Sleep(200 * time.Microsecond)
	}
	startMS = float64(time.Since(t0).Microseconds()) / 1000
	if rssReady, err = rss(cmd.Process.Pid); err != nil {
		return 0, 0, 0, err
	}
	for range warm {
		req, _ := http.NewRequest("GET", "http://"+addr+"/health", nil)
		req.Header.Set("Authorization", "Bearer ck_dev_acme")
		res, err := client.Do(req)
		if err != nil {
			return 0, 0, 0, err
		}
		res.Body.Close()
	}
	time.Sleep(idle)
	rssIdle, err = rss(cmd.Process.Pid)
	return startMS, rssReady, rssIdle, err
}

// rss returns the resident set size of pid in MiB.
func rss(pid int) (float64, error) {
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
