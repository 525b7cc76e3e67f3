package app

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/config"
	"github.com/crispy-enigma/crispy/internal/tenant"
	"github.com/crispy-enigma/crispy/tenants"
)

// TestReloadSwapsOneSnapshot reloads a config that removes globex and adds
// initech: the new snapshot's registry, catalog and speech adapters all
// agree, and the snapshot a request took before the reload is unchanged.
func TestReloadSwapsOneSnapshot(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, tenants.Examples); err != nil {
		t.Fatal(err)
	}
	cfg := config.Defaults()
	cfg.DataDir, cfg.TenantsDir, cfg.ShutdownTimeout = t.TempDir(), dir, 5*time.Second
	a, err := New(context.Background(), cfg, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	before := a.current.Load()

	if err := os.RemoveAll(filepath.Join(dir, "globex")); err != nil {
		t.Fatal(err)
	}
	initech := []byte(`{"id":"initech","name":"Initech","keys":[{"id":"k","hash":"` + tenant.HashKey("ck_initech_0001") + `","scopes":["chat"]}],
		"providers":{"up":{"type":"openai","baseUrl":"http://127.0.0.1:1/v1"}},"tts":{"adapter":"disabled"}}`)
	if err := os.MkdirAll(filepath.Join(dir, "initech"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "initech", tenant.FileName), initech, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	after := a.current.Load()
	if after == before {
		t.Fatal("the reload stored no new snapshot")
	}
	for _, c := range []struct {
		snap *snapshot
		has  map[string]bool
	}{
		{before, map[string]bool{"acme": true, "globex": true, "initech": false}},
		{after, map[string]bool{"acme": true, "globex": false, "initech": true}},
	} {
		for id, want := range c.has {
			_, inRegistry := c.snap.registry.Tenant(id)
			_, hasVoice := c.snap.voices[id]
			if inRegistry != want || hasVoice != want {
				t.Errorf("snapshot %p, tenant %s: in the registry %v, with a voice %v; want both %v", c.snap, id, inRegistry, hasVoice, want)
			}
			if id == "initech" {
				if _, inCatalog := c.snap.catalog.Adapter(id, "up"); inCatalog != want {
					t.Errorf("snapshot %p: initech's provider in the catalog %v, want %v", c.snap, inCatalog, want)
				}
			}
		}
	}
	if a.Registry() != after.registry {
		t.Error("Registry() is not the registry of the snapshot in force")
	}
}
