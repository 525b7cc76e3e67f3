package redis_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/gateway"
	"github.com/crispy-enigma/crispy/internal/netproxy"
	"github.com/crispy-enigma/crispy/internal/ratelimit"
	"github.com/crispy-enigma/crispy/internal/redis"
)

// outage returns a DB that reaches Redis through a proxy the test can cut.
func outage(t *testing.T) (*redis.DB, *netproxy.Proxy) {
	t.Helper()
	requireRedis(t)
	p := netproxy.Start(t, redisAddr())
	return openAt(t, p.Addr(), testPrefix(t), redis.Options{LeaseTTL: 600 * time.Millisecond}), p
}

// TestOutageLimits checks that rate limits answer an error, fast, while
// Redis is unreachable (the HTTP layer then admits the request, logs and
// counts it), and work again when it returns, without a restart.
func TestOutageLimits(t *testing.T) {
	db, p := outage(t)
	s := redis.NewLimits(db, redis.LimitsOptions{})
	r := []ratelimit.Request{{Key: "k", Limit: ratelimit.Limit{Requests: 100, Per: time.Second}}}
	if _, err := s.Allow(context.Background(), acme, time.Now(), r); err != nil {
		t.Fatal(err)
	}
	p.Cut()
	start := time.Now()
	for range 3 {
		if _, err := s.Allow(context.Background(), acme, time.Now(), r); err == nil {
			t.Fatal("Allow succeeded with Redis cut off")
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("three failed checks took %s, want well under a second each", d)
	}
	if db.Errors() == 0 {
		t.Error("no failure counted")
	}
	p.Restore()
	eventually(t, 2*time.Second, func() error {
		_, err := s.Allow(context.Background(), acme, time.Now(), r)
		return err
	})
}

// TestOutageBudgets checks that budgets fail closed: a call that cannot
// reserve is refused with 503 unavailable, not admitted and not told its
// budget is spent, and calls are admitted again once Redis returns.
func TestOutageBudgets(t *testing.T) {
	db, p := outage(t)
	tn, key := budgetTenant(t, 1000)
	b := gateway.NewBudgetsWithStore(redis.NewBudgets(db), nil)
	held, err := b.Reserve(tn, key, 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	p.Cut()
	_, err = b.Reserve(tn, key, 100, 0)
	var e *api.Error
	if !errors.As(err, &e) || e.Code != api.CodeUnavailable {
		t.Fatalf("Reserve with Redis cut off: err = %v, want unavailable (503)", err)
	}
	// The call that was running ends during the outage: its usage is not
	// counted in Redis (the ledger keeps it) and its hold lapses.
	held.Settle(100, 0)
	p.Restore()
	eventually(t, 2*time.Second, func() error {
		r, err := b.Reserve(tn, key, 900, 0)
		if err != nil {
			return err
		}
		r.Settle(900, 0)
		return nil
	})
	if tokens, _ := b.Used("acme", ""); tokens != 900 {
		t.Errorf("used %d tokens after the outage, want 900", tokens)
	}
}

// TestOutageStreams checks that stream slots fall back to a cap per
// replica while Redis is unreachable, and are shared again when it
// returns; slots held across the outage are renewed, put back if they had
// lapsed.
func TestOutageStreams(t *testing.T) {
	db, p := outage(t)
	s := redis.NewStreams(db)
	direct := redis.NewStreams(openAt(t, redisAddr(), prefixOf(db), redis.Options{}))
	held, ok := s.Acquire(acme, 2)
	if !ok {
		t.Fatal("slot refused")
	}
	p.Cut()
	// Per replica: this one may open 2 more on its own while cut off.
	r1, ok1 := s.Acquire(acme, 2)
	_, ok2 := s.Acquire(acme, 2)
	_, ok3 := s.Acquire(acme, 2)
	if !ok1 || !ok2 || ok3 {
		t.Errorf("with Redis cut off: admitted %v %v %v, want 2 of 3 (a cap per replica)", ok1, ok2, ok3)
	}
	r1()
	// Longer than the lease TTL: the held slot lapses in Redis.
	time.Sleep(time.Second)
	if n, _ := direct.Open(context.Background(), acme); n != 0 {
		t.Errorf("%d slots in Redis after the outage outlived the TTL, want 0 (lapsed)", n)
	}
	p.Restore()
	// The renewal puts the slot of the stream still open back.
	eventually(t, 2*time.Second, func() error {
		if n, _ := direct.Open(context.Background(), acme); n != 1 {
			return fmt.Errorf("%d slots in Redis, want the 1 still open: %w", n, errNotYet)
		}
		return nil
	})
	if _, ok := s.Acquire(acme, 2); !ok {
		t.Error("second slot refused after Redis returned")
	}
	if _, ok := direct.Acquire(acme, 2); ok {
		t.Error("third slot of 2 admitted by another replica after Redis returned")
	}
	held()
}

// prefixOf returns the key prefix of db.
func prefixOf(db *redis.DB) string { return redis.PrefixOf(db) }

// TestOutageHang checks that when Redis stops answering (connections hang
// instead of being refused) one call waits for the timeout and the calls
// after it fail at once for the backoff, so that requests are not all
// slowed by the outage; and that service resumes when Redis answers again.
func TestOutageHang(t *testing.T) {
	db, p := outage(t)
	s := redis.NewLimits(db, redis.LimitsOptions{})
	r := []ratelimit.Request{{Key: "k", Limit: ratelimit.Limit{Requests: 100, Per: time.Second}}}
	if _, err := s.Allow(context.Background(), acme, time.Now(), r); err != nil {
		t.Fatal(err)
	}
	p.Hang()
	start := time.Now()
	if _, err := s.Allow(context.Background(), acme, time.Now(), r); err == nil {
		t.Fatal("Allow succeeded with Redis hanging")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the first call took %s, want about the 300ms timeout", d)
	}
	start = time.Now()
	for range 100 {
		if _, err := s.Allow(context.Background(), acme, time.Now(), r); !errors.Is(err, redis.ErrUnavailable) {
			t.Fatalf("during the backoff: err = %v, want ErrUnavailable", err)
		}
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("100 calls during the backoff took %s, want them to fail at once", d)
	}
	p.Restore()
	eventually(t, 3*time.Second, func() error {
		_, err := s.Allow(context.Background(), acme, time.Now(), r)
		return err
	})
}
