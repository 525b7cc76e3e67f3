package ratelimit

import (
	"sync"

	"github.com/crispy-enigma/crispy/internal/tenant"
)

// StreamSlots caps the number of streams each tenant has open at once
// (limits.rate.concurrentStreams). Acquire takes a slot for tenant t if it
// holds fewer than limit (zero or less: no cap, but the slot is counted)
// and returns the function that frees it; release may be called more than
// once, and when ok is false it does nothing. A zero tenant is never
// admitted. [Streams] counts within this process; a shared store (package
// redis) counts across replicas.
type StreamSlots interface {
	Acquire(t tenant.ID, limit int) (release func(), ok bool)
}

var _ StreamSlots = (*Streams)(nil)

// Streams caps the number of streams each tenant has open at once
// (limits.rate.concurrentStreams) within this process. The zero value is
// ready to use. Tenants with no open stream take no memory.
type Streams struct {
	mu   sync.Mutex
	open map[tenant.ID]int
}

// Acquire opens a stream for tenant t if it has fewer than limit open, and
// returns the function that closes it again. Calling release more than once
// has no further effect. A limit of zero or less means no cap; open streams
// are still counted, so a cap set later applies to them. When ok is false
// nothing was acquired and release does nothing, so
//
//	release, ok := streams.Acquire(t, limit)
//	defer release()
//
// is always safe. A zero tenant is never admitted.
func (s *Streams) Acquire(t tenant.ID, limit int) (release func(), ok bool) {
	if t.IsZero() {
		return func() {}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.open[t]
	if limit > 0 && n >= limit {
		return func() {}, false
	}
	if s.open == nil {
		s.open = make(map[tenant.ID]int)
	}
	s.open[t] = n + 1
	var once sync.Once
	return func() { once.Do(func() { s.release(t) }) }, true
}

func (s *Streams) release(t tenant.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.open[t]; n > 1 {
		s.open[t] = n - 1
	} else {
		delete(s.open, t)
	}
}

// Open returns the number of streams tenant t has open.
func (s *Streams) Open(t tenant.ID) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.open[t]
}
