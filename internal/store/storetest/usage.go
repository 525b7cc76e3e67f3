package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// maxUsageLimit is the largest limit UsageRecords accepts.
const maxUsageLimit = 1000

// Fixed times on both sides of a UTC midnight, so that the rollup tests do
// not depend on the clock or the local time zone.
var (
	lastSecondOfDay1 = time.Date(2026, 3, 1, 23, 59, 59, 0, time.UTC)
	startOfDay2      = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
)

// TestUsage runs the Usage conformance suite against the store returned by
// open. Each subtest calls open once and expects an empty store; open must
// arrange for the store to be closed with t.Cleanup.
func TestUsage(t *testing.T, open func(t *testing.T) store.Usage) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, u store.Usage)
	}{
		{"Empty", testUsageEmpty},
		{"RoundTrip", testUsageRoundTrip},
		{"LargeBatch", testUsageLargeBatch},
		{"Order", testUsageOrder},
		{"Rollup", testUsageRollup},
		{"RollupFilter", testUsageRollupFilter},
		{"RecordsFilter", testUsageRecordsFilter},
		{"Limit", testUsageLimit},
		{"Invalid", testUsageInvalid},
		{"Atomicity", testUsageAtomicity},
		{"TenantIsolation", testUsageTenantIsolation},
		{"Concurrent", testUsageConcurrent},
		{"ContextCanceled", testUsageContextCanceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, open(t))
		})
	}
}

func testUsageEmpty(t *testing.T, u store.Usage) {
	ctx := t.Context()
	if err := u.AppendUsage(ctx, nil); err != nil {
		t.Errorf("AppendUsage(nil) = %v, want nil", err)
	}
	if err := u.AppendUsage(ctx, []store.UsageRecord{}); err != nil {
		t.Errorf("AppendUsage(empty batch) = %v, want nil", err)
	}
	if got := mustRecords(t, u, acme, store.UsageFilter{}, maxUsageLimit); len(got) != 0 {
		t.Errorf("UsageRecords of an empty store = %d records, want none", len(got))
	}
	if got := mustRollup(t, u, acme, store.UsageFilter{}); len(got) != 0 {
		t.Errorf("UsageRollup of an empty store = %d rows, want none", len(got))
	}
}

// testUsageRoundTrip checks that every field comes back as appended, with
// the time in UTC at millisecond precision and the durations at microsecond
// precision.
// testUsageLargeBatch appends batches whose sizes fall on both sides of
// any number of records a store may write per statement, each record's
// fields its own, and reads every record back as it was, in order.
func testUsageLargeBatch(t *testing.T, u store.Usage) {
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var all []store.UsageRecord
	n := 0
	for _, size := range []int{1, 15, 16, 17, 33, 100} {
		batch := make([]store.UsageRecord, size)
		for i := range batch {
			batch[i] = store.UsageRecord{
				Time: start.Add(time.Duration(n) * time.Millisecond), Tenant: acme,
				RequestID: fmt.Sprintf("req-%d", n), KeyID: fmt.Sprintf("key-%d", n%3), Route: "chat",
				Provider: "p", Model: fmt.Sprintf("m-%d", n%5), Attempts: 1 + n%4, Fallback: n%2 == 0,
				Status: "ok", Latency: time.Duration(n) * time.Microsecond, TTFT: time.Duration(n%7) * time.Microsecond,
				TokensIn: int64(n), TokensOut: int64(2 * n), Estimated: n%3 == 0, CostMicros: int64(n * 11),
				CacheHit: n%5 == 0, TTSChars: int64(n % 9),
			}
			n++
		}
		mustAppend(t, u, batch...)
		all = append(all, batch...)
	}
	got := mustRecords(t, u, acme, store.UsageFilter{}, maxUsageLimit)
	if len(got) != len(all) {
		t.Fatalf("UsageRecords returned %d records, want %d", len(got), len(all))
	}
	for i := range all {
		if !sameRecord(got[i], all[i]) {
			t.Fatalf("record %d:\n got  %+v\n want %+v", i, got[i], all[i])
		}
	}
	var sum, wantSum store.UsageRow
	for _, row := range mustRollup(t, u, acme, store.UsageFilter{}) {
		sum.Requests += row.Requests
		sum.LatencyMicros += row.LatencyMicros
		sum.TTFTMicros += row.TTFTMicros
		sum.TTFTRequests += row.TTFTRequests
	}
	for _, r := range all {
		wantSum.Requests++
		wantSum.LatencyMicros += r.Latency.Microseconds()
		wantSum.TTFTMicros += r.TTFT.Microseconds()
		if r.TTFT > 0 {
			wantSum.TTFTRequests++
		}
	}
	if sum != wantSum {
		t.Errorf("the rollup sums to %+v, want %+v", sum, wantSum)
	}
}

