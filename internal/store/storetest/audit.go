package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// TestAudit runs the Audit conformance suite against the store returned by
// open. Each subtest calls open once and expects an empty store; open must
// arrange for the store to be closed with t.Cleanup.
func TestAudit(t *testing.T, open func(t *testing.T) store.Audit) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, a store.Audit)
	}{
		{"RoundTrip", testAuditRoundTrip},
		{"NewestFirst", testAuditNewestFirst},
		{"Pages", testAuditPages},
		{"Filter", testAuditFilter},
		{"Invalid", testAuditInvalid},
		{"TenantIsolation", testAuditTenantIsolation},
		{"Concurrent", testAuditConcurrent},
		{"Retention", testAuditRetention},
		{"TenantIDs", testAuditTenantIDs},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, open(t))
		})
	}
}

var auditT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func auditRec(t tenant.ID, i int, tool string) store.AuditRecord {
	return store.AuditRecord{
		Time: auditT0.Add(time.Duration(i) * time.Second), Tenant: t, RequestID: fmt.Sprintf("req-%d", i), KeyID: "k",
		Tool: tool, ArgsSHA256: fmt.Sprintf("%064x", i), Outcome: "ok", Latency: time.Duration(i) * time.Millisecond,
	}
}

func mustAppendAudit(t *testing.T, a store.Audit, rec store.AuditRecord) int64 {
	t.Helper()
	id, err := a.AppendAudit(t.Context(), rec)
	if err != nil {
		t.Fatalf("AppendAudit: %v", err)
	}
	return id
}

func mustAudit(t *testing.T, a store.Audit, id tenant.ID, f store.AuditFilter) []store.AuditRecord {
	t.Helper()
	if f.Limit == 0 {
		f.Limit = store.MaxAuditLimit
	}
	recs, err := a.AuditRecords(t.Context(), id, f)
	if err != nil {
		t.Fatalf("AuditRecords: %v", err)
	}
	return recs
}

// testAuditRoundTrip checks every field, with the time in UTC at
// millisecond precision and the latency at microsecond precision.
func testAuditRoundTrip(t *testing.T, a store.Audit) {
	cet := time.FixedZone("CET", 3600)
	in := store.AuditRecord{
		Time: time.Date(2026, 3, 1, 13, 34, 56, 789_654_321, cet), Tenant: acme, RequestID: "req-1", KeyID: "dev",
		Tool: "ingest_docs", ArgsSHA256: "ab12", Outcome: "denied", ErrorCode: "forbidden",
		Latency: 1234567 * time.Nanosecond, FromModel: true,
	}
	id := mustAppendAudit(t, a, in)
	if id <= 0 {
		t.Errorf("AppendAudit returned ID %d, want > 0", id)
	}
	got := mustAudit(t, a, acme, store.AuditFilter{})
	if len(got) != 1 {
		t.Fatalf("AuditRecords = %d records, want 1", len(got))
	}
	want := in
	want.ID = id
	want.Time = time.Date(2026, 3, 1, 12, 34, 56, 789_000_000, time.UTC)
	want.Latency = 1234 * time.Microsecond
	if got[0] != want {
		t.Errorf("round trip:\n got %+v\nwant %+v", got[0], want)
	}
}

func testAuditNewestFirst(t *testing.T, a store.Audit) {
	var ids []int64
	for i := range 5 {
		ids = append(ids, mustAppendAudit(t, a, auditRec(acme, i, "summarize")))
	}
	got := mustAudit(t, a, acme, store.AuditFilter{})
	if len(got) != 5 {
		t.Fatalf("%d records, want 5", len(got))
	}
	for i, r := range got {
		if want := ids[4-i]; r.ID != want || r.RequestID != fmt.Sprintf("req-%d", 4-i) {
			t.Errorf("record %d: ID %d %s, want ID %d (newest first)", i, r.ID, r.RequestID, want)
		}
	}
}

