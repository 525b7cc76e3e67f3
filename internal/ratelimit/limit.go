package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/crispy-enigma/crispy/internal/tenant"
)

// ErrInvalid means the arguments were rejected before any bucket was touched:
// a zero tenant, an empty or oversized key, a limit that admits nothing, a
// negative cost or a cost above the burst.
var ErrInvalid = errors.New("ratelimit: invalid argument")

// MaxKeyBytes is the longest bucket key a store accepts.
const MaxKeyBytes = 512

// maxSpan caps every duration the arithmetic adds up (about 50 years), so that
// absurd limits saturate instead of overflowing int64 nanoseconds.
const maxSpan = int64(50 * 365 * 24 * time.Hour)

// Limit admits Requests per Per, with bursts of up to Burst requests at once.
// It is the tenant config's rate ({"requests", "per", "burst"}).
type Limit struct {
	// Requests is the number of requests admitted per Per, at least 1.
	Requests int
	// Per is the period, greater than zero.
	Per time.Duration
	// Burst is the bucket's capacity: the requests admitted at once from an
	// idle bucket. Zero means Requests, the schema's default.
	Burst int
}

// FromRate returns the Limit of a tenant config rate.
func FromRate(r tenant.Rate) Limit {
	return Limit{Requests: r.Requests, Per: r.Per.D(), Burst: r.Burst}
}

// Validate reports whether l admits anything: Requests and Per must be
// positive and Burst must not be negative.
func (l Limit) Validate() error {
	switch {
	case l.Requests < 1:
		return fmt.Errorf("%w: requests must be at least 1, not %d", ErrInvalid, l.Requests)
	case l.Per <= 0:
		return fmt.Errorf("%w: per must be positive, not %s", ErrInvalid, l.Per)
	case l.Burst < 0:
		return fmt.Errorf("%w: burst must not be negative, not %d", ErrInvalid, l.Burst)
	}
	return nil
}

// EffectiveBurst returns Burst, or Requests when Burst is zero.
func (l Limit) EffectiveBurst() int {
	if l.Burst == 0 {
		return l.Requests
	}
	return l.Burst
}

// Interval returns the emission interval Per/Requests, the steady-state time
// between two admitted requests (at least one nanosecond).
func (l Limit) Interval() time.Duration {
	return time.Duration(max(int64(l.Per)/int64(max(l.Requests, 1)), 1))
}

// Decision is one limit's verdict on a request.
type Decision struct {
	// Allowed reports whether the limit admits the request.
	Allowed bool
	// Limit is the bucket's capacity, the effective burst.
	Limit int
	// Remaining is the number of requests of cost one the limit would admit
	// right now, after this request was charged if it was admitted.
	Remaining int
	// ResetAfter is the time until the bucket is full again.
	ResetAfter time.Duration
	// RetryAfter is the time until the request would be admitted; zero when
	// it is.
	RetryAfter time.Duration
}

// RetryAfterSeconds returns RetryAfter in whole seconds, rounded up, and at
// least 1 when the request was refused; 0 when it was admitted. It is the
// value of the Retry-After header field.
func (d Decision) RetryAfterSeconds() int64 {
	if d.Allowed {
		return 0
	}
	return max(ceilSeconds(d.RetryAfter), 1)
}

// Request asks a Store to charge one bucket.
type Request struct {
	// Key names the bucket within the tenant, e.g. "key:k_123" or
	// "ip:203.0.113.7". At most MaxKeyBytes bytes.
	Key string
	// Limit is the bucket's limit. A bucket keeps its state when its limit
	// changes, so a config reload does not reset it.
	Limit Limit
	// Cost is the number of requests to charge; zero means one. A cost above
	// the burst could never be admitted and is ErrInvalid.
	Cost int
}

