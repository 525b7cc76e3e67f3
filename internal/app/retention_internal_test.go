package app

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/config"
	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// Audit records older than a tenant's tools.auditRetention (or the
// default 90 days) are deleted by the sweep; newer ones and other
// tenants' are kept.
func TestExpireAudit(t *testing.T) {
	dir := t.TempDir()
	for id, tools := range map[string]string{"short": `"tools": {"auditRetention": "1h"}`, "long": `"tools": {}`} {
		cfg := `{"id": "` + id + `", "name": "T", "keys": [{"id": "k", "hash": "` + tenant.HashKey("ck_"+id+"_0123456789") + `", "scopes": ["tools"]}], ` + tools + `}`
		if err := os.MkdirAll(filepath.Join(dir, id), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, id, tenant.FileName), []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := config.Defaults()
	cfg.DataDir, cfg.TenantsDir = t.TempDir(), dir
	a, err := New(context.Background(), cfg, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	now := time.Now()
	ctx := t.Context()
	audit := a.db.Audit()
	for _, id := range []string{"short", "long"} {
		for _, age := range []time.Duration{2 * time.Hour, 30 * time.Minute, 100 * 24 * time.Hour} {
			rec := store.AuditRecord{Tenant: tenant.MustID(id), Time: now.Add(-age), Tool: "summarize", Outcome: "ok"}
			if _, err := audit.AppendAudit(ctx, rec); err != nil {
				t.Fatal(err)
			}
		}
	}
	a.expireAudit(ctx, a.Registry().Tenants(), now)
	for id, want := range map[string]int{"short": 1, "long": 2} {
		recs, err := audit.AuditRecords(ctx, tenant.MustID(id), store.AuditFilter{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != want {
			t.Errorf("%s keeps %d records, want %d", id, len(recs), want)
		}
	}
}