// testAuditPages walks the log in pages with Before and checks that every
// record is seen exactly once.
func testAuditPages(t *testing.T, a store.Audit) {
	for i := range 7 {
		mustAppendAudit(t, a, auditRec(acme, i, "summarize"))
	}
	seen := map[int64]bool{}
	var before int64
	for pages := 0; ; pages++ {
		if pages > 4 {
			t.Fatal("more than 4 pages of 2 for 7 records")
		}
		page := mustAudit(t, a, acme, store.AuditFilter{Before: before, Limit: 2})
		if len(page) == 0 {
			break
		}
		for _, r := range page {
			if seen[r.ID] {
				t.Errorf("record %d seen twice", r.ID)
			}
			seen[r.ID] = true
		}
		before = page[len(page)-1].ID
	}
	if len(seen) != 7 {
		t.Errorf("pages held %d records, want 7", len(seen))
	}
}

func testAuditFilter(t *testing.T, a store.Audit) {
	tools := []string{"summarize", "ingest_docs", "summarize", "tag_chunk", "summarize"}
	for i, tool := range tools {
		mustAppendAudit(t, a, auditRec(acme, i, tool))
	}
	if got := mustAudit(t, a, acme, store.AuditFilter{Tool: "summarize"}); len(got) != 3 {
		t.Errorf("tool filter: %d records, want 3", len(got))
	} else {
		for _, r := range got {
			if r.Tool != "summarize" {
				t.Errorf("tool filter returned %s", r.Tool)
			}
		}
	}
	// [t0+1s, t0+3s): records 1 and 2.
	got := mustAudit(t, a, acme, store.AuditFilter{From: auditT0.Add(time.Second), To: auditT0.Add(3 * time.Second)})
	if len(got) != 2 || got[0].RequestID != "req-2" || got[1].RequestID != "req-1" {
		t.Errorf("time filter = %+v, want req-2, req-1", got)
	}
	got = mustAudit(t, a, acme, store.AuditFilter{From: auditT0.Add(time.Second), To: auditT0.Add(3 * time.Second), Tool: "summarize"})
	if len(got) != 1 || got[0].RequestID != "req-2" {
		t.Errorf("time and tool filter = %+v, want req-2", got)
	}
	if got := mustAudit(t, a, acme, store.AuditFilter{Tool: "nope"}); len(got) != 0 {
		t.Errorf("unknown tool filter: %d records", len(got))
	}
}

func testAuditInvalid(t *testing.T, a store.Audit) {
	ctx := t.Context()
	if _, err := a.AppendAudit(ctx, store.AuditRecord{Time: auditT0, Tool: "x"}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("AppendAudit without tenant = %v, want ErrInvalid", err)
	}
	bad := auditRec(acme, 1, "x")
	bad.Latency = -1
	if _, err := a.AppendAudit(ctx, bad); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("AppendAudit with negative latency = %v, want ErrInvalid", err)
	}
	for _, f := range []store.AuditFilter{{Limit: 0}, {Limit: store.MaxAuditLimit + 1}, {Limit: 1, Before: -1}} {
		if _, err := a.AuditRecords(ctx, acme, f); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("AuditRecords(%+v) = %v, want ErrInvalid", f, err)
		}
	}
	if _, err := a.AuditRecords(ctx, tenant.ID{}, store.AuditFilter{Limit: 1}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("AuditRecords without tenant = %v, want ErrInvalid", err)
	}
	if got := mustAudit(t, a, acme, store.AuditFilter{}); len(got) != 0 {
		t.Errorf("invalid appends wrote %d records", len(got))
	}
}

func testAuditTenantIsolation(t *testing.T, a store.Audit) {
	mustAppendAudit(t, a, auditRec(acme, 1, "summarize"))
	mustAppendAudit(t, a, auditRec(globex, 2, "summarize"))
	for _, id := range []tenant.ID{acme, globex} {
		got := mustAudit(t, a, id, store.AuditFilter{})
		if len(got) != 1 || got[0].Tenant != id {
			t.Errorf("%s sees %+v, want its own record only", id, got)
		}
	}
}

func testAuditConcurrent(t *testing.T, a store.Audit) {
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			if _, err := a.AppendAudit(t.Context(), auditRec(acme, i, "summarize")); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent AppendAudit: %v", err)
	}
	got := mustAudit(t, a, acme, store.AuditFilter{})
	if len(got) != n {
		t.Errorf("%d records after %d concurrent appends", len(got), n)
	}
	for i := 1; i < len(got); i++ {
		if got[i].ID >= got[i-1].ID {
			t.Errorf("IDs not decreasing at %d: %d then %d", i, got[i-1].ID, got[i].ID)
		}
	}
}

