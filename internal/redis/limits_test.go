package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/ratelimit"
	"github.com/crispy-enigma/crispy/internal/ratelimit/ratelimittest"
	"github.com/crispy-enigma/crispy/internal/redis"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

var (
	acme   = tenant.MustID("acme")
	globex = tenant.MustID("globex")
)

// TestLimits runs the conformance suite on the caller's clock, which the
// suite drives.
func TestLimits(t *testing.T) {
	requireRedis(t)
	ratelimittest.TestStore(t, func(t *testing.T) ratelimit.Store {
		db := openDB(t, redis.Options{})
		return redis.NewLimits(db, redis.LimitsOptions{CallerClock: true})
	})
}

// TestLimitsServerTime checks the production path: Redis time, whatever
// clock the caller passes.
func TestLimitsServerTime(t *testing.T) {
	db := openDB(t, redis.Options{})
	s := redis.NewLimits(db, redis.LimitsOptions{})
	// One request a minute, bursts of 3: nothing refills during the test.
	l := ratelimit.Limit{Requests: 1, Per: time.Minute, Burst: 3}
	r := []ratelimit.Request{{Key: "k", Limit: l}}
	// Callers whose clocks disagree by a day share one bucket on one clock.
	clocks := []time.Time{time.Now(), time.Now().Add(24 * time.Hour), time.Now().Add(-24 * time.Hour)}
	for i, now := range clocks {
		ds, err := s.Allow(context.Background(), acme, now, r)
		if err != nil {
			t.Fatal(err)
		}
		d := ds[0]
		if !d.Allowed || d.Remaining != 2-i {
			t.Errorf("request %d: got %+v, want admitted with %d remaining", i+1, d, 2-i)
		}
		// The bucket's TAT is (i+1) minutes after Redis time, give or take
		// the test's own running time.
		if want := time.Duration(i+1) * time.Minute; d.ResetAfter > want || d.ResetAfter < want-time.Second {
			t.Errorf("request %d: ResetAfter %s, want about %s", i+1, d.ResetAfter, want)
		}
	}
	ds, err := s.Allow(context.Background(), acme, time.Now().Add(time.Hour), r)
	if err != nil {
		t.Fatal(err)
	}
	if d := ds[0]; d.Allowed || d.RetryAfter <= 59*time.Second || d.RetryAfter > time.Minute {
		t.Errorf("fourth request, from a clock an hour ahead: got %+v, want refused for about a minute", d)
	}
	// The bucket expires in Redis when it is full again, plus a second.
	ttl, err := db.Client().PTTL(context.Background(), keyOf(db, acme, "rl:k")).Result()
	if err != nil {
		t.Fatal(err)
	}
	if ttl < 2*time.Minute || ttl > 3*time.Minute+time.Second {
		t.Errorf("bucket TTL %s, want about 3m1s", ttl)
	}
}

// TestLimitsAcrossReplicas checks that two stores on one Redis share their
// buckets: the burst is admitted once, not once per replica.
func TestLimitsAcrossReplicas(t *testing.T) {
	requireRedis(t)
	prefix := testPrefix(t)
	a := redis.NewLimits(openAt(t, redisAddr(), prefix, redis.Options{}), redis.LimitsOptions{})
	b := redis.NewLimits(openAt(t, redisAddr(), prefix, redis.Options{}), redis.LimitsOptions{})
	l := ratelimit.Limit{Requests: 10, Per: time.Hour, Burst: 10}
	n := 0
	for i := range 30 {
		s := a
		if i%2 == 1 {
			s = b
		}
		ds, err := s.Allow(context.Background(), acme, time.Now(), []ratelimit.Request{{Key: "tenant", Limit: l}})
		if err != nil {
			t.Fatal(err)
		}
		if ds[0].Allowed {
			n++
		}
	}
	if n != 10 {
		t.Errorf("two replicas admitted %d, want the burst of 10", n)
	}
}

// TestLimitsNoScript checks that a script Redis has forgotten is loaded
// again.
func TestLimitsNoScript(t *testing.T) {
	db := openDB(t, redis.Options{})
	s := redis.NewLimits(db, redis.LimitsOptions{})
	l := ratelimit.Limit{Requests: 10, Per: time.Second}
	for range 2 {
		if err := db.Client().ScriptFlush(context.Background()).Err(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Allow(context.Background(), acme, time.Now(), []ratelimit.Request{{Key: "k", Limit: l}}); err != nil {
			t.Fatalf("after SCRIPT FLUSH: %v", err)
		}
	}
}

// keyOf returns the Redis key of name in tenant t of db, as the package
// builds it.
func keyOf(db *redis.DB, t tenant.ID, name string) string {
	return redis.KeyOf(db, t.String(), name)
}
