package httpapi

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tenant"
	"github.com/crispy-enigma/crispy/internal/tools"
)

// memAudit keeps audit records in memory.
type memAudit struct {
	mu   sync.Mutex
	recs []store.AuditRecord
}

func (a *memAudit) AppendAudit(_ context.Context, rec store.AuditRecord) (int64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	rec.ID = int64(len(a.recs) + 1)
	a.recs = append(a.recs, rec)
	return rec.ID, nil
}

func (a *memAudit) AuditRecords(_ context.Context, t tenant.ID, f store.AuditFilter) ([]store.AuditRecord, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []store.AuditRecord
	for i := len(a.recs) - 1; i >= 0 && len(out) < f.Limit; i-- {
		if r := a.recs[i]; r.Tenant == t && (f.Before == 0 || r.ID < f.Before) {
			out = append(out, r)
		}
	}
	return out, nil
}

func (a *memAudit) DeleteAuditBefore(_ context.Context, t tenant.ID, before time.Time) (int64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := len(a.recs)
	a.recs = slices.DeleteFunc(a.recs, func(r store.AuditRecord) bool { return r.Tenant == t && r.Time.Before(before) })
	return int64(n - len(a.recs)), nil
}

func (a *memAudit) records() []store.AuditRecord {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.recs)
}

// TestToolTimeoutOverHTTP runs a tool that outlives its timeout: the
// caller gets 504 tool_timeout in the envelope, and the audit says so.
func TestToolTimeoutOverHTTP(t *testing.T) {
	ran := make(chan struct{}, 1)
	reg := tools.MustRegistry(&tools.Tool{
		Name:    "summarize", // acme enables it
		Args:    json.RawMessage(`{"type":"object"}`),
		Result:  json.RawMessage(`{"type":"object"}`),
		Scopes:  []tenant.Scope{tenant.ScopeTools},
		Timeout: 20 * time.Millisecond,
		Run: func(ctx context.Context, _ tenant.Caller, _ json.RawMessage) (any, error) {
			ran <- struct{}{}
			<-ctx.Done()
			return nil, ctx.Err()
		},
	})
	audit := &memAudit{}
	ts := New(Options{Registry: func() *tenant.Registry { return registry(t) }, Tools: tools.New(tools.Options{Registry: reg, Audit: audit}), Audit: audit})
	res := (&testServer{Server: ts}).do(t, "POST", "/tools/summarize/invoke", `{"args":{}}`, "Authorization", "Bearer ck_dev_acme", "Content-Type", "application/json")
	if res.status != 504 || res.env.Error == nil || res.env.Error.Code != api.CodeToolTimeout || res.env.Error.Details["timeoutMs"] != float64(20) {
		t.Fatalf("response %d %s", res.status, res.raw)
	}
	<-ran
	if recs := audit.records(); len(recs) != 1 || recs[0].Outcome != tools.OutcomeTimeout || recs[0].ErrorCode != string(api.CodeToolTimeout) {
		t.Errorf("audit = %+v", recs)
	}
	// The audit log pages with an opaque cursor.
	for range 3 {
		_, _ = audit.AppendAudit(t.Context(), store.AuditRecord{Tenant: tenant.MustID("acme"), Tool: "x", Outcome: "ok"})
	}
	page := (&testServer{Server: ts}).do(t, "GET", "/audit?limit=3", "", "Authorization", "Bearer ck_dev_acme")
	var p api.AuditPage
	_ = json.Unmarshal(page.env.Data, &p)
	if page.status != 200 || len(p.Records) != 3 || p.Next == "" || p.Records[0].ID != "4" {
		t.Fatalf("first page %d %s", page.status, page.raw)
	}
	next := (&testServer{Server: ts}).do(t, "GET", "/audit?limit=3&cursor="+p.Next, "", "Authorization", "Bearer ck_dev_acme")
	var p2 api.AuditPage
	_ = json.Unmarshal(next.env.Data, &p2)
	if next.status != 200 || len(p2.Records) != 1 || p2.Records[0].ID != "1" || p2.Next != "" {
		t.Errorf("second page %d %s", next.status, next.raw)
	}
}