// testAuditRetention checks that DeleteAuditBefore deletes exactly the
// tenant's records older than the time, and no other tenant's.
func testAuditRetention(t *testing.T, a store.Audit) {
	ctx := t.Context()
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range 6 {
		for _, tid := range []tenant.ID{acme, globex} {
			rec := store.AuditRecord{Tenant: tid, Time: base.Add(time.Duration(i) * time.Hour), Tool: "summarize", Outcome: "ok", RequestID: "r"}
			if _, err := a.AppendAudit(ctx, rec); err != nil {
				t.Fatal(err)
			}
		}
	}
	n, err := a.DeleteAuditBefore(ctx, acme, base.Add(2*time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("DeleteAuditBefore = %d, %v; want 2", n, err)
	}
	left, err := a.AuditRecords(ctx, acme, store.AuditFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 4 || left[len(left)-1].Time.Before(base.Add(2*time.Hour)) {
		t.Errorf("acme keeps %d records, the oldest %v; want 4 from %v", len(left), left[len(left)-1].Time, base.Add(2*time.Hour))
	}
	if other, _ := a.AuditRecords(ctx, globex, store.AuditFilter{Limit: 100}); len(other) != 6 {
		t.Errorf("globex keeps %d records, want all 6", len(other))
	}
	if n, err := a.DeleteAuditBefore(ctx, acme, base.Add(2*time.Hour)); err != nil || n != 0 {
		t.Errorf("again = %d, %v; want 0", n, err)
	}
	if _, err := a.DeleteAuditBefore(ctx, tenant.ID{}, base); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("zero tenant = %v, want ErrInvalid", err)
	}
}

// testAuditTenantIDs interleaves the records of two tenants, one at a time
// and then concurrently, and checks that each tenant's IDs are 1, 2, 3, ...
// with no gap, so that neither the IDs nor the cursors made of them say
// anything about another tenant's calls; and that retention never makes an
// ID come back.
func testAuditTenantIDs(t *testing.T, a store.Audit) {
	want := map[tenant.ID]int64{}
	check := func(step string) {
		t.Helper()
		for _, id := range []tenant.ID{acme, globex} {
			got := mustAudit(t, a, id, store.AuditFilter{})
			if int64(len(got)) != want[id] {
				t.Fatalf("%s: %s has %d records, want %d", step, id, len(got), want[id])
			}
			for i, r := range got {
				if wantID := want[id] - int64(i); r.ID != wantID {
					t.Fatalf("%s: %s record %d has ID %d, want %d (IDs 1 to %d, newest first)", step, id, i, r.ID, wantID, want[id])
				}
			}
		}
	}
	// One at a time, in an uneven interleaving: acme globex globex acme ...
	for i := range 12 {
		id := acme
		if i%3 != 0 {
			id = globex
		}
		want[id]++
		if got := mustAppendAudit(t, a, auditRec(id, i, "summarize")); got != want[id] {
			t.Errorf("AppendAudit %d for %s = ID %d, want %d", i, id, got, want[id])
		}
	}
	check("interleaved")

	// Both tenants at once.
	const n = 20
	var wg sync.WaitGroup
	for i := range 2 * n {
		id := acme
		if i%2 == 1 {
			id = globex
		}
		wg.Go(func() {
			if _, err := a.AppendAudit(t.Context(), auditRec(id, 100+i, "summarize")); err != nil {
				t.Errorf("concurrent AppendAudit for %s: %v", id, err)
			}
		})
	}
	wg.Wait()
	want[acme] += n
	want[globex] += n
	check("concurrent")

	// Retention deletes all of acme's records; its next ID still follows
	// the last one it was given.
	if _, err := a.DeleteAuditBefore(t.Context(), acme, auditT0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := mustAudit(t, a, acme, store.AuditFilter{}); len(got) != 0 {
		t.Fatalf("after retention acme keeps %d records, want 0", len(got))
	}
	next := want[acme] + 1
	if got := mustAppendAudit(t, a, auditRec(acme, 3600, "summarize")); got != next {
		t.Errorf("AppendAudit after retention = ID %d, want %d (IDs are never reused)", got, next)
	}
}
