package redis_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
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

// TestLimitsAcrossReplicas checks that three replicas on one Redis share
// their buckets: 300 concurrent requests spread over them, each checked
// against the tenant, its key and its IP, admit exactly the tenant's burst
// of 50, not three times it.
func TestLimitsAcrossReplicas(t *testing.T) {
	requireRedis(t)
	prefix := testPrefix(t)
	var replicas []*ratelimit.Limiter
	for range 3 {
		replicas = append(replicas, ratelimit.New(redis.NewLimits(openAt(t, redisAddr(), prefix, redis.Options{}), redis.LimitsOptions{})))
	}
	tenantLimit := ratelimit.Limit{Requests: 50, Per: time.Hour, Burst: 50}
	wide := ratelimit.Limit{Requests: 1000, Per: time.Hour, Burst: 1000}
	var admitted, failed atomic.Int64
	var wg sync.WaitGroup
	for i := range 300 {
		wg.Go(func() {
			res, err := replicas[i%3].Check(context.Background(), acme,
				ratelimit.Rule{Policy: "tenant", Key: "tenant", Limit: tenantLimit},
				ratelimit.Rule{Policy: "key", Key: fmt.Sprint("key:k", i%7), Limit: wide},
				ratelimit.Rule{Policy: "ip", Key: fmt.Sprint("ip:10.0.0.", i%13), Limit: wide})
			switch {
			case err != nil:
				failed.Add(1)
			case res.Allowed:
				admitted.Add(1)
			}
		})
	}
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d checks failed", failed.Load())
	}
	if got := admitted.Load(); got != 50 {
		t.Errorf("three replicas admitted %d, want the burst of 50", got)
	}
	// Refused requests charged the key buckets nothing: together they were
	// charged 50, one per admitted request (plus one each now).
	left := 0
	for j := range 7 {
		res, err := replicas[j%3].Check(context.Background(), acme, ratelimit.Rule{Policy: "key", Key: fmt.Sprint("key:k", j), Limit: wide})
		if err != nil {
			t.Fatal(err)
		}
		left += res.Remaining
	}
	if want := 7*1000 - 50 - 7; left != want {
		t.Errorf("the key buckets have %d left, want %d", left, want)
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

// TestLimitsMatchMemory drives the Redis store and the memory store with
// the same random requests (limits, costs, batches of up to three keys,
// repeated keys, a clock that jumps forwards and back) and checks that
// every decision is the same to the nanosecond: the script's arithmetic on
// Lua doubles is exact.
func TestLimitsMatchMemory(t *testing.T) {
	db := openDB(t, redis.Options{})
	rs := redis.NewLimits(db, redis.LimitsOptions{CallerClock: true})
	ms := ratelimit.NewMemory()
	rng := rand.New(rand.NewPCG(1, 2))
	limits := make([]ratelimit.Limit, 6)
	for i := range limits {
		limits[i] = ratelimit.Limit{
			Requests: 1 + rng.IntN(100),
			Per:      time.Duration(1 + rng.Int64N(int64(10*time.Second))),
			Burst:    rng.IntN(50),
		}
	}
	now := time.Now()
	admitted, refused := 0, 0
	for step := range 3000 {
		switch rng.IntN(20) {
		case 0:
			now = now.Add(-time.Duration(rng.Int64N(int64(10 * time.Millisecond))))
		default:
			now = now.Add(time.Duration(rng.Int64N(int64(20 * time.Millisecond))))
		}
		reqs := make([]ratelimit.Request, 1+rng.IntN(3))
		for i := range reqs {
			l := limits[rng.IntN(len(limits))]
			reqs[i] = ratelimit.Request{Key: fmt.Sprint("k", rng.IntN(4)), Limit: l, Cost: rng.IntN(min(l.EffectiveBurst(), 3) + 1)}
		}
		id := acme
		if rng.IntN(4) == 0 {
			id = globex
		}
		got, gerr := rs.Allow(context.Background(), id, now, reqs)
		want, werr := ms.Allow(context.Background(), id, now, reqs)
		if (gerr != nil) != (werr != nil) {
			t.Fatalf("step %d: Redis error %v, memory error %v", step, gerr, werr)
		}
		for _, d := range want {
			if d.Allowed {
				admitted++
			} else {
				refused++
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("step %d at %s, %+v:\nRedis  %+v\nmemory %+v", step, now.Format(time.RFC3339Nano), reqs, got, want)
		}
	}
	// Both outcomes were exercised.
	if admitted < 1000 || refused < 1000 {
		t.Errorf("%d decisions admitted, %d refused: want many of each", admitted, refused)
	}
	t.Logf("%d decisions admitted, %d refused", admitted, refused)
}
