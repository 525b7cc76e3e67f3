package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"time"

	"github.com/crispy-enigma/crispy/internal/store"
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

// migrate applies, in order, the embedded migrations that db has not
// recorded in schema_migrations yet. Each runs in a transaction of its own,
// together with its record, so a failed migration leaves no trace and a
// database opened by two processes at once is migrated once.
func migrate(ctx context.Context, db *sql.DB, now func() time.Time) error {
	ms, err := loadMigrations(migrationFiles, "migrations")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	const createTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	applied_at INTEGER NOT NULL
)`
	if _, err := db.ExecContext(ctx, createTable); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, m := range ms {
		if err := applyMigration(ctx, db, m, now); err != nil {
			return fmt.Errorf("migrate: %s: %w", m.Name, err)
		}
	}
	return nil
}

// applyMigration applies m unless it has been applied already.
func applyMigration(ctx context.Context, db *sql.DB, m migration, now func() time.Time) error {
	tx, err := db.BeginTx(ctx, nil) // BEGIN IMMEDIATE: the check below holds the write lock
	if err != nil {
		return err
	}
	defer tx.Rollback() // a no-op once committed

	var applied bool
	err = tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?)`, m.Version).Scan(&applied)
	if err != nil || applied {
		return err
	}
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return err
	}
	const record = `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`
	if _, err := tx.ExecContext(ctx, record, m.Version, now().UnixMilli()); err != nil {
		return err
	}
	return tx.Commit()
}
