package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/tenant"
	"github.com/crispy-enigma/crispy/internal/version"
	"github.com/crispy-enigma/crispy/tenants"
)

var update = flag.Bool("update", false, "rewrite the .golden files in testdata")

// exampleTenants is a folder holding the example tenants embedded in the
// binary, written once for the package's tests (which must not edit it):
// the repository's own tenants folder may hold tenants a user added.
var exampleTenants string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "crispy-tenants-")
	if err != nil {
		panic(err)
	}
	exampleTenants = filepath.Join(dir, "tenants")
	if err := os.CopyFS(exampleTenants, tenants.Examples); err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is what one run of the CLI did.
type result struct {
	code           int
	stdout, stderr string
}

// runCLI runs the command line args with env as the whole environment.
func runCLI(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	return runCLIContext(t.Context(), env, args...)
}

func runCLIContext(ctx context.Context, env map[string]string, args ...string) result {
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, &stdout, &stderr, lookupIn(env))
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// lookupIn returns a lookup function that sees only env, so that no test
// depends on the environment of the process running it.
func lookupIn(env map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	}
}

// syncBuffer is a bytes.Buffer safe for one writer goroutine and a reader.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// logRecords decodes the JSON log lines of s, skipping lines that are not JSON.
func logRecords(s string) []map[string]any {
	var recs []map[string]any
	for line := range strings.Lines(s) {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil {
			recs = append(recs, rec)
		}
	}
	return recs
}

