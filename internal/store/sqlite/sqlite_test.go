package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/store/sqlite"
	"github.com/crispy-enigma/crispy/internal/store/storetest"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

var (
	acme   = tenant.MustID("acme")
	globex = tenant.MustID("globex")
)

func TestKV(t *testing.T) {
	storetest.TestKV(t, func(t *testing.T) store.KV {
		return openDB(t, dbPath(t), sqlite.Options{}).KV()
	})
}

func TestUsage(t *testing.T) {
	storetest.TestUsage(t, func(t *testing.T) store.Usage {
		return openDB(t, dbPath(t), sqlite.Options{}).Usage()
	})
}

func TestDurability(t *testing.T) {
	ctx := t.Context()
	path := dbPath(t)

	db := mustOpen(t, path, sqlite.Options{})
	kv := db.KV()
	mustSet(t, kv, acme, "plain", "kept", 0)
	mustSet(t, kv, acme, "ttl", "kept until later", time.Hour)
	mustSet(t, kv, globex, "plain", "globex's own", 0)
	mustSet(t, kv, acme, "deleted", "gone", 0)
	if err := kv.Delete(ctx, acme, "deleted"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	kv = openDB(t, path, sqlite.Options{}).KV()
	tests := []struct {
		id   tenant.ID
		key  string
		want string
	}{
		{acme, "plain", "kept"},
		{acme, "ttl", "kept until later"},
		{globex, "plain", "globex's own"},
	}
	for _, tt := range tests {
		got, err := kv.Get(ctx, tt.id, tt.key)
		if err != nil {
			t.Errorf("after reopen: Get(%v, %q): %v", tt.id, tt.key, err)
			continue
		}
		if string(got) != tt.want {
			t.Errorf("after reopen: Get(%v, %q) = %q, want %q", tt.id, tt.key, got, tt.want)
		}
	}
	if _, err := kv.Get(ctx, acme, "deleted"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after reopen: Get(deleted) = %v, want ErrNotFound", err)
	}
}

func TestSweep(t *testing.T) {
	ctx := t.Context()
	clock := newClock()
	path := dbPath(t)
	db := openDB(t, path, sqlite.Options{Now: clock.Now, SweepInterval: -1})
	kv := db.KV()

	mustSet(t, kv, acme, "forever", "v", 0)
	mustSet(t, kv, acme, "minute", "v", time.Minute)
	mustSet(t, kv, acme, "second", "v", time.Second)
	mustSet(t, kv, acme, "hour", "v", time.Hour)
	mustSet(t, kv, globex, "forever", "v", 0)
	mustSet(t, kv, globex, "minute", "v", 10*time.Minute) // same key, longer ttl
	mustSet(t, kv, globex, "hour", "v", time.Hour)

	if n, err := db.Sweep(ctx); err != nil || n != 0 {
		t.Fatalf("Sweep before anything expired = %d, %v; want 0, nil", n, err)
	}

	clock.Advance(time.Minute) // expiry is inclusive: "minute" expires now
	// Get already ignores the expired rows, which are still in the table.
	for _, key := range []string{"minute", "second"} {
		if _, err := kv.Get(ctx, acme, key); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Get(acme, %q) after expiry = %v, want ErrNotFound", key, err)
		}
	}
	if got, want := countRows(t, path), 7; got != want {
		t.Errorf("rows before Sweep = %d, want %d", got, want)
	}

	n, err := db.Sweep(ctx)
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if n != 2 {
		t.Errorf("Sweep = %d, want 2", n)
	}
	if got, want := countRows(t, path), 5; got != want {
		t.Errorf("rows after Sweep = %d, want %d", got, want)
	}
	live := []struct {
		id  tenant.ID
		key string
	}{
		{acme, "forever"}, {acme, "hour"}, {globex, "forever"}, {globex, "minute"}, {globex, "hour"},
	}
	for _, l := range live {
		if _, err := kv.Get(ctx, l.id, l.key); err != nil {
			t.Errorf("Get(%v, %q) after Sweep: %v", l.id, l.key, err)
		}
	}
	if n, err := db.Sweep(ctx); err != nil || n != 0 {
		t.Errorf("second Sweep = %d, %v; want 0, nil", n, err)
	}
}

func TestSweepBatches(t *testing.T) {
	const rows = 2345 // more than two batches
	ctx := t.Context()
	clock := newClock()
	path := dbPath(t)
	db := openDB(t, path, sqlite.Options{Now: clock.Now, SweepInterval: -1})
	kv := db.KV()
	for i := range rows {
		mustSet(t, kv, acme, fmt.Sprintf("key-%d", i), "v", time.Second)
	}
	mustSet(t, kv, acme, "live", "v", 0)
	clock.Advance(time.Second)

	n, err := db.Sweep(ctx)
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if n != rows {
		t.Errorf("Sweep = %d, want %d", n, rows)
	}
	if got := countRows(t, path); got != 1 {
		t.Errorf("rows after Sweep = %d, want 1", got)
	}
}

