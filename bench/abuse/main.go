// Command abuse measures what one tenant's abusive uploads cost a running
// crispy: it starts `crispy serve` on a fresh data folder with one tenant on
// the default quotas, sends each attack below with that tenant's key, and
// prints the server's resident memory (VmRSS) and CPU time around each,
// with what the server answered and what it ended up holding.
//
//	go build -o /tmp/crispy ./cmd/crispy
//	go run ./bench/abuse -bin /tmp/crispy [-base /tmp/crispy-old]
//
// The attacks:
//   - headings: one POST /documents of 1 MB of "# a\n" (200,000 headings);
//   - jobs: 20 NDJSON batches of about 3 MB each (63 MB in all), at once;
//   - nospace: one document of 9 MB with no space in it;
//   - headings (10 MB): the largest document there may be, all headings,
//     as Markdown and as HTML;
//   - restart: the server started again on the same data folder, which
//     loads every stored chunk into memory.
//
// With -base, the same attacks run against a second binary (an earlier
// build) on a data folder of its own, for a comparison in the same run.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
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
	"time"

	"github.com/crispy-enigma/crispy/internal/tenant"
)

const (
	tenantID = "abuse"
	key      = "ck_dev_abuse"
)

func main() {
	bin := flag.String("bin", "", "crispy binary to measure (required)")
	base := flag.String("base", "", "an earlier crispy binary to measure the same way, for comparison")
	flag.Parse()
	if *bin == "" {
		fmt.Fprintln(os.Stderr, "abuse: -bin is required")
		os.Exit(2)
	}
	bins := []string{*bin}
	if *base != "" {
		bins = append(bins, *base)
	}
	var results [][]row
	for _, b := range bins {
		rows, err := run(b)
		if err != nil {
			fmt.Fprintf(os.Stderr, "abuse: %s: %v\n", b, err)
			os.Exit(1)
		}
		results = append(results, rows)
	}
	fmt.Printf("| attack | measure |")
	for _, b := range bins {
		fmt.Printf(" %s |", filepath.Base(b))
	}
	fmt.Printf("\n| --- | --- |%s\n", strings.Repeat(" ---: |", len(bins)))
	for i, r := range results[0] {
		fmt.Printf("| %s | %s |", r.attack, r.measure)
		for _, rows := range results {
			fmt.Printf(" %s |", rows[i].value)
		}
		fmt.Println()
	}
}

// row is one line of the report.
type row struct{ attack, measure, value string }

