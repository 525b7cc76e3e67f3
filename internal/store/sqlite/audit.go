package sqlite

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// Queries on the audit log. Every one is filtered by tenant; an empty tool
// filter selects every tool, a before of 0 every ID.
const (
	// auditNextID takes the next ID of a tenant's sequence; it runs in the
	// insert's transaction, which holds the write lock.
	auditNextID = `INSERT INTO audit_seq (tenant, last) VALUES (?, 1)
ON CONFLICT (tenant) DO UPDATE SET last = last + 1
RETURNING last`
	auditInsert = `INSERT INTO audit (tenant, id, ts, request_id, key_id, tool, args_sha256, outcome, error_code, latency_us, from_model)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	auditPage = `SELECT id, ts, request_id, key_id, tool, args_sha256, outcome, error_code, latency_us, from_model
FROM audit
WHERE tenant = ? AND ts >= ? AND ts < ? AND (? = '' OR tool = ?) AND id < ?
ORDER BY id DESC
LIMIT ?`
	auditExpire = `DELETE FROM audit WHERE tenant = ? AND ts < ?`
)

// Audit is the store.Audit kept in a DB, in the table audit. Each tenant
// has its own sequence of IDs (the table audit_seq): AppendAudit takes the
// next one and inserts the record in one transaction of the writer
// connection, synced to disk before it returns, so that concurrent appends,
// from this process or another, get distinct, consecutive IDs. The queries
// read through the reader pool.
type Audit struct {
	db *DB
}

var _ store.Audit = (*Audit)(nil)

// Audit returns the audit log kept in the database. It holds no state of
// its own: every Audit of a DB is the same store.
func (db *DB) Audit() *Audit { return &Audit{db: db} }

// AppendAudit appends rec and returns its ID, the next of its tenant's
// sequence (1 for a tenant's first record). A zero Tenant, a negative
// latency or a Time outside the years 1 to 9999 is store.ErrInvalid.
func (a *Audit) AppendAudit(ctx context.Context, rec store.AuditRecord) (int64, error) {
	switch year := rec.Time.UTC().Year(); {
	case rec.Tenant.IsZero():
		return 0, fmt.Errorf("sqlite: append audit: %w: tenant id is required", store.ErrInvalid)
	case rec.Latency < 0:
		return 0, fmt.Errorf("sqlite: append audit: %w: latency is negative", store.ErrInvalid)
	case year < 1 || year > 9999:
		return 0, fmt.Errorf("sqlite: append audit: %w: time is outside the years 1 to 9999", store.ErrInvalid)
	}
	if err := a.db.ready(ctx); err != nil {
		return 0, fmt.Errorf("sqlite: append audit: %w", err)
	}
	tx, err := a.db.writer.BeginTx(ctx, nil) // BEGIN IMMEDIATE
	if err != nil {
		return 0, a.db.fail(ctx, "append audit", err)
	}
	defer tx.Rollback() // a no-op once committed
	var id int64
	if err := tx.QueryRowContext(ctx, auditNextID, rec.Tenant.String()).Scan(&id); err != nil {
		return 0, a.db.fail(ctx, "append audit: id", err)
	}
	_, err = tx.ExecContext(ctx, auditInsert, rec.Tenant.String(), id, rec.Time.UnixMilli(), rec.RequestID, rec.KeyID,
		rec.Tool, rec.ArgsSHA256, rec.Outcome, rec.ErrorCode, rec.Latency.Microseconds(), rec.FromModel)
	if err != nil {
		return 0, a.db.fail(ctx, "append audit", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, a.db.fail(ctx, "append audit: commit", err)
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
		return nil, fmt.Errorf("sqlite: audit records: %w: tenant id is required", store.ErrInvalid)
	case f.Limit < 1 || f.Limit > store.MaxAuditLimit:
		return nil, fmt.Errorf("sqlite: audit records: %w: limit %d is not between 1 and %d", store.ErrInvalid, f.Limit, store.MaxAuditLimit)
	case f.Before < 0:
		return nil, fmt.Errorf("sqlite: audit records: %w: before is negative", store.ErrInvalid)
	}
	if err := a.db.ready(ctx); err != nil {
		return nil, fmt.Errorf("sqlite: audit records: %w", err)
	}
	before := f.Before
	if before == 0 {
		before = math.MaxInt64
	}
	from, to := store.MilliBound(f.From, math.MinInt64), store.MilliBound(f.To, math.MaxInt64)
	rows, err := a.db.reader.QueryContext(ctx, auditPage, t.String(), from, to, f.Tool, f.Tool, before, f.Limit)
	if err != nil {
		return nil, a.db.fail(ctx, "audit records", err)
	}
	defer rows.Close()
	var out []store.AuditRecord
	for rows.Next() {
		r := store.AuditRecord{Tenant: t}
		var ts, latency int64
		if err := rows.Scan(&r.ID, &ts, &r.RequestID, &r.KeyID, &r.Tool, &r.ArgsSHA256, &r.Outcome, &r.ErrorCode, &latency, &r.FromModel); err != nil {
			return nil, a.db.fail(ctx, "audit records", err)
		}
		r.Time = time.UnixMilli(ts).UTC()
		r.Latency = time.Duration(latency) * time.Microsecond
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, a.db.fail(ctx, "audit records", err)
	}
	return out, nil
}

// DeleteAuditBefore deletes the records of tenant t older than before, in
// one statement (the index on tenant and time finds them).
func (a *Audit) DeleteAuditBefore(ctx context.Context, t tenant.ID, before time.Time) (int64, error) {
	if t.IsZero() {
		return 0, fmt.Errorf("sqlite: delete audit: %w: tenant id is required", store.ErrInvalid)
	}
	if err := a.db.ready(ctx); err != nil {
		return 0, fmt.Errorf("sqlite: delete audit: %w", err)
	}
	res, err := a.db.writer.ExecContext(ctx, auditExpire, t.String(), before.UnixMilli())
	if err != nil {
		return 0, a.db.fail(ctx, "delete audit", err)
	}
	return res.RowsAffected()
}