func testUsageRoundTrip(t *testing.T, u store.Usage) {
	cet := time.FixedZone("CET", 3600)
	recs := []store.UsageRecord{
		{
			Time:       time.Date(2026, 3, 1, 12, 34, 56, 789_654_321, cet),
			Tenant:     acme,
			RequestID:  "req-full",
			KeyID:      "key-a",
			Route:      "chat",
			Provider:   "openai",
			Model:      "gpt-x",
			Attempts:   3,
			Fallback:   true,
			Status:     "error",
			ErrorKind:  "rate_limited",
			Latency:    1_234_567_891 * time.Nanosecond,
			TTFT:       98_765_432 * time.Nanosecond,
			TokensIn:   1 << 40,
			TokensOut:  12345,
			Estimated:  true,
			CostMicros: 987_654_321,
			CacheHit:   true,
			TTSChars:   4321,
		},
		{
			// The zero value of every field but the tenant: an anonymous
			// caller, no first token, nothing counted.
			Tenant: acme,
		},
		{
			Time:       time.Date(1969, 12, 31, 23, 59, 59, 999_500_000, time.UTC),
			Tenant:     acme,
			RequestID:  "req-ключ-🔑 'quoted' \"double\" %_*",
			KeyID:      "key/with:odd chars",
			Route:      "embedding",
			Provider:   "local",
			Model:      "org/model:v1",
			Attempts:   1,
			Status:     "ok",
			Latency:    time.Hour,
			TTFT:       time.Microsecond,
			TokensIn:   1<<62 - 1,
			TokensOut:  0,
			CostMicros: 0,
		},
		{
			Time:      time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC),
			Tenant:    acme,
			RequestID: "req-cancelled",
			Route:     "completions",
			Provider:  "anthropic",
			Model:     "claude",
			Attempts:  2,
			Status:    "cancelled",
			Latency:   999 * time.Nanosecond, // below a microsecond
			TokensIn:  7,
			Estimated: true,
		},
	}
	mustAppend(t, u, recs...)

	want := make([]store.UsageRecord, len(recs))
	for i, r := range recs {
		want[i] = stored(r)
	}
	slices.SortStableFunc(want, func(a, b store.UsageRecord) int { return a.Time.Compare(b.Time) })
	got := mustRecords(t, u, acme, store.UsageFilter{}, maxUsageLimit)
	if len(got) != len(want) {
		t.Fatalf("UsageRecords = %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Time.Location() != time.UTC {
			t.Errorf("record %d: Time is in %v, want UTC", i, got[i].Time.Location())
		}
		if !sameRecord(got[i], want[i]) {
			t.Errorf("record %d:\ngot  %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

// testUsageOrder checks that records come back oldest first whatever the
// order of the batches and of the records within them.
func testUsageOrder(t *testing.T, u store.Usage) {
	base := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	at := func(ms int) store.UsageRecord {
		return store.UsageRecord{Time: base.Add(time.Duration(ms) * time.Millisecond), Tenant: acme, RequestID: fmt.Sprint(ms)}
	}
	mustAppend(t, u, at(5), at(1), at(3))
	mustAppend(t, u, at(4))
	mustAppend(t, u, at(0), at(2), at(-1000))
	got := requestIDs(mustRecords(t, u, acme, store.UsageFilter{}, maxUsageLimit))
	if want := []string{"-1000", "0", "1", "2", "3", "4", "5"}; !slices.Equal(got, want) {
		t.Errorf("UsageRecords = %q, want %q", got, want)
	}
}

// rollupFixture is the ledger of the rollup and filter tests: records of
// tenant acme on both sides of a UTC midnight, on two keys and the anonymous
// key, two providers and two models. Each has a request ID of its own and a
// time of its own. Latencies and times to first token are summed in whole
// microseconds, as the ledger keeps them: a TTFT of 0, or below a
// microsecond, is no first token and is not counted.
func rollupFixture() [][]store.UsageRecord {
	rec := func(at time.Time, id, key, provider, model string) store.UsageRecord {
		return store.UsageRecord{
			Time: at, Tenant: acme, RequestID: id, KeyID: key, Route: "chat",
			Provider: provider, Model: model, Attempts: 1, Status: "ok",
		}
	}
	with := func(r store.UsageRecord, f func(r *store.UsageRecord)) store.UsageRecord {
		f(&r)
		return r
	}
	return [][]store.UsageRecord{
		{ // the same day, key and model three times in one batch
			with(rec(lastSecondOfDay1, "r1", "key-a", "openai", "gpt-a"), func(r *store.UsageRecord) {
				r.TokensIn, r.TokensOut, r.CostMicros, r.CacheHit = 10, 20, 100, true
				r.Latency, r.TTFT = 1200*time.Millisecond, 300*time.Millisecond
			}),
			with(rec(lastSecondOfDay1.Add(-time.Hour), "r2", "key-a", "openai", "gpt-a"), func(r *store.UsageRecord) {
				r.Status, r.ErrorKind, r.Fallback, r.Attempts = "error", "timeout", true, 3
				r.TokensIn = 1
				r.Latency = 5 * time.Second // an error, with no first token
			}),
			with(rec(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), "r3", "key-a", "openai", "gpt-a"), func(r *store.UsageRecord) {
				r.CacheHit, r.TokensIn, r.TokensOut = true, 5, 7
				r.Latency, r.TTFT = 250*time.Millisecond+500*time.Nanosecond, 100*time.Millisecond // truncated to 250 ms
			}),
			with(rec(lastSecondOfDay1.Add(-1*time.Second), "r4", "key-b", "openai", "gpt-a"), func(r *store.UsageRecord) {
				r.TokensIn, r.TokensOut, r.CostMicros = 100, 200, 1000
				r.Status, r.ErrorKind = "error", "bad_request"                // an error without a fallback
				r.Latency, r.TTFT = 800*time.Millisecond, 999*time.Nanosecond // a TTFT below a microsecond is none
			}),
		},
		{
			// The same model name from another provider, and another model.
			with(rec(lastSecondOfDay1.Add(-2*time.Second), "r5", "key-a", "anthropic", "gpt-a"), func(r *store.UsageRecord) {
				r.TokensIn, r.TokensOut, r.CostMicros = 1, 1, 1
				r.Latency, r.TTFT = time.Millisecond+time.Microsecond, time.Microsecond
			}),
			with(rec(lastSecondOfDay1.Add(-3*time.Second), "r6", "key-a", "openai", "gpt-b"), func(r *store.UsageRecord) {
				r.TokensIn, r.TokensOut, r.CostMicros = 2, 3, 4
				r.Fallback = true // a fallback that answered
				r.TTSChars = 41   // characters of speech are summed like tokens
				r.Latency = 2 * time.Second
			}),
		},
		{ // the next UTC day
			with(rec(startOfDay2, "r7", "key-a", "openai", "gpt-a"), func(r *store.UsageRecord) {
				r.Status, r.Fallback, r.CacheHit = "error", true, true
				r.TokensIn, r.TokensOut, r.CostMicros = 1000, 2000, 3000
				r.Latency, r.TTFT = 3*time.Second, time.Second
			}),
			with(rec(startOfDay2.Add(time.Millisecond), "r8", "key-a", "openai", "gpt-a"), func(r *store.UsageRecord) {
				r.TokensIn, r.TokensOut, r.CostMicros = 1, 1, 1
				r.Latency, r.TTFT = time.Second, 200*time.Millisecond
			}),
		},
		{ // the same row again in a later batch, and the anonymous key
			with(rec(startOfDay2.Add(2*time.Millisecond), "r9", "", "openai", "gpt-a"), func(r *store.UsageRecord) {
				r.TokensIn, r.TokensOut, r.CostMicros, r.Estimated = 3, 4, 5, true
				// no latency recorded
			}),
			with(rec(startOfDay2.Add(3*time.Millisecond), "r10", "key-a", "openai", "gpt-a"), func(r *store.UsageRecord) {
				r.Status = "cancelled" // not an error
				r.TokensIn = 50
				r.Latency = 10 * time.Millisecond
			}),
		},
	}
}

// The rollup of rollupFixture, in the order UsageRollup returns it.
var (
	day1KeyAAnthropicGPTA = store.UsageRow{Day: "2026-03-01", KeyID: "key-a", Provider: "anthropic", Model: "gpt-a",
		Requests: 1, TokensIn: 1, TokensOut: 1, CostMicros: 1,
		LatencyMicros: 1001, TTFTMicros: 1, TTFTRequests: 1}
	day1KeyAOpenAIGPTA = store.UsageRow{Day: "2026-03-01", KeyID: "key-a", Provider: "openai", Model: "gpt-a",
		Requests: 3, Errors: 1, Fallbacks: 1, CacheHits: 2, TokensIn: 16, TokensOut: 27, CostMicros: 100,
		LatencyMicros: 1_200_000 + 5_000_000 + 250_000, TTFTMicros: 300_000 + 100_000, TTFTRequests: 2}
	day1KeyAOpenAIGPTB = store.UsageRow{Day: "2026-03-01", KeyID: "key-a", Provider: "openai", Model: "gpt-b",
		Requests: 1, Fallbacks: 1, TokensIn: 2, TokensOut: 3, CostMicros: 4, TTSChars: 41,
		LatencyMicros: 2_000_000}
	day1KeyBOpenAIGPTA = store.UsageRow{Day: "2026-03-01", KeyID: "key-b", Provider: "openai", Model: "gpt-a",
		Requests: 1, Errors: 1, TokensIn: 100, TokensOut: 200, CostMicros: 1000,
		LatencyMicros: 800_000}
	day2AnonOpenAIGPTA = store.UsageRow{Day: "2026-03-02", KeyID: "", Provider: "openai", Model: "gpt-a",
		Requests: 1, TokensIn: 3, TokensOut: 4, CostMicros: 5}
	day2KeyAOpenAIGPTA = store.UsageRow{Day: "2026-03-02", KeyID: "key-a", Provider: "openai", Model: "gpt-a",
		Requests: 3, Errors: 1, Fallbacks: 1, CacheHits: 1, TokensIn: 1051, TokensOut: 2001, CostMicros: 3001,
		LatencyMicros: 3_000_000 + 1_000_000 + 10_000, TTFTMicros: 1_000_000 + 200_000, TTFTRequests: 2}

	day1Rows = []store.UsageRow{day1KeyAAnthropicGPTA, day1KeyAOpenAIGPTA, day1KeyAOpenAIGPTB, day1KeyBOpenAIGPTA}
	day2Rows = []store.UsageRow{day2AnonOpenAIGPTA, day2KeyAOpenAIGPTA}
	allRows  = slices.Concat(day1Rows, day2Rows)
)

func appendFixture(t *testing.T, u store.Usage) {
	t.Helper()
	for _, batch := range rollupFixture() {
		mustAppend(t, u, batch...)
	}
}

func testUsageRollup(t *testing.T, u store.Usage) {
	appendFixture(t, u)
	wantRows(t, mustRollup(t, u, acme, store.UsageFilter{}), allRows)

	// Appending again adds to the same rows.
	appendFixture(t, u)
	doubled := make([]store.UsageRow, len(allRows))
	for i, r := range allRows {
		doubled[i] = store.UsageRow{
			Day: r.Day, KeyID: r.KeyID, Provider: r.Provider, Model: r.Model,
			Requests: 2 * r.Requests, Errors: 2 * r.Errors, Fallbacks: 2 * r.Fallbacks, CacheHits: 2 * r.CacheHits,
			TokensIn: 2 * r.TokensIn, TokensOut: 2 * r.TokensOut, CostMicros: 2 * r.CostMicros, TTSChars: 2 * r.TTSChars,
			LatencyMicros: 2 * r.LatencyMicros, TTFTMicros: 2 * r.TTFTMicros, TTFTRequests: 2 * r.TTFTRequests,
		}
	}
	wantRows(t, mustRollup(t, u, acme, store.UsageFilter{}), doubled)
}

func testUsageRollupFilter(t *testing.T, u store.Usage) {
	appendFixture(t, u)
	march := func(day, hour, min int) time.Time { return time.Date(2026, 3, day, hour, min, 0, 0, time.UTC) }
	tests := []struct {
		name   string
		filter store.UsageFilter
		want   []store.UsageRow
	}{
		{"no filter", store.UsageFilter{}, allRows},
		{"from the second day", store.UsageFilter{From: startOfDay2}, day2Rows},
		{"from is truncated to its day", store.UsageFilter{From: lastSecondOfDay1}, allRows},
		{"from is truncated to its UTC day", store.UsageFilter{From: march(2, 0, 30).In(time.FixedZone("", -3600))}, day2Rows},
		{"from a UTC day in another zone", store.UsageFilter{From: time.Date(2026, 3, 2, 0, 30, 0, 0, time.FixedZone("", 3600))}, allRows},
		{"from after the last day", store.UsageFilter{From: march(3, 0, 0)}, nil},
		{"to the second day", store.UsageFilter{To: startOfDay2}, day1Rows},
		{"to is truncated to its day", store.UsageFilter{To: march(2, 12, 0)}, day1Rows},
		{"to the day after", store.UsageFilter{To: march(3, 0, 0)}, allRows},
		{"to the first day", store.UsageFilter{To: march(1, 23, 59)}, nil},
		{"one day", store.UsageFilter{From: march(1, 0, 0), To: startOfDay2}, day1Rows},
		{"from and to the same day", store.UsageFilter{From: march(1, 0, 0), To: march(1, 12, 0)}, nil},
		{"from after to", store.UsageFilter{From: march(3, 0, 0), To: march(1, 0, 0)}, nil},
		{"key", store.UsageFilter{KeyID: "key-b"}, []store.UsageRow{day1KeyBOpenAIGPTA}},
		{"key and day", store.UsageFilter{KeyID: "key-a", From: startOfDay2}, []store.UsageRow{day2KeyAOpenAIGPTA}},
		{"key with no usage", store.UsageFilter{KeyID: "key-c"}, nil},
		{"key is matched exactly", store.UsageFilter{KeyID: "key-"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantRows(t, mustRollup(t, u, acme, tt.filter), tt.want)
		})
	}
}

func testUsageRecordsFilter(t *testing.T, u store.Usage) {
	appendFixture(t, u)
	day1 := []string{"r3", "r2", "r6", "r5", "r4", "r1"}
	day2 := []string{"r7", "r8", "r9", "r10"}
	tests := []struct {
		name   string
		filter store.UsageFilter
		want   []string
	}{
		{"no filter", store.UsageFilter{}, slices.Concat(day1, day2)},
		{"from is inclusive", store.UsageFilter{From: startOfDay2}, day2},
		{"to is exclusive", store.UsageFilter{To: startOfDay2}, day1},
		{"from and to", store.UsageFilter{From: lastSecondOfDay1, To: startOfDay2.Add(2 * time.Millisecond)}, []string{"r1", "r7", "r8"}},
		{"from is not truncated to its day", store.UsageFilter{From: lastSecondOfDay1.Add(-time.Second)}, slices.Concat([]string{"r4", "r1"}, day2)},
		{"from between milliseconds", store.UsageFilter{From: startOfDay2.Add(500 * time.Microsecond)}, []string{"r8", "r9", "r10"}},
		{"to between milliseconds", store.UsageFilter{From: startOfDay2, To: startOfDay2.Add(1500 * time.Microsecond)}, []string{"r7", "r8"}},
		{"from in another zone", store.UsageFilter{From: startOfDay2.In(time.FixedZone("", -5*3600))}, day2},
		{"empty range", store.UsageFilter{From: startOfDay2, To: startOfDay2}, nil},
		{"from after to", store.UsageFilter{From: startOfDay2, To: lastSecondOfDay1}, nil},
		{"key", store.UsageFilter{KeyID: "key-b"}, []string{"r4"}},
		{"key and range", store.UsageFilter{KeyID: "key-a", From: startOfDay2}, []string{"r7", "r8", "r10"}},
		{"key with no usage", store.UsageFilter{KeyID: "key-c"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := requestIDs(mustRecords(t, u, acme, tt.filter, maxUsageLimit))
			if !slices.Equal(got, tt.want) {
				t.Errorf("UsageRecords(%+v) = %q, want %q", tt.filter, got, tt.want)
			}
		})
	}
}

func testUsageLimit(t *testing.T, u store.Usage) {
	ctx := t.Context()
	base := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	var recs []store.UsageRecord
	for i := 4; i >= 0; i-- {
		recs = append(recs, store.UsageRecord{Time: base.Add(time.Duration(i) * time.Second), Tenant: acme, RequestID: fmt.Sprint(i)})
	}
	mustAppend(t, u, recs...)

	valid := []struct {
		limit int
		want  []string
	}{
		{1, []string{"0"}},
		{2, []string{"0", "1"}},
		{5, []string{"0", "1", "2", "3", "4"}},
		{maxUsageLimit, []string{"0", "1", "2", "3", "4"}},
	}
	for _, tt := range valid {
		got := requestIDs(mustRecords(t, u, acme, store.UsageFilter{}, tt.limit))
		if !slices.Equal(got, tt.want) {
			t.Errorf("UsageRecords(limit %d) = %q, want %q", tt.limit, got, tt.want)
		}
	}
	for _, limit := range []int{0, -1, maxUsageLimit + 1, 1 << 40} {
		got, err := u.UsageRecords(ctx, acme, store.UsageFilter{}, limit)
		if !errors.Is(err, store.ErrInvalid) {
			t.Errorf("UsageRecords(limit %d) = %d records, %v; want ErrInvalid", limit, len(got), err)
		}
	}
}

func testUsageInvalid(t *testing.T, u store.Usage) {
	ctx := t.Context()
	if _, err := u.UsageRollup(ctx, tenant.ID{}, store.UsageFilter{}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("UsageRollup(zero tenant) = %v, want ErrInvalid", err)
	}
	if _, err := u.UsageRecords(ctx, tenant.ID{}, store.UsageFilter{}, 10); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("UsageRecords(zero tenant) = %v, want ErrInvalid", err)
	}
	for _, tt := range invalidRecords() {
		t.Run(tt.name, func(t *testing.T) {
			if err := u.AppendUsage(t.Context(), []store.UsageRecord{tt.rec}); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("AppendUsage = %v, want ErrInvalid", err)
			}
		})
	}
	wantNoUsage(t, u, acme)
}

