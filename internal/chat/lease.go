package chat

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// SessionLocker gives one process at a time, among all those sharing a
// store, the right to run a turn of a session: the one-writer-per-session
// rule across replicas (postgres.Sessions.LockSession, a lease row). It is
// held around a whole turn, the model call included, without a transaction
// open; unlock releases it.
type SessionLocker interface {
	LockSession(ctx context.Context, t tenant.ID, name string) (unlock func(), err error)
}

// lockAcross takes the lease of name across processes when the Service has
// a Locker, and returns the function that releases it. The in-process lock
// of the same name is taken first, so that a process asks for one lease
// per name at a time.
func (s *Service) lockAcross(ctx context.Context, t tenant.ID, name string) (unlock func(), err error) {
	if s.Locker == nil {
		return func() {}, nil
	}
	unlock, err = s.Locker.LockSession(ctx, t, name)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, api.Internal(fmt.Errorf("session lease: %w", err))
	}
	return unlock, nil
}

// idemLease is the lease name of an idempotency key: retries of one turn on
// several replicas wait for the first, then replay its result.
func idemLease(ikey string) string {
	sum := sha256.Sum256([]byte(ikey))
	return "idem:" + hex.EncodeToString(sum[:])
}
