package postgres_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/store/postgres"
)

// TestConcurrentOpen opens a fresh schema from four openers at once, as
// replicas starting together do: all of them succeed, and the schema is
// migrated once.
func TestConcurrentOpen(t *testing.T) {
	dsn := postgres.DSNForTest(t)
	schema := postgres.NewSchema()
	const openers = 4
	dbs := make([]*postgres.DB, openers)
	errs := make([]error, openers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range openers {
		wg.Go(func() {
			<-start
			dbs[i], errs[i] = postgres.Open(t.Context(), dsn, postgres.Options{Schema: schema, MaxConns: 2})
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("opener %d: %v", i, err)
			continue
		}
		defer dbs[i].Close()
	}
	if t.Failed() {
		return
	}
	raw := postgres.Raw(t, schema)
	var versions, applied int
	err := raw.QueryRow(t.Context(), `SELECT count(*), count(DISTINCT applied_at) FROM schema_migrations`).Scan(&versions, &applied)
	if err != nil {
		t.Fatal(err)
	}
	if want := postgres.Migrations(); versions != want {
		t.Errorf("schema_migrations holds %d versions, want %d", versions, want)
	}
	// Every opener works on the one schema.
	for i, db := range dbs {
		if err := db.KV().Set(t.Context(), acme, "opener", []byte{byte(i)}, 0); err != nil {
			t.Errorf("opener %d: Set: %v", i, err)
		}
	}
	if got, err := dbs[0].KV().Get(t.Context(), acme, "opener"); err != nil || len(got) != 1 || got[0] != openers-1 {
		t.Errorf("Get = %v, %v; want the last opener's value", got, err)
	}
}

// TestMigrationsIdempotent opens one schema again and again: the schema
// is migrated once and the data stays.
func TestMigrationsIdempotent(t *testing.T) {
	db := postgres.OpenTest(t, postgres.Options{})
	if err := db.KV().Set(t.Context(), acme, "k", []byte("kept"), 0); err != nil {
		t.Fatal(err)
	}
	again := postgres.OpenTest(t, postgres.Options{Schema: db.Schema()})
	if got, err := again.KV().Get(t.Context(), acme, "k"); err != nil || string(got) != "kept" {
		t.Errorf("Get after reopening = %q, %v; want kept", got, err)
	}
}

// TestSweep checks that Sweep deletes the expired KV values and
// idempotency records of every tenant, and nothing else.
func TestSweep(t *testing.T) {
	ctx := t.Context()
	clock := &fakeClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	db := postgres.OpenTest(t, postgres.Options{Now: clock.Now, SweepInterval: -1})
	kv := db.KV()
	for _, s := range []struct {
		key string
		ttl time.Duration
	}{{"forever", 0}, {"second", time.Second}, {"minute", time.Minute}, {"hour", time.Hour}} {
		if err := kv.Set(ctx, acme, s.key, []byte("v"), s.ttl); err != nil {
			t.Fatal(err)
		}
		if err := kv.Set(ctx, globex, s.key, []byte("v"), s.ttl); err != nil {
			t.Fatal(err)
		}
	}
	rec := &store.IdempotencyRecord{Key: "turn", Hash: "h", TTL: time.Minute}
	if _, err := db.Sessions().AppendMessages(ctx, acme, "chat", []store.Message{{Role: "user", Content: "x"}}, store.AppendOptions{Idempotency: rec}); err != nil {
		t.Fatal(err)
	}
	if n, err := db.Sweep(ctx); err != nil || n != 0 {
		t.Fatalf("Sweep before anything expired = %d, %v; want 0, nil", n, err)
	}
	clock.Advance(time.Minute) // expiry is inclusive: "minute" expires now
	n, err := db.Sweep(ctx)
	if err != nil || n != 5 { // second and minute of two tenants, and the record
		t.Fatalf("Sweep = %d, %v; want 5, nil", n, err)
	}
	raw := postgres.Raw(t, db.Schema())
	var rows, records, messages int
	if err := raw.QueryRow(ctx, `SELECT (SELECT count(*) FROM kv), (SELECT count(*) FROM idempotency), (SELECT count(*) FROM messages)`).Scan(&rows, &records, &messages); err != nil {
		t.Fatal(err)
	}
	if rows != 4 || records != 0 || messages != 1 {
		t.Errorf("after Sweep: %d kv rows, %d idempotency records, %d messages; want 4, 0, 1", rows, records, messages)
	}
	for _, key := range []string{"forever", "hour"} {
		if _, err := kv.Get(ctx, globex, key); err != nil {
			t.Errorf("Get(globex, %s) after Sweep: %v", key, err)
		}
	}
}

// TestSweeper checks that the sweeper goroutine sweeps on its own.
func TestSweeper(t *testing.T) {
	db := postgres.OpenTest(t, postgres.Options{SweepInterval: 20 * time.Millisecond})
	if err := db.KV().Set(t.Context(), acme, "short", []byte("v"), time.Millisecond); err != nil {
		t.Fatal(err)
	}
	raw := postgres.Raw(t, db.Schema())
	deadline := time.Now().Add(5 * time.Second)
	for {
		var n int
		if err := raw.QueryRow(t.Context(), `SELECT count(*) FROM kv`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d kv rows left 5s after they expired", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestClosed checks that every call after Close is store.ErrClosed.
func TestClosed(t *testing.T) {
	ctx := t.Context()
	db, err := postgres.Open(ctx, postgres.DSNForTest(t), postgres.Options{Schema: postgres.NewSchema(), MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	checks := map[string]error{
		"Ping":        db.Ping(ctx),
		"Set":         db.KV().Set(ctx, acme, "k", nil, 0),
		"AppendUsage": db.Usage().AppendUsage(ctx, []store.UsageRecord{{Time: time.Now(), Tenant: acme}}),
	}
	_, checks["Get"] = db.KV().Get(ctx, acme, "k")
	_, checks["AppendMessages"] = db.Sessions().AppendMessages(ctx, acme, "s", []store.Message{{Role: "user"}}, store.AppendOptions{})
	_, checks["PutDocument"] = db.Documents().PutDocument(ctx, acme, store.DocumentRecord{ID: "d"}, nil)
	_, checks["AppendAudit"] = db.Audit().AppendAudit(ctx, store.AuditRecord{Time: time.Now(), Tenant: acme})
	_, checks["Sweep"] = db.Sweep(ctx)
	for name, err := range checks {
		if !errors.Is(err, store.ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
}

// TestOpenInvalid checks the arguments Open refuses.
func TestOpenInvalid(t *testing.T) {
	ctx := t.Context()
	for _, schema := range []string{"Upper", "has space", "a;drop", "pg_catalog", strings.Repeat("s", 64)} {
		if _, err := postgres.Open(ctx, "postgres://nobody@127.0.0.1:1/x", postgres.Options{Schema: schema}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Open(schema %q) = %v, want ErrInvalid", schema, err)
		}
	}
	if _, err := postgres.Open(ctx, "postgres://%zz", postgres.Options{}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("Open(a malformed DSN) = %v, want ErrInvalid", err)
	}
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := postgres.Open(short, "postgres://nobody@127.0.0.1:1/x?connect_timeout=1", postgres.Options{}); err == nil {
		t.Error("Open of a server that does not answer succeeded")
	}
}

// TestCorpusNotify checks that a change to a tenant's documents notifies
// CorpusChannel with the schema, the tenant and the new version.
func TestCorpusNotify(t *testing.T) {
	ctx := t.Context()
	db := postgres.OpenTest(t, postgres.Options{})
	listener := postgres.Raw(t, "public")
	if _, err := listener.Exec(ctx, "LISTEN "+postgres.CorpusChannel); err != nil {
		t.Fatal(err)
	}
	doc := store.DocumentRecord{ID: "doc"}
	if _, err := db.Documents().PutDocument(ctx, acme, doc, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Documents().DeleteDocument(ctx, acme, "doc"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{db.Schema() + " acme 1", db.Schema() + " acme 2"} {
		wait, cancel := context.WithTimeout(ctx, 5*time.Second)
		n, err := listener.WaitForNotification(wait)
		cancel()
		if err != nil {
			t.Fatalf("WaitForNotification: %v", err)
		}
		if n.Channel != postgres.CorpusChannel || n.Payload != want {
			t.Errorf("notification %s %q, want %s %q", n.Channel, n.Payload, postgres.CorpusChannel, want)
		}
	}
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
