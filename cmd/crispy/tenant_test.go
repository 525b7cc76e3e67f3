package main

import (
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/crispy-enigma/crispy/internal/tenant"
)

// keyLine is what 'crispy tenant new' prints on stdout: the key, alone.
var keyLine = regexp.MustCompile(`^ck_[0-9a-f]{48}\n$`)

func TestTenantNew(t *testing.T) {
	defaultScopes := []tenant.Scope{tenant.ScopeChat, tenant.ScopeSearch, tenant.ScopeDocumentsRead}
	const oddName = `Initech "Ïñïtêçh" 株式会社 <&> \ 🚀`
	tests := []struct {
		name string
		// args after "tenant new"; {dir} is replaced by the tenants folder.
		args       []string
		env        map[string]string // {dir} is replaced too
		id         string
		wantName   string
		wantKeyID  string
		wantScopes []tenant.Scope
	}{
		{
			name:       "defaults",
			args:       []string{"initech", "--tenants", "{dir}"},
			id:         "initech",
			wantName:   "initech",
			wantKeyID:  "main",
			wantScopes: defaultScopes,
		},
		{
			name:       "name with quotes and unicode",
			args:       []string{"initech", "--tenants", "{dir}", "--name", oddName},
			id:         "initech",
			wantName:   oddName,
			wantKeyID:  "main",
			wantScopes: defaultScopes,
		},
		{
			name:       "scopes and key id",
			args:       []string{"--tenants", "{dir}", "--scopes", "chat,admin", "--scopes", "usage:read", "--key-id", "ci_deploy", "a1-b2"},
			id:         "a1-b2",
			wantName:   "a1-b2",
			wantKeyID:  "ci_deploy",
			wantScopes: []tenant.Scope{tenant.ScopeChat, tenant.ScopeAdmin, tenant.ScopeUsageRead},
		},
		{
			name:       "CRISPY_TENANTS picks the folder",
			args:       []string{"initech"},
			env:        map[string]string{"CRISPY_TENANTS": "{dir}"},
			id:         "initech",
			wantName:   "initech",
			wantKeyID:  "main",
			wantScopes: defaultScopes,
		},
		{
			name:       "--tenants wins over CRISPY_TENANTS",
			args:       []string{"initech", "--tenants", "{dir}"},
			env:        map[string]string{"CRISPY_TENANTS": "{other}"},
			id:         "initech",
			wantName:   "initech",
			wantKeyID:  "main",
			wantScopes: defaultScopes,
		},
		{
			name:       "a tenants folder that does not exist yet",
			args:       []string{"initech", "--tenants", "{dir}/new/tenants"},
			id:         "initech",
			wantName:   "initech",
			wantKeyID:  "main",
			wantScopes: defaultScopes,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			root, other := t.TempDir(), t.TempDir()
			expand := func(s string) string {
				return strings.NewReplacer("{dir}", root, "{other}", other).Replace(s)
			}
			args := []string{"tenant", "new"}
			dir := root
			for i, a := range tt.args {
				args = append(args, expand(a))
				if i > 0 && tt.args[i-1] == "--tenants" {
					dir = expand(a)
				}
			}
			env := map[string]string{}
			for k, v := range tt.env {
				env[k] = expand(v)
			}

			got := runCLI(t, env, args...)
			if got.code != 0 {
				t.Fatalf("exit code: got %d, want 0\nstderr: %s", got.code, got.stderr)
			}
			if !keyLine.MatchString(got.stdout) {
				t.Fatalf("stdout: got %q, want one line with a ck_ key", got.stdout)
			}
			key := strings.TrimSuffix(got.stdout, "\n")
			file := filepath.Join(dir, tt.id, tenant.FileName)
			if !strings.Contains(got.stderr, "created "+file) {
				t.Errorf("stderr does not name the file %s:\n%s", file, got.stderr)
			}
			if strings.Contains(got.stderr, key) {
				t.Errorf("stderr contains the key; it belongs on stdout only")
			}
			if entries, err := os.ReadDir(other); err != nil || len(entries) > 0 {
				t.Errorf("%s: got %d entries (err %v), want the folder untouched", other, len(entries), err)
			}

			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(data), `"hash": "`+tenant.HashKey(key)+`"`) {
				t.Errorf("%s does not hold the hash of the printed key:\n%s", file, data)
			}
			if strings.Contains(string(data), key) {
				t.Errorf("%s holds the key itself", file)
			}

			// The file loads, and is valid even where development keys are not.
			cfgs, err := tenant.Load(dir, tenant.Options{})
			if err != nil {
				t.Fatalf("load the new tenant: %v", err)
			}
			if len(cfgs) != 1 {
				t.Fatalf("got %d tenants, want 1", len(cfgs))
			}
			c := cfgs[0]
			if c.ID != tt.id || c.Name != tt.wantName {
				t.Errorf("id, name: got %q, %q; want %q, %q", c.ID, c.Name, tt.id, tt.wantName)
			}
			if len(c.Keys) != 1 {
				t.Fatalf("got %d keys, want 1", len(c.Keys))
			}
			k := c.Keys[0]
			if k.ID != tt.wantKeyID || k.Dev || !slices.Equal(k.Scopes, tt.wantScopes) {
				t.Errorf("key: got id %q, dev %v, scopes %v; want %q, false, %v", k.ID, k.Dev, k.Scopes, tt.wantKeyID, tt.wantScopes)
			}
			v := runCLI(t, nil, "validate", dir, "--env", "prod")
			if want := "ok: 1 tenant(s) valid for --env prod: " + tt.id + "\n"; v.code != 0 || v.stdout != want {
				t.Errorf("validate --env prod: got exit %d, stdout %q, stderr %q; want 0, %q", v.code, v.stdout, v.stderr, want)
			}

			// The printed key, and only it, authenticates.
			reg, err := tenant.NewRegistry(cfgs, tenant.Options{})
			if err != nil {
				t.Fatal(err)
			}
			ten, rk, ok := reg.Authenticate(key)
			if !ok {
				t.Fatal("the printed key does not authenticate")
			}
			if ten.ID.String() != tt.id || rk.ID != tt.wantKeyID {
				t.Errorf("authenticated as tenant %q key %q, want %q key %q", ten.ID, rk.ID, tt.id, tt.wantKeyID)
			}
			for _, wrong := range []string{tenant.NewKey(), key[:len(key)-1], key + "0", strings.ToUpper(key)} {
				if _, _, ok := reg.Authenticate(wrong); ok {
					t.Errorf("key %q authenticates, want only the printed key to", wrong)
				}
			}
		})
	}
}

