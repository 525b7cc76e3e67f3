package redis

import (
	"context"
	_ "embed"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/crispy-enigma/crispy/internal/ratelimit"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

//go:embed gcra.lua
var gcraSrc string

var gcraScript = goredis.NewScript(gcraSrc)

// maxSpan caps the durations the arithmetic adds up, as package ratelimit
// does (about 50 years).
const maxSpan = int64(50 * 365 * 24 * time.Hour)

// LimitsOptions configures Limits. The zero value means the defaults.
type LimitsOptions struct {
	// CallerClock makes Allow use the time it is given instead of Redis
	// server time. The conformance suite needs it; production should not,
	// since then replicas with skewed clocks shift each other's buckets.
	CallerClock bool
}

// Limits is a ratelimit.Store in Redis: GCRA buckets checked and charged
// by one Lua script per Allow, all or nothing across the request's keys and
// across every replica that shares the Redis.
type Limits struct {
	db          *DB
	callerClock bool
}

var _ ratelimit.Store = (*Limits)(nil)

// NewLimits returns a Limits over db.
func NewLimits(db *DB, opts LimitsOptions) *Limits {
	return &Limits{db: db, callerClock: opts.CallerClock}
}

// Allow implements ratelimit.Store. Unless the Limits uses the caller's
// clock, now is ignored and Redis server time is used.
func (l *Limits) Allow(ctx context.Context, t tenant.ID, now time.Time, reqs []ratelimit.Request) ([]ratelimit.Decision, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := ratelimit.CheckRequests(t, reqs); err != nil {
		return nil, err
	}
	if len(reqs) == 0 {
		return nil, nil
	}
	if err := l.db.up(); err != nil {
		return nil, err
	}
	keys := make([]string, len(reqs))
	args := make([]any, 0, 2+4*len(reqs))
	if l.callerClock {
		ns := now.UnixNano()
		args = append(args, ns/1e9, ns%1e9)
	} else {
		args = append(args, "", "")
	}
	bursts := make([]int, len(reqs))
	for i, r := range reqs {
		keys[i] = l.db.key(t.String(), "rl:"+r.Key)
		b := r.Limit.EffectiveBurst()
		interval := int64(r.Limit.Interval())
		bursts[i] = b
		args = append(args, satMul(int64(max(r.Cost, 1)), interval), satMul(int64(b), interval), interval, b)
	}
	v, err := gcraScript.Run(ctx, l.db.rdb, keys, args...).Int64Slice()
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("redis: rate limit: %w", l.db.fail(err))
	}
	l.db.ok()
	if len(v) != 4*len(reqs) {
		return nil, fmt.Errorf("redis: rate limit: script returned %d values for %d requests", len(v), len(reqs))
	}
	ds := make([]ratelimit.Decision, len(reqs))
	for i := range ds {
		o := 4 * i
		ds[i] = ratelimit.Decision{
			Allowed:    v[o] == 1,
			Limit:      bursts[i],
			Remaining:  int(v[o+1]),
			ResetAfter: time.Duration(v[o+2]),
			RetryAfter: time.Duration(v[o+3]),
		}
	}
	return ds, nil
}

// satMul returns a·b for non-negative a and b, capped at maxSpan.
func satMul(a, b int64) string {
	if a == 0 || b == 0 {
		return "0"
	}
	if a > maxSpan/b {
		return strconv.FormatInt(maxSpan, 10)
	}
	return strconv.FormatInt(a*b, 10)
}