// invalidRecords returns records that AppendUsage must refuse.
func invalidRecords() []struct {
	name string
	rec  store.UsageRecord
} {
	valid := store.UsageRecord{
		Time: lastSecondOfDay1, Tenant: acme, RequestID: "invalid", KeyID: "key-a",
		Provider: "openai", Model: "gpt-a", Attempts: 1, Status: "ok", TokensIn: 1, TokensOut: 1, CostMicros: 1,
	}
	with := func(f func(r *store.UsageRecord)) store.UsageRecord {
		r := valid
		f(&r)
		return r
	}
	return []struct {
		name string
		rec  store.UsageRecord
	}{
		{"zero tenant", with(func(r *store.UsageRecord) { r.Tenant = tenant.ID{} })},
		{"negative tokens in", with(func(r *store.UsageRecord) { r.TokensIn = -1 })},
		{"negative tokens out", with(func(r *store.UsageRecord) { r.TokensOut = -1 })},
		{"negative cost", with(func(r *store.UsageRecord) { r.CostMicros = -1 })},
		{"negative tts chars", with(func(r *store.UsageRecord) { r.TTSChars = -1 })},
		{"negative latency", with(func(r *store.UsageRecord) { r.Latency = -time.Microsecond })},
		{"negative ttft", with(func(r *store.UsageRecord) { r.TTFT = -time.Microsecond })},
	}
}

