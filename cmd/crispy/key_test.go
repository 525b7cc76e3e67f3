package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/tenant"
	"github.com/crispy-enigma/crispy/tenants"
)

// editableExamples writes the example tenants to a folder the test may edit.
func editableExamples(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tenants")
	if err := os.CopyFS(dir, tenants.Examples); err != nil {
		t.Fatal(err)
	}
	return dir
}

// registryOf loads dir as a server in env dev would.
func registryOf(t *testing.T, dir string) *tenant.Registry {
	t.Helper()
	cfgs, err := tenant.Load(dir, tenant.Options{AllowDevKeys: true})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := tenant.NewRegistry(cfgs, tenant.Options{AllowDevKeys: true})
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func TestKeyNewRevokeRotate(t *testing.T) {
	dir := editableExamples(t)
	clock := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	now = func() time.Time { return clock }
	t.Cleanup(func() { now = time.Now })
	file := filepath.Join(dir, "acme", tenant.FileName)

	// key new: prints the key once, on stdout; the file keeps its comments.
	got := runCLI(t, nil, "key", "new", "acme", "--tenants", dir, "--scopes", "chat,search", "--description", "website widget")
	if got.code != 0 {
		t.Fatalf("key new: %d\n%s", got.code, got.stderr)
	}
	key := strings.TrimSpace(got.stdout)
	if !strings.HasPrefix(key, tenant.KeyPrefix) || strings.Count(got.stdout, "\n") != 1 {
		t.Fatalf("stdout = %q, want the key alone", got.stdout)
	}
	b, _ := os.ReadFile(file)
	if strings.Contains(string(b), key) || !strings.Contains(string(b), "// The development key ck_dev_acme.") {
		t.Errorf("the file holds the key, or lost its comments:\n%s", b)
	}
	id, err := registryOf(t, dir).Resolve(tenant.Request{Authorization: "Bearer " + key, Scope: tenant.ScopeSearch})
	if err != nil || id.Tenant.ID.String() != "acme" || id.KeyID() != "k20260504" {
		t.Fatalf("the new key resolves to %+v, %v", id, err)
	}
	if _, err := registryOf(t, dir).Resolve(tenant.Request{Authorization: "Bearer " + key, Scope: tenant.ScopeDocumentsWrite}); err == nil {
		t.Error("the new key has a scope it was not given")
	}

	// A second key the same day gets a free ID.
	if got := runCLI(t, nil, "key", "new", "acme", "--tenants", dir); got.code != 0 || !strings.Contains(got.stderr, `"k20260504-2"`) {
		t.Fatalf("second key new: %d\n%s", got.code, got.stderr)
	}

	// key rotate: a new key with the old one's scopes; the old one works
	// until the overlap ends, then answers 401.
	got = runCLI(t, nil, "key", "rotate", "acme", "k20260504", "--tenants", dir, "--overlap", "2h", "--id", "web2")
	if got.code != 0 {
		t.Fatalf("key rotate: %d\n%s", got.code, got.stderr)
	}
	rotated := strings.TrimSpace(got.stdout)
	reg := registryOf(t, dir)
	id, err = reg.Resolve(tenant.Request{Authorization: "Bearer " + rotated, Scope: tenant.ScopeSearch, Now: clock.Add(time.Hour)})
	if err != nil || id.KeyID() != "web2" || id.Key.Description != "website widget" || len(id.Key.Scopes) != 2 {
		t.Fatalf("the rotated key: %+v, %v", id.Key, err)
	}
	if _, err := reg.Resolve(tenant.Request{Authorization: "Bearer " + key, Now: clock.Add(time.Hour)}); err != nil {
		t.Errorf("the old key within the overlap: %v", err)
	}
	if _, err := reg.Resolve(tenant.Request{Authorization: "Bearer " + key, Now: clock.Add(2 * time.Hour)}); err == nil {
		t.Error("the old key works after the overlap")
	}
	if b, _ := os.ReadFile(file); !strings.Contains(string(b), `"expires": "2026-05-04T12:00:00Z"`) {
		t.Errorf("no expires on the old key:\n%s", b)
	}

	// key revoke: the key is gone from the file.
	if got := runCLI(t, nil, "key", "revoke", "acme", "web2", "--tenants", dir); got.code != 0 {
		t.Fatalf("key revoke: %d\n%s", got.code, got.stderr)
	}
	if _, err := registryOf(t, dir).Resolve(tenant.Request{Authorization: "Bearer " + rotated, Now: clock}); err == nil {
		t.Error("a revoked key still works")
	}
}

func TestKeyCommandsRefuse(t *testing.T) {
	dir := editableExamples(t)
	before, _ := os.ReadFile(filepath.Join(dir, "globex", tenant.FileName))
	for _, tt := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"revoke the only key", []string{"key", "revoke", "globex", "dev"}, 1, "only key"},
		{"revoke a missing key", []string{"key", "revoke", "globex", "nope"}, 1, `no such key "nope"`},
		{"rotate a missing key", []string{"key", "rotate", "globex", "nope"}, 1, `has no key "nope"`},
		{"unknown tenant", []string{"key", "new", "initech"}, 1, "crispy tenant new initech"},
		{"bad scope", []string{"key", "new", "globex", "--scopes", "everything"}, 1, "/keys/1/scopes/0"},
		{"ID in use", []string{"key", "new", "globex", "--id", "dev"}, 1, `key id "dev" is already used`},
		{"negative overlap", []string{"key", "rotate", "globex", "dev", "--overlap", "-1h"}, 2, "negative"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := runCLI(t, nil, append(tt.args, "--tenants", dir)...)
			if got.code != tt.code || !strings.Contains(got.stderr, tt.msg) || got.stdout != "" {
				t.Errorf("code %d, stdout %q, stderr %q; want code %d and %q", got.code, got.stdout, got.stderr, tt.code, tt.msg)
			}
		})
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "globex", tenant.FileName)); string(after) != string(before) {
		t.Errorf("a refused command changed the file:\n%s", after)
	}
}

