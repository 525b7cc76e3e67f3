package redis_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/netproxy"
	"github.com/crispy-enigma/crispy/internal/redis"
	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/store/storetest"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

func TestKV(t *testing.T) {
	requireRedis(t)
	storetest.TestKV(t, func(t *testing.T) store.KV {
		return redis.NewKV(openAt(t, redisAddr(), testPrefix(t), redis.Options{}))
	})
}

// TestKVAcrossReplicas: a value set through one DB is read through another
// on the same Redis, and a delete on one is seen by the other: the cache is
// shared, not per replica.
func TestKVAcrossReplicas(t *testing.T) {
	requireRedis(t)
	prefix := testPrefix(t)
	a := redis.NewKV(openAt(t, redisAddr(), prefix, redis.Options{}))
	b := redis.NewKV(openAt(t, redisAddr(), prefix, redis.Options{}))
	ctx := context.Background()
	acme := tenant.MustID("acme")
	if err := a.SetMany(ctx, acme, map[string][]byte{"k1": []byte("v1"), "k2": []byte("v2")}, time.Minute); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"k1", "k2"} {
		if got, err := b.Get(ctx, acme, k); err != nil || string(got) != "v"+k[1:] {
			t.Errorf("b.Get(%s) = %q, %v", k, got, err)
		}
	}
	if err := b.Delete(ctx, acme, "k1"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Get(ctx, acme, "k1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a.Get(k1) after b.Delete = %v, want ErrNotFound", err)
	}
	if _, err := a.Get(ctx, tenant.MustID("globex"), "k2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("globex reads acme's k2: %v, want ErrNotFound", err)
	}
}

// TestKVOutage: with Redis cut off, every call fails with
// store.ErrUnavailable (a cache miss for its callers) and writes nothing;
// when Redis is back the values written before are there again.
func TestKVOutage(t *testing.T) {
	requireRedis(t)
	p := netproxy.Start(t, redisAddr())
	db := openAt(t, p.Addr(), testPrefix(t), redis.Options{Timeout: 200 * time.Millisecond})
	kv := redis.NewKV(db)
	ctx := context.Background()
	acme := tenant.MustID("acme")
	if err := kv.Set(ctx, acme, "before", []byte("x"), time.Minute); err != nil {
		t.Fatal(err)
	}
	p.Cut()
	if _, err := kv.Get(ctx, acme, "before"); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Get during the outage = %v, want ErrUnavailable", err)
	}
	if err := kv.Set(ctx, acme, "during", []byte("y"), time.Minute); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Set during the outage = %v, want ErrUnavailable", err)
	}
	if err := kv.SetMany(ctx, acme, map[string][]byte{"during": []byte("y")}, time.Minute); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("SetMany during the outage = %v, want ErrUnavailable", err)
	}
	if db.Errors() == 0 {
		t.Error("no Redis error counted")
	}
	p.Restore()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := kv.Get(ctx, acme, "before")
		if err == nil {
			if string(got) != "x" {
				t.Errorf("Get after the outage = %q", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Get still fails after the restore: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := kv.Get(ctx, acme, "during"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a value set during the outage = %v, want ErrNotFound", err)
	}
}