// testUsageAtomicity checks that a batch with one invalid record writes
// nothing, wherever the record is and whichever tenants the others are for.
func testUsageAtomicity(t *testing.T, u store.Usage) {
	good := func(id tenant.ID, n int) store.UsageRecord {
		return store.UsageRecord{
			Time: lastSecondOfDay1, Tenant: id, RequestID: fmt.Sprintf("good-%d", n), KeyID: "key-a",
			Provider: "openai", Model: "gpt-a", Attempts: 1, Status: "ok", TokensIn: 10, TokensOut: 10, CostMicros: 10,
		}
	}
	for _, tt := range invalidRecords() {
		for _, at := range []int{0, 1, 3} {
			t.Run(fmt.Sprintf("%s at %d", tt.name, at), func(t *testing.T) {
				batch := []store.UsageRecord{good(acme, 0), good(globex, 1), good(acme, 2)}
				batch = slices.Insert(batch, at, tt.rec)
				if err := u.AppendUsage(t.Context(), batch); !errors.Is(err, store.ErrInvalid) {
					t.Fatalf("AppendUsage = %v, want ErrInvalid", err)
				}
				wantNoUsage(t, u, acme)
				wantNoUsage(t, u, globex)
			})
		}
	}

	// The store is still usable, and the rejected batches left no trace.
	mustAppend(t, u, good(acme, 0))
	if got := requestIDs(mustRecords(t, u, acme, store.UsageFilter{}, maxUsageLimit)); !slices.Equal(got, []string{"good-0"}) {
		t.Errorf("UsageRecords after the rejected batches and a good one = %q, want [good-0]", got)
	}
	want := []store.UsageRow{{Day: "2026-03-01", KeyID: "key-a", Provider: "openai", Model: "gpt-a",
		Requests: 1, TokensIn: 10, TokensOut: 10, CostMicros: 10}}
	wantRows(t, mustRollup(t, u, acme, store.UsageFilter{}), want)
}

