package postgres

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// Queries on the usage ledger and its daily rollup. Every one is filtered by
// tenant. ts is in unix milliseconds; day is the UTC day of ts as
// YYYY-MM-DD. An empty key filter selects every key. The inserts take a
// column of values per array parameter, so that a batch of any size is one
// statement.
const (
	usageInsert = `INSERT INTO usage (tenant, ts, request_id, key_id, route, provider, model,
	attempts, fallback, status, error_kind, latency_us, ttft_us,
	tokens_in, tokens_out, estimated, cost_micros, cache_hit, tts_chars)
SELECT $1, * FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
	$8::bigint[], $9::boolean[], $10::text[], $11::text[], $12::bigint[], $13::bigint[],
	$14::bigint[], $15::bigint[], $16::boolean[], $17::bigint[], $18::boolean[], $19::bigint[])`
	usageAdd = `INSERT INTO usage_daily (tenant, day, key_id, provider, model,
	requests, errors, fallbacks, cache_hits, tokens_in, tokens_out, cost_micros, tts_chars,
	latency_us, ttft_us, ttft_requests)
SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[],
	$6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[], $13::bigint[],
	$14::bigint[], $15::bigint[], $16::bigint[])
ON CONFLICT (tenant, day, key_id, provider, model) DO UPDATE SET
	requests      = usage_daily.requests      + excluded.requests,
	errors        = usage_daily.errors        + excluded.errors,
	fallbacks     = usage_daily.fallbacks     + excluded.fallbacks,
	cache_hits    = usage_daily.cache_hits    + excluded.cache_hits,
	tokens_in     = usage_daily.tokens_in     + excluded.tokens_in,
	tokens_out    = usage_daily.tokens_out    + excluded.tokens_out,
	cost_micros   = usage_daily.cost_micros   + excluded.cost_micros,
	tts_chars     = usage_daily.tts_chars     + excluded.tts_chars,
	latency_us    = usage_daily.latency_us    + excluded.latency_us,
	ttft_us       = usage_daily.ttft_us       + excluded.ttft_us,
	ttft_requests = usage_daily.ttft_requests + excluded.ttft_requests`
	usageRollup = `SELECT day, key_id, provider, model,
	requests, errors, fallbacks, cache_hits, tokens_in, tokens_out, cost_micros, tts_chars,
	latency_us, ttft_us, ttft_requests
FROM usage_daily
WHERE tenant = $1 AND day >= $2 AND day < $3 AND ($4 = '' OR key_id = $4)
ORDER BY day, key_id, provider, model`
	usageRecords = `SELECT ts, request_id, key_id, route, provider, model,
	attempts, fallback, status, error_kind, latency_us, ttft_us,
	tokens_in, tokens_out, estimated, cost_micros, cache_hit, tts_chars
FROM usage
WHERE tenant = $1 AND ts >= $2 AND ts < $3 AND ($4 = '' OR key_id = $4)
ORDER BY ts, id
LIMIT $5`
)

// Usage is the store.Usage kept in a DB: the ledger in the table usage and
// its daily rollup in usage_daily. AppendUsage writes a batch with two
// statements a tenant, all of them sent at once in one transaction.
type Usage struct {
	db *DB
}

var _ store.Usage = (*Usage)(nil)

// usageColumns holds a batch of one tenant's records column by column.
type usageColumns struct {
	ts, latency, ttft, tokensIn, tokensOut, cost, tts, attempts []int64
	requestID, keyID, route, provider, model, status, errorKind []string
	fallback, estimated, cacheHit                               []bool
}

