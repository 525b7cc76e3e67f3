package ratelimit

import (
	"context"
	"fmt"
	"time"

	"github.com/crispy-enigma/crispy/internal/tenant"
)

// Rule is one limit applied to a request.
type Rule struct {
	// Policy names the limit to clients in the RateLimit header fields, e.g.
	// "tenant", "key" or "ip": printable ASCII, not empty.
	Policy string
	// Key names the bucket within the tenant; see Request.Key.
	Key string
	// Limit is the bucket's limit.
	Limit Limit
}

// PolicyResult is one rule's verdict.
type PolicyResult struct {
	// Policy is the rule's policy name.
	Policy string
	// Limit is the rule's limit.
	Limit Limit
	Decision
}

// Result is the verdict on a request checked against several rules.
type Result struct {
	// Decision is the most restrictive of the rules' decisions: when the
	// request was refused, the refusing rule with the longest RetryAfter;
	// otherwise the rule with the fewest remaining requests (and then the
	// longest ResetAfter). Its Allowed is true only if every rule admitted.
	Decision
	// Policies holds each rule's verdict, in the order of the rules.
	Policies []PolicyResult
}

// Limiter checks a request against all the rules that apply to it in one
// atomic Store call.
type Limiter struct {
	store Store
	// Now is the limiter's clock; New sets it to time.Now.
	Now func() time.Time
}

// New returns a Limiter over s.
func New(s Store) *Limiter {
	return &Limiter{store: s, Now: time.Now}
}

// Check charges one request to every rule for tenant t. The request is
// admitted only if every rule admits it, and then every bucket is charged;
// otherwise none is (see Store). With no rules it is admitted.
func (l *Limiter) Check(ctx context.Context, t tenant.ID, rules ...Rule) (Result, error) {
	return l.CheckN(ctx, t, 1, rules...)
}

// CheckN is Check for a request that costs n requests.
func (l *Limiter) CheckN(ctx context.Context, t tenant.ID, n int, rules ...Rule) (Result, error) {
	if len(rules) == 0 {
		return Result{Decision: Decision{Allowed: true}}, nil
	}
	reqs := make([]Request, len(rules))
	for i, r := range rules {
		if !validPolicy(r.Policy) {
			return Result{}, fmt.Errorf("%w: rule %d: policy name %q must be non-empty printable ASCII", ErrInvalid, i, r.Policy)
		}
		reqs[i] = Request{Key: r.Key, Limit: r.Limit, Cost: n}
	}
	if n < 1 {
		return Result{}, fmt.Errorf("%w: cost %d is below 1", ErrInvalid, n)
	}
	ds, err := l.store.Allow(ctx, t, l.Now(), reqs)
	if err != nil {
		return Result{}, fmt.Errorf("rate limit: %w", err)
	}
	if len(ds) != len(rules) {
		return Result{}, fmt.Errorf("rate limit: store returned %d decisions for %d requests", len(ds), len(rules))
	}
	res := Result{Policies: make([]PolicyResult, len(rules))}
	for i, r := range rules {
		res.Policies[i] = PolicyResult{Policy: r.Policy, Limit: r.Limit, Decision: ds[i]}
	}
	res.Decision = MostRestrictive(ds)
	return res, nil
}

// MostRestrictive returns the decision that binds a request checked against
// all of ds: if any refuses, the refusal with the longest RetryAfter;
// otherwise the admission with the fewest remaining requests, then the
// longest ResetAfter. It returns an admitting zero Decision for no ds.
func MostRestrictive(ds []Decision) Decision {
	if len(ds) == 0 {
		return Decision{Allowed: true}
	}
	best := ds[0]
	for _, d := range ds[1:] {
		if moreRestrictive(d, best) {
			best = d
		}
	}
	return best
}

func moreRestrictive(a, b Decision) bool {
	switch {
	case a.Allowed != b.Allowed:
		return !a.Allowed
	case !a.Allowed && a.RetryAfter != b.RetryAfter:
		return a.RetryAfter > b.RetryAfter
	case a.Remaining != b.Remaining:
		return a.Remaining < b.Remaining
	default:
		return a.ResetAfter > b.ResetAfter
	}
}

// validPolicy reports whether name can be written as a Structured Field
// String: printable ASCII, here also not empty.
func validPolicy(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if name[i] < 0x20 || name[i] > 0x7e {
			return false
		}
	}
	return true
}
