package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// Session leases: one holder at a time per (tenant, name), across every
// replica on the database, without a transaction or a connection held
// while the holder works.
const (
	// LeaseTTL is how long a lease outlives its last renewal: a replica
	// that dies holding one blocks its session for at most this long.
	LeaseTTL = 15 * time.Second
	// leaseRenew is how often a held lease is renewed.
	leaseRenew = LeaseTTL / 3
	// leasePollMin and leasePollMax bound the wait between attempts to
	// take a lease another holder has.
	leasePollMin = 5 * time.Millisecond
	leasePollMax = 100 * time.Millisecond
)

// dbNowMs is the database's clock in unix ms: leases expire on one clock
// whatever the replicas' clocks say.
const dbNowMs = `(extract(epoch from clock_timestamp()) * 1000)::bigint`

const (
	leaseTake = `INSERT INTO session_leases AS l (tenant, name, holder, expires_at)
VALUES ($1, $2, $3, ` + dbNowMs + ` + $4)
ON CONFLICT (tenant, name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
WHERE l.expires_at < ` + dbNowMs + ` OR l.holder = EXCLUDED.holder
RETURNING holder`
	leaseRenewSQL = `UPDATE session_leases SET expires_at = ` + dbNowMs + ` + $4
WHERE tenant = $1 AND name = $2 AND holder = $3`
	leaseRelease = `DELETE FROM session_leases WHERE tenant = $1 AND name = $2 AND holder = $3`
)

// LockSession waits until it holds the lease of name (a session ID, or any
// key of at most 256 bytes) for tenant t, then returns the function that
// releases it. While held, a goroutine renews the lease every LeaseTTL/3;
// unlock stops it and deletes the lease. It returns the context's error if
// ctx ends first, and store.ErrUnavailable (wrapped) when the database
// cannot be reached. chat.Service uses it so that two replicas never run
// turns of one session at the same time.
func (s *Sessions) LockSession(ctx context.Context, t tenant.ID, name string) (unlock func(), err error) {
	switch {
	case t.IsZero():
		return nil, fmt.Errorf("postgres: lock session: %w: tenant id is required", store.ErrInvalid)
	case name == "" || len(name) > 256:
		return nil, fmt.Errorf("postgres: lock session: %w: name must have 1 to 256 bytes", store.ErrInvalid)
	}
	if err := s.db.ready(ctx); err != nil {
		return nil, fmt.Errorf("postgres: lock session: %w", err)
	}
	key := t.String() + "\x00" + name
	// A lease this process failed to release (the database was away) is
	// still its own: take it back at once rather than wait for it to lapse.
	holder, ok := s.db.leases.take(key)
	if !ok {
		holder = newHolder()
	}
	ttl := LeaseTTL.Milliseconds()
	wait := leasePollMin
	for {
		var got string
		err := s.db.queryRow(ctx, t, leaseTake, t.String(), name, holder, ttl).Scan(&got)
		if err == nil {
			break
		}
		if err != pgx.ErrNoRows {
			// The take may have committed with its answer lost: the lease
			// may be this holder's, so the next lock here takes it back.
			s.db.leases.put(key, holder)
			return nil, s.db.fail(ctx, "lock session", err)
		}
		// Another holder has it: wait and try again.
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("postgres: lock session: %w", ctx.Err())
		case <-time.After(wait):
		}
		wait = min(wait*2, leasePollMax)
	}

	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(leaseRenew)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				rctx, cancel := context.WithTimeout(context.Background(), leaseRenew)
				n, err := s.db.exec(rctx, leaseBatch(t, leaseRenewSQL, name, holder, ttl))
				cancel()
				switch {
				case err != nil:
					s.db.logger.Warn("session lease not renewed", "tenant", t.String(), "error", err)
				case n[0] == 0:
					s.db.logger.Error("session lease lost: another replica may run a turn of this session", "tenant", t.String())
				}
			}
		}
	}()
	return func() {
		close(stop)
		<-done
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := s.db.exec(rctx, leaseBatch(t, leaseRelease, name, holder)); err != nil {
			// The lease lapses on its own within LeaseTTL; until then this
			// process may take it back.
			s.db.leases.put(key, holder)
			s.db.logger.Warn("session lease not released", "tenant", t.String(), "error", err)
		}
	}, nil
}

// leaseBatch is one statement on the lease of name, for tenant t.
func leaseBatch(t tenant.ID, query, name, holder string, args ...any) *pgx.Batch {
	b := tenantBatch(t.String())
	b.Queue(query, append([]any{t.String(), name, holder}, args...)...)
	return b
}

// newHolder returns a random lease holder.
func newHolder() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// staleLeases are the holders of leases this process could not release,
// by tenant and name: the next LockSession of one here takes it back as
// its own holder, once.
type staleLeases struct {
	mu sync.Mutex
	m  map[string]string
}

func (l *staleLeases) put(key, holder string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string]string{}
	}
	l.m[key] = holder
}

// take removes and returns the holder of key, if any.
func (l *staleLeases) take(key string) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h, ok := l.m[key]
	delete(l.m, key)
	return h, ok
}
