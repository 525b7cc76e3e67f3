package ratelimit

import (
	"context"
	"errors"
	"time"

	"github.com/crispy-enigma/crispy/internal/tenant"
)

// Fallback is a Store that asks Primary (the buckets replicas share) and,
// when Primary cannot answer (the shared store out of reach), answers from
// Local, this process's own buckets: during an outage each replica still
// holds every tenant to its limits (N replicas admit up to N times them)
// instead of admitting everything. The first call that Primary answers
// again ends the fallback; Local's buckets are then left to refill.
type Fallback struct {
	Primary, Local Store
	// OnFallback, if set, is called with Primary's error each time Local
	// answers instead (to count and log it).
	OnFallback func(error)
}

var _ Store = (*Fallback)(nil)

// Allow implements Store.
func (f *Fallback) Allow(ctx context.Context, t tenant.ID, now time.Time, reqs []Request) ([]Decision, error) {
	d, err := f.Primary.Allow(ctx, t, now, reqs)
	if err == nil || errors.Is(err, ErrInvalid) || ctx.Err() != nil {
		return d, err
	}
	if f.OnFallback != nil {
		f.OnFallback(err)
	}
	return f.Local.Allow(ctx, t, now, reqs)
}