func testUsageTenantIsolation(t *testing.T, u store.Usage) {
	rec := func(id tenant.ID, reqID string, tokens int64) store.UsageRecord {
		return store.UsageRecord{
			Time: lastSecondOfDay1, Tenant: id, RequestID: reqID, KeyID: "key-a", Route: "chat",
			Provider: "openai", Model: "gpt-a", Attempts: 1, Status: "ok",
			TokensIn: tokens, TokensOut: tokens, CostMicros: tokens,
		}
	}
	// Identical keys, providers, models and days in both tenants, some of
	// them in one batch.
	mustAppend(t, u, rec(acme, "acme-1", 1), rec(globex, "globex-1", 100))
	mustAppend(t, u, rec(globex, "globex-2", 200))
	mustAppend(t, u, rec(acme, "acme-2", 2))

	row := func(n, tokens int64) []store.UsageRow {
		return []store.UsageRow{{Day: "2026-03-01", KeyID: "key-a", Provider: "openai", Model: "gpt-a",
			Requests: n, TokensIn: tokens, TokensOut: tokens, CostMicros: tokens}}
	}
	wantRows(t, mustRollup(t, u, acme, store.UsageFilter{}), row(2, 3))
	wantRows(t, mustRollup(t, u, globex, store.UsageFilter{}), row(2, 300))
	wantRows(t, mustRollup(t, u, acme, store.UsageFilter{KeyID: "key-a"}), row(2, 3))

	for _, tt := range []struct {
		id   tenant.ID
		want []string
	}{
		{acme, []string{"acme-1", "acme-2"}},
		{globex, []string{"globex-1", "globex-2"}},
	} {
		got := mustRecords(t, u, tt.id, store.UsageFilter{}, maxUsageLimit)
		if ids := requestIDs(got); !slices.Equal(ids, tt.want) {
			t.Errorf("UsageRecords(%v) = %q, want %q", tt.id, ids, tt.want)
		}
		for _, r := range got {
			if r.Tenant != tt.id {
				t.Errorf("UsageRecords(%v) returned record %q of tenant %v", tt.id, r.RequestID, r.Tenant)
			}
		}
	}

	// Tenants whose IDs are prefixes of one another share nothing.
	mustAppend(t, u, rec(tenant.MustID("acme-corp"), "acme-corp-1", 5), rec(tenant.MustID("abc"), "abc-1", 5))
	wantRows(t, mustRollup(t, u, acme, store.UsageFilter{}), row(2, 3))
	wantNoUsage(t, u, tenant.MustID("ab"))
	wantNoUsage(t, u, tenant.MustID("acme-c"))
}