func (c *usageColumns) add(r *store.UsageRecord) {
	c.ts = append(c.ts, r.Time.UnixMilli())
	c.requestID = append(c.requestID, r.RequestID)
	c.keyID = append(c.keyID, r.KeyID)
	c.route = append(c.route, r.Route)
	c.provider = append(c.provider, r.Provider)
	c.model = append(c.model, r.Model)
	c.attempts = append(c.attempts, int64(r.Attempts))
	c.fallback = append(c.fallback, r.Fallback)
	c.status = append(c.status, r.Status)
	c.errorKind = append(c.errorKind, r.ErrorKind)
	c.latency = append(c.latency, r.Latency.Microseconds())
	c.ttft = append(c.ttft, r.TTFT.Microseconds())
	c.tokensIn = append(c.tokensIn, r.TokensIn)
	c.tokensOut = append(c.tokensOut, r.TokensOut)
	c.estimated = append(c.estimated, r.Estimated)
	c.cost = append(c.cost, r.CostMicros)
	c.cacheHit = append(c.cacheHit, r.CacheHit)
	c.tts = append(c.tts, r.TTSChars)
}

// AppendUsage adds recs to the ledger and to the daily rollup in one
// transaction and one round trip. It checks every record before it writes
// any (see store.SumUsage): an invalid record makes it return
// store.ErrInvalid, naming the record's index, and write nothing. A sum of
// the rollup that would overflow fails the transaction. An empty batch
// writes nothing and is not an error. The rollup rows are upserted in a
// fixed order, tenant by tenant, so that concurrent batches wait for each
// other rather than deadlock.
func (u *Usage) AppendUsage(ctx context.Context, recs []store.UsageRecord) error {
	sums, err := store.SumUsage(recs)
	if err != nil {
		return fmt.Errorf("postgres: append usage: %w", err)
	}
	if err := u.db.ready(ctx); err != nil {
		return fmt.Errorf("postgres: append usage: %w", err)
	}
	if len(recs) == 0 {
		return nil
	}
	byTenant := make(map[string]*usageColumns)
	for i := range recs {
		id := recs[i].Tenant.String()
		c := byTenant[id]
		if c == nil {
			c = &usageColumns{}
			byTenant[id] = c
		}
		c.add(&recs[i])
	}
	slices.SortFunc(sums, func(a, b store.UsageSum) int {
		return cmp.Or(cmp.Compare(a.Tenant.String(), b.Tenant.String()), cmp.Compare(a.Day, b.Day),
			cmp.Compare(a.KeyID, b.KeyID), cmp.Compare(a.Provider, b.Provider), cmp.Compare(a.Model, b.Model))
	})

	b := &pgx.Batch{}
	for i := 0; i < len(sums); {
		id := sums[i].Tenant.String()
		j := i
		for j < len(sums) && sums[j].Tenant.String() == id {
			j++
		}
		c := byTenant[id]
		b.Queue(setTenant, id)
		b.Queue(usageInsert, id, c.ts, c.requestID, c.keyID, c.route, c.provider, c.model,
			c.attempts, c.fallback, c.status, c.errorKind, c.latency, c.ttft,
			c.tokensIn, c.tokensOut, c.estimated, c.cost, c.cacheHit, c.tts)
		b.Queue(usageAdd, rollupArgs(id, sums[i:j])...)
		i = j
	}
	br := u.db.pool.SendBatch(ctx, b)
	for range b.Len() {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return u.db.fail(ctx, "append usage", err)
		}
	}
	if err := br.Close(); err != nil {
		return u.db.fail(ctx, "append usage: commit", err)
	}
	return nil
}

// rollupArgs returns the arguments of usageAdd for the sums of one tenant.
func rollupArgs(tenantID string, sums []store.UsageSum) []any {
	n := len(sums)
	day, key, provider, model := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	cols := make([][]int64, 11)
	for i := range cols {
		cols[i] = make([]int64, n)
	}
	for i, s := range sums {
		day[i], key[i], provider[i], model[i] = s.Day, s.KeyID, s.Provider, s.Model
		for k, v := range []int64{s.Requests, s.Errors, s.Fallbacks, s.CacheHits, s.TokensIn, s.TokensOut, s.CostMicros, s.TTSChars,
			s.LatencyMicros, s.TTFTMicros, s.TTFTRequests} {
			cols[k][i] = v
		}
	}
	args := []any{tenantID, day, key, provider, model}
	for _, c := range cols {
		args = append(args, c)
	}
	return args
}

