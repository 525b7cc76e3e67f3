package app_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/config"
	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/store/postgres"
	"github.com/crispy-enigma/crispy/internal/store/postgres/pgtest"
	"github.com/crispy-enigma/crispy/internal/store/sqlite"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// configTenant is acme with the dev key and, if extra is not empty, a
// second key of that name.
func configTenant(extra string) string {
	keys := fmt.Sprintf(`{"id": "dev", "hash": %q, "scopes": ["chat", "usage:read"], "dev": true}`, acmeDevHash)
	if extra != "" {
		keys += fmt.Sprintf(`, {"id": %q, "hash": %q, "scopes": ["usage:read"]}`, extra, keyHash("ck_"+extra+"_acme"))
	}
	return fmt.Sprintf(`{
  "id": "acme", "name": "Acme",
  "keys": [%s],
  "models": {"chat": {"model": "builtin/extractive"}, "embedding": {"model": "builtin/hash-64"}},
}`, keys)
}

// keyWorks reports whether key is accepted by the server at url.
func keyWorks(t *testing.T, url, key string) bool {
	t.Helper()
	status, _, err := getStatus(url+"/usage", key)
	if err != nil {
		t.Fatal(err)
	}
	return status == 200
}

// configVersion returns the version of tenant's config that s reports in
// its metrics, or "" when none.
func configVersion(t *testing.T, s *started, id string) string {
	t.Helper()
	prefix := `crispy_tenant_config_version{tenant="` + id + `"} `
	for _, l := range strings.Split(scrape(t, s), "\n") {
		if v, ok := strings.CutPrefix(l, prefix); ok {
			return v
		}
	}
	return ""
}

