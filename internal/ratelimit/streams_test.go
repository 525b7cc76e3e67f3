package ratelimit_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/ratelimit"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

func TestStreams(t *testing.T) {
	var s ratelimit.Streams
	r1, ok1 := s.Acquire(acme, 2)
	r2, ok2 := s.Acquire(acme, 2)
	r3, ok3 := s.Acquire(acme, 2)
	if !ok1 || !ok2 || ok3 {
		t.Fatalf("three acquisitions at max 2: got %v %v %v, want true true false", ok1, ok2, ok3)
	}
	r3() // a refused acquisition's release does nothing
	if _, ok := s.Acquire(globex, 2); !ok {
		t.Error("another tenant was refused: the cap is per tenant")
	}
	if got := s.Open(acme); got != 2 {
		t.Errorf("Open = %d, want 2", got)
	}
	r1()
	r1() // idempotent
	r1()
	if got := s.Open(acme); got != 1 {
		t.Errorf("after releasing one stream three times: Open = %d, want 1", got)
	}
	if _, ok := s.Acquire(acme, 2); !ok {
		t.Error("a released slot was not reusable")
	}
	r2()
	if got := s.Open(acme); got != 1 {
		t.Errorf("Open = %d, want 1", got)
	}

	// No cap still counts, so that a cap set later covers open streams.
	release, ok := s.Acquire(acme, 0)
	if !ok || s.Open(acme) != 2 {
		t.Errorf("no cap: got ok %v with %d open, want true with 2", ok, s.Open(acme))
	}
	if _, ok := s.Acquire(acme, 2); ok {
		t.Error("cap of 2 with 2 open (one acquired uncapped) admitted a third")
	}
	release()

	if release, ok := s.Acquire(tenant.ID{}, 10); ok {
		t.Error("the zero tenant was admitted")
	} else {
		release()
	}
}

func TestStreamsConcurrent(t *testing.T) {
	var s ratelimit.Streams
	const (
		limit      = 7
		goroutines = 64
		rounds     = 200
	)
	var held, peak, admitted atomic.Int64
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range rounds {
				release, ok := s.Acquire(acme, limit)
				if !ok {
					continue
				}
				admitted.Add(1)
				n := held.Add(1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				if n > limit {
					t.Errorf("%d streams held at once, limit %d", n, limit)
				}
				time.Sleep(time.Microsecond)
				held.Add(-1)
				// Release twice, concurrently: one must have no effect.
				var both sync.WaitGroup
				both.Go(release)
				both.Go(release)
				both.Wait()
			}
		})
	}
	wg.Wait()
	if got := s.Open(acme); got != 0 {
		t.Errorf("after every release: Open = %d, want 0", got)
	}
	if peak.Load() != limit {
		t.Logf("peak %d of limit %d (not reached under this schedule)", peak.Load(), limit)
	}
	if admitted.Load() == 0 {
		t.Error("no stream was ever admitted")
	}
}
