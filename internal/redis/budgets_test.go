package redis_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/gateway"
	"github.com/crispy-enigma/crispy/internal/gateway/budgettest"
	"github.com/crispy-enigma/crispy/internal/redis"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

func TestBudgets(t *testing.T) {
	requireRedis(t)
	budgettest.TestStore(t, func(t *testing.T) gateway.BudgetStore {
		return redis.NewBudgets(openDB(t, redis.Options{}))
	})
}

// budgetTenant returns tenant acme with a daily token budget, and its key.
func budgetTenant(t *testing.T, tokensPerDay int64) (*tenant.Tenant, *tenant.Key) {
	t.Helper()
	c := &tenant.Config{ID: "acme", Name: "Acme", Keys: []tenant.Key{{ID: "k1", Hash: tenant.HashKey(tenant.NewKey()), Scopes: []tenant.Scope{tenant.ScopeChat}}}}
	c.Limits.Budget = tenant.Budget{TokensPerDay: tokensPerDay}
	reg, err := tenant.NewRegistry([]*tenant.Config{c}, tenant.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tn, _ := reg.Tenant("acme")
	return tn, &tn.Config.Keys[0]
}

// TestBudgetsAcrossReplicas is the race of many replicas: 64 concurrent
// calls spread over three replicas' Budgets, each reserving its worst case
// of 100 tokens, against a budget of 1,000 tokens a day, which admits 10.
// However they interleave, no more than 10 are admitted and no more than
// the budget is spent.
func TestBudgetsAcrossReplicas(t *testing.T) {
	requireRedis(t)
	prefix := testPrefix(t)
	tn, key := budgetTenant(t, 1000)
	var replicas []*gateway.Budgets
	for range 3 {
		db := openAt(t, redisAddr(), prefix, redis.Options{})
		replicas = append(replicas, gateway.NewBudgetsWithStore(redis.NewBudgets(db), nil))
	}
	var admitted, refused atomic.Int64
	var start, wg sync.WaitGroup
	start.Add(1)
	for i := range 64 {
		wg.Go(func() {
			b := replicas[i%3]
			start.Wait()
			res, err := b.Reserve(tn, key, 100, 0)
			var e *api.Error
			switch {
			case errors.As(err, &e) && e.Code == api.CodeBudgetExceeded:
				refused.Add(1)
				return
			case err != nil:
				t.Errorf("call %d: %v", i, err)
				return
			}
			admitted.Add(1)
			time.Sleep(time.Millisecond) // the model call
			res.Settle(100, 0)
		})
	}
	start.Done()
	wg.Wait()
	if got := admitted.Load(); got != 10 {
		t.Errorf("admitted %d calls of 100 tokens against 1,000, want 10", got)
	}
	if got := refused.Load(); got != 54 {
		t.Errorf("refused %d, want 54", got)
	}
	for i, b := range replicas {
		if tokens, _ := b.Used("acme", ""); tokens != 1000 {
			t.Errorf("replica %d sees %d tokens used, want 1000", i, tokens)
		}
	}
}

// TestBudgetsLapse checks that a reservation lives as long as its holder
// renews it, and lapses within the lease TTL once the holder stops (it
// died).
func TestBudgetsLapse(t *testing.T) {
	requireRedis(t)
	prefix := testPrefix(t)
	const ttl = 600 * time.Millisecond
	tn, key := budgetTenant(t, 100)
	dead := openAt(t, redisAddr(), prefix, redis.Options{LeaseTTL: ttl})
	alive := openAt(t, redisAddr(), prefix, redis.Options{LeaseTTL: ttl})
	a := gateway.NewBudgetsWithStore(redis.NewBudgets(alive), nil)
	d := gateway.NewBudgetsWithStore(redis.NewBudgets(dead), nil)

	long, err := a.Reserve(tn, key, 60, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Reserve(tn, key, 40, 0); err != nil {
		t.Fatal(err)
	}
	dead.Close() // stops renewing, as a killed replica would
	// Three TTLs later the renewed hold of 60 is still there, the other
	// one lapsed: 40 fit again, 41 do not.
	time.Sleep(3 * ttl)
	var e *api.Error
	if _, err := a.Reserve(tn, key, 41, 0); !errors.As(err, &e) || e.Code != api.CodeBudgetExceeded {
		t.Fatalf("41 beside a live hold of 60: err = %v, want budget_exceeded", err)
	}
	r, err := a.Reserve(tn, key, 40, 0)
	if err != nil {
		t.Fatalf("40 after the dead replica's hold lapsed: %v", err)
	}
	r.Settle(0, 0)
	long.Settle(60, 0)
	if tokens, _ := a.Used("acme", ""); tokens != 60 {
		t.Errorf("used %d, want 60", tokens)
	}
}

// TestBudgetsSeedOnce checks that replicas starting one after another seed
// the ledger's usage into Redis once, not once each.
func TestBudgetsSeedOnce(t *testing.T) {
	requireRedis(t)
	prefix := testPrefix(t)
	now := time.Now()
	for range 3 {
		b := gateway.NewBudgetsWithStore(redis.NewBudgets(openAt(t, redisAddr(), prefix, redis.Options{})), nil)
		b.Seed("acme", "k1", now, gateway.Amount{Tokens: 70})
		b.Seed("acme", "", now, gateway.Amount{Tokens: 5}) // a call without a key
		if tokens, _ := b.Used("acme", ""); tokens != 75 {
			t.Fatalf("tenant used %d tokens after seeding, want 75", tokens)
		}
		if tokens, _ := b.Used("acme", "k1"); tokens != 70 {
			t.Fatalf("key used %d tokens after seeding, want 70", tokens)
		}
	}
}

// TestBudgetsSeedAfterSettle: usage settled in a period that no replica
// seeded (a tenant without usage when they started, or a new day) is also
// in the ledger; a replica that starts later and seeds from the ledger
// must not count it twice.
func TestBudgetsSeedAfterSettle(t *testing.T) {
	requireRedis(t)
	prefix := testPrefix(t)
	acme := &tenant.Tenant{ID: tenant.MustID("acme"), Config: &tenant.Config{}}
	acme.Config.Limits.Budget.TokensPerDay = 1000
	running := gateway.NewBudgetsWithStore(redis.NewBudgets(openAt(t, redisAddr(), prefix, redis.Options{})), nil)
	r, err := running.Reserve(acme, nil, 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	r.Settle(40, 0) // the ledger now holds these 40 tokens too
	later := gateway.NewBudgetsWithStore(redis.NewBudgets(openAt(t, redisAddr(), prefix, redis.Options{})), nil)
	later.Seed("acme", "", time.Now(), gateway.Amount{Tokens: 40})
	if tokens, _ := later.Used("acme", ""); tokens != 40 {
		t.Fatalf("used %d tokens after a later replica seeded, want 40", tokens)
	}
}
