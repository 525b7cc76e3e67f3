package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// Queries on the kv table. Every one is filtered by tenant, and expires_at
// is in unix milliseconds: a row whose expires_at is not after now has
// expired.
const (
	kvGet = `SELECT value FROM kv
WHERE tenant = ? AND key = ? AND (expires_at IS NULL OR expires_at > ?)`
	kvSet = `INSERT INTO kv (tenant, key, value, expires_at) VALUES (?, ?, ?, ?)
ON CONFLICT (tenant, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`
	kvDelete = `DELETE FROM kv WHERE tenant = ? AND key = ?`
)

// KV is the store.KV kept in a DB, in the table kv. Get reads through the
// reader pool; Set and Delete write through the writer connection.
type KV struct {
	db *DB
}

var _ store.KV = (*KV)(nil)

// Get returns the value stored under key for tenant t, or store.ErrNotFound
// when there is none or it has expired.
func (kv *KV) Get(ctx context.Context, t tenant.ID, key string) ([]byte, error) {
	if err := store.CheckKV(t, key); err != nil {
		return nil, fmt.Errorf("sqlite: get: %w", err)
	}
	if err := kv.db.ready(ctx); err != nil {
		return nil, fmt.Errorf("sqlite: get: %w", err)
	}
	var value []byte
	err := kv.db.stmts.kvGet.QueryRowContext(ctx, t.String(), key, kv.db.now().UnixMilli()).Scan(&value)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, store.ErrNotFound
	case err != nil:
		return nil, kv.db.fail(ctx, "get", err)
	case value == nil:
		value = []byte{} // an empty value is still a value
	}
	return value, nil
}

// Set stores value under key for tenant t, replacing any previous value and
// its expiry. A ttl of zero means the value does not expire.
func (kv *KV) Set(ctx context.Context, t tenant.ID, key string, value []byte, ttl time.Duration) error {
	if err := store.CheckKV(t, key); err != nil {
		return fmt.Errorf("sqlite: set: %w", err)
	}
	if err := store.CheckValue(value, ttl); err != nil {
		return fmt.Errorf("sqlite: set: %w", err)
	}
	if err := kv.db.ready(ctx); err != nil {
		return fmt.Errorf("sqlite: set: %w", err)
	}
	if value == nil {
		value = []byte{} // the driver binds a nil slice as NULL
	}
	var expiresAt sql.NullInt64
	if ttl > 0 {
		expiresAt = sql.NullInt64{Int64: store.Expiry(kv.db.now(), ttl), Valid: true}
	}
	if _, err := kv.db.stmts.kvSet.ExecContext(ctx, t.String(), key, value, expiresAt); err != nil {
		return kv.db.fail(ctx, "set", err)
	}
	return nil
}

// SetMany stores several values for tenant t with one ttl in a single
// transaction: one disk sync instead of one per value, for caches that fill
// in batches. Every argument is checked before anything is written.
func (kv *KV) SetMany(ctx context.Context, t tenant.ID, items map[string][]byte, ttl time.Duration) error {
	for key, value := range items {
		if err := store.CheckKV(t, key); err != nil {
			return fmt.Errorf("sqlite: set many: %w", err)
		}
		if err := store.CheckValue(value, ttl); err != nil {
			return fmt.Errorf("sqlite: set many: %w", err)
		}
	}
	if len(items) == 0 {
		return nil
	}
	if err := kv.db.ready(ctx); err != nil {
		return fmt.Errorf("sqlite: set many: %w", err)
	}
	var expiresAt sql.NullInt64
	if ttl > 0 {
		expiresAt = sql.NullInt64{Int64: store.Expiry(kv.db.now(), ttl), Valid: true}
	}
	tx, err := kv.db.writer.BeginTx(ctx, nil) // BEGIN IMMEDIATE
	if err != nil {
		return kv.db.fail(ctx, "set many", err)
	}
	defer tx.Rollback()
	stmt := tx.StmtContext(ctx, kv.db.stmts.kvSet)
	for key, value := range items {
		if value == nil {
			value = []byte{}
		}
		if _, err := stmt.ExecContext(ctx, t.String(), key, value, expiresAt); err != nil {
			return kv.db.fail(ctx, "set many", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return kv.db.fail(ctx, "set many", err)
	}
	return nil
}

// Delete removes key for tenant t. Deleting a missing key is not an error.
func (kv *KV) Delete(ctx context.Context, t tenant.ID, key string) error {
	if err := store.CheckKV(t, key); err != nil {
		return fmt.Errorf("sqlite: delete: %w", err)
	}
	if err := kv.db.ready(ctx); err != nil {
		return fmt.Errorf("sqlite: delete: %w", err)
	}
	if _, err := kv.db.stmts.kvDelete.ExecContext(ctx, t.String(), key); err != nil {
		return kv.db.fail(ctx, "delete", err)
	}
	return nil
}