// recordsWithMsg returns the log records of s whose msg is msg.
func recordsWithMsg(s, msg string) []map[string]any {
	var out []map[string]any
	for _, rec := range logRecords(s) {
		if rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// devKey is a key marked "dev" in a tenants folder.
type devKey struct {
	file  string
	index int
}

// devKeys lists the development keys of the tenants in dir, in load order.
func devKeys(t *testing.T, dir string) []devKey {
	t.Helper()
	cfgs, err := tenant.Load(dir, tenant.Options{AllowDevKeys: true})
	if err != nil {
		t.Fatalf("load %s: %v", dir, err)
	}
	var keys []devKey
	for _, c := range cfgs {
		for i, k := range c.Keys {
			if k.Dev {
				keys = append(keys, devKey{filepath.Join(dir, c.ID, tenant.FileName), i})
			}
		}
	}
	if len(keys) == 0 {
		t.Fatalf("%s has no development keys; the test needs some", dir)
	}
	return keys
}

// problemCount is the number of problems tenant.Load finds in dir.
func problemCount(t *testing.T, dir string, opts tenant.Options) int {
	t.Helper()
	_, err := tenant.Load(dir, opts)
	ps, ok := err.(tenant.Problems)
	if !ok || len(ps) == 0 {
		t.Fatalf("load %s: got error %v, want tenant.Problems", dir, err)
	}
	return len(ps)
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run 'go test -update' to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run 'go test -update' if the change is intended)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

func TestUsage(t *testing.T) {
	const hint = "Run 'crispy --help' for usage.\n"
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout []string // substrings of stdout
		wantStderr []string // substrings of stderr; stderr must be empty when nil
	}{
		{"unknown command", []string{"frobnicate"}, 2, nil, []string{`crispy: unknown command "frobnicate" for "crispy"`, hint}},
		{"unknown subcommand", []string{"tenant", "delete", "acme"}, 2, nil, []string{`unknown command "delete" for "crispy tenant"`, hint}},
		{"misspelt subcommand", []string{"tenant", "nwe", "acme"}, 2, nil, []string{`crispy: unknown command "nwe" for "crispy tenant"`, hint}},
		{"tenant without subcommand prints help", []string{"tenant"}, 0, []string{"crispy tenant [command]", "Create a tenant folder"}, nil},
		{"unknown root flag", []string{"--bogus"}, 2, nil, []string{"crispy: unknown flag: --bogus", hint}},
		{"unknown command flag", []string{"validate", "--bogus"}, 2, nil, []string{"crispy: unknown flag: --bogus", hint}},
		{"unknown shorthand", []string{"serve", "-z"}, 2, nil, []string{"unknown shorthand flag: 'z'", hint}},
		{"flag without value", []string{"serve", "--addr"}, 2, nil, []string{"flag needs an argument: --addr", hint}},
		{"bad duration", []string{"serve", "--read-timeout", "soon"}, 2, nil, []string{`invalid argument "soon" for "--read-timeout"`, hint}},
		{"serve takes no args", []string{"serve", "now"}, 2, nil, []string{`unknown command "now" for "crispy serve"`, hint}},
		{"tenant new needs an ID", []string{"tenant", "new"}, 2, nil, []string{"accepts 1 arg(s), received 0", hint}},
		{"version takes no args", []string{"version", "now"}, 2, nil, []string{`unknown command "now" for "crispy version"`, hint}},
		{"help", []string{"--help"}, 0, []string{"Usage:\n  crispy [command]", "serve", "validate", "tenant", "version"}, nil},
		{"help shorthand", []string{"-h"}, 0, []string{"Usage:\n  crispy [command]"}, nil},
		{"no args prints help", nil, 0, []string{"Crispy Enigma serves chat", "Available Commands:"}, nil},
		{"help command", []string{"help", "serve"}, 0, []string{"crispy serve [flags]", "--shutdown-timeout", "CRISPY_LOG_LEVEL"}, nil},
		{"validate help", []string{"validate", "--help"}, 0, []string{"crispy validate [DIR] [flags]", "--env env"}, nil},
		{"tenant new help", []string{"tenant", "new", "-h"}, 0, []string{"crispy tenant new ID [flags]", "--scopes strings"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := runCLI(t, nil, tt.args...)
			if got.code != tt.wantCode {
				t.Errorf("exit code: got %d, want %d\nstderr: %s", got.code, tt.wantCode, got.stderr)
			}
			for _, s := range tt.wantStdout {
				if !strings.Contains(got.stdout, s) {
					t.Errorf("stdout does not contain %q:\n%s", s, got.stdout)
				}
			}
			if tt.wantStdout == nil && got.stdout != "" {
				t.Errorf("stdout: got %q, want nothing", got.stdout)
			}
			for _, s := range tt.wantStderr {
				if !strings.Contains(got.stderr, s) {
					t.Errorf("stderr does not contain %q:\n%s", s, got.stderr)
				}
			}
			if tt.wantStderr == nil && got.stderr != "" {
				t.Errorf("stderr: got %q, want nothing", got.stderr)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	want := version.Get()
	if want.Version == "" {
		t.Fatal("version.Get().Version is empty")
	}
	got := runCLI(t, nil, "version")
	if got.code != 0 || got.stderr != "" {
		t.Fatalf("exit code %d, stderr %q; want 0 and nothing", got.code, got.stderr)
	}
	if strings.Count(got.stdout, "\n") != 1 || !strings.HasSuffix(got.stdout, "\n") {
		t.Errorf("stdout: got %q, want one line", got.stdout)
	}
	if prefix := "crispy " + want.Version; !strings.HasPrefix(got.stdout, prefix) {
		t.Errorf("stdout: got %q, want it to start with %q", got.stdout, prefix)
	}
	if suffix := " " + runtime.Version() + "\n"; !strings.HasSuffix(got.stdout, suffix) {
		t.Errorf("stdout: got %q, want it to end with %q", got.stdout, suffix)
	}
	if want.Commit != "" && !strings.Contains(got.stdout, "("+want.Commit[:min(12, len(want.Commit))]) {
		t.Errorf("stdout: got %q, want the commit %s", got.stdout, want.Commit)
	}
}

func TestVersionJSON(t *testing.T) {
	got := runCLI(t, nil, "version", "--json")
	if got.code != 0 || got.stderr != "" {
		t.Fatalf("exit code %d, stderr %q; want 0 and nothing", got.code, got.stderr)
	}
	var info struct {
		Version   string     `json:"version"`
		Commit    string     `json:"commit"`
		Time      *time.Time `json:"time"`
		GoVersion string     `json:"goVersion"`
		Modified  bool       `json:"modified"`
	}
	dec := json.NewDecoder(strings.NewReader(got.stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&info); err != nil {
		t.Fatalf("stdout is not the expected JSON: %v\n%s", err, got.stdout)
	}
	if dec.More() {
		t.Errorf("stdout holds more than one JSON value:\n%s", got.stdout)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(got.stdout), &raw); err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"version", "goVersion"} {
		if _, ok := raw[field]; !ok {
			t.Errorf("field %q is missing:\n%s", field, got.stdout)
		}
	}
	want := version.Get()
	if info.Version == "" || info.Version != want.Version {
		t.Errorf("version: got %q, want %q", info.Version, want.Version)
	}
	if info.GoVersion != runtime.Version() {
		t.Errorf("goVersion: got %q, want %q", info.GoVersion, runtime.Version())
	}
	if info.Commit != want.Commit || info.Modified != want.Modified {
		t.Errorf("commit, modified: got %q, %v; want %q, %v", info.Commit, info.Modified, want.Commit, want.Modified)
	}
}
