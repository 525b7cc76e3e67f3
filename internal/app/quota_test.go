package app_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/app"
)

// quotaTenant is kbTenant with limits.knowledge set to knowledge (a JSON
// object's members).
func quotaTenant(id, knowledge string) string {
	return fmt.Sprintf(`{
  "id": %q, "name": "KB",
  "keys": [{"id": "dev", "hash": %q, "scopes": ["chat", "search", "documents:read", "documents:write"], "dev": true}],
  "models": {"chat": {"model": "builtin/extractive"}, "embedding": {"model": "builtin/hash-384"}},
  "rag": {"enabled": true, "chunkTokens": 64, "overlapTokens": 8},
  "limits": {"knowledge": {%s}},
}`, id, keyHash("ck_dev_"+id), knowledge)
}

func startQuota(t *testing.T, knowledge string) *started {
	t.Helper()
	dir := t.TempDir()
	writeTenant(t, dir, "acme", quotaTenant("acme", knowledge))
	writeTenant(t, dir, "globex", quotaTenant("globex", ""))
	return startDeps(t, testConfig(t, dir), app.Deps{})
}

// listing is GET /documents.
type listing struct {
	Documents []api.Document     `json:"documents"`
	Quota     api.KnowledgeQuota `json:"quota"`
}

func listDocuments(t *testing.T, s *started, id string) listing {
	t.Helper()
	status, env := call(t, s, id, "GET", "/documents", "", "")
	var l listing
	if status != 200 || json.Unmarshal(env.Data, &l) != nil {
		t.Fatalf("GET /documents = %d %s %+v", status, env.Data, env.Error)
	}
	return l
}

func wantError(t *testing.T, what string, status int, env api.Envelope, wantStatus int, code api.ErrorCode) {
	t.Helper()
	if status != wantStatus || env.Error == nil || env.Error.Code != code {
		t.Fatalf("%s = %d %s %+v, want %d %s", what, status, env.Data, env.Error, wantStatus, code)
	}
}

// A document whose headings alone fill a megabyte makes chunks by its text,
// not one a heading: before, 200,000 headings were 200,000 chunks.
func TestHeadingDocumentChunks(t *testing.T) {
	s := startQuota(t, `"maxChunksPerDocument": 100000`)
	body := `{"id":"amp","markdown":` + quote(strings.Repeat("# a\n", 200000)) + `}`
	status, env := call(t, s, "acme", "POST", "/documents", "application/json", body)
	if status != 201 {
		t.Fatalf("ingest = %d %+v", status, env.Error)
	}
	l := listDocuments(t, s, "acme")
	// 200,000 headings of 2 tokens or so, in chunks of up to 64 tokens.
	if got := l.Quota.Chunks.Used; got > 200000*3/32 {
		t.Errorf("the document made %d chunks; want at most %d", got, 200000*3/32)
	}
}

