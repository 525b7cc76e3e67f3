package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// migrationFiles holds the schema, one file per version, named
// NNNN_description.sql. A released migration is never edited: a change to
// the schema is a new file with the next version.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one versioned step of the schema.
type migration = store.Migration

// loadMigrations reads the migrations under dir in fsys, sorted by version.
var loadMigrations = store.LoadMigrations

// lockKey returns the key of the advisory lock that serialises the
// migrations of schema: openers of other schemas of the database do not
// wait for it.
func lockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("crispy migrate " + schema))
	return int64(h.Sum64())
}

// migrate connects with cfg, as the user of the DSN, and under the advisory
// lock of schema creates the schema and the roles when they are missing and
// applies, in order, the embedded migrations that schema_migrations does not
// record yet, each in a transaction of its own with its record. Openers
// that start together wait for the lock in turn: the first migrates, the
// others find the work done.
func migrate(ctx context.Context, cfg *pgx.ConnConfig, schema string, now func() time.Time) error {
	ms, err := loadMigrations(migrationFiles, "migrations")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	delete(cfg.RuntimeParams, "search_path") // the schema may not exist yet
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))

	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, lockKey(schema)); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	// Closing the connection releases the lock too, should the unlock fail.
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, lockKey(schema))

	if err := checkUser(ctx, conn); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if err := ensureRoles(ctx, conn); err != nil {
		return fmt.Errorf("migrate: roles: %w", err)
	}
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, schema).Scan(&exists); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
			return fmt.Errorf("migrate: create schema %s: %w", schema, err)
		}
	}
	if _, err := conn.Exec(ctx, "SET search_path TO "+schema); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	const createTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    integer PRIMARY KEY,
	applied_at bigint  NOT NULL
)`
	if _, err := conn.Exec(ctx, createTable); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, m := range ms {
		if err := applyMigration(ctx, conn, m, now); err != nil {
			return fmt.Errorf("migrate: %s: %w", m.Name, err)
		}
	}
	return nil
}

// checkUser refuses to migrate as AppRole itself, which would own the
// tables, and refuses an AppRole that row-level security does not bind.
func checkUser(ctx context.Context, conn *pgx.Conn) error {
	var user string
	if err := conn.QueryRow(ctx, `SELECT session_user`).Scan(&user); err != nil {
		return err
	}
	if user == AppRole || user == SweeperRole || user == ConfigRole {
		return fmt.Errorf("the DSN's user is %s: connect as the user that owns the tables, which the store then runs as %s", user, AppRole)
	}
	var bypass bool
	err := conn.QueryRow(ctx, `SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = $1`, AppRole).Scan(&bypass)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil
	case err != nil:
		return err
	case bypass:
		return fmt.Errorf("role %s is a superuser or bypasses row-level security", AppRole)
	}
	return nil
}

// ensureRoles creates AppRole, SweeperRole and ConfigRole when they are
// missing and makes the user a member of each, so that it may SET ROLE to them. Roles
// belong to the cluster, not to a database, so openers of other databases
// may create them at the same moment: a statement that loses that race is
// tried again.
func ensureRoles(ctx context.Context, conn *pgx.Conn) error {
	const ensure = `DO $$
DECLARE
	r text;
BEGIN
	FOREACH r IN ARRAY ARRAY['` + AppRole + `', '` + SweeperRole + `', '` + ConfigRole + `']
	LOOP
		IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
			EXECUTE format('CREATE ROLE %I NOLOGIN', r);
		END IF;
		IF NOT pg_has_role(current_user, r, 'MEMBER') THEN
			EXECUTE format('GRANT %I TO %I', r, current_user);
		END IF;
	END LOOP;
END
$$`
	var err error
	for attempt := range 10 {
		if _, err = conn.Exec(ctx, ensure); err == nil || !raced(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt+1) * 10 * time.Millisecond):
		}
	}
	return err
}

// raced reports whether err is what a catalog change loses to a
// concurrent one.
func raced(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code {
	case "23505", "42710", "40001", "40P01": // unique_violation, duplicate_object, serialization_failure, deadlock_detected
		return true
	case "XX000":
		return strings.Contains(pe.Message, "concurrently")
	}
	return false
}

// applyMigration applies m unless it has been applied already.
func applyMigration(ctx context.Context, conn *pgx.Conn, m migration, now func() time.Time) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) // a no-op once committed

	var applied bool
	err = tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`, m.Version).Scan(&applied)
	if err != nil || applied {
		return err
	}
	// No arguments: the simple protocol, which runs several statements.
	if _, err := tx.Exec(ctx, m.SQL); err != nil {
		return err
	}
	const record = `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`
	if _, err := tx.Exec(ctx, record, m.Version, now().UnixMilli()); err != nil {
		return err
	}
	return tx.Commit(ctx)
}