// TestConfigVersions: a server on its folder deploys it to its store as
// version 1 at start; a reload of a changed folder makes version 2, a
// reload of the same folder makes nothing, an invalid folder is refused
// and changes nothing, and the history records each version.
func TestConfigVersions(t *testing.T) {
	dir := t.TempDir()
	writeTenant(t, dir, "acme", configTenant(""))
	cfg := testConfig(t, dir)
	s := start(t, cfg)
	if v := configVersion(t, s, "acme"); v != "1" {
		t.Fatalf("acme's config version at start = %q, want 1", v)
	}
	if keyWorks(t, s.url, "ck_ops_acme") {
		t.Fatal("a key not yet deployed works")
	}

	writeTenant(t, dir, "acme", configTenant("ops"))
	if err := s.app.Reload(); err != nil {
		t.Fatal(err)
	}
	if v := configVersion(t, s, "acme"); v != "2" || !keyWorks(t, s.url, "ck_ops_acme") {
		t.Fatalf("after a reload: version %q, new key works %v", v, keyWorks(t, s.url, "ck_ops_acme"))
	}
	if err := s.app.Reload(); err != nil {
		t.Fatal(err)
	}
	if v := configVersion(t, s, "acme"); v != "2" {
		t.Errorf("a reload of the same folder made version %s", v)
	}

	writeTenant(t, dir, "acme", `{"id": "acme"`)
	if err := s.app.Reload(); err == nil {
		t.Fatal("an invalid folder was accepted")
	}
	if v := configVersion(t, s, "acme"); v != "2" || !keyWorks(t, s.url, "ck_ops_acme") {
		t.Errorf("after a refused reload: version %q", v)
	}
	s.stop(t)

	// The store holds the history: two versions, the second active.
	db, err := sqlite.Open(context.Background(), filepath.Join(cfg.DataDir, "crispy.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	hist, active, err := db.Configs().ConfigHistory(context.Background(), tenant.MustID("acme"), 10)
	if err != nil || active != 2 || len(hist) != 2 || !strings.Contains(string(hist[0].Content), `"ops"`) || !strings.HasPrefix(hist[0].Author, "crispy serve on ") {
		t.Errorf("history = %d versions, active %d, %v; newest %+v", len(hist), active, err, hist)
	}
}

// TestConfigAcrossReplicas runs replicas on one PostgreSQL: a config
// deployed through one (its folder changed and reloaded) is served by the
// other without a signal, and by a replica that reads its configs from the
// store alone; a set deployed to the store that fails validation is refused
// by every replica, which keep serving the previous one, until a good one
// is deployed.
func TestConfigAcrossReplicas(t *testing.T) {
	dsn := pgtest.DSN(t)
	dirA, dirB := t.TempDir(), t.TempDir()
	for _, dir := range []string{dirA, dirB} {
		writeTenant(t, dir, "acme", configTenant(""))
	}
	cfgA, cfgB := testConfig(t, dirA), testConfig(t, dirB)
	cfgA.Store, cfgB.Store = dsn, dsn
	a, b := start(t, cfgA), start(t, cfgB)
	cfgC := testConfig(t, filepath.Join(t.TempDir(), "absent"))
	cfgC.Store, cfgC.ConfigSource = dsn, config.ConfigFromStore
	c := start(t, cfgC)
	for _, s := range []*started{a, b, c} {
		if v := configVersion(t, s, "acme"); v != "1" {
			t.Fatalf("acme's version = %q, want 1 (the same folder deployed twice is one version)", v)
		}
	}

	writeTenant(t, dirA, "acme", configTenant("ops"))
	if err := a.app.Reload(); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]*started{"b": b, "c": c} {
		took := eventually(t, 5*time.Second, "the new key on replica "+name, func() error {
			if !keyWorks(t, s.url, "ck_ops_acme") {
				return fmt.Errorf("refused")
			}
			return nil
		})
		t.Logf("replica %s served the deployed config %v after the deploy", name, took)
		if v := configVersion(t, s, "acme"); v != "2" {
			t.Errorf("replica %s serves version %q, want 2", name, v)
		}
	}

	// An operator deploys a broken config straight to the store: every
	// replica refuses it and keeps serving version 2.
	db, err := postgres.Open(t.Context(), dsn, postgres.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Configs().Deploy(t.Context(), store.Deploy{Puts: []store.ConfigPut{{Tenant: tenant.MustID("acme"), Content: []byte(`{"id": "acme"}`)}}}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*started{a, b, c} {
		eventually(t, 5*time.Second, "the broken config refused", func() error {
			if !strings.Contains(scrape(t, s), `crispy_config_reloads_total{result="rejected"} 1`) {
				return fmt.Errorf("not refused yet")
			}
			return nil
		})
		if v := configVersion(t, s, "acme"); v != "2" || !keyWorks(t, s.url, "ck_ops_acme") {
			t.Errorf("after a broken deploy a replica serves version %q", v)
		}
	}
	// A rollback to version 1 through the store reaches every replica.
	if _, err := db.Configs().Activate(t.Context(), tenant.MustID("acme"), 1, "ops", "rollback"); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*started{a, b, c} {
		eventually(t, 5*time.Second, "the rollback", func() error {
			if keyWorks(t, s.url, "ck_ops_acme") {
				return fmt.Errorf("the key of version 2 still works")
			}
			return nil
		})
		if v := configVersion(t, s, "acme"); v != "1" || !keyWorks(t, s.url, "ck_dev_acme") {
			t.Errorf("after the rollback a replica serves version %q", v)
		}
	}
}

// TestConfigFromEmptyStore: a server that reads its configs from a store
// where nothing is deployed starts with no tenant and refuses every key.
func TestConfigFromEmptyStore(t *testing.T) {
	cfg := testConfig(t, filepath.Join(t.TempDir(), "absent"))
	cfg.ConfigSource = config.ConfigFromStore
	s := start(t, cfg)
	if keyWorks(t, s.url, "ck_dev_acme") {
		t.Error("a key works with no tenant deployed")
	}
	if _, err := os.Stat(cfg.TenantsDir); err == nil {
		t.Error("the tenants folder was created")
	}
}