// Every quota refuses the write that passes it, with quota_exceeded and
// nothing stored; GET /documents reports what is held against each.
func TestKnowledgeQuotas(t *testing.T) {
	s := startQuota(t, `"maxDocuments": 3, "maxChunks": 6, "maxStoredBytes": 2048, "maxChunksPerDocument": 3`)
	put := func(id, text string) (int, api.Envelope) {
		t.Helper()
		return call(t, s, "acme", "POST", "/documents", "application/json", `{"id":"`+id+`","text":`+quote(text)+`}`)
	}
	long := strings.Repeat("Hotel costs are refunded up to a limit per night. ", 30) // 4 or more chunks of 64 tokens
	status, env := put("long", long)
	wantError(t, "a document of too many chunks", status, env, 413, api.CodeQuotaExceeded)
	if env.Error.Details["quota"] != "chunksPerDocument" {
		t.Errorf("details = %v", env.Error.Details)
	}
	for i := range 3 {
		if status, env := put(fmt.Sprintf("d%d", i), fmt.Sprintf("Document number %d about hotels.", i)); status != 201 {
			t.Fatalf("d%d = %d %+v", i, status, env.Error)
		}
	}
	status, env = put("d3", "One document too many.")
	wantError(t, "a fourth document", status, env, 413, api.CodeQuotaExceeded)
	if env.Error.Details["quota"] != "documents" || env.Error.Details["limit"] != float64(3) {
		t.Errorf("details = %v", env.Error.Details)
	}
	if status, _ := call(t, s, "acme", "GET", "/documents/d3", "", ""); status != 404 {
		t.Errorf("the refused document is stored: %d", status)
	}
	// Replacing a document stays within the document quota.
	if status, env := put("d0", "Document zero, rewritten."); status != 200 {
		t.Fatalf("replace d0 = %d %+v", status, env.Error)
	}
	status, env = put("d1", strings.Repeat("Big replacement text about hotel refunds. ", 50))
	if status != 413 || env.Error == nil || env.Error.Code != api.CodeQuotaExceeded {
		t.Fatalf("a replacement past the chunk or byte quota = %d %+v", status, env.Error)
	}
	l := listDocuments(t, s, "acme")
	if len(l.Documents) != 3 || l.Quota.Documents != (api.QuotaUse{Used: 3, Limit: 3}) || l.Quota.Chunks.Limit != 6 ||
		l.Quota.Bytes.Limit != 2048 || l.Quota.ChunksPerDocument != 3 || l.Quota.Jobs.Limit != 2 {
		t.Errorf("GET /documents = %d documents, quota %+v", len(l.Documents), l.Quota)
	}
	var held int64
	for _, d := range l.Documents {
		held += d.Bytes
	}
	if l.Quota.Bytes.Used != held {
		t.Errorf("bytes used %d, documents hold %d", l.Quota.Bytes.Used, held)
	}
	// A delete frees room.
	if status, _ := call(t, s, "acme", "DELETE", "/documents/d2", "", ""); status != 200 {
		t.Fatalf("delete = %d", status)
	}
	if status, env := put("d3", "Now there is room."); status != 201 {
		t.Fatalf("after a delete = %d %+v", status, env.Error)
	}
	// globex has the defaults, and acme's holdings count nothing there.
	g := listDocuments(t, s, "globex")
	if g.Quota.Documents.Used != 0 || g.Quota.Documents.Limit != 10000 || g.Quota.Chunks.Limit != 50000 {
		t.Errorf("globex quota = %+v", g.Quota)
	}
}

// A batch job past a quota stores what fits and reports the rest per
// document; a tenant runs at most maxJobs jobs at once.
func TestJobQuotas(t *testing.T) {
	s := startQuota(t, `"maxDocuments": 12, "maxJobs": 1`)
	var batch strings.Builder
	for i := range 20 {
		fmt.Fprintf(&batch, `{"id":"b%02d","text":"Batch document %d on travel."}`+"\n", i, i)
	}
	status, env := call(t, s, "acme", "POST", "/documents", "application/x-ndjson", batch.String())
	if status != 202 {
		t.Fatalf("batch = %d %+v", status, env.Error)
	}
	var job struct{ ID string }
	_ = json.Unmarshal(env.Data, &job)
	// A second job while the first may still run: refused or, if the
	// first is done, accepted; either way the documents stay within quota.
	status, env = call(t, s, "acme", "POST", "/documents", "application/x-ndjson", batch.String())
	if status != 202 && !(status == 429 && env.Error.Details["limit"] == "jobs") {
		t.Fatalf("second batch = %d %+v", status, env.Error)
	}
	s.app.WaitJobs()
	status, env = call(t, s, "acme", "GET", "/jobs/"+job.ID, "", "")
	var done struct {
		Done, Failed int
		Errors       []struct {
			Error api.Error
		}
	}
	_ = json.Unmarshal(env.Data, &done)
	if status != 200 || done.Done != 12 || done.Failed != 8 || done.Errors[0].Error.Code != api.CodeQuotaExceeded {
		t.Fatalf("job = %d %s", status, env.Data)
	}
	if l := listDocuments(t, s, "acme"); l.Quota.Documents.Used != 12 || len(l.Documents) != 12 {
		t.Errorf("after the jobs: %+v, %d listed", l.Quota.Documents, len(l.Documents))
	}
}