// UsageRollup returns the daily rollup rows of tenant t whose day is in
// [f.From, f.To), both truncated to UTC days, and whose key is f.KeyID
// unless that is empty; a zero From or To leaves that end open. The rows are
// ordered by day, key, provider and model, in byte order.
func (u *Usage) UsageRollup(ctx context.Context, t tenant.ID, f store.UsageFilter) ([]store.UsageRow, error) {
	if t.IsZero() {
		return nil, fmt.Errorf("postgres: usage rollup: %w: tenant id is required", store.ErrInvalid)
	}
	if err := u.db.ready(ctx); err != nil {
		return nil, fmt.Errorf("postgres: usage rollup: %w", err)
	}
	from, to := store.DayBound(f.From, ""), store.DayBound(f.To, store.DayAfterAll)
	b := tenantBatch(t.String())
	b.Queue(usageRollup, t.String(), from, to, f.KeyID)
	br, err := u.db.send(ctx, b)
	if err != nil {
		return nil, u.db.fail(ctx, "usage rollup", err)
	}
	defer br.Close()
	rows, err := br.Query()
	if err != nil {
		return nil, u.db.fail(ctx, "usage rollup", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.UsageRow, error) {
		var r store.UsageRow
		err := row.Scan(&r.Day, &r.KeyID, &r.Provider, &r.Model,
			&r.Requests, &r.Errors, &r.Fallbacks, &r.CacheHits, &r.TokensIn, &r.TokensOut, &r.CostMicros, &r.TTSChars,
			&r.LatencyMicros, &r.TTFTMicros, &r.TTFTRequests)
		return r, err
	})
	if err != nil {
		return nil, u.db.fail(ctx, "usage rollup", err)
	}
	if len(out) == 0 {
		return nil, nil
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
		return nil, fmt.Errorf("postgres: usage records: %w: tenant id is required", store.ErrInvalid)
	case limit < 1 || limit > store.MaxUsageLimit:
		return nil, fmt.Errorf("postgres: usage records: %w: limit %d is not between 1 and %d", store.ErrInvalid, limit, store.MaxUsageLimit)
	}
	if err := u.db.ready(ctx); err != nil {
		return nil, fmt.Errorf("postgres: usage records: %w", err)
	}
	from, to := store.MilliBound(f.From, math.MinInt64), store.MilliBound(f.To, math.MaxInt64)
	b := tenantBatch(t.String())
	b.Queue(usageRecords, t.String(), from, to, f.KeyID, limit)
	br, err := u.db.send(ctx, b)
	if err != nil {
		return nil, u.db.fail(ctx, "usage records", err)
	}
	defer br.Close()
	rows, err := br.Query()
	if err != nil {
		return nil, u.db.fail(ctx, "usage records", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.UsageRecord, error) {
		r := store.UsageRecord{Tenant: t}
		var ts, latency, ttft int64
		var attempts int32
		err := row.Scan(&ts, &r.RequestID, &r.KeyID, &r.Route, &r.Provider, &r.Model,
			&attempts, &r.Fallback, &r.Status, &r.ErrorKind, &latency, &ttft,
			&r.TokensIn, &r.TokensOut, &r.Estimated, &r.CostMicros, &r.CacheHit, &r.TTSChars)
		r.Attempts = int(attempts)
		r.Time = time.UnixMilli(ts).UTC()
		r.Latency = time.Duration(latency) * time.Microsecond
		r.TTFT = time.Duration(ttft) * time.Microsecond
		return r, err
	})
	if err != nil {
		return nil, u.db.fail(ctx, "usage records", err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}
