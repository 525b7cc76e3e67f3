package gateway

import (
	"sync"
	"time"
)

// Breaker settings. A model that fails breakerThreshold times in a row (with
// failures that say the provider is unwell, not that the request was bad) is
// skipped for breakerCooldown; then one trial call is let through (half
// open): success closes the breaker, failure opens it again for twice as
// long, up to breakerMaxCooldown.
const (
	breakerThreshold   = 5
	breakerCooldown    = 10 * time.Second
	breakerMaxCooldown = 5 * time.Minute
)

type breakerState uint8

const (
	breakerClosed breakerState = iota
	breakerOpen
	breakerHalfOpen
)

var breakerStateNames = [...]string{"closed", "open", "half_open"}

// breaker is the circuit breaker of one provider+model of one tenant.
type breaker struct {
	mu        sync.Mutex
	state     breakerState
	failures  int
	cooldown  time.Duration
	openUntil time.Time
	trial     bool // a half-open trial call is in flight
}

// allow reports whether a call may go to the model now. In the half-open
// state it lets exactly one trial through.
func (b *breaker) allow(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case breakerOpen:
		if now.Before(b.openUntil) {
			return false
		}
		b.state, b.trial = breakerHalfOpen, true
		return true
	case breakerHalfOpen:
		if b.trial {
			return false
		}
		b.trial = true
		return true
	}
	return true
}

// success records a call that worked: the breaker closes.
func (b *breaker) success() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.state, b.failures, b.cooldown, b.trial = breakerClosed, 0, 0, false
}

// failure records a call that failed for a reason that counts against the
// model. It returns true when this failure opened the breaker.
func (b *breaker) failure(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case breakerHalfOpen:
		b.cooldown = min(2*b.cooldown, breakerMaxCooldown)
	case breakerClosed:
		b.failures++
		if b.failures < breakerThreshold {
			return false
		}
		b.cooldown = breakerCooldown
	default:
		return false
	}
	b.state, b.openUntil, b.trial = breakerOpen, now.Add(b.cooldown), false
	return true
}

// release ends a half-open trial that neither succeeded nor failed against
// the model (the caller went away, or the request itself was bad).
func (b *breaker) release() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == breakerHalfOpen {
		b.trial = false
	}
}

func (b *breaker) stateName() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return breakerStateNames[b.state]
}

// breakers holds one breaker per tenant+provider+model.
type breakers struct {
	m sync.Map // string -> *breaker
}

func (bs *breakers) get(tenantID string, t Target) *breaker {
	key := tenantID + "\x00" + t.Ref
	if b, ok := bs.m.Load(key); ok {
		return b.(*breaker)
	}
	b, _ := bs.m.LoadOrStore(key, &breaker{})
	return b.(*breaker)
}
