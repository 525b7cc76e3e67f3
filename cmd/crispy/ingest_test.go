package main

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/app"
	"github.com/crispy-enigma/crispy/internal/config"
)

// startServer serves the example tenants in-process and returns the URL.
func startServer(t *testing.T) string {
	t.Helper()
	cfg := config.Defaults()
	cfg.Addr, cfg.DataDir, cfg.TenantsDir = "127.0.0.1:0", t.TempDir(), exampleTenants
	cfg.MetricsAddr = config.MetricsOff
	a, err := app.New(t.Context(), cfg, app.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	addr := make(chan net.Addr, 1)
	go func() { done <- a.ListenAndServe(ctx, func(x net.Addr) { addr <- x }) }()
	url := "http://" + (<-addr).String()
	t.Cleanup(func() {
		cancel()
		<-done
		a.Close()
	})
	return url
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestIngest(t *testing.T) {
	url := startServer(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "guide.md"), "# Guide\n\nInstall with one command.")
	writeFile(t, filepath.Join(dir, "notes", "a.txt"), "Plain notes about flights.")
	writeFile(t, filepath.Join(dir, "notes", "page.html"), "<html><title>Page</title><body><p>Hotel policy.</p></body></html>")
	writeFile(t, filepath.Join(dir, "report.pdf"), "%PDF")
	writeFile(t, filepath.Join(dir, ".git", "x.md"), "hidden")
	for i := range 12 { // more than one synchronous batch: runs as a job
		writeFile(t, filepath.Join(dir, "many", "doc"+string(rune('a'+i))+".txt"), "Document number "+string(rune('a'+i)))
	}
	env := map[string]string{"CRISPY_KEY": "ck_dev_acme"}

	r := runCLI(t, env, "ingest", dir, "--tenant", "acme", "--server", url)
	if r.code != 0 || !strings.Contains(r.stdout, "15 files") || !strings.Contains(r.stdout, "15 created") {
		t.Fatalf("first ingest: code %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "15/15 files") {
		t.Errorf("no progress bar: %q", r.stderr)
	}
	writeFile(t, filepath.Join(dir, "guide.md"), "# Guide\n\nInstall with two commands.")
	r = runCLI(t, env, "ingest", dir, "--tenant", "acme", "--server", url)
	if r.code != 0 || !strings.Contains(r.stdout, "0 created, 1 updated, 14 unchanged, 0 failed") {
		t.Errorf("second ingest: code %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	for _, tt := range []struct {
		name string
		env  map[string]string
		args []string
		code int
		msg  string
	}{
		{"no key", nil, []string{"ingest", dir, "--tenant", "acme", "--server", url}, 2, "no key"},
		{"no tenant", env, []string{"ingest", dir, "--server", url}, 2, "--tenant is required"},
		{"other tenant", env, []string{"ingest", dir, "--tenant", "globex", "--server", url}, 1, "403"},
		{"no files", env, []string{"ingest", filepath.Join(dir, "report.pdf"), "--tenant", "acme", "--server", url}, 1, "no .txt, .md or .html file"},
		{"no server", env, []string{"ingest", dir, "--tenant", "acme", "--server", "http://127.0.0.1:1"}, 1, "cannot reach"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, tt.env, tt.args...)
			if r.code != tt.code || !strings.Contains(r.stderr+r.stdout, tt.msg) {
				t.Errorf("code %d, want %d with %q:\n%s%s", r.code, tt.code, tt.msg, r.stdout, r.stderr)
			}
		})
	}
}

// TestIngestProgressWithoutTerminal checks that a progress report written
// to a file or a pipe is plain lines, without carriage returns, and that
// counts of one are singular.
func TestIngestProgressWithoutTerminal(t *testing.T) {
	url := startServer(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "one.md"), "# One\n\nA single short document.")
	r := runCLI(t, map[string]string{"CRISPY_KEY": "ck_dev_acme"}, "ingest", dir, "--tenant", "acme", "--server", url)
	if r.code != 0 {
		t.Fatalf("ingest: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stderr, "\r") || !strings.HasPrefix(r.stderr, "ingested 1/1 file in ") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("progress on a non-terminal: %q, want one plain line", r.stderr)
	}
	if !strings.HasPrefix(r.stdout, "1 file, ") || !strings.Contains(r.stdout, "; 1 chunk\n") {
		t.Errorf("summary: %q, want singular counts", r.stdout)
	}

	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	for _, w := range []io.Writer{f, pw, &strings.Builder{}} {
		if isTerminal(w) {
			t.Errorf("isTerminal(%T) = true", w)
		}
	}
}

func TestProgressOnTerminalRedrawsOneLine(t *testing.T) {
	var b strings.Builder
	p := &progress{w: &b, tty: true, total: 2, start: time.Now()}
	p.set(1)
	p.set(2)
	p.finish()
	if got := b.String(); strings.Count(got, "\r") != 2 || strings.Count(got, "\n") != 1 || !strings.Contains(got, "2/2 files") {
		t.Errorf("bar = %q, want two redraws of one line", got)
	}
}
