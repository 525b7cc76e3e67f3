package store

import (
	"fmt"
	"math"
	"time"

	"github.com/crispy-enigma/crispy/internal/tenant"
)

// Helpers of the usage ledger shared by the SQL backends, so that they
// check records, sum the daily rollup and bound their queries alike.

const (
	// UsageDayLayout formats UsageRow.Day: YYYY-MM-DD, which sorts as text
	// in the order of time for the years 1 to 9999.
	UsageDayLayout = "2006-01-02"
	// DayAfterAll sorts after every day UsageDayLayout formats for the years
	// a record may have: it stands for a missing upper bound on days.
	DayAfterAll = "~"
	// MaxUsageLimit is the largest limit of Usage.UsageRecords.
	MaxUsageLimit = 1000
)

// UsageSum is a row of the daily rollup of one tenant: the sums of the
// records of a batch that share a tenant, UTC day, key, provider and model.
type UsageSum struct {
	Tenant tenant.ID
	UsageRow
}

// usageKey identifies a row of the rollup while a batch is summed. day
// counts the days since 1970-01-01 UTC.
type usageKey struct {
	tenant               string
	day                  int64
	key, provider, model string
}

// SumUsage checks recs and returns their sums by row of the daily rollup,
// in the order in which the rows first appear in recs, so that a batch
// makes one upsert per row rather than one per record. The error wraps
// ErrInvalid and names the first record that is invalid (see
// CheckUsageRecord) or makes a sum overflow.
func SumUsage(recs []UsageRecord) ([]UsageSum, error) {
	var rows []UsageSum
	index := make(map[usageKey]int)
	for i := range recs {
		r := &recs[i]
		if why := CheckUsageRecord(r); why != "" {
			return nil, fmt.Errorf("%w: record %d: %s", ErrInvalid, i, why)
		}
		k := usageKey{r.Tenant.String(), dayNumber(r.Time.UnixMilli()), r.KeyID, r.Provider, r.Model}
		j, ok := index[k]
		if !ok {
			j = len(rows)
			index[k] = j
			rows = append(rows, UsageSum{Tenant: r.Tenant, UsageRow: UsageRow{
				Day: dayOf(k.day), KeyID: k.key, Provider: k.provider, Model: k.model,
			}})
		}
		s := &rows[j]
		s.Requests++
		s.Errors += count(r.Status == "error")
		s.Fallbacks += count(r.Fallback)
		s.CacheHits += count(r.CacheHit)
		// Durations are summed as the ledger keeps them, in whole
		// microseconds, so that the rollup is the sum of the ledger; a TTFT
		// below a microsecond reads as none there, and counts as none here.
		ttft := r.TTFT.Microseconds()
		s.TTFTRequests += count(ttft > 0)
		if !addTo(&s.TokensIn, r.TokensIn) || !addTo(&s.TokensOut, r.TokensOut) || !addTo(&s.CostMicros, r.CostMicros) ||
			!addTo(&s.TTSChars, r.TTSChars) || !addTo(&s.LatencyMicros, r.Latency.Microseconds()) || !addTo(&s.TTFTMicros, ttft) {
			return nil, fmt.Errorf("%w: record %d: the sums of the batch overflow", ErrInvalid, i)
		}
	}
	return rows, nil
}

// CheckUsageRecord returns why r cannot be appended to the ledger, or ""
// when it can. Negative numbers are refused because they would corrupt the
// sums of the rollup; times outside the years 1 to 9999 because their days
// would not sort as text.
func CheckUsageRecord(r *UsageRecord) string {
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

// addTo adds v to *sum unless that overflows; both are not negative.
func addTo(sum *int64, v int64) bool {
	if v > math.MaxInt64-*sum {
		return false
	}
	*sum += v
	return true
}

// count returns 1 if b is true and 0 if not, for the sums of the rollup.
func count(b bool) int64 {
	if b {
		return 1
	}
	return 0
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

// dayOf returns the UTC day numbered d by dayNumber, as UsageRow.Day.
func dayOf(d int64) string {
	return time.UnixMilli(d * msPerDay).UTC().Format(UsageDayLayout)
}

// DayBound returns the UTC day of t as a bound on UsageRow.Day, or
// unbounded when t is zero. Times before the year 1 or after 9999, which no
// record has, give the bound that selects all days or none accordingly.
func DayBound(t time.Time, unbounded string) string {
	if t.IsZero() {
		return unbounded
	}
	switch u := t.UTC(); {
	case u.Year() < 1:
		return ""
	case u.Year() > 9999:
		return DayAfterAll
	default:
		return u.Format(UsageDayLayout)
	}
}

// MilliBound returns t as a bound on a time kept in unix milliseconds, or
// unbounded when t is zero. It rounds t up to the millisecond: ms >= bound
// holds exactly when the stored time is not before t, and ms < bound when
// it is before t.
func MilliBound(t time.Time, unbounded int64) int64 {
	if t.IsZero() {
		return unbounded
	}
	ms := t.UnixMilli()
	if t.Nanosecond()%int(time.Millisecond) != 0 {
		ms++
	}
	return ms
}

// Expiry returns the unix millisecond at which a value set at now with ttl
// expires, rounded up so that a value never expires before its ttl.
func Expiry(now time.Time, ttl time.Duration) int64 {
	return MilliBound(now.Add(ttl), 0)
}
