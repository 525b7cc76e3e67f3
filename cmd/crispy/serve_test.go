package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/app"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// serveTimeout bounds a serve test: a server that starts when it should
// have refused stops then, and the test fails on its exit code instead of
// hanging.
const serveTimeout = 20 * time.Second

// runServe runs 'crispy serve --data DATA args...' with env, where DATA is
// a folder that does not exist yet, and returns the result and DATA.
func runServe(t *testing.T, env map[string]string, args ...string) (result, string) {
	t.Helper()
	data := filepath.Join(t.TempDir(), "data")
	ctx, cancel := context.WithTimeout(t.Context(), serveTimeout)
	defer cancel()
	return runCLIContext(ctx, env, append([]string{"serve", "--data", data}, args...)...), data
}

// TestServeRefuses checks that serve does not start, and opens no storage,
// when a tenant config is invalid for the environment.
func TestServeRefuses(t *testing.T) {
	free := []string{"--addr", "127.0.0.1:0"}
	broken := problemCount(t, brokenTenants, tenant.Options{AllowDevKeys: true})
	dev := len(devKeys(t, exampleTenants))
	brokenMsg := fmt.Sprintf("crispy: refusing to start: %d problem(s) in %s; run 'crispy validate %s --env dev' to list them\n", broken, brokenTenants, brokenTenants)
	devMsg := func(env string) string {
		return fmt.Sprintf("crispy: refusing to start: %d problem(s) in %s; run 'crispy validate %s --env %s' to list them\n", dev, exampleTenants, exampleTenants, env)
	}
	tests := []struct {
		name        string
		args        []string
		env         map[string]string
		wantStderr  string // a line of stderr
		wantInvalid int    // "invalid tenant config" log records
	}{
		{
			name:        "invalid tenants folder",
			args:        append([]string{"--tenants", brokenTenants}, free...),
			wantStderr:  brokenMsg,
			wantInvalid: broken,
		},
		{
			name:        "invalid tenants folder from CRISPY_TENANTS",
			args:        free,
			env:         map[string]string{"CRISPY_TENANTS": brokenTenants},
			wantStderr:  brokenMsg,
			wantInvalid: broken,
		},
		{
			name:        "--tenants wins over CRISPY_TENANTS",
			args:        append([]string{"--tenants", brokenTenants}, free...),
			env:         map[string]string{"CRISPY_TENANTS": exampleTenants},
			wantStderr:  brokenMsg,
			wantInvalid: broken,
		},
		{
			name:        "development keys with --env prod",
			args:        append([]string{"--tenants", exampleTenants, "--env", "prod"}, free...),
			wantStderr:  devMsg("prod"),
			wantInvalid: dev,
		},
		{
			name:        "development keys with --env stage",
			args:        append([]string{"--tenants", exampleTenants, "--env", "stage"}, free...),
			wantStderr:  devMsg("stage"),
			wantInvalid: dev,
		},
		{
			name:        "development keys with CRISPY_ENV=prod",
			args:        append([]string{"--tenants", exampleTenants}, free...),
			env:         map[string]string{"CRISPY_ENV": "prod"},
			wantStderr:  devMsg("prod"),
			wantInvalid: dev,
		},
		{
			name:        "--env prod wins over CRISPY_ENV=dev",
			args:        append([]string{"--tenants", exampleTenants, "--env", "prod"}, free...),
			env:         map[string]string{"CRISPY_ENV": "dev"},
			wantStderr:  devMsg("prod"),
			wantInvalid: dev,
		},
		// In dev a missing folder serves the embedded examples; in stage
		// and prod it is an error.
		{
			name:       "missing tenants folder with --env prod",
			args:       append([]string{"--tenants", "testdata/missing", "--env", "prod"}, free...),
			wantStderr: "crispy: refusing to start: read tenants folder: ",
		},
		{
			name:       "missing tenants folder with --env stage",
			args:       append([]string{"--tenants", "testdata/missing", "--env", "stage"}, free...),
			wantStderr: "crispy: refusing to start: read tenants folder: ",
		},
		{
			name:       "folder without tenants",
			args:       append([]string{"--tenants", filepath.Join(brokenTenants, "notes")}, free...),
			wantStderr: "crispy: refusing to start: no tenants in " + filepath.Join(brokenTenants, "notes"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, data := runServe(t, tt.env, tt.args...)
			if got.code != 1 {
				t.Errorf("exit code: got %d, want 1\nstderr: %s", got.code, got.stderr)
			}
			if got.stdout != "" {
				t.Errorf("stdout: got %q, want nothing", got.stdout)
			}
			if !strings.Contains(got.stderr, tt.wantStderr) {
				t.Errorf("stderr does not contain %q:\n%s", tt.wantStderr, got.stderr)
			}
			invalid := recordsWithMsg(got.stderr, "invalid tenant config")
			if len(invalid) != tt.wantInvalid {
				t.Errorf("got %d 'invalid tenant config' log records, want %d:\n%s", len(invalid), tt.wantInvalid, got.stderr)
			}
			for _, rec := range invalid {
				if rec["level"] != "ERROR" || rec["file"] == nil || rec["path"] == nil || rec["problem"] == nil {
					t.Errorf("log record %v: want level ERROR with file, path and problem", rec)
				}
			}
			if len(recordsWithMsg(got.stderr, "started")) > 0 {
				t.Errorf("the server started:\n%s", got.stderr)
			}
			if _, err := os.Stat(data); err == nil {
				t.Errorf("%s exists: storage was opened by a server that refused to start", data)
			}
		})
	}
}

