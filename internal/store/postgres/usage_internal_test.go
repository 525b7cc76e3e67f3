package postgres

import (
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// TestUsageLatencyMigration upgrades a schema whose daily rollup has no
// latency: its rows read with latency sums of 0, through the store's role
// and policies, and appending to them adds the new records' latencies
// alone.
func TestUsageLatencyMigration(t *testing.T) {
	ctx := t.Context()
	dsn := DSNForTest(t)
	schema := NewSchema()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := ensureRoles(ctx, conn); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		"CREATE SCHEMA " + schema,
		"SET search_path TO " + schema,
		`CREATE TABLE schema_migrations (version integer PRIMARY KEY, applied_at bigint NOT NULL)`,
	} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	ms, err := loadMigrations(migrationFiles, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Version > 4 { // 0004 is the last schema without latency in the rollup
			break
		}
		if err := applyMigration(ctx, conn, m, time.Now); err != nil {
			t.Fatalf("%s: %v", m.Name, err)
		}
	}
	// A row as the rollup wrote it before: no latency columns. The
	// superuser is not bound by row-level security.
	_, err = conn.Exec(ctx, `INSERT INTO usage_daily (tenant, day, key_id, provider, model,
	requests, errors, fallbacks, cache_hits, tokens_in, tokens_out, cost_micros, tts_chars)
VALUES ('acme', '2026-03-01', 'key-a', 'openai', 'gpt-a', 4, 1, 0, 0, 40, 80, 120, 0)`)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)

	db, err := Open(ctx, dsn, Options{Schema: schema, MaxConns: 2})
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
