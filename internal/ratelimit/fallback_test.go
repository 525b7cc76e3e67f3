package ratelimit_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/ratelimit"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// flaky is a Store that fails while down is set and otherwise asks inner.
type flaky struct {
	inner ratelimit.Store
	down  atomic.Bool
}

var errDown = errors.New("shared store unreachable")

func (f *flaky) Allow(ctx context.Context, t tenant.ID, now time.Time, reqs []ratelimit.Request) ([]ratelimit.Decision, error) {
	if f.down.Load() {
		return nil, errDown
	}
	return f.inner.Allow(ctx, t, now, reqs)
}

// TestFallback: while the primary fails, the local buckets hold the limit
// (a burst of 3 admits 3, not everything), each fallback is reported; when
// the primary answers again it decides, from its own buckets.
func TestFallback(t *testing.T) {
	primary := &flaky{inner: ratelimit.NewMemory()}
	var fallbacks atomic.Int64
	l := ratelimit.New(&ratelimit.Fallback{Primary: primary, Local: ratelimit.NewMemory(), OnFallback: func(err error) {
		if !errors.Is(err, errDown) {
			t.Errorf("OnFallback(%v)", err)
		}
		fallbacks.Add(1)
	}})
	acme := tenant.MustID("acme")
	rule := ratelimit.Rule{Policy: "tenant", Key: "t", Limit: ratelimit.Limit{Requests: 3, Per: time.Hour, Burst: 3}}
	check := func() bool {
		res, err := l.Check(context.Background(), acme, rule)
		if err != nil {
			t.Fatal(err)
		}
		return res.Allowed
	}
	if !check() {
		t.Fatal("the first request was refused")
	}
	primary.down.Store(true)
	admitted := 0
	for range 10 {
		if check() {
			admitted++
		}
	}
	if admitted != 3 || fallbacks.Load() != 10 {
		t.Errorf("during the outage: %d of 10 admitted, %d fallbacks; want 3 (the local burst) and 10", admitted, fallbacks.Load())
	}
	primary.down.Store(false)
	admitted = 0
	for range 10 {
		if check() {
			admitted++
		}
	}
	if admitted != 2 || fallbacks.Load() != 10 {
		t.Errorf("after the outage: %d admitted, %d fallbacks; want 2 (the shared bucket's rest) and 10", admitted, fallbacks.Load())
	}
	// Invalid input is the caller's error, never a fallback.
	if _, err := l.Check(context.Background(), tenant.ID{}, rule); !errors.Is(err, ratelimit.ErrInvalid) || fallbacks.Load() != 10 {
		t.Errorf("invalid request: %v, %d fallbacks", err, fallbacks.Load())
	}
}