// TestJobCap: with maxJobs 1, a job running keeps the next one out.
func TestJobCap(t *testing.T) {
	s := startQuota(t, `"maxJobs": 1`)
	var batch strings.Builder
	for i := range 400 {
		fmt.Fprintf(&batch, `{"id":"c%03d","text":%s}`+"\n", i, quote(strings.Repeat(fmt.Sprintf("Word%d travel policy text. ", i), 40)))
	}
	status, env := call(t, s, "acme", "POST", "/documents", "application/x-ndjson", batch.String())
	if status != 202 {
		t.Fatalf("batch = %d %+v", status, env.Error)
	}
	status, env = call(t, s, "acme", "POST", "/documents", "application/x-ndjson", batch.String())
	wantError(t, "a second job", status, env, 429, api.CodeRateLimited)
	if env.Error.Details["limit"] != "jobs" {
		t.Errorf("details = %v", env.Error.Details)
	}
	// Another tenant's jobs are its own.
	status, env = call(t, s, "globex", "POST", "/documents", "application/x-ndjson", batch.String())
	if status != 202 {
		t.Errorf("globex batch = %d %+v", status, env.Error)
	}
	s.app.WaitJobs()
}

// Documents with nothing to index answer 400, never 500, and store
// nothing: no words at all, or nothing left once extracted.
func TestWordlessDocuments(t *testing.T) {
	s := startQuota(t, "")
	for _, body := range []string{
		`{"text":"🙂"}`, `{"text":"..."}`, `{"text":"[[["}`, `{"html":"<p>★★★</p>"}`,
		`{"markdown":"#"}`, `{"html":"<script>var a = 1;</script><style>p{}</style>"}`,
		`{"text":` + quote(strings.Repeat(".", 8<<20)) + `}`,
	} {
		status, env := call(t, s, "acme", "POST", "/documents", "application/json", body)
		wantError(t, body[:min(len(body), 40)], status, env, 400, api.CodeInvalidRequest)
	}
	// The same through a batch: every line reported, nothing stored.
	status, env := call(t, s, "acme", "POST", "/documents", "application/x-ndjson", `{"id":"ok","text":"fine words"}`+"\n"+`{"id":"dots","text":"..."}`)
	if status != 400 || env.Error == nil || !strings.Contains(env.Error.Message, "line 2") {
		t.Errorf("batch = %d %+v", status, env.Error)
	}
	if l := listDocuments(t, s, "acme"); l.Quota.Documents.Used != 1 {
		t.Errorf("documents held = %+v", l.Quota.Documents)
	}
	// Words the embedder sees nothing in still make a document BM25 finds.
	status, env = call(t, s, "acme", "POST", "/documents", "application/json", `{"id":"num","text":"42"}`)
	if status != 201 {
		t.Fatalf("a number alone = %d %+v", status, env.Error)
	}
}

// A Content-Type that does not parse is refused, as on every other route.
func TestDocumentsMalformedContentType(t *testing.T) {
	s := startQuota(t, "")
	status, env := call(t, s, "acme", "POST", "/documents", "application/json;;;", `{"text":"hello"}`)
	wantError(t, "application/json;;;", status, env, 415, api.CodeUnsupportedMediaType)
}

// The ingest_docs tool refuses a document without words as POST /documents
// does: 400, audited invalid, nothing stored.
func TestIngestToolWordless(t *testing.T) {
	s := startTools(t)
	call := invokeTool(t, s, acmeAllWrite, "ingest_docs", `{"args":{"documents":[{"id":"dots","text":"..."}]}}`)
	if call.status != 400 || call.env.Error == nil || call.env.Error.Code != api.CodeInvalidRequest || !strings.Contains(call.env.Error.Message, "no words") {
		t.Fatalf("ingest_docs of dots = %d %+v", call.status, call.env.Error)
	}
	status, page, _ := auditPage(t, s, acmeAdminKey, "?limit=1")
	if status != 200 || len(page.Records) != 1 || page.Records[0].Outcome != "invalid" {
		t.Errorf("audit = %d %+v", status, page)
	}
}
