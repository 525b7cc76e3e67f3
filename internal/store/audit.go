package store

import (
	"context"
	"time"

	"github.com/crispy-enigma/crispy/internal/tenant"
)

// MaxAuditLimit is the largest page of AuditRecords.
const MaxAuditLimit = 1000

// AuditRecord is one tool invocation in the audit log, whatever its
// outcome: made through the API or asked for by a model.
type AuditRecord struct {
	// ID is assigned by AppendAudit from a sequence of the tenant's own:
	// 1, 2, 3, ... in the order of its appends, never reused, so that it
	// reveals nothing of other tenants.
	ID         int64
	Time       time.Time
	Tenant     tenant.ID
	RequestID  string
	KeyID      string // "" for anonymous callers
	Tool       string // the name asked for, known or not
	ArgsSHA256 string // hex SHA-256 of the canonical arguments
	Outcome    string // ok, denied, invalid, timeout, error, capped
	ErrorCode  string // the api.ErrorCode of a failed invocation, "" when ok
	Latency    time.Duration
	FromModel  bool // a model asked for the call
}

// AuditFilter selects audit records of one tenant. From is inclusive, To
// exclusive; a zero time leaves that end open. Before, when not 0, keeps
// the records whose ID is below it (the cursor of the next page).
type AuditFilter struct {
	From, To time.Time
	Tool     string // "" for every tool
	Before   int64
	Limit    int // 1 to MaxAuditLimit
}

// Audit is the append-only audit log of tool invocations.
type Audit interface {
	// AppendAudit adds one record and returns its ID, the next of the
	// record's tenant, atomically under concurrent appends. The record must
	// have a non-zero Tenant (else ErrInvalid). It returns once the record
	// is durable.
	AppendAudit(ctx context.Context, rec AuditRecord) (int64, error)
	// AuditRecords returns the records of tenant t matching f, newest
	// (highest ID) first.
	AuditRecords(ctx context.Context, t tenant.ID, f AuditFilter) ([]AuditRecord, error)
	// DeleteAuditBefore deletes the records of tenant t whose Time is
	// before the given time (retention), and returns how many it deleted.
	DeleteAuditBefore(ctx context.Context, t tenant.ID, before time.Time) (int64, error)
}