// Store keeps GCRA buckets and checks and charges them atomically.
//
// Allow checks every request of reqs against its bucket in tenant t at time
// now and admits all of them or none: when every limit admits, every bucket
// is charged; when any refuses, none is. It returns one Decision per request,
// in order. A limit that would have admitted a refused batch reports
// Allowed with its bucket's uncharged state, so the request was admitted
// only if every Decision is Allowed. Keys are namespaced by tenant: the same
// key in two tenants names two buckets. A key may appear more than once; its
// charges add up.
//
// The check and the update are one atomic step for all keys together, also
// across processes. A Redis store does it in one Lua script (EVALSHA) that
// reads every TAT, runs the arithmetic of the package documentation, and
// writes all of them (with PEXPIREAT at the new TAT) only when all admit;
// with Redis Cluster the keys share a hash tag such as "{tenant}" so that
// they live in one slot (package redis does all this). Stores use now as
// given, which keeps them testable with a fake clock, except that a store
// shared by replicas may use its own single clock instead (the Redis store
// uses Redis server time), since with the callers' clocks a skew of d
// between replicas shifts a bucket by d; such a store must still offer to
// use now, for the conformance suite.
//
// Invalid arguments are ErrInvalid and touch no bucket. Any other error is
// the store's own (a closed connection, a cancelled context); the caller
// decides whether to fail open or closed.
type Store interface {
	Allow(ctx context.Context, t tenant.ID, now time.Time, reqs []Request) ([]Decision, error)
}

// CheckRequests validates the arguments of a Store.Allow call. Stores call it
// first so that they all reject the same things.
func CheckRequests(t tenant.ID, reqs []Request) error {
	if t.IsZero() {
		return fmt.Errorf("%w: tenant id is required", ErrInvalid)
	}
	for i, r := range reqs {
		switch {
		case r.Key == "":
			return fmt.Errorf("%w: request %d: key is empty", ErrInvalid, i)
		case len(r.Key) > MaxKeyBytes:
			return fmt.Errorf("%w: request %d: key is longer than %d bytes", ErrInvalid, i, MaxKeyBytes)
		case r.Cost < 0:
			return fmt.Errorf("%w: request %d: cost %d is negative", ErrInvalid, i, r.Cost)
		}
		if err := r.Limit.Validate(); err != nil {
			return fmt.Errorf("request %d: %w", i, err)
		}
		if b := r.Limit.EffectiveBurst(); r.Cost > b {
			return fmt.Errorf("%w: request %d: cost %d exceeds burst %d", ErrInvalid, i, r.Cost, b)
		}
	}
	return nil
}

// gcra is a Limit reduced to the integers GCRA works with, in nanoseconds.
type gcra struct {
	interval int64 // T
	offset   int64 // B·T: how far the TAT may run ahead of now
	burst    int   // B
}

func newGCRA(l Limit) gcra {
	b := l.EffectiveBurst()
	t := int64(l.Interval())
	return gcra{interval: t, offset: satMul(int64(b), t), burst: b}
}

// step runs GCRA for a request of cost n (already validated, 0 meaning 1)
// against a bucket whose stored TAT is tat (0 when there is none). It returns
// the TAT to store, which is tat itself when the request is refused.
func (g gcra) step(tat, now int64, n int) (int64, Decision) {
	n = max(n, 1)
	next := max(tat, now) + satMul(int64(n), g.interval)
	if next-now <= g.offset {
		d := g.state(next, now)
		d.Allowed = true
		return next, d
	}
	d := g.state(tat, now)
	d.RetryAfter = time.Duration(next - g.offset - now)
	return tat, d
}

// state describes a bucket whose TAT is tat, without charging it.
func (g gcra) state(tat, now int64) Decision {
	used := max(tat-now, 0)
	remaining := min(max((g.offset-used)/g.interval, 0), int64(g.burst))
	return Decision{Limit: g.burst, Remaining: int(remaining), ResetAfter: time.Duration(used)}
}

// satMul returns a·b for non-negative a and b, capped at maxSpan.
func satMul(a, b int64) int64 {
	if a == 0 || b == 0 {
		return 0
	}
	if a > maxSpan/b {
		return maxSpan
	}
	return a * b
}

// ceilSeconds returns d in whole seconds, rounded up; 0 for d <= 0.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}
