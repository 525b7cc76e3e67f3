package main

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/crispy-enigma/crispy/internal/tenant"
)

// brokenTenants holds tenants with schema errors, semantic errors, errors
// across tenants and a JSONC syntax error. It is relative so that the file
// names in the output, and so the golden file, do not depend on where the
// repository is checked out.
const brokenTenants = "testdata/broken"

func TestValidate(t *testing.T) {
	okDev := "ok: 2 tenant(s) valid for --env dev: acme, globex\n"
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		wantCode   int
		wantStdout string   // exact
		wantStderr []string // substrings; stderr must be empty when nil
	}{
		{
			name:       "example tenants",
			args:       []string{"validate", exampleTenants},
			wantStdout: okDev,
		},
		{
			name:       "example tenants with --env dev",
			args:       []string{"validate", exampleTenants, "--env", "dev"},
			wantStdout: okDev,
		},
		{
			name:       "CRISPY_TENANTS picks the folder",
			args:       []string{"validate"},
			env:        map[string]string{"CRISPY_TENANTS": exampleTenants},
			wantStdout: okDev,
		},
		{
			name:       "the argument wins over CRISPY_TENANTS",
			args:       []string{"validate", exampleTenants},
			env:        map[string]string{"CRISPY_TENANTS": brokenTenants},
			wantStdout: okDev,
		},
		{
			name:       "--env wins over CRISPY_ENV",
			args:       []string{"validate", exampleTenants, "--env", "dev"},
			env:        map[string]string{"CRISPY_ENV": "prod"},
			wantStdout: okDev,
		},
		{
			name:       "an empty CRISPY_TENANTS means the default folder",
			args:       []string{"validate"},
			env:        map[string]string{"CRISPY_TENANTS": ""},
			wantCode:   1,
			wantStderr: []string{"crispy: read tenants folder: ", "./tenants"},
		},
		{
			name:       "missing folder",
			args:       []string{"validate", "testdata/missing"},
			wantCode:   1,
			wantStderr: []string{"crispy: read tenants folder: ", "testdata/missing"},
		},
		{
			name:       "missing folder from CRISPY_TENANTS",
			args:       []string{"validate"},
			env:        map[string]string{"CRISPY_TENANTS": "testdata/missing"},
			wantCode:   1,
			wantStderr: []string{"crispy: read tenants folder: ", "testdata/missing"},
		},
		{
			name:       "folder without tenants",
			args:       []string{"validate", filepath.Join(brokenTenants, "notes")},
			wantCode:   1,
			wantStderr: []string{"crispy: no tenants in " + filepath.Join(brokenTenants, "notes") + ": expected folders with a tenant.jsonc"},
		},
		{
			name:       "a file instead of a folder",
			args:       []string{"validate", "main_test.go"},
			wantCode:   1,
			wantStderr: []string{"crispy: read tenants folder: ", "main_test.go"},
		},
		{
			name:       "too many args",
			args:       []string{"validate", exampleTenants, brokenTenants},
			wantCode:   2,
			wantStderr: []string{"crispy: accepts at most 1 arg(s), received 2", "Run 'crispy --help' for usage."},
		},
		{
			name:       "invalid --env",
			args:       []string{"validate", exampleTenants, "--env", "qa"},
			wantCode:   2,
			wantStderr: []string{`invalid argument "qa" for "--env"`, "must be dev, stage or prod"},
		},
		{
			name:       "invalid CRISPY_ENV",
			args:       []string{"validate", exampleTenants},
			env:        map[string]string{"CRISPY_ENV": "qa"},
			wantCode:   2,
			wantStderr: []string{`crispy: CRISPY_ENV="qa": `, "must be dev, stage or prod"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := runCLI(t, tt.env, tt.args...)
			if got.code != tt.wantCode {
				t.Errorf("exit code: got %d, want %d\nstderr: %s", got.code, tt.wantCode, got.stderr)
			}
			if got.stdout != tt.wantStdout {
				t.Errorf("stdout: got %q, want %q", got.stdout, tt.wantStdout)
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

// TestValidateDevKeysOutsideDev checks that outside dev every development
// key of the example tenants is reported, once, and nothing else is.
func TestValidateDevKeysOutsideDev(t *testing.T) {
	keys := devKeys(t, exampleTenants)
	line := regexp.MustCompile(`^(.+): (/keys/(\d+)/dev): development key "[^"]+" is honoured only with --env dev`)
	tests := []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"--env prod", []string{"validate", exampleTenants, "--env", "prod"}, nil},
		{"--env stage", []string{"validate", exampleTenants, "--env", "stage"}, nil},
		{"CRISPY_ENV=prod", []string{"validate", exampleTenants}, map[string]string{"CRISPY_ENV": "prod"}},
		{"--env prod wins over CRISPY_ENV=dev", []string{"validate", exampleTenants, "--env", "prod"}, map[string]string{"CRISPY_ENV": "dev"}},
		{"CRISPY_ENV and CRISPY_TENANTS", []string{"validate"}, map[string]string{"CRISPY_ENV": "stage", "CRISPY_TENANTS": exampleTenants}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := runCLI(t, tt.env, tt.args...)
			if got.code != 1 {
				t.Errorf("exit code: got %d, want 1", got.code)
			}
			lines := strings.Split(strings.TrimSuffix(got.stdout, "\n"), "\n")
			if len(lines) != len(keys) {
				t.Fatalf("got %d line(s), want one per development key (%d):\n%s", len(lines), len(keys), got.stdout)
			}
			for i, l := range lines {
				m := line.FindStringSubmatch(l)
				if m == nil {
					t.Errorf("line %d: got %q, want 'file: /keys/N/dev: development key ...'", i, l)
					continue
				}
				want := keys[i]
				if m[1] != want.file || m[2] != fmt.Sprintf("/keys/%d/dev", want.index) {
					t.Errorf("line %d: got %s: %s, want %s: /keys/%d/dev", i, m[1], m[2], want.file, want.index)
				}
			}
			if want := fmt.Sprintf("crispy: %d problem(s) in %s\n", len(keys), exampleTenants); got.stderr != want {
				t.Errorf("stderr: got %q, want %q", got.stderr, want)
			}
		})
	}
}

// TestValidateBroken compares the report on the broken tenants with
// testdata/validate.golden, and checks what the golden file must show.
func TestValidateBroken(t *testing.T) {
	got := runCLI(t, nil, "validate", brokenTenants)
	if got.code != 1 {
		t.Errorf("exit code: got %d, want 1", got.code)
	}
	golden(t, "validate.golden", got.stdout)

	lines := strings.Split(strings.TrimSuffix(got.stdout, "\n"), "\n")
	if want := problemCount(t, brokenTenants, tenant.Options{AllowDevKeys: true}); len(lines) != want {
		t.Errorf("got %d problem line(s), want %d", len(lines), want)
	}
	if want := fmt.Sprintf("crispy: %d problem(s) in %s\n", len(lines), brokenTenants); got.stderr != want {
		t.Errorf("stderr: got %q, want %q", got.stderr, want)
	}
	shape := regexp.MustCompile(`^testdata/broken/[a-z]+/tenant\.jsonc: /[^ ]*: \S`)
	for _, l := range lines {
		if !shape.MatchString(l) {
			t.Errorf("line %q is not 'file: /json/pointer: problem' with a relative file", l)
		}
	}
	// Each fixture is there for a kind of problem; none may go unnoticed.
	for _, want := range []string{
		"testdata/broken/alpha/tenant.jsonc: /: missing property 'name'",
		"testdata/broken/alpha/tenant.jsonc: /keys/0/scopes/0: ",
		"testdata/broken/bravo/tenant.jsonc: /keys/0: this is the well-known development key ck_dev_bravo",
		"testdata/broken/bravo/tenant.jsonc: /providers/upstream/headers/Authorization: ",
		"testdata/broken/bravo/tenant.jsonc: /models/chat/model: provider \"openai\" is not defined",
		"testdata/broken/charlie/tenant.jsonc: /: invalid JSONC: line 4",
		"testdata/broken/delta/tenant.jsonc: /id: ",
		"testdata/broken/delta/tenant.jsonc: /hosts/0: host \"shared.localhost\" is also used by tenant \"bravo\"",
		"testdata/broken/delta/tenant.jsonc: /keys/0/hash: the same key is also configured for tenant \"bravo\"",
		"testdata/broken/foxtrot/tenant.jsonc: /public: ",
	} {
		if !strings.Contains(got.stdout, want) {
			t.Errorf("stdout does not contain %q", want)
		}
	}
	for _, skipped := range []string{".trash", "notes"} {
		if strings.Contains(got.stdout, skipped) {
			t.Errorf("stdout mentions %s, which the loader must skip", skipped)
		}
	}

	// The same folder named by CRISPY_TENANTS gives the same report.
	viaEnv := runCLI(t, map[string]string{"CRISPY_TENANTS": brokenTenants}, "validate")
	if viaEnv != got {
		t.Errorf("with CRISPY_TENANTS: got %+v, want the same as with the argument: %+v", viaEnv, got)
	}
}
