package tools_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/store/sqlite"
	"github.com/crispy-enigma/crispy/internal/tenant"
	"github.com/crispy-enigma/crispy/internal/tools"
	"github.com/crispy-enigma/crispy/internal/tools/builtin"
)

func openAudit(t testing.TB) store.Audit {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "audit.db"), sqlite.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db.Audit()
}

func newTenant(id string, enabled ...string) *tenant.Tenant {
	cfg := tenant.Config{ID: id, Tools: tenant.Tools{Enabled: enabled, Intents: []string{"billing", "other"}}}.WithDefaults()
	return &tenant.Tenant{ID: tenant.MustID(id), Config: &cfg}
}

func callerOf(t *tenant.Tenant, scopes ...tenant.Scope) tenant.Caller {
	return tenant.Caller{Tenant: t, Key: &tenant.Key{ID: "key", Scopes: scopes}, RequestID: "req-1"}
}

// counted wraps the builtin tools so that every run is counted (and
// ingest_docs, which needs a knowledge base, does nothing else).
func counted(t *testing.T) (*tools.Registry, map[string]int, *sync.Mutex) {
	t.Helper()
	var mu sync.Mutex
	runs := map[string]int{}
	ts := builtin.Tools(builtin.Deps{})
	for _, tool := range ts {
		run := tool.Run
		name := tool.Name
		tool.Run = func(ctx context.Context, c tenant.Caller, args json.RawMessage) (any, error) {
			mu.Lock()
			runs[name]++
			mu.Unlock()
			if name == builtin.IngestDocs {
				return map[string]any{"results": []any{}}, nil
			}
			return run(ctx, c, args)
		}
	}
	reg, err := tools.NewRegistry(ts...)
	if err != nil {
		t.Fatal(err)
	}
	return reg, runs, &mu
}

// validArgs are arguments that pass each builtin tool's schema.
var validArgs = map[string]string{
	builtin.Summarize:       `{"text":"The quick brown fox jumps over the lazy dog. It was not amused at all."}`,
	builtin.ExtractEntities: `{"text":"Mail jane@example.com"}`,
	builtin.ClassifyIntent:  `{"text":"please refund my invoice"}`,
	builtin.TagChunk:        `{"text":"Bread needs flour and water."}`,
	builtin.IngestDocs:      `{"documents":[{"id":"doc-1","text":"hello world"}]}`,
}

// required is what each builtin tool requires, written out here rather
// than read from the code under test.
var required = map[string][]tenant.Scope{
	builtin.Summarize:       {tenant.ScopeTools},
	builtin.ExtractEntities: {tenant.ScopeTools},
	builtin.ClassifyIntent:  {tenant.ScopeTools},
	builtin.TagChunk:        {tenant.ScopeTools},
	builtin.IngestDocs:      {tenant.ScopeTools, tenant.ScopeToolsWrite, tenant.ScopeDocumentsWrite},
}

var allFive = []string{builtin.Summarize, builtin.ExtractEntities, builtin.ClassifyIntent, builtin.TagChunk, builtin.IngestDocs}

