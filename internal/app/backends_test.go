package app_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// The tests of the scale-out backends run against the PostgreSQL of
// CRISPY_TEST_POSTGRES (pgtest) and the Redis of CRISPY_TEST_REDIS, by
// default the ones every development machine and CI runs. Each test gets a
// database and a Redis key prefix of its own and drops them afterwards.
// When a server cannot be reached the tests skip, unless CI is set: then
// they fail.
const defaultTestRedis = "redis://127.0.0.1:6379/0"

// unreachable skips the test, or fails it when CI is set.
func unreachable(t *testing.T, what string, err error) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("CI is set and %s is unreachable: %v", what, err)
	}
	t.Skipf("%s unreachable: %v", what, err)
}

func randomName() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// testRedis returns the URL of the test Redis and a key prefix of the
// test's own, whose keys are deleted when the test ends.
func testRedis(t *testing.T) (string, string) {
	t.Helper()
	u := os.Getenv("CRISPY_TEST_REDIS")
	switch {
	case u == "":
		u = defaultTestRedis
	case !strings.Contains(u, "://"):
		u = "redis://" + u // host:port, as .ci/run sets it
	}
	o, err := goredis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	rdb := goredis.NewClient(o)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		unreachable(t, "Redis", err)
	}
	prefix := "crispytest:" + randomName() + ":"
	t.Cleanup(func() {
		defer rdb.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
	})
	return u, prefix
}

// withHost returns the URL u pointing at addr instead of its host:port.
func withHost(t *testing.T, u, addr string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	p.Host = addr
	return p.String()
}

// eventually retries check every 50 ms until it returns nil or timeout
// passes, and returns how long it took.
func eventually(t *testing.T, timeout time.Duration, what string, check func() error) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		err := check()
		if err == nil {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			t.Fatalf("%s: not within %s: %v", what, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
