package postgres_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/store/postgres"
)

// tenantTables are the tables that hold tenant data: every one of them
// must have row-level security, forced.
var tenantTables = []string{"audit", "audit_seq", "chunks", "corpus", "corpus_changes", "documents", "idempotency",
	"kv", "messages", "session_leases", "sessions", "usage", "usage_daily"}

// fill writes a row of acme's into every tenant table through the store.
func fill(t *testing.T, db *postgres.DB) {
	t.Helper()
	ctx := t.Context()
	if err := db.KV().Set(ctx, acme, "k", []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	rec := store.UsageRecord{Time: time.Now(), Tenant: acme, RequestID: "r", Status: "ok", TokensIn: 1}
	if err := db.Usage().AppendUsage(ctx, []store.UsageRecord{rec}); err != nil {
		t.Fatal(err)
	}
	opts := store.AppendOptions{Owner: "key:a", Idempotency: &store.IdempotencyRecord{Key: "i", Hash: "h", TTL: time.Hour}}
	if _, err := db.Sessions().AppendMessages(ctx, acme, "chat", []store.Message{{Role: "user", Content: "hi"}}, opts); err != nil {
		t.Fatal(err)
	}
	doc := store.DocumentRecord{ID: "doc", Title: "Doc"}
	chunks := []store.StoredChunk{{ID: "doc#0", DocID: "doc", Text: "text", Vector: []float32{1, 2}}}
	if _, err := db.Documents().PutDocument(ctx, acme, doc, chunks); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Audit().AppendAudit(ctx, store.AuditRecord{Time: time.Now(), Tenant: acme, Tool: "t", Outcome: "ok"}); err != nil {
		t.Fatal(err)
	}
	unlock, err := db.Sessions().LockSession(ctx, acme, "chat")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(unlock)
}

// TestRowLevelSecurity checks the defence in depth under the store's
// tenant filters: every tenant table has row-level security, forced, and
// is owned by another role than the one the store runs as; through a bare
// connection of that role, a query without a tenant sees no row and cannot
// write one, and a query with a tenant sees and writes that tenant's rows
// only.
func TestRowLevelSecurity(t *testing.T) {
	ctx := t.Context()
	// The tables' owner is not a superuser, as in production: row-level
	// security binds it too, being forced.
	dsn, ownerRole := postgres.OwnerDSN(t)
	db, err := postgres.Open(ctx, dsn, postgres.Options{Schema: postgres.NewSchema(), MaxConns: 2})
	if err != nil {
		t.Fatalf("Open as %s: %v", ownerRole, err)
	}
	defer db.Close()
	fill(t, db)
	raw := postgres.Raw(t, db.Schema())

	// Every table of the schema but schema_migrations and the operator's
	// config tables is a tenant table, with row-level security forced and
	// a policy.
	rows, err := raw.Query(ctx, `SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, pg_get_userbyid(c.relowner),
	(SELECT count(*) FROM pg_policies p WHERE p.schemaname = n.nspname AND p.tablename = c.relname AND p.policyname = 'tenant_isolation')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relkind = 'r' AND c.relname <> 'schema_migrations' AND c.relname NOT LIKE 'config\_%'
ORDER BY c.relname`, db.Schema())
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	var name, owner string
	var rls, force bool
	var policies int
	_, err = pgx.ForEachRow(rows, []any{&name, &rls, &force, &owner, &policies}, func() error {
		tables = append(tables, name)
		if !rls || !force || policies != 1 {
			t.Errorf("table %s: row security %v, forced %v, %d tenant policies; want true, true, 1", name, rls, force, policies)
		}
		if owner != ownerRole {
			t.Errorf("table %s is owned by %s, want %s, the DSN's user, not the role the store runs as", name, owner, ownerRole)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tables, tenantTables) {
		t.Errorf("tables %q, want %q", tables, tenantTables)
	}

	if _, err := raw.Exec(ctx, "SET ROLE "+postgres.AppRole); err != nil {
		t.Fatal(err)
	}
	// The config tables are not the app's at all: not a row of them may
	// be read or written as crispy_app, whatever the tenant.
	for _, stmt := range []string{
		`SELECT count(*) FROM config_versions`, `SELECT count(*) FROM config_active`, `SELECT count(*) FROM config_events`, `SELECT epoch FROM config_epoch`,
		`UPDATE config_epoch SET epoch = epoch + 1`,
	} {
		_, err := raw.Exec(ctx, stmt)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "42501" {
			t.Errorf("%s as %s = %v, want permission denied", stmt, postgres.AppRole, err)
		}
	}
	count := func(table string) int {
		t.Helper()
		var n int
		if err := raw.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			t.Fatalf("count %s: %v", table, err)
		}
		return n
	}
	setTenant := func(id string) {
		t.Helper()
		// Session-wide, for the test: the store sets it per transaction.
		if _, err := raw.Exec(ctx, `SELECT set_config('crispy.tenant', $1, false)`, id); err != nil {
			t.Fatal(err)
		}
	}
	wantDenied := func(what string, err error) {
		t.Helper()
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "42501" { // insufficient_privilege: the policy's check
			t.Errorf("%s = %v, want a row-level security violation", what, err)
		}
	}
	insertKV := `INSERT INTO kv (tenant, key, value) VALUES ('acme', 'sneaky', 'x')`
	insertDoc := `INSERT INTO documents (tenant, id, title, url, format, metadata, hash, embedding_model, bytes, chunks, uploaded_by, created, updated)
VALUES ('acme', 'sneaky', '', '', '', '{}', '', '', 0, 0, '', 0, 0)`

	// No tenant: nothing to see, nothing to write, nothing to change.
	for _, table := range tenantTables {
		if n := count(table); n != 0 {
			t.Errorf("without a tenant, %s shows %d rows, want 0", table, n)
		}
	}
	_, err = raw.Exec(ctx, insertKV)
	wantDenied("INSERT INTO kv without a tenant", err)
	_, err = raw.Exec(ctx, insertDoc)
	wantDenied("INSERT INTO documents without a tenant", err)
	if tag, err := raw.Exec(ctx, `DELETE FROM messages`); err != nil || tag.RowsAffected() != 0 {
		t.Errorf("DELETE FROM messages without a tenant = %v, %v; want 0 rows", tag, err)
	}
	if tag, err := raw.Exec(ctx, `UPDATE corpus SET version = 0`); err != nil || tag.RowsAffected() != 0 {
		t.Errorf("UPDATE corpus without a tenant = %v, %v; want 0 rows", tag, err)
	}

	// Another tenant: nothing of acme's, and no writing as acme.
	setTenant("globex")
	for _, table := range tenantTables {
		if n := count(table); n != 0 {
			t.Errorf("as globex, %s shows %d rows, want 0", table, n)
		}
	}
	_, err = raw.Exec(ctx, insertKV)
	wantDenied("INSERT INTO kv of acme as globex", err)
	_, err = raw.Exec(ctx, `UPDATE kv SET tenant = 'globex'`)
	if err != nil {
		t.Errorf("UPDATE kv as globex: %v", err)
	}

	// The tenant: its rows, all of them, and it may not hand them to
	// another tenant.
	setTenant("acme")
	for _, table := range tenantTables {
		if n := count(table); n == 0 {
			t.Errorf("as acme, %s shows no row, want acme's", table)
		}
	}
	_, err = raw.Exec(ctx, `UPDATE kv SET tenant = 'globex'`)
	wantDenied("UPDATE kv to another tenant as acme", err)

	// The policies bind the tables' owner too: FORCE.
	if _, err := raw.Exec(ctx, `RESET ROLE`); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(ctx, "SET ROLE "+owner); err != nil {
		t.Fatal(err)
	}
	setTenant("")
	if n := count("kv"); n != 0 {
		t.Errorf("the owner %s sees %d kv rows without a tenant, want 0", owner, n)
	}
	_, err = raw.Exec(ctx, insertKV)
	wantDenied("INSERT INTO kv without a tenant as the owner", err)
}

// TestConnectionRole checks that the store's connections run as AppRole.
func TestConnectionRole(t *testing.T) {
	db := postgres.OpenTest(t, postgres.Options{})
	user, err := postgres.CurrentUser(t.Context(), db)
	if err != nil || user != postgres.AppRole {
		t.Errorf("current_user = %q, %v; want %q", user, err, postgres.AppRole)
	}
}

// TestText checks that text PostgreSQL cannot hold (NUL, invalid UTF-8) is
// store.ErrInvalid, and writes nothing.
func TestText(t *testing.T) {
	ctx := t.Context()
	db := postgres.OpenTest(t, postgres.Options{})
	for _, content := range []string{"nul \x00 inside", "invalid \xff utf-8"} {
		_, err := db.Sessions().AppendMessages(ctx, acme, "chat", []store.Message{{Role: "user", Content: content}}, store.AppendOptions{})
		if !errors.Is(err, store.ErrInvalid) {
			t.Errorf("AppendMessages(%q) = %v, want ErrInvalid", content, err)
		}
		doc := store.DocumentRecord{ID: "doc", Title: content}
		if _, err := db.Documents().PutDocument(ctx, acme, doc, nil); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("PutDocument(title %q) = %v, want ErrInvalid", content, err)
		}
	}
	if _, err := db.Sessions().Session(ctx, acme, "chat"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Session after the refused appends = %v, want ErrNotFound", err)
	}
	if v, err := db.Documents().CorpusVersion(ctx, acme); err != nil || v != 0 {
		t.Errorf("CorpusVersion after the refused puts = %d, %v; want 0", v, err)
	}
	// KV keys are bytes: any of them is a key.
	for _, key := range []string{"nul \x00", "\xff\xfe"} {
		if err := db.KV().Set(ctx, acme, key, []byte("v"), 0); err != nil {
			t.Errorf("Set(%q): %v", key, err)
		}
	}
}
