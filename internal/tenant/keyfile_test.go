package tenant_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/tenant"
	"github.com/crispy-enigma/crispy/tenants"
)

// parseOK parses a tenant file that must be valid.
func parseOK(t *testing.T, data []byte) *tenant.Config {
	t.Helper()
	cfg, ps := tenant.Parse("tenant.jsonc", data, tenant.Options{AllowDevKeys: true})
	if len(ps) > 0 {
		t.Fatalf("invalid after the edit: %v\n%s", ps, data)
	}
	return cfg
}

func TestKeyEditsKeepCommentsAndLayout(t *testing.T) {
	orig, err := tenants.Examples.ReadFile("acme/tenant.jsonc")
	if err != nil {
		t.Fatal(err)
	}
	added, err := tenant.AddKey(orig, tenant.Key{ID: "web", Hash: tenant.HashKey("ck_web_00000001"), Scopes: []tenant.Scope{"chat", "search"}, Description: "website"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := parseOK(t, added)
	if len(cfg.Keys) != 2 || cfg.Keys[1].ID != "web" || cfg.Keys[1].Description != "website" || len(cfg.Keys[1].Scopes) != 2 {
		t.Fatalf("keys after AddKey = %+v", cfg.Keys)
	}
	// Everything but the new line is as it was: comments included.
	want := `      "description": "development key, all scopes",
    },
    { "id": "web", "hash": "` + tenant.HashKey("ck_web_00000001") + `", "scopes": ["chat", "search"], "description": "website" },
  ],`
	if !strings.Contains(string(added), want) {
		t.Errorf("the new key is not laid out like its neighbours:\n%s", added)
	}
	var kept []string
	for _, line := range strings.Split(string(added), "\n") {
		if !strings.Contains(line, `"id": "web"`) {
			kept = append(kept, line)
		}
	}
	if strings.Join(kept, "\n") != string(orig) {
		t.Errorf("AddKey changed more than its own line:\n%s", added)
	}

	when := time.Date(2026, 8, 1, 9, 30, 0, 0, time.UTC)
	expiring, err := tenant.SetKeyExpires(added, "dev", when)
	if err != nil {
		t.Fatal(err)
	}
	cfg = parseOK(t, expiring)
	if !cfg.Keys[0].Expires.Equal(when) || !cfg.Keys[1].Expires.IsZero() {
		t.Fatalf("expires = %v, %v", cfg.Keys[0].Expires, cfg.Keys[1].Expires)
	}
	if !strings.Contains(string(expiring), "      \"description\": \"development key, all scopes\",\n      \"expires\": \"2026-08-01T09:30:00Z\",\n    },") {
		t.Errorf("expires is not laid out like the key's other fields:\n%s", expiring)
	}
	// Setting it again replaces the value.
	again, err := tenant.SetKeyExpires(expiring, "dev", when.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if cfg = parseOK(t, again); !cfg.Keys[0].Expires.Equal(when.Add(time.Hour)) || strings.Count(string(again), `"expires"`) != 1 {
		t.Errorf("second SetKeyExpires:\n%s", again)
	}

	removed, err := tenant.RemoveKey(added, "web")
	if err != nil {
		t.Fatal(err)
	}
	if string(removed) != string(orig) {
		t.Errorf("adding then removing a key changed the file:\n%s", removed)
	}
	removedDev, err := tenant.RemoveKey(added, "dev")
	if err != nil {
		t.Fatal(err)
	}
	if cfg = parseOK(t, removedDev); len(cfg.Keys) != 1 || cfg.Keys[0].ID != "web" {
		t.Errorf("keys after removing dev = %+v", cfg.Keys)
	}
	if strings.Contains(string(removedDev), "ck_dev_acme") {
		t.Errorf("the removed key's comment stayed:\n%s", removedDev)
	}
}

func TestKeyEditsRefuse(t *testing.T) {
	orig, _ := tenants.Examples.ReadFile("globex/tenant.jsonc")
	if _, err := tenant.AddKey(orig, tenant.Key{ID: "dev", Hash: tenant.HashKey("ck_x_000000001"), Scopes: []tenant.Scope{"chat"}}); err == nil {
		t.Error("AddKey accepted a key ID in use")
	}
	if _, err := tenant.RemoveKey(orig, "dev"); err == nil || !strings.Contains(err.Error(), "only key") {
		t.Errorf("RemoveKey of the only key: %v", err)
	}
	if _, err := tenant.RemoveKey(orig, "nope"); !errors.Is(err, tenant.ErrNoKey) {
		t.Errorf("RemoveKey of a missing key: %v", err)
	}
	if _, err := tenant.SetKeyExpires(orig, "nope", time.Now()); !errors.Is(err, tenant.ErrNoKey) {
		t.Errorf("SetKeyExpires of a missing key: %v", err)
	}
}

func TestAddKeyToCompactFile(t *testing.T) {
	orig := []byte(`{"id":"tiny","name":"Tiny","keys":[{"id":"a","hash":"` + tenant.HashKey("ck_a_000000001") + `","scopes":["chat"]}]}`)
	out, err := tenant.AddKey(orig, tenant.Key{ID: "b", Hash: tenant.HashKey("ck_b_000000001"), Scopes: []tenant.Scope{"search"}})
	if err != nil {
		t.Fatal(err)
	}
	if cfg := parseOK(t, out); len(cfg.Keys) != 2 || cfg.Keys[1].ID != "b" {
		t.Fatalf("keys = %+v\n%s", cfg.Keys, out)
	}
	out, err = tenant.SetKeyExpires(out, "a", time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if cfg := parseOK(t, out); cfg.Keys[0].Expires.IsZero() {
		t.Fatalf("no expiry:\n%s", out)
	}
}
