package ratelimit_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/ratelimit"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// clock is a fake clock for a Limiter.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time          { return c.now }
func (c *clock) Advance(d time.Duration) { c.now = c.now.Add(d) }

func newLimiter(t *testing.T) (*ratelimit.Limiter, *clock) {
	t.Helper()
	c := &clock{now: t0}
	l := ratelimit.New(ratelimit.NewMemory())
	l.Now = c.Now
	return l, c
}

var (
	tenantRule = ratelimit.Rule{Policy: "tenant", Key: "tenant", Limit: ratelimit.Limit{Requests: 600, Per: time.Minute, Burst: 10}}
	keyRule    = ratelimit.Rule{Policy: "key", Key: "key:k1", Limit: ratelimit.Limit{Requests: 120, Per: time.Minute, Burst: 3}}
	ipRule     = ratelimit.Rule{Policy: "ip", Key: "ip:203.0.113.7", Limit: ratelimit.Limit{Requests: 60, Per: time.Minute, Burst: 5}}
)

func TestLimiterCheck(t *testing.T) {
	l, c := newLimiter(t)
	ctx := context.Background()
	for i := range 3 {
		res, err := l.Check(ctx, acme, tenantRule, keyRule, ipRule)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Allowed {
			t.Fatalf("request %d: refused: %+v", i+1, res)
		}
		// The key rule (burst 3, T = 500ms) is the tightest.
		want := ratelimit.Decision{Allowed: true, Limit: 3, Remaining: 2 - i, ResetAfter: time.Duration(i+1) * 500 * time.Millisecond}
		if res.Decision != want {
			t.Errorf("request %d: got %+v, want %+v", i+1, res.Decision, want)
		}
	}

	res, err := l.Check(ctx, acme, tenantRule, keyRule, ipRule)
	if err != nil {
		t.Fatal(err)
	}
	if res.Allowed || res.RetryAfter != 500*time.Millisecond || res.RetryAfterSeconds() != 1 {
		t.Fatalf("4th request: got %+v, want refused by the key rule for 500ms", res.Decision)
	}
	wantPolicies := []ratelimit.PolicyResult{
		{Policy: "tenant", Limit: tenantRule.Limit, Decision: ratelimit.Decision{Allowed: true, Limit: 10, Remaining: 7, ResetAfter: 300 * time.Millisecond}},
		{Policy: "key", Limit: keyRule.Limit, Decision: ratelimit.Decision{Limit: 3, ResetAfter: 1500 * time.Millisecond, RetryAfter: 500 * time.Millisecond}},
		{Policy: "ip", Limit: ipRule.Limit, Decision: ratelimit.Decision{Allowed: true, Limit: 5, Remaining: 2, ResetAfter: 3 * time.Second}},
	}
	if len(res.Policies) != len(wantPolicies) {
		t.Fatalf("got %d policies, want %d", len(res.Policies), len(wantPolicies))
	}
	for i, want := range wantPolicies {
		if got := res.Policies[i]; got != want {
			t.Errorf("policy %d: got %+v, want %+v", i, got, want)
		}
	}

	// Another key of the same tenant and client: the refused requests above
	// charged neither the tenant nor the IP bucket.
	other := keyRule
	other.Key = "key:k2"
	res, err = l.Check(ctx, acme, tenantRule, other, ipRule)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Allowed || res.Policies[0].Remaining != 6 || res.Policies[2].Remaining != 1 {
		t.Errorf("other key: got %+v, want admitted with 6 left for the tenant and 1 for the IP", res.Policies)
	}

	c.Advance(500 * time.Millisecond)
	if res, err := l.Check(ctx, acme, tenantRule, keyRule, ipRule); err != nil || !res.Allowed {
		t.Errorf("after RetryAfter: got %+v, %v; want admitted", res.Decision, err)
	}
}

func TestLimiterCheckN(t *testing.T) {
	l, _ := newLimiter(t)
	res, err := l.CheckN(context.Background(), acme, 3, ipRule)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Allowed || res.Remaining != 2 {
		t.Errorf("cost 3 of burst 5: got %+v, want admitted with 2 remaining", res.Decision)
	}
	if res, _ := l.CheckN(context.Background(), acme, 3, ipRule); res.Allowed {
		t.Errorf("cost 3 again: got %+v, want refused", res.Decision)
	}
}

