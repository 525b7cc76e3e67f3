package sqlite

import (
	"database/sql"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// TestUsageQueryPlans checks that the usage queries read one tenant's rows
// through an index, in the order they return them, with no sort.
func TestUsageQueryPlans(t *testing.T) {
	db, _ := openTestDB(t)
	tests := []struct {
		name  string
		query string
		args  []any
		want  string
	}{
		{"records", usageRecords, []any{"acme", 0, 1, "", "", 10}, "USING INDEX usage_tenant_ts (tenant=? AND ts>? AND ts<?)"},
		{"rollup", usageRollup, []any{"acme", "", "~", "", ""}, "USING PRIMARY KEY (tenant=? AND day>? AND day<?)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, err := db.reader.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+tt.query, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			got := strings.Join(plan, "; ")
			if !strings.Contains(got, tt.want) || strings.Contains(got, "TEMP B-TREE") || strings.Contains(got, "SCAN") {
				t.Errorf("query plan = %q, want %q without a scan or a sort", got, tt.want)
			}
		})
	}
}

// TestUsageLatencyMigration upgrades a database whose daily rollup has no
// latency: its rows read with latency sums of 0, and appending to them adds
// the new records' latencies alone.
func TestUsageLatencyMigration(t *testing.T) {
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
		if m.Version > 12 { // 0012 is the last schema without latency in the rollup
			break
		}
		if err := applyMigration(ctx, raw, m, time.Now); err != nil {
			t.Fatalf("%s: %v", m.Name, err)
		}
	}
	// A row as the rollup wrote it before: no latency columns.
	_, err = raw.ExecContext(ctx, `INSERT INTO usage_daily (tenant, day, key_id, provider, model,
	requests, errors, fallbacks, cache_hits, tokens_in, tokens_out, cost_micros, tts_chars)
VALUES ('acme', '2026-03-01', 'key-a', 'openai', 'gpt-a', 4, 1, 0, 0, 40, 80, 120, 0)`)
	if err != nil {
		t.Fatal(err)
	}
	raw.Close()

	db, err := Open(ctx, path, Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	acme := tenant.MustID("acme")
	old := store.UsageRow{Day: "2026-03-01", KeyID: "key-a", Provider: "openai", Model: "gpt-a",
		Requests: 4, Errors: 1, TokensIn: 40, TokensOut: 80, CostMicros: 120}
	rows, err := db.Usage().UsageRollup(ctx, acme, store.UsageFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rows, []store.UsageRow{old}) {
		t.Errorf("UsageRollup after the migration = %+v, want [%+v]", rows, old)
	}

	rec := store.UsageRecord{Time: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), Tenant: acme, KeyID: "key-a",
		Provider: "openai", Model: "gpt-a", Status: "ok", Latency: 1500 * time.Millisecond, TTFT: 200 * time.Millisecond}
	if err := db.Usage().AppendUsage(ctx, []store.UsageRecord{rec}); err != nil {
		t.Fatal(err)
	}
	want := old
	want.Requests++
	want.LatencyMicros, want.TTFTMicros, want.TTFTRequests = 1_500_000, 200_000, 1
	rows, err = db.Usage().UsageRollup(ctx, acme, store.UsageFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rows, []store.UsageRow{want}) {
		t.Errorf("UsageRollup after an append = %+v, want [%+v]", rows, want)
	}
}