func TestTenantNewKeysDiffer(t *testing.T) {
	dir := t.TempDir()
	keys := map[string]bool{}
	for _, id := range []string{"one", "two", "three"} {
		got := runCLI(t, nil, "tenant", "new", id, "--tenants", dir)
		if got.code != 0 || !keyLine.MatchString(got.stdout) {
			t.Fatalf("tenant new %s: exit %d, stdout %q, stderr %q", id, got.code, got.stdout, got.stderr)
		}
		keys[got.stdout] = true
	}
	if len(keys) != 3 {
		t.Errorf("got %d distinct keys for 3 tenants", len(keys))
	}
	// Three tenants created one after another form a valid set.
	if got := runCLI(t, nil, "validate", dir, "--env", "prod"); got.code != 0 {
		t.Errorf("validate: exit %d\n%s%s", got.code, got.stdout, got.stderr)
	}
}

func TestTenantNewRefusesExisting(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string) // makes dir/initech exist
	}{
		{"created by tenant new", func(t *testing.T, dir string) {
			if got := runCLI(t, nil, "tenant", "new", "initech", "--tenants", dir); got.code != 0 {
				t.Fatalf("first tenant new: exit %d, stderr %q", got.code, got.stderr)
			}
		}},
		{"a folder without tenant.jsonc", func(t *testing.T, dir string) {
			if err := os.Mkdir(filepath.Join(dir, "initech"), 0o755); err != nil {
				t.Fatal(err)
			}
		}},
		{"a file in place of the folder", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, "initech"), []byte("keep me"), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			tt.setup(t, dir)
			before := snapshot(t, dir)

			got := runCLI(t, nil, "tenant", "new", "initech", "--tenants", dir, "--name", "Other")
			if got.code != 1 {
				t.Errorf("exit code: got %d, want 1", got.code)
			}
			if got.stdout != "" {
				t.Errorf("stdout: got %q, want no key", got.stdout)
			}
			if want := filepath.Join(dir, "initech") + " already exists"; !strings.Contains(got.stderr, want) {
				t.Errorf("stderr does not contain %q:\n%s", want, got.stderr)
			}
			if after := snapshot(t, dir); !maps.Equal(before, after) {
				t.Errorf("the tenants folder changed:\nbefore: %v\nafter:  %v", before, after)
			}
		})
	}
}

