package redis_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/crispy-enigma/crispy/internal/redis"
)

// redisAddr is the Redis the tests use: CRISPY_TEST_REDIS or the local one.
func redisAddr() string {
	if a := os.Getenv("CRISPY_TEST_REDIS"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

// requireRedis skips the test when Redis cannot be reached, unless CI is
// set: then the test fails.
func requireRedis(t testing.TB) {
	t.Helper()
	c, err := net.DialTimeout("tcp", redisAddr(), time.Second)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("Redis at %s is required when CI is set: %v", redisAddr(), err)
		}
		t.Skipf("Redis at %s is not reachable: %v", redisAddr(), err)
	}
	c.Close()
}

// testPrefix returns a random key prefix and deletes its keys when the test
// ends.
func testPrefix(t testing.TB) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "crispytest:" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() {
		c := goredis.NewClient(&goredis.Options{Addr: redisAddr()})
		defer c.Close()
		ctx := context.Background()
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Errorf("scanning the test's keys: %v", err)
		}
		if len(keys) > 0 {
			if err := c.Del(ctx, keys...).Err(); err != nil {
				t.Errorf("deleting the test's keys: %v", err)
			}
		}
	})
	return prefix
}

// openAt opens a DB on the Redis at addr with the test's prefix.
func openAt(t testing.TB, addr, prefix string, opts redis.Options) *redis.DB {
	t.Helper()
	opts.Prefix = prefix
	if opts.Timeout == 0 {
		opts.Timeout = 300 * time.Millisecond
	}
	db, err := redis.Open(context.Background(), "redis://"+addr+"/0", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// openDB opens a DB on the test Redis with a fresh prefix.
func openDB(t testing.TB, opts redis.Options) *redis.DB {
	t.Helper()
	requireRedis(t)
	return openAt(t, redisAddr(), testPrefix(t), opts)
}

// eventually retries fn until it returns nil or d passes.
func eventually(t testing.TB, d time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %v", d, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var errNotYet = errors.New("not yet")
