package sqlite

import (
	"database/sql"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// TestAuditMigrationRenumbers upgrades a database whose audit IDs were one
// sequence for every tenant: each tenant's records keep their order and are
// numbered 1 to n, and the next append of a tenant gets n+1.
func TestAuditMigrationRenumbers(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "crispy.db")
	raw, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetMaxOpenConns(1)
	ms, err := loadMigrations(migrationFiles, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.ExecContext(ctx, `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Version > 7 { // 0007 is the last schema with one global sequence
			break
		}
		if err := applyMigration(ctx, raw, m, time.Now); err != nil {
			t.Fatalf("%s: %v", m.Name, err)
		}
	}
	// Global IDs 1 to 7: acme gets 1, 4, 5, 7; globex 2, 3, 6.
	owners := []string{"acme", "globex", "globex", "acme", "acme", "globex", "acme"}
	for i, tid := range owners {
		_, err := raw.ExecContext(ctx, `INSERT INTO audit (id, tenant, ts, request_id, key_id, tool, args_sha256, outcome, error_code, latency_us, from_model)
VALUES (?, ?, ?, ?, '', 'summarize', '', 'ok', '', 0, 0)`, i+1, tid, i, "req-"+string(rune('a'+i)))
		if err != nil {
			t.Fatal(err)
		}
	}
	raw.Close()

	db, err := Open(ctx, path, Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a := db.Audit()
	for _, tt := range []struct {
		tid  tenant.ID
		reqs []string // newest first
	}{
		{tenant.MustID("acme"), []string{"req-g", "req-e", "req-d", "req-a"}},
		{tenant.MustID("globex"), []string{"req-f", "req-c", "req-b"}},
	} {
		recs, err := a.AuditRecords(ctx, tt.tid, store.AuditFilter{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		var gotIDs, wantIDs []int64
		var gotReqs []string
		for i, r := range recs {
			gotIDs, gotReqs = append(gotIDs, r.ID), append(gotReqs, r.RequestID)
			wantIDs = append(wantIDs, int64(len(tt.reqs)-i))
		}
		if !slices.Equal(gotIDs, wantIDs) || !slices.Equal(gotReqs, tt.reqs) {
			t.Errorf("%s after migration: IDs %v, requests %v; want IDs %v, requests %v", tt.tid, gotIDs, gotReqs, wantIDs, tt.reqs)
		}
		id, err := a.AppendAudit(ctx, store.AuditRecord{Tenant: tt.tid, Time: time.Now(), Tool: "summarize", Outcome: "ok"})
		if err != nil || id != int64(len(tt.reqs)+1) {
			t.Errorf("%s: next AppendAudit = %d, %v; want %d", tt.tid, id, err, len(tt.reqs)+1)
		}
	}
}