func TestTenantNewRejectsBadInput(t *testing.T) {
	tests := []struct {
		name       string
		args       []string // after "tenant new", before --tenants
		wantStderr []string
	}{
		{"uppercase and underscore in ID", []string{"Bad_ID"}, []string{`invalid tenant id "Bad_ID"`}},
		{"ID too short", []string{"a"}, []string{`invalid tenant id "a"`}},
		{"ID starting with a digit", []string{"9lives"}, []string{`invalid tenant id "9lives"`}},
		{"ID that escapes the folder", []string{"../evil"}, []string{`invalid tenant id "../evil"`}},
		{"ID with a separator", []string{"a/b"}, []string{`invalid tenant id "a/b"`}},
		{"empty ID", []string{""}, []string{`invalid tenant id ""`}},
		{"ID too long", []string{"a" + strings.Repeat("b", 63)}, []string{"invalid tenant id"}},
		{"unknown scope", []string{"initech", "--scopes", "root"}, []string{"/keys/0/scopes/0: ", "crispy: the new tenant would be invalid"}},
		{"one bad scope among good ones", []string{"initech", "--scopes", "chat,root"}, []string{"/keys/0/scopes/1: ", "crispy: the new tenant would be invalid"}},
		{"repeated scope", []string{"initech", "--scopes", "chat,chat"}, []string{"/keys/0/scopes: ", "crispy: the new tenant would be invalid"}},
		{"invalid key id", []string{"initech", "--key-id", "Bad Key"}, []string{"/keys/0/id: ", "crispy: the new tenant would be invalid"}},
		{"name too long", []string{"initech", "--name", strings.Repeat("n", 201)}, []string{"/name: ", "crispy: the new tenant would be invalid"}},
		{"two IDs", []string{"one", "two"}, []string{"accepts 1 arg(s), received 2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// The tenants folder is nested in a parent that must stay empty
			// too: "../evil" would land there.
			parent := t.TempDir()
			dir := filepath.Join(parent, "tenants")
			args := append(append([]string{"tenant", "new"}, tt.args...), "--tenants", dir)
			got := runCLI(t, nil, args...)
			if got.code != 2 {
				t.Errorf("exit code: got %d, want 2\nstderr: %s", got.code, got.stderr)
			}
			if got.stdout != "" {
				t.Errorf("stdout: got %q, want no key", got.stdout)
			}
			for _, s := range tt.wantStderr {
				if !strings.Contains(got.stderr, s) {
					t.Errorf("stderr does not contain %q:\n%s", s, got.stderr)
				}
			}
			if files := snapshot(t, parent); len(files) > 0 {
				t.Errorf("wrote %v, want nothing", files)
			}
		})
	}
}

// snapshot returns every path under dir with its content ("<dir>" for a
// folder), to compare a folder before and after a command.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if d.IsDir() {
			files[rel] = "<dir>"
			return nil
		}
		b, err := os.ReadFile(path)
		files[rel] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}
