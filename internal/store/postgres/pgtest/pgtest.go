// Package pgtest gives the tests of other packages a PostgreSQL database of
// their own, on the server of CRISPY_TEST_POSTGRES (by default the one every
// development machine and CI runs, through a superuser with trust auth).
// Each call of DSN creates a database, crispy_test_<random>, and drops it
// when the test ends. When the server cannot be reached the test skips,
// unless CI is set: then it fails.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultDSN is the server the tests use when CRISPY_TEST_POSTGRES is not
// set.
const DefaultDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// DSN creates a database for t and returns its DSN, through the superuser
// of the server; the database is dropped, with its connections, when t
// ends.
func DSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv("CRISPY_TEST_POSTGRES")
	if base == "" {
		base = DefaultDSN
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set and PostgreSQL is unreachable (CRISPY_TEST_POSTGRES): %v", err)
		}
		t.Skipf("PostgreSQL unreachable (set CRISPY_TEST_POSTGRES): %v", err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	name := "crispy_test_" + hex.EncodeToString(b)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close(context.Background())
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		defer admin.Close(context.Background())
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	if strings.HasPrefix(base, "postgres://") || strings.HasPrefix(base, "postgresql://") {
		u, err := url.Parse(base)
		if err != nil {
			t.Fatal(err)
		}
		u.Path = "/" + name
		return u.String()
	}
	return base + " dbname=" + name
}