func TestLimiterNoRules(t *testing.T) {
	l, _ := newLimiter(t)
	res, err := l.Check(context.Background(), acme)
	if err != nil || !res.Allowed || len(res.Policies) != 0 {
		t.Errorf("no rules: got %+v, %v; want admitted with no policies", res, err)
	}
}

func TestLimiterInvalid(t *testing.T) {
	l, _ := newLimiter(t)
	noKey := ipRule
	noKey.Key = ""
	tests := []struct {
		name  string
		id    tenant.ID
		cost  int
		rules []ratelimit.Rule
	}{
		{"zero tenant", tenant.ID{}, 1, []ratelimit.Rule{ipRule}},
		{"empty policy", acme, 1, []ratelimit.Rule{{Key: "k", Limit: ipRule.Limit}}},
		{"policy not ASCII", acme, 1, []ratelimit.Rule{{Policy: "pölicy", Key: "k", Limit: ipRule.Limit}}},
		{"empty key", acme, 1, []ratelimit.Rule{noKey}},
		{"zero cost", acme, 0, []ratelimit.Rule{ipRule}},
		{"cost above burst", acme, 6, []ratelimit.Rule{ipRule}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := l.CheckN(context.Background(), tt.id, tt.cost, tt.rules...); !errors.Is(err, ratelimit.ErrInvalid) {
				t.Errorf("got error %v, want ErrInvalid", err)
			}
		})
	}
}

// failingStore is a Store whose backend is down.
type failingStore struct{ err error }

func (s failingStore) Allow(context.Context, tenant.ID, time.Time, []ratelimit.Request) ([]ratelimit.Decision, error) {
	return nil, s.err
}

func TestLimiterStoreError(t *testing.T) {
	down := errors.New("connection refused")
	l := ratelimit.New(failingStore{down})
	if _, err := l.Check(context.Background(), acme, ipRule); !errors.Is(err, down) {
		t.Errorf("got error %v, want the store's", err)
	}
}

func TestMostRestrictive(t *testing.T) {
	ok := func(remaining int, reset time.Duration) ratelimit.Decision {
		return ratelimit.Decision{Allowed: true, Limit: 10, Remaining: remaining, ResetAfter: reset}
	}
	no := func(retry time.Duration) ratelimit.Decision {
		return ratelimit.Decision{Limit: 10, ResetAfter: time.Minute, RetryAfter: retry}
	}
	tests := []struct {
		name string
		ds   []ratelimit.Decision
		want ratelimit.Decision
	}{
		{"none", nil, ratelimit.Decision{Allowed: true}},
		{"one", []ratelimit.Decision{ok(3, time.Second)}, ok(3, time.Second)},
		{"fewest remaining", []ratelimit.Decision{ok(3, time.Second), ok(1, time.Second), ok(2, time.Hour)}, ok(1, time.Second)},
		{"tie on remaining: longest reset", []ratelimit.Decision{ok(1, time.Second), ok(1, time.Minute)}, ok(1, time.Minute)},
		{"a refusal beats any admission", []ratelimit.Decision{ok(0, time.Hour), no(time.Second)}, no(time.Second)},
		{"longest retry among refusals", []ratelimit.Decision{no(time.Second), ok(5, 0), no(time.Minute), no(2 * time.Second)}, no(time.Minute)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ratelimit.MostRestrictive(tt.ds); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestFromRate(t *testing.T) {
	got := ratelimit.FromRate(tenant.Rate{Requests: 600, Per: tenant.Duration(time.Minute), Burst: 60})
	want := ratelimit.Limit{Requests: 600, Per: time.Minute, Burst: 60}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if b := (ratelimit.Limit{Requests: 600, Per: time.Minute}).EffectiveBurst(); b != 600 {
		t.Errorf("EffectiveBurst with burst unset = %d, want requests (600)", b)
	}
	if d := want.Interval(); d != 100*time.Millisecond {
		t.Errorf("Interval = %s, want 100ms", d)
	}
}
