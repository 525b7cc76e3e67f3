package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crispy-enigma/crispy/internal/tenant"
)

func TestProviderNew(t *testing.T) {
	dir := t.TempDir()
	if r := runCLI(t, nil, "tenant", "new", "acme", "--tenants", dir); r.code != 0 {
		t.Fatalf("tenant new = %d %s", r.code, r.stderr)
	}
	for _, args := range [][]string{
		{"provider", "new", "acme", "openai", "--type", "openai"},
		{"provider", "new", "acme", "cf", "--type", "workersai", "--account-id", "0123456789abcdef0123456789abcdef", "--gateway", "main", "--gateway-token-env", "CF_AIG_TOKEN"},
	} {
		if r := runCLI(t, nil, append(args, "--tenants", dir)...); r.code != 0 {
			t.Fatalf("%v = %d %s", args, r.code, r.stderr)
		}
	}
	path := filepath.Join(dir, "acme", tenant.FileName)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, ps := tenant.Parse(path, data, tenant.Options{})
	if len(ps) > 0 {
		t.Fatalf("the edited tenant is invalid:\n%s", ps)
	}
	if p := cfg.Providers["openai"]; p.Type != "openai" || p.BaseURL != "https://api.openai.com/v1" || p.APIKeyEnv != "OPENAI_API_KEY" {
		t.Errorf("openai provider = %+v", p)
	}
	if p := cfg.Providers["cf"]; p.Type != "workersai" || p.Gateway == nil || p.Gateway.ID != "main" || p.APIKeyEnv != "CLOUDFLARE_API_TOKEN" {
		t.Errorf("workersai provider = %+v", p)
	}
	if !strings.Contains(string(data), "created by 'crispy tenant new'") {
		t.Error("the file's comments were lost")
	}
	if r := runCLI(t, nil, "validate", dir); r.code != 0 {
		t.Errorf("validate = %d %s%s", r.code, r.stdout, r.stderr)
	}
	// Refused, and nothing written: a duplicate, a workersai provider
	// without an account, an unknown type.
	for _, args := range [][]string{
		{"provider", "new", "acme", "openai", "--type", "openai"},
		{"provider", "new", "acme", "cf2", "--type", "workersai"},
		{"provider", "new", "acme", "x", "--type", "anthropic"},
	} {
		if r := runCLI(t, nil, append(args, "--tenants", dir)...); r.code == 0 {
			t.Errorf("%v succeeded", args)
		}
	}
	if after, _ := os.ReadFile(path); string(after) != string(data) {
		t.Error("a refused command changed the file")
	}
}