// testUsageConcurrent checks that concurrent appends are all counted, none
// of them lost to a race on the rollup row they share.
func testUsageConcurrent(t *testing.T, u store.Usage) {
	const (
		workers = 16
		appends = 50
	)
	ctx := t.Context()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range appends {
				r := store.UsageRecord{
					Time:       lastSecondOfDay1.Add(-time.Duration(w*appends+i) * time.Millisecond),
					Tenant:     acme,
					RequestID:  fmt.Sprintf("worker-%d/%d", w, i),
					KeyID:      "key-a",
					Provider:   "openai",
					Model:      "gpt-a",
					Attempts:   1,
					Status:     "ok",
					TokensIn:   int64(w*appends + i),
					TokensOut:  1,
					CostMicros: 1_000_000_007,
					Latency:    time.Duration(i+1) * time.Millisecond,
				}
				if i%10 == 0 {
					r.Status = "error"
				}
				if i%2 == 0 {
					r.TTFT = time.Duration(i+1) * time.Microsecond
				}
				if err := u.AppendUsage(ctx, []store.UsageRecord{r}); err != nil {
					t.Errorf("worker %d: AppendUsage %d: %v", w, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	const n = workers * appends
	want := []store.UsageRow{{
		Day: "2026-03-01", KeyID: "key-a", Provider: "openai", Model: "gpt-a",
		Requests: n, Errors: n / 10, TokensIn: n * (n - 1) / 2, TokensOut: n, CostMicros: n * 1_000_000_007,
		// 1 to 50 ms per worker; 1, 3, ... 49 µs, half the calls, per worker.
		LatencyMicros: workers * (appends * (appends + 1) / 2) * 1000,
		TTFTMicros:    workers * (appends / 2) * (appends / 2), TTFTRequests: n / 2,
	}}
	wantRows(t, mustRollup(t, u, acme, store.UsageFilter{}), want)
	if got := mustRecords(t, u, acme, store.UsageFilter{}, maxUsageLimit); len(got) != n {
		t.Errorf("UsageRecords = %d records, want %d", len(got), n)
	}
}

func testUsageContextCanceled(t *testing.T, u store.Usage) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	r := store.UsageRecord{Time: lastSecondOfDay1, Tenant: acme, RequestID: "cancelled", TokensIn: 1}
	if err := u.AppendUsage(ctx, []store.UsageRecord{r}); !errors.Is(err, context.Canceled) {
		t.Errorf("AppendUsage with a cancelled context = %v, want context.Canceled", err)
	}
	if _, err := u.UsageRollup(ctx, acme, store.UsageFilter{}); !errors.Is(err, context.Canceled) {
		t.Errorf("UsageRollup with a cancelled context = %v, want context.Canceled", err)
	}
	if _, err := u.UsageRecords(ctx, acme, store.UsageFilter{}, 10); !errors.Is(err, context.Canceled) {
		t.Errorf("UsageRecords with a cancelled context = %v, want context.Canceled", err)
	}
	wantNoUsage(t, u, acme)
}

// stored returns r as UsageRecords returns it: the time in UTC, truncated to
// the millisecond, and the durations truncated to the microsecond.
func stored(r store.UsageRecord) store.UsageRecord {
	r.Time = r.Time.Truncate(time.Millisecond).UTC()
	r.Latency = r.Latency.Truncate(time.Microsecond)
	r.TTFT = r.TTFT.Truncate(time.Microsecond)
	return r
}

// sameRecord reports whether a and b are equal, their times as instants.
func sameRecord(a, b store.UsageRecord) bool {
	if !a.Time.Equal(b.Time) {
		return false
	}
	a.Time, b.Time = time.Time{}, time.Time{}
	return a == b
}

func requestIDs(recs []store.UsageRecord) []string {
	var ids []string
	for _, r := range recs {
		ids = append(ids, r.RequestID)
	}
	return ids
}

func mustAppend(t *testing.T, u store.Usage, recs ...store.UsageRecord) {
	t.Helper()
	if err := u.AppendUsage(t.Context(), recs); err != nil {
		t.Fatalf("AppendUsage(%d records): %v", len(recs), err)
	}
}

func mustRollup(t *testing.T, u store.Usage, id tenant.ID, f store.UsageFilter) []store.UsageRow {
	t.Helper()
	rows, err := u.UsageRollup(t.Context(), id, f)
	if err != nil {
		t.Fatalf("UsageRollup(%v, %+v): %v", id, f, err)
	}
	return rows
}

func mustRecords(t *testing.T, u store.Usage, id tenant.ID, f store.UsageFilter, limit int) []store.UsageRecord {
	t.Helper()
	recs, err := u.UsageRecords(t.Context(), id, f, limit)
	if err != nil {
		t.Fatalf("UsageRecords(%v, %+v, %d): %v", id, f, limit, err)
	}
	return recs
}

// wantRows fails the test unless got and want hold the same rows in the
// same order.
func wantRows(t *testing.T, got, want []store.UsageRow) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	var b strings.Builder
	for i := range max(len(got), len(want)) {
		mark := " "
		var g, w any = "-", "-"
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if i >= len(got) || i >= len(want) || got[i] != want[i] {
			mark = "!"
		}
		fmt.Fprintf(&b, "\n%s %d: got  %+v\n%s %d: want %+v", mark, i, g, mark, i, w)
	}
	t.Errorf("UsageRollup = %d rows, want %d:%s", len(got), len(want), b.String())
}

// wantNoUsage fails the test if tenant id has any ledger entry or rollup row.
func wantNoUsage(t *testing.T, u store.Usage, id tenant.ID) {
	t.Helper()
	if got := mustRecords(t, u, id, store.UsageFilter{}, maxUsageLimit); len(got) != 0 {
		t.Errorf("UsageRecords(%v) = %q, want none", id, requestIDs(got))
	}
	if got := mustRollup(t, u, id, store.UsageFilter{}); len(got) != 0 {
		t.Errorf("UsageRollup(%v) = %+v, want none", id, got)
	}
}