func TestSweeper(t *testing.T) {
	clock := newClock()
	path := dbPath(t)
	db := openDB(t, path, sqlite.Options{Now: clock.Now, SweepInterval: 5 * time.Millisecond})
	kv := db.KV()
	mustSet(t, kv, acme, "expiring", "v", time.Second)
	mustSet(t, kv, acme, "live", "v", 0)
	clock.Advance(time.Second)

	deadline := time.Now().Add(5 * time.Second)
	for countRows(t, path) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the sweeper did not delete the expired row within 5s: %d rows", countRows(t, path))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := kv.Get(t.Context(), acme, "live"); err != nil {
		t.Errorf("Get(live) after the sweeper ran: %v", err)
	}
}

func TestMigrationsIdempotent(t *testing.T) {
	ctx := t.Context()
	path := dbPath(t)
	for i := range 3 {
		db := mustOpen(t, path, sqlite.Options{})
		kv := db.KV()
		mustSet(t, kv, acme, fmt.Sprintf("open-%d", i), "v", 0)
		for j := range i {
			if _, err := kv.Get(ctx, acme, fmt.Sprintf("open-%d", j)); err != nil {
				t.Errorf("open %d: Get(open-%d): %v", i, j, err)
			}
		}
		if err := db.Close(); err != nil {
			t.Fatalf("open %d: Close: %v", i, err)
		}
	}

	files, err := filepath.Glob(filepath.Join("migrations", "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no migrations found: %v", err)
	}
	raw := openRaw(t, path)
	var count, maxVersion int
	err = raw.QueryRowContext(ctx, `SELECT count(*), max(version) FROM schema_migrations`).Scan(&count, &maxVersion)
	if err != nil {
		t.Fatalf("reading schema_migrations: %v", err)
	}
	if count != len(files) || maxVersion != len(files) {
		t.Errorf("schema_migrations has %d rows up to version %d, want %d up to %d", count, maxVersion, len(files), len(files))
	}
	var mode string
	if err := raw.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
		t.Fatalf("PRAGMA journal_mode: %v", err)
	}
	if mode != "wal" {
		t.Errorf("journal_mode = %q, want %q", mode, "wal")
	}
}

// TestConcurrentOpen opens fresh databases from many openers at once, as two
// replicas or a CLI and a server do on one data folder: every open must
// succeed, however the openers interleave while the first of them turns WAL
// on and migrates the schema. A lock the busy timeout does not cover (a
// read transaction upgraded to a write one fails at once with SQLITE_BUSY)
// makes some of these rounds fail.
func TestConcurrentOpen(t *testing.T) {
	const openers, rounds = 8, 4
	for round := range rounds {
		path := dbPath(t)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range openers {
			wg.Go(func() {
				<-start
				db, err := sqlite.Open(t.Context(), path, sqlite.Options{})
				if err != nil {
					t.Errorf("round %d: Open %d: %v", round, i, err)
					return
				}
				defer db.Close()
				if err := db.KV().Set(t.Context(), acme, fmt.Sprintf("k%d", i), []byte("v"), 0); err != nil {
					t.Errorf("round %d: Set through DB %d: %v", round, i, err)
				}
			})
		}
		close(start)
		wg.Wait()
		if got := countRows(t, path); got != openers {
			t.Fatalf("round %d: rows = %d, want %d", round, got, openers)
		}
	}
}

// TestOpenWhileFreshDatabaseLocked opens a database that is still new (no
// WAL yet) while another connection holds its write lock, as when a second
// opener is turning WAL on: Open must wait for the lock, within the busy
// timeout, instead of failing with SQLITE_BUSY. Turning WAL on reads the
// database, then upgrades to a write, and SQLite does not run the busy
// handler for that upgrade.
func TestOpenWhileFreshDatabaseLocked(t *testing.T) {
	path := dbPath(t)
	raw := openRaw(t, path)
	conn, err := raw.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(t.Context(), `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(t.Context(), `CREATE TABLE holder (x)`); err != nil {
		t.Fatal(err)
	}
	released := make(chan error, 1)
	go func() {
		time.Sleep(300 * time.Millisecond)
		_, err := conn.ExecContext(context.Background(), `COMMIT`)
		released <- err
	}()
	db, err := sqlite.Open(t.Context(), path, sqlite.Options{})
	if err := <-released; err != nil {
		t.Fatalf("COMMIT: %v", err)
	}
	if err != nil {
		t.Fatalf("Open while another connection writes: %v", err)
	}
	defer db.Close()
	if err := db.KV().Set(t.Context(), acme, "k", []byte("v"), 0); err != nil {
		t.Errorf("Set: %v", err)
	}
	var mode string
	if err := raw.QueryRowContext(t.Context(), `PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
}

func TestClosed(t *testing.T) {
	ctx := t.Context()
	db := mustOpen(t, dbPath(t), sqlite.Options{SweepInterval: time.Millisecond})
	kv := db.KV()
	mustSet(t, kv, acme, "k", "v", 0)
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}

	_, getErr := kv.Get(ctx, acme, "k")
	_, sweepErr := db.Sweep(ctx)
	usage := db.Usage()
	_, rollupErr := usage.UsageRollup(ctx, acme, store.UsageFilter{})
	_, recordsErr := usage.UsageRecords(ctx, acme, store.UsageFilter{}, 10)
	tests := []struct {
		name string
		err  error
	}{
		{"Get", getErr},
		{"Set", kv.Set(ctx, acme, "k", []byte("v"), 0)},
		{"Delete", kv.Delete(ctx, acme, "k")},
		{"Ping", db.Ping(ctx)},
		{"Sweep", sweepErr},
		{"AppendUsage", usage.AppendUsage(ctx, []store.UsageRecord{{Tenant: acme}})},
		{"UsageRollup", rollupErr},
		{"UsageRecords", recordsErr},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, store.ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", tt.name, tt.err)
		}
	}
}