func TestInit(t *testing.T) {
	dir := t.TempDir()
	got := runCLI(t, nil, "init", dir)
	if got.code != 0 {
		t.Fatalf("init: %d\n%s", got.code, got.stderr)
	}
	for _, f := range []string{"tenants/acme/tenant.jsonc", "tenants/acme/docs/travel-handbook.md", "tenants/globex/tenant.jsonc", "schema/tenant.schema.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("init did not write %s: %v", f, err)
		}
	}
	// The copy is valid, and its $schema reference finds the schema.
	if got := runCLI(t, nil, "validate", filepath.Join(dir, "tenants")); got.code != 0 {
		t.Errorf("validate the copy: %d\n%s%s", got.code, got.stdout, got.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "tenants", "acme", "../../schema/tenant.schema.json")); err != nil {
		t.Errorf("$schema does not resolve: %v", err)
	}

	// A second init refuses to overwrite, and writes nothing.
	edited := filepath.Join(dir, "tenants", "globex", tenant.FileName)
	if err := os.WriteFile(edited, []byte("// mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "schema", "tenant.schema.json"))
	got = runCLI(t, nil, "init", dir)
	if got.code != 1 || !strings.Contains(got.stderr, "refusing to overwrite") || !strings.Contains(got.stderr, edited) {
		t.Errorf("second init: code %d\n%s", got.code, got.stderr)
	}
	if b, _ := os.ReadFile(edited); string(b) != "// mine\n" {
		t.Error("a refused init overwrote a file")
	}
	if _, err := os.Stat(filepath.Join(dir, "schema", "tenant.schema.json")); err == nil {
		t.Error("a refused init wrote a missing file")
	}
	// --force overwrites.
	if got := runCLI(t, nil, "init", dir, "--force"); got.code != 0 {
		t.Fatalf("init --force: %d\n%s", got.code, got.stderr)
	}
	if b, _ := os.ReadFile(edited); string(b) == "// mine\n" {
		t.Error("init --force left the file as it was")
	}
}
