package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// The tests run against the PostgreSQL server of CRISPY_TEST_POSTGRES, by
// default the one every development machine and CI runs, through a
// superuser. TestMain creates a database of their own, crispy_test_<random>,
// and drops it at the end, so that test binaries running at once never
// share one; each test then opens the schema of its own in it. When the
// server cannot be reached the tests skip, unless CI is set: then they
// fail.
const defaultDSNForTest = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

var (
	// testDSN is the DSN of the test database, "" when there is none.
	testDSN string
	// testSkip says why the tests skip, when they do.
	testSkip string
	// schemas numbers the schemas the tests open.
	schemas atomic.Int64
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	base := os.Getenv("CRISPY_TEST_POSTGRES")
	if base == "" {
		base = defaultDSNForTest
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		if os.Getenv("CI") != "" {
			fmt.Fprintf(os.Stderr, "postgres tests: CI is set and PostgreSQL is unreachable at %s: %v\n", redact(base), err)
			return 1
		}
		testSkip = fmt.Sprintf("PostgreSQL unreachable at %s (set CRISPY_TEST_POSTGRES): %v", redact(base), err)
		return m.Run()
	}
	defer admin.Close(context.Background())
	name := "crispy_test_" + randomHex(6)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		fmt.Fprintf(os.Stderr, "postgres tests: create database: %v\n", err)
		return 1
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			fmt.Fprintf(os.Stderr, "postgres tests: drop database %s: %v\n", name, err)
		}
	}()
	testDSN, err = withDatabase(base, name)
	if err != nil {
		fmt.Fprintf(os.Stderr, "postgres tests: %v\n", err)
		return 1
	}
	return m.Run()
}

// withDatabase returns dsn with its database replaced by name.
func withDatabase(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", err
		}
		u.Path = "/" + name
		return u.String(), nil
	}
	return dsn + " dbname=" + name, nil
}

// redact returns dsn without its password.
func redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
			return u.String()
		}
	}
	return dsn
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// DSNForTest returns the DSN of the test database, or skips t when PostgreSQL
// cannot be reached.
func DSNForTest(t testing.TB) string {
	t.Helper()
	if testDSN == "" {
		t.Skip(testSkip)
	}
	return testDSN
}

// NewSchema returns the name of a schema no test has opened yet.
func NewSchema() string {
	return fmt.Sprintf("t%04d", schemas.Add(1))
}

// OpenTest opens a DB on a fresh schema of the test database, with a pool
// of at most 4 connections unless opts says otherwise, and closes it when
// the test ends.
func OpenTest(t testing.TB, opts Options) *DB {
	t.Helper()
	dsn := DSNForTest(t)
	if opts.Schema == "" {
		opts.Schema = NewSchema()
	}
	if opts.MaxConns == 0 {
		opts.MaxConns = 4
	}
	db, err := Open(t.Context(), dsn, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

// Raw connects to the test database as its superuser, with the search path
// on schema, and closes the connection when the test ends: a bare
// connection, which the store's roles and policies do not bind until it
// sets a role.
func Raw(t testing.TB, schema string) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(DSNForTest(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["search_path"] = schema
	conn, err := pgx.ConnectConfig(t.Context(), cfg)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// OwnerDSN creates a login role that is not a superuser, may create roles
// and schemas in the test database, and drops it, with all it owns, when
// the test ends; it returns the DSN of the test database as that role, the
// way production connects.
func OwnerDSN(t testing.TB) (dsn, role string) {
	t.Helper()
	base := DSNForTest(t)
	role = "crispy_test_owner_" + randomHex(4)
	admin := Raw(t, "public")
	ctx := t.Context()
	var db string
	if err := admin.QueryRow(ctx, `SELECT current_database()`).Scan(&db); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		"CREATE ROLE " + role + " LOGIN CREATEROLE",
		"GRANT CREATE ON DATABASE " + db + " TO " + role,
	} {
		if _, err := admin.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	t.Cleanup(func() {
		ctx := context.Background()
		for _, stmt := range []string{"DROP OWNED BY " + role + " CASCADE", "DROP ROLE " + role} {
			if _, err := admin.Exec(ctx, stmt); err != nil {
				t.Errorf("%s: %v", stmt, err)
			}
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Skipf("CRISPY_TEST_POSTGRES is not a URL: %v", err)
	}
	u.User = url.User(role)
	return u.String(), role
}