func TestPing(t *testing.T) {
	db := openDB(t, dbPath(t), sqlite.Options{})
	if err := db.Ping(t.Context()); err != nil {
		t.Errorf("Ping: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := db.Ping(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Ping with a cancelled context = %v, want context.Canceled", err)
	}
}

func TestOpenPaths(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		path string
	}{
		{"missing parent folders", filepath.Join(dir, "a", "b", "crispy.db")},
		{"characters special in URIs", filepath.Join(dir, "odd ?#%&=;'", "crispy?_pragma=x#y.db")},
		{"relative", relPath(t, filepath.Join(dir, "relative.db"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kv := openDB(t, tt.path, sqlite.Options{}).KV()
			mustSet(t, kv, acme, "k", "v", 0)
			if _, err := os.Stat(tt.path); err != nil {
				t.Errorf("database file not at the path given: %v", err)
			}
		})
	}
}

func TestOpenInvalid(t *testing.T) {
	for _, path := range []string{"", ":memory:", "file::memory:?cache=shared", "file:crispy.db"} {
		db, err := sqlite.Open(t.Context(), path, sqlite.Options{})
		if !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Open(%q) = %v, want ErrInvalid", path, err)
		}
		if db != nil {
			db.Close()
		}
	}
}

func BenchmarkKVGet(b *testing.B) {
	ctx := b.Context()
	kv := openDB(b, filepath.Join(b.TempDir(), "bench.db"), sqlite.Options{}).KV()
	value := make([]byte, 256)
	if err := kv.Set(ctx, acme, "key", value, 0); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := kv.Get(ctx, acme, "key"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkKVGetParallel(b *testing.B) {
	ctx := b.Context()
	kv := openDB(b, filepath.Join(b.TempDir(), "bench.db"), sqlite.Options{}).KV()
	value := make([]byte, 256)
	if err := kv.Set(ctx, acme, "key", value, 0); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := kv.Get(ctx, acme, "key"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkKVSet(b *testing.B) {
	ctx := b.Context()
	kv := openDB(b, filepath.Join(b.TempDir(), "bench.db"), sqlite.Options{}).KV()
	value := make([]byte, 256)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		key := fmt.Sprintf("key-%d", i%1000)
		i++
		if err := kv.Set(ctx, acme, key, value, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}

// dbPath returns the path of a database file in a fresh temporary folder.
func dbPath(t testing.TB) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "crispy.db")
}

// mustOpen opens the database at path; the caller closes it.
func mustOpen(t testing.TB, path string, opts sqlite.Options) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(t.Context(), path, opts)
	if err != nil {
		t.Fatalf("Open(%q): %v", path, err)
	}
	return db
}

// openDB opens the database at path and closes it when the test ends.
func openDB(t testing.TB, path string, opts sqlite.Options) *sqlite.DB {
	t.Helper()
	db := mustOpen(t, path, opts)
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

// openRaw opens the database file at path directly with the driver, to look
// at what the package under test has stored.
func openRaw(t testing.TB, path string) *sql.DB {
	t.Helper()
	raw, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatalf("opening %s directly: %v", path, err)
	}
	t.Cleanup(func() { raw.Close() })
	return raw
}

// countRows returns the number of rows in the kv table, expired or not.
func countRows(t testing.TB, path string) int {
	t.Helper()
	var n int
	if err := openRaw(t, path).QueryRowContext(t.Context(), `SELECT count(*) FROM kv`).Scan(&n); err != nil {
		t.Fatalf("counting kv rows: %v", err)
	}
	return n
}

// relPath returns path relative to the working directory.
func relPath(t testing.TB, path string) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(wd, path)
	if err != nil {
		t.Fatal(err)
	}
	return rel
}

func mustSet(t testing.TB, kv store.KV, id tenant.ID, key, value string, ttl time.Duration) {
	t.Helper()
	if err := kv.Set(t.Context(), id, key, []byte(value), ttl); err != nil {
		t.Fatalf("Set(%v, %q): %v", id, key, err)
	}
}

// clock is a settable clock for Options.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock {
	return &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestAudit(t *testing.T) {
	storetest.TestAudit(t, func(t *testing.T) store.Audit {
		return openDB(t, dbPath(t), sqlite.Options{}).Audit()
	})
}

func TestConfigs(t *testing.T) {
	storetest.TestConfigs(t, func(t *testing.T) store.Configs {
		return openDB(t, dbPath(t), sqlite.Options{}).Configs()
	})
}
