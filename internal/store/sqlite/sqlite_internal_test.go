package sqlite

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

func TestPragmas(t *testing.T) {
	db, _ := openTestDB(t)
	tests := []struct {
		pragma string
		want   string
	}{
		{"journal_mode", "wal"},
		{"busy_timeout", "5000"},
		{"synchronous", "2"}, // FULL
		{"foreign_keys", "1"},
	}
	pools := []struct {
		name      string
		pool      *sql.DB
		queryOnly string
	}{
		{"writer", db.writer, "0"},
		{"reader", db.reader, "1"},
	}
	for _, p := range pools {
		for _, tt := range append(tests, struct{ pragma, want string }{"query_only", p.queryOnly}) {
			var got string
			if err := p.pool.QueryRowContext(t.Context(), "PRAGMA "+tt.pragma).Scan(&got); err != nil {
				t.Fatalf("%s: PRAGMA %s: %v", p.name, tt.pragma, err)
			}
			if got != tt.want {
				t.Errorf("%s: PRAGMA %s = %q, want %q", p.name, tt.pragma, got, tt.want)
			}
		}
	}
}

// TestWriterBeginsImmediate checks that a transaction of the writer takes the
// write lock when it begins, not at its first write.
func TestWriterBeginsImmediate(t *testing.T) {
	db, path := openTestDB(t)
	tx, err := db.writer.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatalf("BeginTx: %v", err)
	}
	defer tx.Rollback()

	other, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(0)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	_, err = other.ExecContext(t.Context(), `INSERT INTO kv (tenant, key, value) VALUES ('acme', 'k', x'')`)
	if err == nil || !strings.Contains(err.Error(), "SQLITE_BUSY") {
		t.Errorf("write from another connection during a writer transaction = %v, want SQLITE_BUSY", err)
	}
}

func TestReaderIsReadOnly(t *testing.T) {
	db, _ := openTestDB(t)
	if _, err := db.reader.ExecContext(t.Context(), `DELETE FROM kv`); err == nil {
		t.Error("a write through the reader pool succeeded")
	}
}

func TestLoadMigrations(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }

	t.Run("embedded", func(t *testing.T) {
		ms, err := loadMigrations(migrationFiles, "migrations")
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range ms {
			if m.Version != i+1 {
				t.Errorf("migration %s has version %d, want %d: versions must run 1, 2, 3...", m.Name, m.Version, i+1)
			}
		}
	})

	t.Run("numeric order", func(t *testing.T) {
		fsys := fstest.MapFS{
			"m/10_ten.sql":   file("ten"),
			"m/2_two.sql":    file("two"),
			"m/0001_one.sql": file("one"),
			"m/README.md":    file("not a migration"),
		}
		ms, err := loadMigrations(fsys, "m")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range ms {
			got = append(got, m.SQL)
		}
		if want := "one two ten"; strings.Join(got, " ") != want {
			t.Errorf("order = %q, want %q", got, want)
		}
	})

	bad := []struct {
		name string
		fsys fstest.MapFS
	}{
		{"no version", fstest.MapFS{"m/kv.sql": file("")}},
		{"version zero", fstest.MapFS{"m/0000_kv.sql": file("")}},
		{"duplicate version", fstest.MapFS{"m/0001_a.sql": file(""), "m/1_b.sql": file("")}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := loadMigrations(tt.fsys, "m"); err == nil {
				t.Error("loadMigrations succeeded, want an error")
			}
		})
	}
}

// openTestDB opens a database in a temporary folder and returns it with its
// path; it is closed when the test ends.
func openTestDB(t *testing.T) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "crispy.db")
	db, err := Open(t.Context(), path, Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}
