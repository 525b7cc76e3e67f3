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

// TestLockSessionStale: a lease this process could not release (the
// database was away) is taken back at once by its next lock here, while
// another process still waits for it to lapse.
func TestLockSessionStale(t *testing.T) {
	ctx := t.Context()
	a := postgres.OpenTest(t, postgres.Options{})
	b := postgres.OpenTest(t, postgres.Options{Schema: a.Schema()})
	// A turn of a held lease whose release failed: the row stays.
	raw := postgres.Raw(t, a.Schema())
	if _, err := raw.Exec(ctx, `INSERT INTO session_leases VALUES ('acme', 's1', 'h1', (extract(epoch from clock_timestamp()) * 1000)::bigint + 60000)`); err != nil {
		t.Fatal(err)
	}
	postgres.MarkStale(a, acme, "s1", "h1")
	wctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	_, err := b.Sessions().LockSession(wctx, acme, "s1")
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("another process took an unexpired lease: %v", err)
	}
	wctx, cancel = context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	unlock, err := a.Sessions().LockSession(wctx, acme, "s1")
	if err != nil {
		t.Fatalf("this process could not take back its own lease: %v", err)
	}
	unlock()
}
