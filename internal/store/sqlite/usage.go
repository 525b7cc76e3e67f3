package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// Queries on the usage ledger and its daily rollup. Every one is filtered by
// tenant. ts is in unix milliseconds; day is the UTC day of ts as
// YYYY-MM-DD, so that days sort as text in the order of time. An empty key
// filter selects every key.
const (
	usageInsert     = usageInsertInto + usageValues
	usageInsertInto = `INSERT INTO usage (tenant, ts, request_id, key_id, route, provider, model,
	attempts, fallback, status, error_kind, latency_us, ttft_us,
	tokens_in, tokens_out, estimated, cost_micros, cache_hit, tts_chars)
VALUES `
	usageValues     = `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	usageInsertRows = 16
	usageColumns    = 19
	usageAdd        = `INSERT INTO usage_daily (tenant, day, key_id, provider, model,
	requests, errors, fallbacks, cache_hits, tokens_in, tokens_out, cost_micros, tts_chars,
	latency_us, ttft_us, ttft_requests)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (tenant, day, key_id, provider, model) DO UPDATE SET
	requests      = requests      + excluded.requests,
	errors        = errors        + excluded.errors,
	fallbacks     = fallbacks     + excluded.fallbacks,
	cache_hits    = cache_hits    + excluded.cache_hits,
	tokens_in     = tokens_in     + excluded.tokens_in,
	tokens_out    = tokens_out    + excluded.tokens_out,
	cost_micros   = cost_micros   + excluded.cost_micros,
	tts_chars     = tts_chars     + excluded.tts_chars,
	latency_us    = latency_us    + excluded.latency_us,
	ttft_us       = ttft_us       + excluded.ttft_us,
	ttft_requests = ttft_requests + excluded.ttft_requests`
	usageRollup = `SELECT day, key_id, provider, model,
	requests, errors, fallbacks, cache_hits, tokens_in, tokens_out, cost_micros, tts_chars,
	latency_us, ttft_us, ttft_requests
FROM usage_daily
WHERE tenant = ? AND day >= ? AND day < ? AND (? = '' OR key_id = ?)
ORDER BY day, key_id, provider, model`
	usageRecords = `SELECT ts, request_id, key_id, route, provider, model,
	attempts, fallback, status, error_kind, latency_us, ttft_us,
	tokens_in, tokens_out, estimated, cost_micros, cache_hit, tts_chars
FROM usage
WHERE tenant = ? AND ts >= ? AND ts < ? AND (? = '' OR key_id = ?)
ORDER BY ts, id
LIMIT ?`
)

// usageInsertMany appends usageInsertRows records in one statement, so
// that a batch runs a sixteenth of the statements.
var usageInsertMany = usageInsertInto + usageValues + strings.Repeat(",\n"+usageValues, usageInsertRows-1)

// Usage is the store.Usage kept in a DB: the ledger in the table usage and
// its daily rollup in usage_daily. AppendUsage writes both in one
// transaction of the writer connection; the queries read through the reader
// pool.
type Usage struct {
	db *DB
}

var _ store.Usage = (*Usage)(nil)

// AppendUsage adds recs to the ledger and to the daily rollup in one
// transaction. It checks every record before it writes any: a record with a
// zero Tenant, a negative count, duration or cost, or a Time outside the
// years 1 to 9999 makes it return store.ErrInvalid, naming the record's
// index, and write nothing. So does a batch whose own sums overflow an
// int64; a sum of the rollup that would overflow fails the transaction. An
// empty batch writes nothing and is not an error.
func (u *Usage) AppendUsage(ctx context.Context, recs []store.UsageRecord) error {
	sums, err := store.SumUsage(recs)
	if err != nil {
		return fmt.Errorf("sqlite: append usage: %w", err)
	}
	if err := u.db.ready(ctx); err != nil {
		return fmt.Errorf("sqlite: append usage: %w", err)
	}
	if len(recs) == 0 {
		return nil
	}

	tx, err := u.db.writer.BeginTx(ctx, nil) // BEGIN IMMEDIATE
	if err != nil {
		return u.db.fail(ctx, "append usage", err)
	}
	defer tx.Rollback() // a no-op once committed
	// The statements are prepared on the writer connection already, which is
	// the one the transaction holds: binding them to it prepares nothing.
	var insert, insertMany *sql.Stmt
	args := make([]any, 0, min(len(recs), usageInsertRows)*usageColumns)
	for i := 0; i < len(recs); {
		var stmt *sql.Stmt
		n := usageInsertRows
		if len(recs)-i < usageInsertRows {
			if insert == nil {
				insert = tx.StmtContext(ctx, u.db.stmts.usageInsert)
			}
			stmt, n = insert, 1
		} else {
			if insertMany == nil {
				insertMany = tx.StmtContext(ctx, u.db.stmts.usageInsertMany)
			}
			stmt = insertMany
		}
		args = args[:0]
		for _, r := range recs[i : i+n] {
			args = append(args, r.Tenant.String(), r.Time.UnixMilli(), r.RequestID, r.KeyID, r.Route, r.Provider, r.Model,
				r.Attempts, r.Fallback, r.Status, r.ErrorKind, r.Latency.Microseconds(), r.TTFT.Microseconds(),
				r.TokensIn, r.TokensOut, r.Estimated, r.CostMicros, r.CacheHit, r.TTSChars)
		}
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			return u.db.fail(ctx, fmt.Sprintf("append usage: records %d to %d", i, i+n-1), err)
		}
		i += n
	}
	upsert := tx.StmtContext(ctx, u.db.stmts.usageAdd)
	for _, s := range sums {
		_, err := upsert.ExecContext(ctx, s.Tenant.String(), s.Day, s.KeyID, s.Provider, s.Model,
			s.Requests, s.Errors, s.Fallbacks, s.CacheHits, s.TokensIn, s.TokensOut, s.CostMicros, s.TTSChars,
			s.LatencyMicros, s.TTFTMicros, s.TTFTRequests)
		if err != nil {
			return u.db.fail(ctx, "append usage: rollup", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return u.db.fail(ctx, "append usage: commit", err)
	}
	return nil
}

// UsageRollup returns the daily rollup rows of tenant t whose day is in
// [f.From, f.To), both truncated to UTC days, and whose key is f.KeyID
// unless that is empty; a zero From or To leaves that end open. The rows are
// ordered by day, key, provider and model.
func (u *Usage) UsageRollup(ctx context.Context, t tenant.ID, f store.UsageFilter) ([]store.UsageRow, error) {
	if t.IsZero() {
		return nil, fmt.Errorf("sqlite: usage rollup: %w: tenant id is required", store.ErrInvalid)
	}
	if err := u.db.ready(ctx); err != nil {
		return nil, fmt.Errorf("sqlite: usage rollup: %w", err)
	}
	from, to := store.DayBound(f.From, ""), store.DayBound(f.To, store.DayAfterAll)
	rows, err := u.db.stmts.usageRollup.QueryContext(ctx, t.String(), from, to, f.KeyID, f.KeyID)
	if err != nil {
		return nil, u.db.fail(ctx, "usage rollup", err)
	}
	defer rows.Close()
	var out []store.UsageRow
	for rows.Next() {
		var r store.UsageRow
		err := rows.Scan(&r.Day, &r.KeyID, &r.Provider, &r.Model,
			&r.Requests, &r.Errors, &r.Fallbacks, &r.CacheHits, &r.TokensIn, &r.TokensOut, &r.CostMicros, &r.TTSChars,
			&r.LatencyMicros, &r.TTFTMicros, &r.TTFTRequests)
		if err != nil {
			return nil, u.db.fail(ctx, "usage rollup", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, u.db.fail(ctx, "usage rollup", err)
	}
	return out, nil
}

// UsageRecords returns at most limit ledger entries of tenant t whose Time
// is in [f.From, f.To) and whose key is f.KeyID unless that is empty, oldest
// first; a zero From or To leaves that end open. limit must be 1 to 1000.
// Times come back in UTC at millisecond precision, durations at microsecond
// precision, and entries with the same millisecond in the order appended.
func (u *Usage) UsageRecords(ctx context.Context, t tenant.ID, f store.UsageFilter, limit int) ([]store.UsageRecord, error) {
	switch {
	case t.IsZero():
		return nil, fmt.Errorf("sqlite: usage records: %w: tenant id is required", store.ErrInvalid)
	case limit < 1 || limit > store.MaxUsageLimit:
		return nil, fmt.Errorf("sqlite: usage records: %w: limit %d is not between 1 and %d", store.ErrInvalid, limit, store.MaxUsageLimit)
	}
	if err := u.db.ready(ctx); err != nil {
		return nil, fmt.Errorf("sqlite: usage records: %w", err)
	}
	from, to := store.MilliBound(f.From, math.MinInt64), store.MilliBound(f.To, math.MaxInt64)
	rows, err := u.db.stmts.usageRecords.QueryContext(ctx, t.String(), from, to, f.KeyID, f.KeyID, limit)
	if err != nil {
		return nil, u.db.fail(ctx, "usage records", err)
	}
	defer rows.Close()
	var out []store.UsageRecord
	for rows.Next() {
		r := store.UsageRecord{Tenant: t}
		var ts, latency, ttft int64
		err := rows.Scan(&ts, &r.RequestID, &r.KeyID, &r.Route, &r.Provider, &r.Model,
			&r.Attempts, &r.Fallback, &r.Status, &r.ErrorKind, &latency, &ttft,
			&r.TokensIn, &r.TokensOut, &r.Estimated, &r.CostMicros, &r.CacheHit, &r.TTSChars)
		if err != nil {
			return nil, u.db.fail(ctx, "usage records", err)
		}
		r.Time = time.UnixMilli(ts).UTC()
		r.Latency = time.Duration(latency) * time.Microsecond
		r.TTFT = time.Duration(ttft) * time.Microsecond
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, u.db.fail(ctx, "usage records", err)
	}
	return out, nil
}
