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
	requests, errors, fallbacks, cache_hits, tokens_in, tokens_out, cost_micros, tts_chars)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (tenant, day, key_id, provider, model) DO UPDATE SET
	requests    = requests    + excluded.requests,
	errors      = errors      + excluded.errors,
	fallbacks   = fallbacks   + excluded.fallbacks,
	cache_hits  = cache_hits  + excluded.cache_hits,
	tokens_in   = tokens_in   + excluded.tokens_in,
	tokens_out  = tokens_out  + excluded.tokens_out,
	cost_micros = cost_micros + excluded.cost_micros,
	tts_chars   = tts_chars   + excluded.tts_chars`
	usageRollup = `SELECT day, key_id, provider, model,
	requests, errors, fallbacks, cache_hits, tokens_in, tokens_out, cost_micros, tts_chars
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

const (
	// dayLayout formats the day column of usage_daily.
	dayLayout = "2006-01-02"
	// dayAfterAll sorts after every day that dayLayout formats for the years
	// a record may have, 1 to 9999: it stands for a missing upper bound.
	dayAfterAll = "~"
	// statusError is the UsageRecord.Status counted in UsageRow.Errors.
	statusError = "error"
	// maxUsageLimit is the largest limit UsageRecords accepts.
	maxUsageLimit = 1000
)

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
	sums, err := sumUsage(recs)
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
		_, err := upsert.ExecContext(ctx, s.tenant, s.Day, s.KeyID, s.Provider, s.Model,
			s.Requests, s.Errors, s.Fallbacks, s.CacheHits, s.TokensIn, s.TokensOut, s.CostMicros, s.TTSChars)
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
	from, to := dayBound(f.From, ""), dayBound(f.To, dayAfterAll)
	rows, err := u.db.stmts.usageRollup.QueryContext(ctx, t.String(), from, to, f.KeyID, f.KeyID)
	if err != nil {
		return nil, u.db.fail(ctx, "usage rollup", err)
	}
	defer rows.Close()
	var out []store.UsageRow
	for rows.Next() {
		var r store.UsageRow
		err := rows.Scan(&r.Day, &r.KeyID, &r.Provider, &r.Model,
			&r.Requests, &r.Errors, &r.Fallbacks, &r.CacheHits, &r.TokensIn, &r.TokensOut, &r.CostMicros, &r.TTSChars)
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
	case limit < 1 || limit > maxUsageLimit:
		return nil, fmt.Errorf("sqlite: usage records: %w: limit %d is not between 1 and %d", store.ErrInvalid, limit, maxUsageLimit)
	}
	if err := u.db.ready(ctx); err != nil {
		return nil, fmt.Errorf("sqlite: usage records: %w", err)
	}
	from, to := milliBound(f.From, math.MinInt64), milliBound(f.To, math.MaxInt64)
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

// tenantRow is a row of usage_daily: the sums of a batch of records that
// share a tenant, day, key, provider and model.
type tenantRow struct {
	tenant string
	store.UsageRow
}

// rowKey identifies a row of usage_daily while a batch is summed. day counts
// the days since 1970-01-01 UTC.
type rowKey struct {
	tenant               string
	day                  int64
	key, provider, model string
}

// sumUsage checks recs and returns their sums by row of usage_daily, in the
// order in which the rows first appear in recs, so that a batch makes one
// upsert per row rather than one per record. The error wraps
// store.ErrInvalid and names the first record that is invalid or makes a sum
// overflow.
func sumUsage(recs []store.UsageRecord) ([]tenantRow, error) {
	var rows []tenantRow
	index := make(map[rowKey]int)
	for i := range recs {
		r := &recs[i]
		if why := checkUsageRecord(r); why != "" {
			return nil, fmt.Errorf("%w: record %d: %s", store.ErrInvalid, i, why)
		}
		k := rowKey{r.Tenant.String(), dayNumber(r.Time.UnixMilli()), r.KeyID, r.Provider, r.Model}
		j, ok := index[k]
		if !ok {
			j = len(rows)
			index[k] = j
			rows = append(rows, tenantRow{tenant: k.tenant, UsageRow: store.UsageRow{
				Day: dayOf(k.day), KeyID: k.key, Provider: k.provider, Model: k.model,
			}})
		}
		s := &rows[j]
		s.Requests++
		s.Errors += count(r.Status == statusError)
		s.Fallbacks += count(r.Fallback)
		s.CacheHits += count(r.CacheHit)
		if !addTo(&s.TokensIn, r.TokensIn) || !addTo(&s.TokensOut, r.TokensOut) || !addTo(&s.CostMicros, r.CostMicros) || !addTo(&s.TTSChars, r.TTSChars) {
			return nil, fmt.Errorf("%w: record %d: the sums of the batch overflow", store.ErrInvalid, i)
		}
	}
	return rows, nil
}

// addTo adds v to *sum unless that overflows; both are not negative.
func addTo(sum *int64, v int64) bool {
	if v > math.MaxInt64-*sum {
		return false
	}
	*sum += v
	return true
}

// checkUsageRecord returns why r cannot be appended, or "" when it can.
// Negative numbers are refused because they would corrupt the sums of the
// rollup; times outside the years 1 to 9999 because their days would not
// sort as text.
func checkUsageRecord(r *store.UsageRecord) string {
	switch year := r.Time.UTC().Year(); {
	case r.Tenant.IsZero():
		return "tenant id is required"
	case year < 1 || year > 9999:
		return "time is outside the years 1 to 9999"
	case r.Attempts < 0:
		return "attempts is negative"
	case r.Latency < 0:
		return "latency is negative"
	case r.TTFT < 0:
		return "ttft is negative"
	case r.TokensIn < 0:
		return "tokens in is negative"
	case r.TokensOut < 0:
		return "tokens out is negative"
	case r.CostMicros < 0:
		return "cost is negative"
	case r.TTSChars < 0:
		return "tts chars is negative"
	}
	return ""
}

// msPerDay is the length of a UTC day in milliseconds: unix time has no
// leap seconds.
const msPerDay = 24 * 60 * 60 * 1000

// dayNumber returns the number of the UTC day of the unix millisecond ts,
// counted from 1970-01-01.
func dayNumber(ts int64) int64 {
	d := ts / msPerDay
	if ts%msPerDay < 0 {
		d-- // round down, not towards zero
	}
	return d
}

// dayOf returns the UTC day numbered d by dayNumber, as stored in
// usage_daily.
func dayOf(d int64) string {
	return time.UnixMilli(d * msPerDay).UTC().Format(dayLayout)
}

// dayBound returns the UTC day of t as a bound on usage_daily.day, or
// unbounded when t is zero. Times before the year 1 or after 9999, which no
// record has, give the bound that selects all days or none accordingly.
func dayBound(t time.Time, unbounded string) string {
	if t.IsZero() {
		return unbounded
	}
	switch u := t.UTC(); {
	case u.Year() < 1:
		return ""
	case u.Year() > 9999:
		return dayAfterAll
	default:
		return u.Format(dayLayout)
	}
}

// milliBound returns t as a bound on usage.ts, or unbounded when t is zero.
// It rounds t up to the millisecond: ts >= bound holds exactly when the
// stored time is not before t, and ts < bound when it is before t.
func milliBound(t time.Time, unbounded int64) int64 {
	if t.IsZero() {
		return unbounded
	}
	ms := t.UnixMilli()
	if t.Nanosecond()%int(time.Millisecond) != 0 {
		ms++
	}
	return ms
}

// count returns 1 if b is true and 0 if not, for the sums of the rollup.
func count(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