// run runs every attack against a server of binary bin.
func run(bin string) ([]row, error) {
	dir, err := os.MkdirTemp("", "crispy-abuse-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	tenants := filepath.Join(dir, "tenants")
	if err := os.MkdirAll(filepath.Join(tenants, tenantID), 0o755); err != nil {
		return nil, err
	}
	// The default quotas and limits: only what the attacks need is set.
	cfg := fmt.Sprintf(`{"id": %q, "name": "Abuse", "keys": [{"id": "dev", "hash": %q, "dev": true,
  "scopes": ["documents:read", "documents:write", "search"]}],
  "models": {"chat": {"model": "builtin/extractive"}, "embedding": {"model": "builtin/hash-384"}},
  "rag": {"enabled": true}}`, tenantID, tenant.HashKey(key))
	if err := os.WriteFile(filepath.Join(tenants, tenantID, "tenant.jsonc"), []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	srv, err := start(bin, data, tenants)
	if err != nil {
		return nil, err
	}
	var rows []row
	add := func(attack, measure, format string, args ...any) {
		rows = append(rows, row{attack, measure, fmt.Sprintf(format, args...)})
	}
	idle := srv.sample()
	add("idle", "RSS", "%.0f MiB", idle.rss)

	// One document of 200,000 headings.
	before := srv.sample()
	status, _ := srv.post("application/json", mustJSON(map[string]string{"id": "amp", "markdown": strings.Repeat("# a\n", 200000)}))
	after := srv.sample()
	add("headings (1 MB)", "status", "%d", status)
	add("headings (1 MB)", "chunks held after", "%d", srv.chunks())
	add("headings (1 MB)", "RSS added", "%.0f MiB", after.rss-before.rss)
	add("headings (1 MB)", "server CPU", "%.2f s", after.cpu-before.cpu)

	// 20 batches of about 3 MB at once.
	before = srv.sample()
	peak := srv.watch()
	var mu sync.Mutex
	codes := map[int]int{}
	var jobs []string
	var wg sync.WaitGroup
	for b := range 20 {
		wg.Go(func() {
			status, body := srv.post("application/x-ndjson", batch(b))
			mu.Lock()
			defer mu.Unlock()
			codes[status]++
			var env struct {
				Data struct{ ID string } `json:"data"`
			}
			if status == 202 && json.Unmarshal(body, &env) == nil {
				jobs = append(jobs, env.Data.ID)
			}
		})
	}
	wg.Wait()
	for _, id := range jobs {
		srv.waitJob(id)
	}
	top := peak()
	after = srv.sample()
	add("jobs (20 × 3 MB)", "answers", "%s", fmtCodes(codes))
	add("jobs (20 × 3 MB)", "chunks held after", "%d", srv.chunks())
	add("jobs (20 × 3 MB)", "RSS added, peak", "%.0f MiB", top-before.rss)
	add("jobs (20 × 3 MB)", "RSS added, after", "%.0f MiB", after.rss-before.rss)
	add("jobs (20 × 3 MB)", "server CPU", "%.2f s", after.cpu-before.cpu)

	// 9 MB without a space.
	before = srv.sample()
	t0 := time.Now()
	status, _ = srv.post("application/json", mustJSON(map[string]string{"id": "nospace", "text": strings.Repeat("x", 9<<20)}))
	took := time.Since(t0)
	after = srv.sample()
	add("nospace (9 MB)", "status", "%d", status)
	add("nospace (9 MB)", "answered in", "%.2f s", took.Seconds())
	add("nospace (9 MB)", "server CPU", "%.2f s", after.cpu-before.cpu)
	add("nospace (9 MB)", "RSS added", "%.0f MiB", after.rss-before.rss)

	// The largest document there may be, all headings.
	before = srv.sample()
	peak = srv.watch()
	status, _ = srv.post("application/json", mustJSON(map[string]string{"id": "amp10", "markdown": strings.Repeat("# a\n", (10<<20)/4-1)}))
	top = peak()
	after = srv.sample()
	add("headings (10 MB)", "status", "%d", status)
	add("headings (10 MB)", "RSS added, peak", "%.0f MiB", top-before.rss)
	add("headings (10 MB)", "server CPU", "%.2f s", after.cpu-before.cpu)

	// The same as HTML, which is parsed into a tree first.
	before = srv.sample()
	peak = srv.watch()
	status, _ = srv.post("application/json", mustJSON(map[string]string{"id": "amp10html", "html": strings.Repeat("<h1>a</h1>", (10<<20)/10-1)}))
	top = peak()
	after = srv.sample()
	add("HTML headings (10 MB)", "status", "%d", status)
	add("HTML headings (10 MB)", "RSS added, peak", "%.0f MiB", top-before.rss)
	add("HTML headings (10 MB)", "server CPU", "%.2f s", after.cpu-before.cpu)

	// Everything stored comes back into memory at start.
	held := srv.chunks()
	srv.stop()
	srv, err = start(bin, data, tenants)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	restarted := srv.sample()
	add("restart", "chunks loaded", "%d", held)
	add("restart", "RSS", "%.0f MiB", restarted.rss)
	return rows, nil
}

// batch returns NDJSON of 100 documents of about 32 KB each of varied
// words, so that every batch is new to the server.
func batch(b int) string {
	var sb strings.Builder
	for d := range 100 {
		var text strings.Builder
		for w := 0; text.Len() < 32<<10; w++ {
			fmt.Fprintf(&text, "word%d_%d_%d travel policy %d. ", b, d, w%500, w)
		}
		sb.WriteString(mustJSON(map[string]string{"id": fmt.Sprintf("b%02d-%03d", b, d), "text": text.String()}))
		sb.WriteByte('\n')
	}
	return sb.String()
}

func fmtCodes(codes map[int]int) string {
	var parts []string
	for _, c := range []int{200, 201, 202, 400, 413, 429, 500, 503} {
		if n := codes[c]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d × %d", n, c))
		}
	}
	return strings.Join(parts, ", ")
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// server is a running `crispy serve`.
type server struct {
	cmd  *exec.Cmd
	base string
}

func start(bin, data, tenants string) (*server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	args := []string{"serve", "--addr", addr, "--data", data, "--tenants", tenants, "--env", "dev", "--log-level", "error"}
	if help, _ := exec.Command(bin, "serve", "--help").CombinedOutput(); bytes.Contains(help, []byte("--metrics-addr")) {
		args = append(args, "--metrics-addr", "off") // builds before the operator listener have no such flag
	}
	cmd := exec.Command(bin, args...)
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, base: "http://" + addr}
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if res, err := http.Get(s.base + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return s, nil
			}
		}
	}
	s.stop()
	return nil, fmt.Errorf("not ready within 2 minutes")
}

func (s *server) stop() {
	_ = s.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
}

func (s *server) do(method, path, contentType, body string) (int, []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, s.base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

func (s *server) post(contentType, body string) (int, []byte) {
	return s.do("POST", "/documents", contentType, body)
}

// chunks returns the chunks the tenant holds, summed over its documents.
func (s *server) chunks() int {
	total := 0
	after := ""
	for {
		_, b := s.do("GET", "/documents?limit=1000&after="+after, "", "")
		var env struct {
			Data struct {
				Documents []struct {
					ID     string
					Chunks int
				}
				Next string
			}
		}
		if json.Unmarshal(b, &env) != nil {
			return -1
		}
		for _, d := range env.Data.Documents {
			total += d.Chunks
		}
		if env.Data.Next == "" {
			return total
		}
		after = env.Data.Next
	}
}

func (s *server) waitJob(id string) {
	for {
		_, b := s.do("GET", "/jobs/"+id, "", "")
		if !bytes.Contains(b, []byte(`"status":"running"`)) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// usage is the server process's memory and CPU at one moment.
type usage struct {
	rss float64 // MiB
	cpu float64 // seconds of user and system time
}

func (s *server) sample() usage {
	pid := s.cmd.Process.Pid
	var u usage
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for line := range strings.Lines(string(b)) {
			if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
				u.rss = kb / 1024
			}
		}
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		// Fields after the command name, which ends with ')'.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) > 12 {
			ut, _ := strconv.ParseFloat(f[11], 64)
			st, _ := strconv.ParseFloat(f[12], 64)
			u.cpu = (ut + st) / 100 // clock ticks of USER_HZ 100
		}
	}
	return u
}

// watch samples RSS every 50 ms until the returned function is called,
// which returns the peak.
func (s *server) watch() func() float64 {
	stop := make(chan struct{})
	done := make(chan float64)
	go func() {
		peak := 0.0
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			peak = max(peak, s.sample().rss)
			select {
			case <-stop:
				done <- peak
				return
			case <-t.C:
			}
		}
	}()
	return func() float64 { close(stop); return <-done }
}
