package postgres_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/store/postgres"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// TestLockSession shows one holder at a time per session across two DBs
// (two replicas), waiting holders taking the lease in turn, another
// session and another tenant unaffected, and a waiter giving up with its
// context.
func TestLockSession(t *testing.T) {
	ctx := t.Context()
	a := postgres.OpenTest(t, postgres.Options{})
	b := postgres.OpenTest(t, postgres.Options{Schema: a.Schema()})
	unlock, err := a.Sessions().LockSession(ctx, acme, "s1")
	if err != nil {
		t.Fatal(err)
	}
	// Another session and another tenant are free.
	for _, tc := range []struct {
		t    tenant.ID
		name string
	}{{acme, "s2"}, {globex, "s1"}} {
		u, err := b.Sessions().LockSession(ctx, tc.t, tc.name)
		if err != nil {
			t.Fatal(err)
		}
		u()
	}
	// The same session waits, then gives up with its context.
	wctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	_, err = b.Sessions().LockSession(wctx, acme, "s1")
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("LockSession of a held session = %v, want a deadline", err)
	}
	// Holders from both DBs take it in turn: a counter incremented in
	// two steps under the lease is never lost.
	unlock()
	var (
		wg      sync.WaitGroup
		counter int
		inside  atomic.Int32
	)
	for i := range 8 {
		db := a
		if i%2 == 1 {
			db = b
		}
		wg.Go(func() {
			for range 5 {
				u, err := db.Sessions().LockSession(ctx, acme, "s1")
				if err != nil {
					t.Error(err)
					return
				}
				if n := inside.Add(1); n != 1 {
					t.Errorf("%d holders at once", n)
				}
				c := counter
				time.Sleep(time.Millisecond)
				counter = c + 1
				inside.Add(-1)
				u()
			}
		})
	}
	wg.Wait()
	if counter != 40 {
		t.Errorf("counter = %d, want 40", counter)
	}
}
