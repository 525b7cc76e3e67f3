// Package store defines the storage interfaces of Crispy Enigma. Every call
// takes the tenant explicitly and every backend namespaces its data by it:
// nothing written for one tenant can be read, listed or deleted through
// another. Backends live in subpackages (sqlite/, later postgres/ and redis/)
// and all of them pass the conformance suite in storetest/.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/crispy-enigma/crispy/internal/tenant"
)

// Sentinel errors shared by every backend. Callers test them with errors.Is.
var (
	// ErrNotFound means the item does not exist for this tenant (or has expired).
	ErrNotFound = errors.New("store: not found")
	// ErrInvalid means the arguments were rejected before any storage was touched:
	// a zero tenant ID, an empty or oversized key, an oversized value, a negative TTL.
	ErrInvalid = errors.New("store: invalid argument")
	// ErrClosed means the store has been closed.
	ErrClosed = errors.New("store: closed")
	// ErrConflict means the write was refused because it conflicts with
	// what is stored: an idempotency key that holds a record already.
	ErrConflict = errors.New("store: conflict")
	// ErrUnavailable means the backend could not be reached (a database
	// server that is down or cut off): nothing was written, and the call
	// may succeed later.
	ErrUnavailable = errors.New("store: unavailable")
)

// Limits on KV keys and values, the same for every backend.
const (
	MaxKeyBytes   = 512
	MaxValueBytes = 1 << 20
)

// KV is a tenant-scoped key/value store with optional expiry, used for caches
// and small state. Keys are opaque byte strings of 1 to MaxKeyBytes bytes.
type KV interface {
	// Get returns the value stored under key for tenant t, or ErrNotFound when
	// there is none or it has expired.
	Get(ctx context.Context, t tenant.ID, key string) ([]byte, error)
	// Set stores value under key for tenant t, replacing any previous value.
	// A ttl of zero means the value does not expire; a negative ttl is ErrInvalid.
	Set(ctx context.Context, t tenant.ID, key string, value []byte, ttl time.Duration) error
	// Delete removes key for tenant t. Deleting a missing key is not an error.
	Delete(ctx context.Context, t tenant.ID, key string) error
}

// Pinger is implemented by backends that can report their health.
type Pinger interface {
	Ping(ctx context.Context) error
}

// CheckKV validates the arguments common to every KV call. Backends call it
// first so that they reject the same inputs in the same way.
func CheckKV(t tenant.ID, key string) error {
	switch {
	case t.IsZero():
		return fmt.Errorf("%w: tenant id is required", ErrInvalid)
	case key == "":
		return fmt.Errorf("%w: key is empty", ErrInvalid)
	case len(key) > MaxKeyBytes:
		return fmt.Errorf("%w: key is longer than 512 bytes", ErrInvalid)
	}
	return nil
}

// CheckValue validates a value and TTL passed to KV.Set.
func CheckValue(value []byte, ttl time.Duration) error {
	switch {
	case len(value) > MaxValueBytes:
		return fmt.Errorf("%w: value is larger than 1 MiB", ErrInvalid)
	case ttl < 0:
		return fmt.Errorf("%w: ttl is negative", ErrInvalid)
	}
	return nil
}
