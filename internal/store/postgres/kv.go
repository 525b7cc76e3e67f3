package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// Queries on the kv table. Every one is filtered by tenant, as the policy
// is, and expires_at is in unix milliseconds: a row whose expires_at is not
// after now has expired.
const (
	kvGet = `SELECT value FROM kv
WHERE tenant = $1 AND key = $2 AND (expires_at IS NULL OR expires_at > $3)`
	kvSet = `INSERT INTO kv (tenant, key, value, expires_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (tenant, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`
	kvSetMany = `INSERT INTO kv (tenant, key, value, expires_at)
SELECT $1, k, v, $4 FROM unnest($2::bytea[], $3::bytea[]) AS u (k, v)
ON CONFLICT (tenant, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`
	kvDelete = `DELETE FROM kv WHERE tenant = $1 AND key = $2`
)

// KV is the store.KV kept in a DB, in the table kv. Each call is one round
// trip: the tenant and the statement in one implicit transaction.
type KV struct {
	db *DB
}

var _ store.KV = (*KV)(nil)

// Get returns the value stored under key for tenant t, or store.ErrNotFound
// when there is none or it has expired.
func (kv *KV) Get(ctx context.Context, t tenant.ID, key string) ([]byte, error) {
	if err := store.CheckKV(t, key); err != nil {
		return nil, fmt.Errorf("postgres: get: %w", err)
	}
	if err := kv.db.ready(ctx); err != nil {
		return nil, fmt.Errorf("postgres: get: %w", err)
	}
	b := tenantBatch(t.String())
	b.Queue(kvGet, t.String(), []byte(key), kv.db.now().UnixMilli())
	br, err := kv.db.send(ctx, b)
	if err != nil {
		return nil, kv.db.fail(ctx, "get", err)
	}
	defer br.Close()
	var value []byte
	switch err := br.QueryRow().Scan(&value); {
	case errors.Is(err, pgx.ErrNoRows):
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
		return fmt.Errorf("postgres: set: %w", err)
	}
	if err := store.CheckValue(value, ttl); err != nil {
		return fmt.Errorf("postgres: set: %w", err)
	}
	if err := kv.db.ready(ctx); err != nil {
		return fmt.Errorf("postgres: set: %w", err)
	}
	b := tenantBatch(t.String())
	b.Queue(kvSet, t.String(), []byte(key), nonNil(value), kv.expiresAt(ttl))
	if _, err := kv.db.exec(ctx, b); err != nil {
		return kv.db.fail(ctx, "set", err)
	}
	return nil
}

// SetMany stores several values for tenant t with one ttl in one
// statement, for caches that fill in batches. Every argument is checked
// before anything is written.
func (kv *KV) SetMany(ctx context.Context, t tenant.ID, items map[string][]byte, ttl time.Duration) error {
	for key, value := range items {
		if err := store.CheckKV(t, key); err != nil {
			return fmt.Errorf("postgres: set many: %w", err)
		}
		if err := store.CheckValue(value, ttl); err != nil {
			return fmt.Errorf("postgres: set many: %w", err)
		}
	}
	if len(items) == 0 {
		return nil
	}
	if err := kv.db.ready(ctx); err != nil {
		return fmt.Errorf("postgres: set many: %w", err)
	}
	keys := make([][]byte, 0, len(items))
	values := make([][]byte, 0, len(items))
	for key, value := range items {
		keys = append(keys, []byte(key))
		values = append(values, nonNil(value))
	}
	b := tenantBatch(t.String())
	b.Queue(kvSetMany, t.String(), keys, values, kv.expiresAt(ttl))
	if _, err := kv.db.exec(ctx, b); err != nil {
		return kv.db.fail(ctx, "set many", err)
	}
	return nil
}

// Delete removes key for tenant t. Deleting a missing key is not an error.
func (kv *KV) Delete(ctx context.Context, t tenant.ID, key string) error {
	if err := store.CheckKV(t, key); err != nil {
		return fmt.Errorf("postgres: delete: %w", err)
	}
	if err := kv.db.ready(ctx); err != nil {
		return fmt.Errorf("postgres: delete: %w", err)
	}
	b := tenantBatch(t.String())
	b.Queue(kvDelete, t.String(), []byte(key))
	if _, err := kv.db.exec(ctx, b); err != nil {
		return kv.db.fail(ctx, "delete", err)
	}
	return nil
}

// expiresAt returns the expires_at of a value set now with ttl: NULL for
// a ttl of zero.
func (kv *KV) expiresAt(ttl time.Duration) *int64 {
	if ttl == 0 {
		return nil
	}
	at := store.Expiry(kv.db.now(), ttl)
	return &at
}

// nonNil returns b, or an empty slice for nil, which pgx would send as
// NULL.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
