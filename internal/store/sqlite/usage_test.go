package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/store/sqlite"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

func TestUsageDurability(t *testing.T) {
	ctx := t.Context()
	path := dbPath(t)
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	recs := []store.UsageRecord{
		{Time: at, Tenant: acme, RequestID: "a1", KeyID: "key-a", Provider: "openai", Model: "gpt-a",
			Attempts: 1, Status: "ok", Latency: 1500 * time.Microsecond, TokensIn: 10, TokensOut: 20, CostMicros: 30},
		{Time: at.Add(time.Second), Tenant: acme, RequestID: "a2", KeyID: "key-a", Provider: "openai", Model: "gpt-a",
			Attempts: 2, Fallback: true, Status: "error", ErrorKind: "timeout", TokensIn: 1},
		{Time: at, Tenant: globex, RequestID: "g1", KeyID: "key-a", Provider: "openai", Model: "gpt-a",
			Attempts: 1, Status: "ok", CacheHit: true, TokensIn: 5},
	}

	db := mustOpen(t, path, sqlite.Options{})
	if err := db.Usage().AppendUsage(ctx, recs); err != nil {
		t.Fatalf("AppendUsage: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	usage := openDB(t, path, sqlite.Options{}).Usage()
	got, err := usage.UsageRecords(ctx, acme, store.UsageFilter{}, 10)
	if err != nil {
		t.Fatalf("after reopen: UsageRecords: %v", err)
	}
	if len(got) != 2 || got[0] != recs[0] || got[1] != recs[1] {
		t.Errorf("after reopen: UsageRecords(acme) =\n%+v\nwant\n%+v", got, recs[:2])
	}
	tests := []struct {
		id   tenant.ID
		want store.UsageRow
	}{
		{acme, store.UsageRow{Day: "2026-03-01", KeyID: "key-a", Provider: "openai", Model: "gpt-a",
			Requests: 2, Errors: 1, Fallbacks: 1, TokensIn: 11, TokensOut: 20, CostMicros: 30, LatencyMicros: 1500}},
		{globex, store.UsageRow{Day: "2026-03-01", KeyID: "key-a", Provider: "openai", Model: "gpt-a",
			Requests: 1, CacheHits: 1, TokensIn: 5}},
	}
	for _, tt := range tests {
		rows, err := usage.UsageRollup(ctx, tt.id, store.UsageFilter{})
		if err != nil {
			t.Fatalf("after reopen: UsageRollup(%v): %v", tt.id, err)
		}
		if len(rows) != 1 || rows[0] != tt.want {
			t.Errorf("after reopen: UsageRollup(%v) = %+v, want [%+v]", tt.id, rows, tt.want)
		}
	}
}

// TestUsageInvalid covers the checks of AppendUsage beyond those of the
// conformance suite, and the index that its errors name.
func TestUsageInvalid(t *testing.T) {
	usage := openDB(t, dbPath(t), sqlite.Options{}).Usage()
	valid := store.UsageRecord{Time: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), Tenant: acme, Status: "ok"}
	tests := []struct {
		name string
		edit func(r *store.UsageRecord)
		why  string
	}{
		{"zero tenant", func(r *store.UsageRecord) { r.Tenant = tenant.ID{} }, "tenant id is required"},
		{"negative attempts", func(r *store.UsageRecord) { r.Attempts = -1 }, "attempts is negative"},
		{"negative latency", func(r *store.UsageRecord) { r.Latency = -time.Microsecond }, "latency is negative"},
		{"negative ttft", func(r *store.UsageRecord) { r.TTFT = -1 }, "ttft is negative"},
		{"negative tokens in", func(r *store.UsageRecord) { r.TokensIn = math.MinInt64 }, "tokens in is negative"},
		{"negative tokens out", func(r *store.UsageRecord) { r.TokensOut = -1 }, "tokens out is negative"},
		{"negative cost", func(r *store.UsageRecord) { r.CostMicros = -1 }, "cost is negative"},
		{"year 0", func(r *store.UsageRecord) { r.Time = time.Date(0, 12, 31, 23, 0, 0, 0, time.UTC) }, "time is outside"},
		{"year 10000", func(r *store.UsageRecord) { r.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, "time is outside"},
		{"year 10000 in UTC", func(r *store.UsageRecord) {
			r.Time = time.Date(9999, 12, 31, 23, 30, 0, 0, time.FixedZone("", -3600))
		}, "time is outside"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := valid
			tt.edit(&bad)
			err := usage.AppendUsage(t.Context(), []store.UsageRecord{valid, valid, bad})
			if !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("AppendUsage = %v, want ErrInvalid", err)
			}
			if msg := err.Error(); !strings.Contains(msg, "record 2: "+tt.why) {
				t.Errorf("AppendUsage = %q, want it to name record 2 and say %q", msg, tt.why)
			}
		})
	}
	recs, err := usage.UsageRecords(t.Context(), acme, store.UsageFilter{}, 10)
	if err != nil || len(recs) != 0 {
		t.Errorf("UsageRecords after the rejected batches = %d records, %v; want none", len(recs), err)
	}

	// The years 1 and 9999 are accepted, the zero time included.
	edges := []store.UsageRecord{valid, valid, valid}
	edges[0].Time = time.Time{}
	edges[1].Time = time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.UTC)
	edges[2].Time = time.Date(1, 1, 1, 0, 30, 0, 0, time.FixedZone("", -3600))
	if err := usage.AppendUsage(t.Context(), edges); err != nil {
		t.Fatalf("AppendUsage(years 1 and 9999): %v", err)
	}
	rows, err := usage.UsageRollup(t.Context(), acme, store.UsageFilter{})
	if err != nil {
		t.Fatalf("UsageRollup: %v", err)
	}
	var days []string
	for _, r := range rows {
		days = append(days, r.Day)
	}
	if got, want := strings.Join(days, " "), "0001-01-01 9999-12-31"; got != want {
		t.Errorf("rollup days = %q, want %q", got, want)
	}
	// Filters beyond those years select all days or none.
	far := []struct {
		name string
		f    store.UsageFilter
		want int
	}{
		{"from before year 1", store.UsageFilter{From: time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC)}, 2},
		{"to after year 9999", store.UsageFilter{To: time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC)}, 2},
		{"from after year 9999", store.UsageFilter{From: time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC)}, 0},
		{"to before year 1", store.UsageFilter{To: time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC)}, 0},
	}
	for _, tt := range far {
		rows, err := usage.UsageRollup(t.Context(), acme, tt.f)
		if err != nil || len(rows) != tt.want {
			t.Errorf("UsageRollup(%s) = %d rows, %v; want %d", tt.name, len(rows), err, tt.want)
		}
	}
}