// TestPermissionMatrix invokes every tool name, known and not, for every
// tenant and set of scopes, and checks that exactly the allowed calls run,
// that refusals carry the right code, and that each call is audited.
func TestPermissionMatrix(t *testing.T) {
	reg, runs, mu := counted(t)
	audit := openAudit(t)
	d := tools.New(tools.Options{Registry: reg, Audit: audit})
	tenants := []*tenant.Tenant{
		newTenant("acme", allFive...),
		newTenant("globex", builtin.Summarize),
		newTenant("initech"),
	}
	scopeSets := [][]tenant.Scope{
		nil,
		{tenant.ScopeChat, tenant.ScopeSearch},
		{tenant.ScopeTools},
		{tenant.ScopeTools, tenant.ScopeToolsWrite},
		{tenant.ScopeTools, tenant.ScopeDocumentsWrite},
		{tenant.ScopeToolsWrite, tenant.ScopeDocumentsWrite},
		{tenant.ScopeTools, tenant.ScopeToolsWrite, tenant.ScopeDocumentsWrite},
		tenant.Scopes,
	}
	names := append(slices.Clone(allFive), "unknown_tool", "", "SUMMARIZE", "summarize ", "ingest_docs\x00", strings.Repeat("x", 200))
	invocations := map[string]int{}
	wantRuns := map[string]int{}
	for _, tn := range tenants {
		for _, scopes := range scopeSets {
			for _, name := range names {
				for _, fromModel := range []bool{false, true} {
					c := callerOf(tn, scopes...)
					args := validArgs[name]
					if args == "" {
						args = `{"text":"x"}`
					}
					_, err := d.Invoke(t.Context(), c, name, []byte(args), fromModel)
					invocations[tn.ID.String()]++
					enabled := slices.Contains(tn.Config.Tools.Enabled, name)
					held := required[name] != nil
					for _, s := range required[name] {
						held = held && slices.Contains(scopes, s)
					}
					var want api.ErrorCode
					switch {
					case !enabled:
						want = api.CodeNotFound
					case !held:
						want = api.CodeForbidden
					default:
						wantRuns[name]++
					}
					got := api.ErrorCode("")
					if err != nil {
						got = api.AsError(err).Code
					}
					if got != want {
						t.Errorf("%s %v %q: error %v, want code %q", tn.ID, scopes, name, err, want)
					}
				}
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, name := range allFive {
		if runs[name] != wantRuns[name] {
			t.Errorf("%s ran %d times, want %d", name, runs[name], wantRuns[name])
		}
	}
	if len(runs) > len(allFive) {
		t.Errorf("unexpected runs: %v", runs)
	}
	// Every invocation is audited, in its own tenant.
	for _, tn := range tenants {
		recs, err := audit.AuditRecords(t.Context(), tn.ID, store.AuditFilter{Limit: store.MaxAuditLimit})
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != invocations[tn.ID.String()] {
			t.Errorf("%s: %d audit records for %d invocations", tn.ID, len(recs), invocations[tn.ID.String()])
		}
		for _, r := range recs {
			if r.Tenant != tn.ID || len(r.Tool) > 64 {
				t.Errorf("record %+v", r)
			}
			if (r.Outcome == tools.OutcomeOK) != (r.ErrorCode == "") {
				t.Errorf("record outcome %s with error code %q", r.Outcome, r.ErrorCode)
			}
		}
	}
}

func TestPermitted(t *testing.T) {
	reg, _, _ := counted(t)
	d := tools.New(tools.Options{Registry: reg, Audit: openAudit(t)})
	acme := newTenant("acme", allFive...)
	for _, tt := range []struct {
		c    tenant.Caller
		want []string
	}{
		{callerOf(acme, tenant.Scopes...), []string{"classify_intent", "extract_entities", "ingest_docs", "summarize", "tag_chunk"}},
		{callerOf(acme, tenant.ScopeTools), []string{"classify_intent", "extract_entities", "summarize", "tag_chunk"}},
		{callerOf(acme, tenant.ScopeChat), nil},
		{callerOf(newTenant("globex", "summarize"), tenant.Scopes...), []string{"summarize"}},
		{tenant.Caller{Tenant: acme}, nil}, // anonymous: no key, no tools
	} {
		var got []string
		for _, tool := range d.Permitted(tt.c) {
			got = append(got, tool.Name)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("Permitted(%s %v) = %v, want %v", tt.c.Tenant.ID, tt.c.Scopes(), got, tt.want)
		}
		if mt := d.ModelTools(tt.c); len(mt) != len(tt.want) {
			t.Errorf("ModelTools = %d tools, want %d", len(mt), len(tt.want))
		}
	}
}

func TestInvalidArgs(t *testing.T) {
	reg, runs, mu := counted(t)
	audit := openAudit(t)
	d := tools.New(tools.Options{Registry: reg, Audit: audit})
	c := callerOf(newTenant("acme", allFive...), tenant.Scopes...)
	for _, tt := range []struct {
		tool, args string
		paths      []string
	}{
		{"summarize", `{"text": 5, "maxSentences": 0, "colour": "red"}`, []string{"/", "/maxSentences", "/text"}},
		{"summarize", `{}`, []string{"/"}},
		{"summarize", `[]`, []string{"/"}},
		{"summarize", `{"text": ""}`, []string{"/text"}},
		{"summarize", `{`, []string{"/"}},
		{"summarize", `{"text":"a"} {"text":"b"}`, []string{"/"}},
		{"extract_entities", `{"text": "x", "types": ["person", "person", "spaceship"]}`, []string{"/types", "/types/2"}},
		{"tag_chunk", `{"text": "x", "markdown": "y"}`, []string{"/"}},
		{"ingest_docs", `{"documents": [{"text": "x"}, {"id": "../etc", "html": ""}]}`, []string{"/documents/1/html", "/documents/1/id"}},
		{"ingest_docs", `{"documents": []}`, []string{"/documents"}},
	} {
		t.Run(tt.tool+tt.args, func(t *testing.T) {
			_, err := d.Invoke(t.Context(), c, tt.tool, []byte(tt.args), false)
			e := api.AsError(err)
			if e.Code != api.CodeInvalidRequest {
				t.Fatalf("error %v, want invalid_request", err)
			}
			var paths []string
			for _, p := range e.Details["errors"].([]tools.Problem) {
				paths = append(paths, p.Path)
			}
			for _, want := range tt.paths {
				if !slices.Contains(paths, want) {
					t.Errorf("paths %v lack %s (%s)", paths, want, e.Message)
				}
			}
		})
	}
	mu.Lock()
	defer mu.Unlock()
	if len(runs) != 0 {
		t.Errorf("invalid arguments ran tools: %v", runs)
	}
	recs, _ := audit.AuditRecords(t.Context(), c.Tenant.ID, store.AuditFilter{Limit: 100})
	for _, r := range recs {
		if r.Outcome != tools.OutcomeInvalid || r.ErrorCode != string(api.CodeInvalidRequest) {
			t.Errorf("audit %+v, want invalid/invalid_request", r)
		}
	}
}

// testTool is a tool with a plain schema, for the dispatcher's own rules.
func testTool(name string, timeout time.Duration, run func(ctx context.Context) (any, error)) *tools.Tool {
	return &tools.Tool{
		Name:    name,
		Args:    json.RawMessage(`{"type":"object"}`),
		Result:  json.RawMessage(`{"type":"object","required":["ok"],"properties":{"ok":{"const":true}}}`),
		Scopes:  []tenant.Scope{tenant.ScopeTools},
		Timeout: timeout,
		Run: func(ctx context.Context, _ tenant.Caller, _ json.RawMessage) (any, error) {
			return run(ctx)
		},
	}
}

func TestTimeoutBadResultAndFailure(t *testing.T) {
	reg := tools.MustRegistry(
		testTool("slow", 20*time.Millisecond, func(ctx context.Context) (any, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}),
		testTool("liar", 0, func(context.Context) (any, error) { return map[string]any{"ok": "yes"}, nil }),
		testTool("broken", 0, func(context.Context) (any, error) { return nil, errors.New("disk on fire") }),
		testTool("fine", 0, func(context.Context) (any, error) { return map[string]any{"ok": true}, nil }),
	)
	audit := openAudit(t)
	d := tools.New(tools.Options{Registry: reg, Audit: audit})
	c := callerOf(newTenant("acme", "slow", "liar", "broken", "fine"), tenant.ScopeTools)
	for _, tt := range []struct {
		tool    string
		code    api.ErrorCode
		outcome string
	}{
		{"slow", api.CodeToolTimeout, tools.OutcomeTimeout},
		{"liar", api.CodeInternal, tools.OutcomeError},
		{"broken", api.CodeInternal, tools.OutcomeError},
		{"fine", "", tools.OutcomeOK},
	} {
		out, err := d.Invoke(t.Context(), c, tt.tool, []byte(`{}`), false)
		var code api.ErrorCode
		if err != nil {
			code = api.AsError(err).Code
		}
		if code != tt.code {
			t.Errorf("%s: error %v, want %q", tt.tool, err, tt.code)
		}
		if tt.code == "" && string(out) != `{"ok":true}` {
			t.Errorf("%s: result %s", tt.tool, out)
		}
		recs, _ := audit.AuditRecords(t.Context(), c.Tenant.ID, store.AuditFilter{Tool: tt.tool, Limit: 10})
		if len(recs) != 1 || recs[0].Outcome != tt.outcome || recs[0].ErrorCode != string(tt.code) {
			t.Errorf("%s: audit %+v, want outcome %s", tt.tool, recs, tt.outcome)
		}
	}
	if e := api.AsError(must(d.Invoke(t.Context(), c, "slow", nil, false))); e.Details["timeoutMs"] != int64(20) {
		t.Errorf("timeout details %v", e.Details)
	}
}

func must(_ json.RawMessage, err error) error { return err }

// TestAuditRecord checks an audit record field by field.
func TestAuditRecord(t *testing.T) {
	t0 := time.Date(2026, 5, 4, 3, 2, 1, 0, time.UTC)
	var mu sync.Mutex
	clock := []time.Time{t0, t0.Add(7 * time.Millisecond)}
	now := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		tm := clock[0]
		if len(clock) > 1 {
			clock = clock[1:]
		}
		return tm
	}
	audit := openAudit(t)
	reg := tools.MustRegistry(testTool("fine", 0, func(context.Context) (any, error) { return map[string]any{"ok": true}, nil }))
	d := tools.New(tools.Options{Registry: reg, Audit: audit, Now: now})
	c := callerOf(newTenant("acme", "fine"), tenant.ScopeTools)
	c.RequestID = "req-42"
	if _, err := d.Invoke(t.Context(), c, "fine", []byte(`{ "b": [1, 2.50], "a": "x<y" }`), true); err != nil {
		t.Fatal(err)
	}
	recs, err := audit.AuditRecords(t.Context(), c.Tenant.ID, store.AuditFilter{Limit: 10})
	if err != nil || len(recs) != 1 {
		t.Fatalf("records %v %v", recs, err)
	}
	sum := sha256.Sum256([]byte(`{"a":"x<y","b":[1,2.50]}`))
	want := store.AuditRecord{
		ID: recs[0].ID, Time: t0, Tenant: c.Tenant.ID, RequestID: "req-42", KeyID: "key", Tool: "fine",
		ArgsSHA256: hex.EncodeToString(sum[:]), Outcome: tools.OutcomeOK, ErrorCode: "", Latency: 7 * time.Millisecond, FromModel: true,
	}
	if recs[0] != want {
		t.Errorf("record\n got %+v\nwant %+v", recs[0], want)
	}
}

func TestCanonical(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`{"b":1,"a":2}`, `{"a":2,"b":1}`},
		{" {\n\"a\" : [ 1 , {\"z\":true,\"y\":null} ] }\n", `{"a":[1,{"y":null,"z":true}]}`},
		{`{"n":1.0,"m":1e3,"big":123456789012345678901234567890}`, `{"big":123456789012345678901234567890,"m":1e3,"n":1.0}`},
		{`{"h":"<b>&amp;</b>","u":"é\u00e9"}`, `{"h":"<b>&amp;</b>","u":"éé"}`},
		{`{"a":1,"a":2}`, `{"a":2}`},
		{`not json`, `not json`},
		{`{} {}`, `{} {}`},
	} {
		if got := string(tools.Canonical([]byte(tt.in))); got != tt.want {
			t.Errorf("Canonical(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if tools.ArgsHash([]byte(`{"a":1, "b":2}`)) != tools.ArgsHash([]byte(`{"b":2,"a":1}`)) {
		t.Error("the hash depends on key order")
	}
	if tools.ArgsHash([]byte(`{"a":1}`)) == tools.ArgsHash([]byte(`{"a":2}`)) {
		t.Error("different arguments, same hash")
	}
}

func TestRegistryRejects(t *testing.T) {
	ok := func() *tools.Tool {
		return testTool("ok", 0, func(context.Context) (any, error) { return nil, nil })
	}
	for name, tool := range map[string]*tools.Tool{
		"bad name":      func() *tools.Tool { x := ok(); x.Name = "Bad Name"; return x }(),
		"not an object": func() *tools.Tool { x := ok(); x.Args = json.RawMessage(`{"type":"string"}`); return x }(),
		"bad schema":    func() *tools.Tool { x := ok(); x.Args = json.RawMessage(`{"type":12}`); return x }(),
		"no run":        func() *tools.Tool { x := ok(); x.Run = nil; return x }(),
	} {
		if _, err := tools.NewRegistry(tool); err == nil {
			t.Errorf("%s: registered", name)
		}
	}
	if _, err := tools.NewRegistry(ok(), ok()); err == nil {
		t.Error("a name registered twice")
	}
}

// failingAudit refuses every record.
type failingAudit struct{ nopAudit }

func (*failingAudit) AppendAudit(context.Context, store.AuditRecord) (int64, error) {
	return 0, errors.New("disk full")
}

// TestAuditFailure checks that a call whose record cannot be written does
// not pass for a success, and that a refusal keeps its own error.
func TestAuditFailure(t *testing.T) {
	reg := tools.MustRegistry(testTool("fine", 0, func(context.Context) (any, error) { return map[string]any{"ok": true}, nil }))
	d := tools.New(tools.Options{Registry: reg, Audit: &failingAudit{}})
	c := callerOf(newTenant("acme", "fine"), tenant.ScopeTools)
	if _, err := d.Invoke(t.Context(), c, "fine", nil, false); api.AsError(err).Code != api.CodeInternal {
		t.Errorf("ok call with a failed audit write: %v, want internal", err)
	}
	if _, err := d.Invoke(t.Context(), c, "nope", nil, false); api.AsError(err).Code != api.CodeNotFound {
		t.Errorf("refused call with a failed audit write: %v, want not_found", err)
	}
}

// TestConcurrentInvoke runs invocations of several callers at once (under
// -race): each gets its own answer and its own record.
func TestConcurrentInvoke(t *testing.T) {
	reg, runs, mu := counted(t)
	audit := openAudit(t)
	d := tools.New(tools.Options{Registry: reg, Audit: audit})
	acme, globex := newTenant("acme", allFive...), newTenant("globex", builtin.Summarize)
	var wg sync.WaitGroup
	for i := range 24 {
		wg.Go(func() {
			tn := acme
			if i%2 == 1 {
				tn = globex
			}
			_, err := d.Invoke(t.Context(), callerOf(tn, tenant.ScopeTools), builtin.TagChunk, []byte(validArgs[builtin.TagChunk]), i%3 == 0)
			if want := tn == acme; (err == nil) != want {
				t.Errorf("call %d (%s): %v", i, tn.ID, err)
			}
		})
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if runs[builtin.TagChunk] != 12 {
		t.Errorf("tag_chunk ran %d times, want 12", runs[builtin.TagChunk])
	}
	for tn, want := range map[*tenant.Tenant]string{acme: tools.OutcomeOK, globex: tools.OutcomeDenied} {
		recs, _ := audit.AuditRecords(t.Context(), tn.ID, store.AuditFilter{Limit: 100})
		if len(recs) != 12 {
			t.Errorf("%s: %d records, want 12", tn.ID, len(recs))
		}
		for _, r := range recs {
			if r.Outcome != want {
				t.Errorf("%s: outcome %s, want %s", tn.ID, r.Outcome, want)
			}
		}
	}
}
