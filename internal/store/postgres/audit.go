package postgres

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// Queries on the audit log. Every one is filtered by tenant; an empty tool
// filter selects every tool.
const (
	// auditAppend takes the next ID of the tenant's sequence, whose row it
	// locks until the transaction ends, and inserts the record with it: one
	// statement, so concurrent appends get consecutive IDs in turn.
	auditAppend = `WITH seq AS (
	INSERT INTO audit_seq (tenant, last) VALUES ($1, 1)
	ON CONFLICT (tenant) DO UPDATE SET last = audit_seq.last + 1
	RETURNING last
)
INSERT INTO audit (tenant, id, ts, request_id, key_id, tool, args_sha256, outcome, error_code, latency_us, from_model)
SELECT $1, last, $2, $3, $4, $5, $6, $7, $8, $9, $10 FROM seq
RETURNING id`
	auditPage = `SELECT id, ts, request_id, key_id, tool, args_sha256, outcome, error_code, latency_us, from_model
FROM audit
WHERE tenant = $1 AND ts >= $2 AND ts < $3 AND ($4 = '' OR tool = $4) AND id < $5
ORDER BY id DESC
LIMIT $6`
	auditExpire = `DELETE FROM audit WHERE tenant = $1 AND ts < $2`
)

// Audit is the store.Audit kept in a DB, in the table audit. Each tenant
// has its own sequence of IDs (the table audit_seq): AppendAudit takes the
// next one and inserts the record in one statement and one round trip.
type Audit struct {
	db *DB
}

var _ store.Audit = (*Audit)(nil)

// AppendAudit appends rec and returns its ID, the next of its tenant's
// sequence (1 for a tenant's first record). A zero Tenant, a negative
// latency or a Time outside the years 1 to 9999 is store.ErrInvalid.
func (a *Audit) AppendAudit(ctx context.Context, rec store.AuditRecord) (int64, error) {
	switch year := rec.Time.UTC().Year(); {
	case rec.Tenant.IsZero():
		return 0, fmt.Errorf("postgres: append audit: %w: tenant id is required", store.ErrInvalid)
	case rec.Latency < 0:
		return 0, fmt.Errorf("postgres: append audit: %w: latency is negative", store.ErrInvalid)
	case year < 1 || year > 9999:
		return 0, fmt.Errorf("postgres: append audit: %w: time is outside the years 1 to 9999", store.ErrInvalid)
	}
	if err := a.db.ready(ctx); err != nil {
		return 0, fmt.Errorf("postgres: append audit: %w", err)
	}
	var id int64
	err := a.db.queryRow(ctx, rec.Tenant, auditAppend, rec.Tenant.String(), rec.Time.UnixMilli(), rec.RequestID, rec.KeyID,
		rec.Tool, rec.ArgsSHA256, rec.Outcome, rec.ErrorCode, rec.Latency.Microseconds(), rec.FromModel).Scan(&id)
	if err != nil {
		return 0, a.db.fail(ctx, "append audit", err)
	}
	return id, nil
}

// AuditRecords returns at most f.Limit (1 to 1000) records of tenant t
// whose Time is in [f.From, f.To), whose tool is f.Tool unless that is
// empty and whose ID is below f.Before unless that is 0, newest first.
// Times come back in UTC at millisecond precision, latencies at
// microsecond precision.
func (a *Audit) AuditRecords(ctx context.Context, t tenant.ID, f store.AuditFilter) ([]store.AuditRecord, error) {
	switch {
	case t.IsZero():
		return nil, fmt.Errorf("postgres: audit records: %w: tenant id is required", store.ErrInvalid)
	case f.Limit < 1 || f.Limit > store.MaxAuditLimit:
		return nil, fmt.Errorf("postgres: audit records: %w: limit %d is not between 1 and %d", store.ErrInvalid, f.Limit, store.MaxAuditLimit)
	case f.Before < 0:
		return nil, fmt.Errorf("postgres: audit records: %w: before is negative", store.ErrInvalid)
	}
	if err := a.db.ready(ctx); err != nil {
		return nil, fmt.Errorf("postgres: audit records: %w", err)
	}
	before := f.Before
	if before == 0 {
		before = math.MaxInt64
	}
	from, to := store.MilliBound(f.From, math.MinInt64), store.MilliBound(f.To, math.MaxInt64)
	b := tenantBatch(t.String())
	b.Queue(auditPage, t.String(), from, to, f.Tool, before, f.Limit)
	br, err := a.db.send(ctx, b)
	if err != nil {
		return nil, a.db.fail(ctx, "audit records", err)
	}
	defer br.Close()
	rows, err := br.Query()
	if err != nil {
		return nil, a.db.fail(ctx, "audit records", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.AuditRecord, error) {
		r := store.AuditRecord{Tenant: t}
		var ts, latency int64
		err := row.Scan(&r.ID, &ts, &r.RequestID, &r.KeyID, &r.Tool, &r.ArgsSHA256, &r.Outcome, &r.ErrorCode, &latency, &r.FromModel)
		r.Time = time.UnixMilli(ts).UTC()
		r.Latency = time.Duration(latency) * time.Microsecond
		return r, err
	})
	if err != nil {
		return nil, a.db.fail(ctx, "audit records", err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// DeleteAuditBefore deletes the records of tenant t older than before, in
// one statement (the index on tenant and time finds them).
func (a *Audit) DeleteAuditBefore(ctx context.Context, t tenant.ID, before time.Time) (int64, error) {
	if t.IsZero() {
		return 0, fmt.Errorf("postgres: delete audit: %w: tenant id is required", store.ErrInvalid)
	}
	if err := a.db.ready(ctx); err != nil {
		return 0, fmt.Errorf("postgres: delete audit: %w", err)
	}
	b := tenantBatch(t.String())
	b.Queue(auditExpire, t.String(), before.UnixMilli())
	n, err := a.db.exec(ctx, b)
	if err != nil {
		return 0, a.db.fail(ctx, "delete audit", err)
	}
	return n[0], nil
}