// TestUsageOverflow checks that a rollup sum that would overflow an int64
// fails the batch instead of corrupting the row.
func TestUsageOverflow(t *testing.T) {
	ctx := t.Context()
	usage := openDB(t, dbPath(t), sqlite.Options{}).Usage()
	rec := store.UsageRecord{Time: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), Tenant: acme, RequestID: "big", TokensIn: math.MaxInt64}
	if err := usage.AppendUsage(ctx, []store.UsageRecord{rec}); err != nil {
		t.Fatalf("AppendUsage(MaxInt64 tokens): %v", err)
	}
	more := rec
	more.RequestID, more.TokensIn = "more", 1
	if err := usage.AppendUsage(ctx, []store.UsageRecord{more}); err == nil {
		t.Fatal("AppendUsage overflowing the rollup succeeded, want an error")
	}
	rows, err := usage.UsageRollup(ctx, acme, store.UsageFilter{})
	if err != nil {
		t.Fatalf("UsageRollup after the overflow: %v", err)
	}
	if len(rows) != 1 || rows[0].Requests != 1 || rows[0].TokensIn != math.MaxInt64 {
		t.Errorf("UsageRollup after the overflow = %+v, want the first record alone", rows)
	}
	recs, err := usage.UsageRecords(ctx, acme, store.UsageFilter{}, 10)
	if err != nil || len(recs) != 1 {
		t.Errorf("UsageRecords after the overflow = %d records, %v; want 1", len(recs), err)
	}

	// Sums that overflow within one batch are refused before it is written.
	half := rec
	half.Tenant, half.TokensIn = globex, math.MaxInt64/2+1
	err = usage.AppendUsage(ctx, []store.UsageRecord{half, half})
	if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "record 1:") {
		t.Errorf("AppendUsage of a batch whose sums overflow = %v, want ErrInvalid naming record 1", err)
	}
	if rows, err := usage.UsageRollup(ctx, globex, store.UsageFilter{}); err != nil || len(rows) != 0 {
		t.Errorf("UsageRollup(globex) after the overflow = %+v, %v; want none", rows, err)
	}
}

// BenchmarkAppendUsage appends batches of usage records; ns/record is the
// time per record, the commit and its fsync shared by the batch.
func BenchmarkAppendUsage(b *testing.B) {
	for _, size := range []int{1, 64, 512} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			ctx := b.Context()
			usage := openDB(b, filepath.Join(b.TempDir(), "bench.db"), sqlite.Options{}).Usage()
			start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
			batch := make([]store.UsageRecord, size)
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				for i := range batch {
					batch[i] = store.UsageRecord{
						Time:       start.Add(time.Duration(n) * time.Second),
						Tenant:     acme,
						RequestID:  fmt.Sprintf("req-%d", n),
						KeyID:      fmt.Sprintf("key-%d", n%4),
						Route:      "chat",
						Provider:   "openai",
						Model:      fmt.Sprintf("model-%d", n%3),
						Attempts:   1,
						Status:     "ok",
						Latency:    time.Duration(n) * time.Microsecond,
						TTFT:       time.Millisecond,
						TokensIn:   int64(n % 1000),
						TokensOut:  int64(n % 500),
						CostMicros: int64(n % 10000),
					}
					n++
				}
				if err := usage.AppendUsage(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/record")
		})
	}
}

// TestUsageCancelDuringBatch cancels a large batch while it is being written:
// either all of it is recorded or none, and the DB stays usable.
func TestUsageCancelDuringBatch(t *testing.T) {
	const size = 20000
	usage := openDB(t, dbPath(t), sqlite.Options{}).Usage()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	batch := make([]store.UsageRecord, size)
	for i := range batch {
		batch[i] = store.UsageRecord{Time: at, Tenant: acme, RequestID: fmt.Sprint(i), KeyID: "key-a", TokensIn: 1}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Millisecond)
	defer cancel()
	err := usage.AppendUsage(ctx, batch)
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("AppendUsage with a deadline = %v, want nil or context.DeadlineExceeded", err)
	}
	var want int64
	if err == nil {
		t.Log("the batch was written before the deadline")
		want = size
	}
	one := batch[:1]
	if err := usage.AppendUsage(t.Context(), one); err != nil {
		t.Fatalf("AppendUsage after the deadline: %v", err)
	}
	rows, err := usage.UsageRollup(t.Context(), acme, store.UsageFilter{})
	if err != nil || len(rows) != 1 {
		t.Fatalf("UsageRollup = %+v, %v; want one row", rows, err)
	}
	if rows[0].Requests != want+1 || rows[0].TokensIn != want+1 {
		t.Errorf("UsageRollup = %d requests, %d tokens in; want %d of each", rows[0].Requests, rows[0].TokensIn, want+1)
	}
}
