package redis

import (
	"context"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// KV is a store.KV in Redis: the tenant cache (completions, embeddings,
// search answers) shared by every replica. Each value is one string key,
// prefix + "{tenant}:kv:" + key, with the value's TTL as its expiry, so
// Redis drops expired entries itself and nothing needs sweeping.
//
// A failure to reach Redis is returned wrapped in store.ErrUnavailable; the
// caches treat it as a miss (a read) or log it (a write), so a Redis outage
// costs cache hits, never requests.
type KV struct {
	db *DB
}

var _ store.KV = (*KV)(nil)

// NewKV returns the KV kept in db.
func NewKV(db *DB) *KV { return &KV{db: db} }

func (kv *KV) key(t tenant.ID, key string) string {
	return kv.db.key(t.String(), "kv:"+key)
}

// Get returns the value stored under key for tenant t, or store.ErrNotFound
// when there is none or it has expired.
func (kv *KV) Get(ctx context.Context, t tenant.ID, key string) ([]byte, error) {
	if err := store.CheckKV(t, key); err != nil {
		return nil, fmt.Errorf("redis: get: %w", err)
	}
	if err := kv.ready(ctx); err != nil {
		return nil, fmt.Errorf("redis: get: %w", err)
	}
	b, err := kv.db.rdb.Get(ctx, kv.key(t, key)).Bytes()
	switch {
	case errors.Is(err, goredis.Nil):
		kv.db.ok()
		return nil, store.ErrNotFound
	case err != nil:
		return nil, kv.failed("get", err)
	}
	kv.db.ok()
	if b == nil {
		b = []byte{}
	}
	return b, nil
}

// Set stores value under key for tenant t, replacing any previous value and
// its expiry. A ttl of zero means the value does not expire (Redis may
// still evict it under its maxmemory policy).
func (kv *KV) Set(ctx context.Context, t tenant.ID, key string, value []byte, ttl time.Duration) error {
	if err := store.CheckKV(t, key); err != nil {
		return fmt.Errorf("redis: set: %w", err)
	}
	if err := store.CheckValue(value, ttl); err != nil {
		return fmt.Errorf("redis: set: %w", err)
	}
	if err := kv.ready(ctx); err != nil {
		return fmt.Errorf("redis: set: %w", err)
	}
	if err := kv.db.rdb.Set(ctx, kv.key(t, key), value, expiry(ttl)).Err(); err != nil {
		return kv.failed("set", err)
	}
	kv.db.ok()
	return nil
}

// SetMany stores several values for tenant t with one ttl in one pipeline
// (one round trip). Every argument is checked before anything is written.
// Unlike the SQL backends' it is not atomic: after a failure some of the
// values may be stored, which a cache tolerates.
func (kv *KV) SetMany(ctx context.Context, t tenant.ID, items map[string][]byte, ttl time.Duration) error {
	for key, value := range items {
		if err := store.CheckKV(t, key); err != nil {
			return fmt.Errorf("redis: set many: %w", err)
		}
		if err := store.CheckValue(value, ttl); err != nil {
			return fmt.Errorf("redis: set many: %w", err)
		}
	}
	if len(items) == 0 {
		return nil
	}
	if err := kv.ready(ctx); err != nil {
		return fmt.Errorf("redis: set many: %w", err)
	}
	exp := expiry(ttl)
	_, err := kv.db.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for key, value := range items {
			p.Set(ctx, kv.key(t, key), value, exp)
		}
		return nil
	})
	if err != nil {
		return kv.failed("set many", err)
	}
	kv.db.ok()
	return nil
}

// Delete removes key for tenant t. Deleting a missing key is not an error.
func (kv *KV) Delete(ctx context.Context, t tenant.ID, key string) error {
	if err := store.CheckKV(t, key); err != nil {
		return fmt.Errorf("redis: delete: %w", err)
	}
	if err := kv.ready(ctx); err != nil {
		return fmt.Errorf("redis: delete: %w", err)
	}
	if err := kv.db.rdb.Del(ctx, kv.key(t, key)).Err(); err != nil {
		return kv.failed("delete", err)
	}
	kv.db.ok()
	return nil
}

// ready returns the context's error, or store.ErrUnavailable while Redis is
// backed off.
func (kv *KV) ready(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := kv.db.up(); err != nil {
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	return nil
}

// failed counts err and returns it for op, wrapped in store.ErrUnavailable
// unless it is the caller's context ending.
func (kv *KV) failed(op string, err error) error {
	err = kv.db.fail(err)
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("redis: %s: %w", op, err)
	}
	return fmt.Errorf("redis: %s: %w: %w", op, store.ErrUnavailable, err)
}

// expiry is ttl as Redis takes it: zero keeps the value forever, and a ttl
// under a millisecond is rounded up to one (go-redis would send a zero as
// no expiry).
func expiry(ttl time.Duration) time.Duration {
	if ttl <= 0 {
		return 0 // no expiry
	}
	return time.Duration(ms(ttl)) * time.Millisecond
}
