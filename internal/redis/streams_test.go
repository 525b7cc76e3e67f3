package redis_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/redis"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

func TestStreams(t *testing.T) {
	s := redis.NewStreams(openDB(t, redis.Options{}))
	var releases []func()
	for i := range 2 {
		release, ok := s.Acquire(acme, 2)
		if !ok {
			t.Fatalf("stream %d of 2 refused", i+1)
		}
		releases = append(releases, release)
	}
	if _, ok := s.Acquire(acme, 2); ok {
		t.Fatal("third stream of 2 admitted")
	}
	if _, ok := s.Acquire(globex, 2); !ok {
		t.Error("globex refused because of acme's streams")
	}
	if _, ok := s.Acquire(tenant.ID{}, 2); ok {
		t.Error("zero tenant admitted")
	}
	releases[0]()
	releases[0]() // twice frees one slot only
	if n, err := s.Open(context.Background(), acme); err != nil || n != 1 {
		t.Errorf("Open = %d, %v; want 1", n, err)
	}
	if _, ok := s.Acquire(acme, 2); !ok {
		t.Error("stream refused after one was released")
	}
	if _, ok := s.Acquire(acme, 2); ok {
		t.Error("third stream admitted after the release was taken")
	}
	// No cap: still counted.
	if _, ok := s.Acquire(acme, 0); !ok {
		t.Error("stream refused without a cap")
	}
	if n, _ := s.Open(context.Background(), acme); n != 3 {
		t.Errorf("Open = %d, want 3", n)
	}
}

// TestStreamsLapse checks that the slots of a replica that stops renewing
// them (it died) are freed within the lease TTL, while those of a live
// replica are kept for as long as it runs.
func TestStreamsLapse(t *testing.T) {
	requireRedis(t)
	prefix := testPrefix(t)
	const ttl = 600 * time.Millisecond
	deadDB := openAt(t, redisAddr(), prefix, redis.Options{LeaseTTL: ttl})
	dead := redis.NewStreams(deadDB)
	alive := redis.NewStreams(openAt(t, redisAddr(), prefix, redis.Options{LeaseTTL: ttl}))
	if _, ok := alive.Acquire(acme, 2); !ok {
		t.Fatal("first slot refused")
	}
	if _, ok := dead.Acquire(acme, 2); !ok {
		t.Fatal("second slot refused")
	}
	if _, ok := alive.Acquire(acme, 2); ok {
		t.Fatal("third slot of 2 admitted")
	}
	deadDB.Close() // stops renewing, as a killed replica would
	start := time.Now()
	eventually(t, 3*ttl, func() error {
		if release, ok := alive.Acquire(acme, 2); ok {
			release()
			return nil
		}
		return errNotYet
	})
	if d := time.Since(start); d > ttl+200*time.Millisecond {
		t.Errorf("the dead replica's slot was freed after %s, want within the TTL of %s", d, ttl)
	}
	// The live replica's slot outlives many TTLs.
	time.Sleep(3 * ttl)
	if n, err := alive.Open(context.Background(), acme); err != nil || n != 1 {
		t.Errorf("Open = %d, %v; want the live replica's 1", n, err)
	}
}

// TestStreamsAcrossReplicas checks that two replicas on one Redis hold no
// more slots together than the limit, under concurrency.
func TestStreamsAcrossReplicas(t *testing.T) {
	requireRedis(t)
	prefix := testPrefix(t)
	replicas := []*redis.Streams{
		redis.NewStreams(openAt(t, redisAddr(), prefix, redis.Options{})),
		redis.NewStreams(openAt(t, redisAddr(), prefix, redis.Options{})),
	}
	const limit = 8
	var open, peak, admitted atomic.Int64
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			release, ok := replicas[i%2].Acquire(acme, limit)
			if !ok {
				return
			}
			admitted.Add(1)
			n := open.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			time.Sleep(2 * time.Millisecond) // the stream
			open.Add(-1)
			release()
		})
	}
	wg.Wait()
	if p := peak.Load(); p > limit {
		t.Errorf("%d streams open at once across two replicas, want at most %d", p, limit)
	}
	if admitted.Load() < limit {
		t.Errorf("admitted %d, want at least %d", admitted.Load(), limit)
	}
	if n, _ := replicas[0].Open(context.Background(), acme); n != 0 {
		t.Errorf("%d slots held after every stream ended, want 0", n)
	}
}

// TestStreamsRenewAfterScriptFlush checks that leases are still renewed
// after Redis forgot its scripts (a restart, SCRIPT FLUSH).
func TestStreamsRenewAfterScriptFlush(t *testing.T) {
	const ttl = 600 * time.Millisecond
	db := openDB(t, redis.Options{LeaseTTL: ttl})
	s := redis.NewStreams(db)
	release, ok := s.Acquire(acme, 1)
	if !ok {
		t.Fatal("slot refused")
	}
	defer release()
	if err := db.Client().ScriptFlush(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * ttl)
	if n, err := s.Open(context.Background(), acme); err != nil || n != 1 {
		t.Errorf("Open = %d, %v after SCRIPT FLUSH and three TTLs; want the renewed slot", n, err)
	}
}