// TestServeUsageErrors checks that an invalid setting, by flag or by
// environment variable, is a usage error found before anything starts.
func TestServeUsageErrors(t *testing.T) {
	ok := []string{"--tenants", exampleTenants}
	free := append([]string{"--addr", "127.0.0.1:0"}, ok...)
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		wantStderr []string
	}{
		{"--env qa", append([]string{"--env", "qa"}, free...), nil, []string{`invalid argument "qa" for "--env" flag: must be dev, stage or prod`, "Run 'crispy --help' for usage."}},
		{"CRISPY_ENV=qa", free, map[string]string{"CRISPY_ENV": "qa"}, []string{`crispy: CRISPY_ENV="qa": `, "must be dev, stage or prod"}},
		{"--addr without port", append([]string{"--addr", "nonsense"}, ok...), nil, []string{`crispy: --addr "nonsense": want host:port`}},
		{"CRISPY_ADDR without port", ok, map[string]string{"CRISPY_ADDR": "nonsense"}, []string{`crispy: --addr "nonsense": want host:port`}},
		{"--metrics-addr without port", append([]string{"--metrics-addr", "nonsense"}, free...), nil, []string{`crispy: --metrics-addr "nonsense": want host:port, or "off" to serve no metrics`}},
		{"empty CRISPY_METRICS_ADDR", free, map[string]string{"CRISPY_METRICS_ADDR": ""}, []string{`crispy: --metrics-addr "": want host:port, or "off"`}},
		{"--metrics-addr equal to --addr", append([]string{"--tenants", exampleTenants}, "--addr", "127.0.0.1:8080", "--metrics-addr", "127.0.0.1:8080"), nil, []string{`crispy: --metrics-addr "127.0.0.1:8080": must differ from --addr`}},
		{"--log-level loud", append([]string{"--log-level", "loud"}, free...), nil, []string{`crispy: --log-level "loud": want debug, info, warn or error`}},
		{"CRISPY_LOG_LEVEL=loud", free, map[string]string{"CRISPY_LOG_LEVEL": "loud"}, []string{`--log-level "loud": want debug, info, warn or error`}},
		{"zero --shutdown-timeout", append([]string{"--shutdown-timeout", "0"}, free...), nil, []string{"crispy: --shutdown-timeout must be greater than zero"}},
		{"negative CRISPY_IDLE_TIMEOUT", free, map[string]string{"CRISPY_IDLE_TIMEOUT": "-1s"}, []string{"crispy: --idle-timeout must be greater than zero"}},
		{"CRISPY_READ_TIMEOUT not a duration", free, map[string]string{"CRISPY_READ_TIMEOUT": "soon"}, []string{`crispy: CRISPY_READ_TIMEOUT="soon": `}},
		{"empty --tenants", append([]string{"--tenants", ""}, "--addr", "127.0.0.1:0"), nil, []string{"crispy: --tenants must not be empty"}},
		{"empty --data", append([]string{"--data", ""}, free...), nil, []string{"crispy: --data must not be empty"}},
		{"every problem at once", append([]string{"--addr", "nonsense", "--log-level", "loud", "--write-timeout", "0s"}, ok...), nil, []string{
			`--addr "nonsense": want host:port`, `--log-level "loud": want debug`, "--write-timeout must be greater than zero",
		}},
		{"every bad variable at once", free, map[string]string{"CRISPY_ENV": "qa", "CRISPY_READ_TIMEOUT": "soon"}, []string{`CRISPY_ENV="qa"`, `CRISPY_READ_TIMEOUT="soon"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, data := runServe(t, tt.env, tt.args...)
			if got.code != 2 {
				t.Errorf("exit code: got %d, want 2\nstderr: %s", got.code, got.stderr)
			}
			if got.stdout != "" {
				t.Errorf("stdout: got %q, want nothing", got.stdout)
			}
			for _, s := range tt.wantStderr {
				if !strings.Contains(got.stderr, s) {
					t.Errorf("stderr does not contain %q:\n%s", s, got.stderr)
				}
			}
			if recs := logRecords(got.stderr); len(recs) > 0 {
				t.Errorf("got log records %v, want a usage error before any logging", recs)
			}
			if _, err := os.Stat(data); err == nil {
				t.Errorf("%s exists: storage was opened despite a usage error", data)
			}
		})
	}
}

// TestServeStartsAndStops starts a real server on a free port. Every
// CRISPY_* variable is set to a value that on its own stops serve (see the
// tests above), and every flag to a good one: the server starts only if
// flags win. It stops, with exit code 0, when the context is cancelled.
func TestServeStartsAndStops(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	env := map[string]string{
		"CRISPY_ADDR":         "nonsense",
		"CRISPY_METRICS_ADDR": "nonsense",
		"CRISPY_ENV":          "prod",
		"CRISPY_LOG_LEVEL":    "loud",
		"CRISPY_TENANTS":      brokenTenants,
		"CRISPY_DATA":         "",
	}
	args := []string{
		"serve", "--addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0", "--env", "dev", "--log-level", "info",
		"--tenants", exampleTenants, "--data", data, "--shutdown-timeout", "5s",
	}
	ctx, cancel := context.WithTimeout(t.Context(), serveTimeout)
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, &stdout, &stderr, lookupIn(env)) }()

	var addr string
	for addr == "" {
		select {
		case code := <-done:
			t.Fatalf("serve exited with %d before starting:\n%s", code, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		if recs := recordsWithMsg(stderr.String(), "started"); len(recs) > 0 {
			addr, _ = recs[0]["addr"].(string)
			if addr == "" {
				cancel()
				t.Fatalf("the started record has no addr: %v", recs[0])
			}
		}
	}
	if !strings.HasPrefix(addr, "127.0.0.1:") || addr == "127.0.0.1:0" {
		t.Errorf("started on %q, want 127.0.0.1 and the port the kernel chose", addr)
	}

	// The example tenants are served, and with --env dev their development
	// keys are honoured.
	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	for _, c := range []struct {
		auth string
		want int
	}{
		{"Bearer " + tenant.DevKey("acme"), http.StatusOK},
		{"Bearer " + tenant.DevKey("globex"), http.StatusOK},
		{"Bearer " + tenant.NewKey(), http.StatusUnauthorized},
		{"", http.StatusUnauthorized},
	} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+addr+"/health", nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET /health: %v", err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("GET /health with %q: got %d, want %d", c.auth, resp.StatusCode, c.want)
		}
	}

	// Metrics are served on the operator listener only.
	var metricsAddr string
	if recs := recordsWithMsg(stderr.String(), "started"); len(recs) == 1 {
		metricsAddr, _ = recs[0]["metrics_addr"].(string)
	}
	if !strings.HasPrefix(metricsAddr, "127.0.0.1:") || metricsAddr == "127.0.0.1:0" || metricsAddr == addr {
		t.Errorf("metrics served on %q, want 127.0.0.1 and a port of their own", metricsAddr)
	}
	for _, c := range []struct {
		url  string
		want int
	}{
		{"http://" + metricsAddr + "/metrics", http.StatusOK},
		{"http://" + addr + "/metrics", http.StatusNotFound},
	} {
		resp, err := client.Get(c.url)
		if err != nil {
			t.Fatalf("GET %s: %v", c.url, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("GET %s: got %d, want %d", c.url, resp.StatusCode, c.want)
		}
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit code: got %d, want 0", code)
		}
	case <-time.After(serveTimeout):
		t.Fatal("serve did not stop after the context was cancelled")
	}
	if stdout.String() != "" {
		t.Errorf("stdout: got %q, want nothing", stdout.String())
	}
	log := stderr.String()
	for _, msg := range []string{"started", "serving", "draining", "drained", "stopped"} {
		if len(recordsWithMsg(log, msg)) != 1 {
			t.Errorf("want one %q log record:\n%s", msg, log)
		}
	}
	if recs := recordsWithMsg(log, "serving"); len(recs) == 1 && recs[0]["env"] != "dev" {
		t.Errorf("serving with env %v, want dev", recs[0]["env"])
	}
	for _, rec := range logRecords(log) {
		if rec["level"] == "ERROR" {
			t.Errorf("error logged: %v", rec)
		}
	}
	if strings.Contains(log, "crispy:") {
		t.Errorf("stderr has an error message:\n%s", log)
	}
	if _, err := os.Stat(filepath.Join(data, app.DBFile)); err != nil {
		t.Errorf("the embedded database is missing: %v", err)
	}
}
