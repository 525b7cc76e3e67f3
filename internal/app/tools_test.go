package app_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// Keys added to the example tenants by startTools.
const (
	globexAdminKey = "ck_test_globex_admin"
	acmeToolsKey   = "ck_test_acme_tools"      // tools
	acmeWriteKey   = "ck_test_acme_toolswrite" // tools, tools:write (no documents:write)
	acmeChatKey    = "ck_test_acme_chat"       // chat only
	acmeAllWrite   = "ck_test_acme_writeall"   // tools, tools:write, documents:write
	acmeAdminKey   = "ck_test_acme_admin_only" // admin only
)

// startTools runs the example tenants, with more keys: acme gets one key
// per combination of scopes the permission tests need, globex an admin key.
func startTools(t *testing.T) *started {
	t.Helper()
	dir := copyTenants(t)
	addKeys := func(id string, keys map[string][]string) {
		path := filepath.Join(dir, id, tenant.FileName)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var entries []string
		for _, key := range slices.Sorted(maps.Keys(keys)) {
			scopes, _ := json.Marshal(keys[key])
			entries = append(entries, fmt.Sprintf(`{"id": %q, "hash": %q, "scopes": %s},`, strings.TrimPrefix(key, "ck_test_"), tenant.HashKey(key), scopes))
		}
		s := strings.Replace(string(b), `"keys": [`, `"keys": [`+strings.Join(entries, "\n"), 1)
		// The tests make more calls than the example rate limits allow.
		s = rateBlock.ReplaceAllString(s, "")
		writeTenant(t, dir, id, s)
	}
	addKeys("acme", map[string][]string{
		acmeToolsKey: {"tools"}, acmeWriteKey: {"tools", "tools:write"}, acmeChatKey: {"chat"},
		acmeAllWrite: {"tools", "tools:write", "documents:write"}, acmeAdminKey: {"admin"},
	})
	addKeys("globex", map[string][]string{globexAdminKey: {"admin", "tools"}})
	return start(t, testConfig(t, dir))
}

var rateBlock = regexp.MustCompile(`(?s)"rate": \{.*?"concurrentStreams": \d+,\s*\},`)

type toolCall struct {
	status int
	env    api.Envelope
	reqID  string
}

func invokeTool(t *testing.T, s *started, key, name, body string) toolCall {
	t.Helper()
	res := do(t, t.Context(), "POST", s.url+"/tools/"+name+"/invoke", key, body)
	var env api.Envelope
	decodeBody(t, res, &env)
	return toolCall{res.StatusCode, env, res.Header.Get("X-Request-ID")}
}

func auditPage(t *testing.T, s *started, key, query string) (int, api.AuditPage, *api.Error) {
	t.Helper()
	status, env := get(t, s.url+"/audit"+query, key)
	var page api.AuditPage
	if env.OK {
		if err := json.Unmarshal(env.Data, &page); err != nil {
			t.Fatal(err)
		}
	}
	return status, page, env.Error
}

func TestToolsList(t *testing.T) {
	s := startTools(t)
	for _, tt := range []struct {
		key    string
		status int
		want   []string
	}{
		{"ck_dev_acme", 200, []string{"classify_intent", "extract_entities", "ingest_docs", "summarize", "tag_chunk"}},
		{acmeToolsKey, 200, []string{"classify_intent", "extract_entities", "summarize", "tag_chunk"}},
		{acmeWriteKey, 200, []string{"classify_intent", "extract_entities", "summarize", "tag_chunk"}},
		{acmeAllWrite, 200, []string{"classify_intent", "extract_entities", "ingest_docs", "summarize", "tag_chunk"}},
		{"ck_dev_globex", 200, []string{"summarize"}},
		{acmeChatKey, 403, nil},
		{"", 401, nil},
	} {
		status, env := get(t, s.url+"/tools", tt.key)
		if status != tt.status {
			t.Errorf("%s: status %d, want %d", tt.key, status, tt.status)
			continue
		}
		if status != 200 {
			continue
		}
		var list api.ToolList
		if err := json.Unmarshal(env.Data, &list); err != nil {
			t.Fatal(err)
		}
		var names, fnames []string
		for i, tool := range list.Tools {
			names = append(names, tool.Name)
			fnames = append(fnames, list.OpenAI[i].Function.Name)
			if list.OpenAI[i].Type != "function" || string(list.OpenAI[i].Function.Parameters) != string(tool.Parameters) || len(tool.Result) == 0 || tool.TimeoutMS <= 0 {
				t.Errorf("%s: tool %+v / %+v", tt.key, tool, list.OpenAI[i])
			}
			if tool.Writes != (tool.Name == "ingest_docs") {
				t.Errorf("%s writes = %v", tool.Name, tool.Writes)
			}
		}
		if !slices.Equal(names, tt.want) || !slices.Equal(fnames, tt.want) {
			t.Errorf("%s: tools %v / %v, want %v", tt.key, names, fnames, tt.want)
		}
	}
}

// TestToolsPermissionMatrix invokes every tool and unknown names over HTTP
// with keys of both example tenants and checks the status of each call and
// that exactly the allowed calls ran (their audit outcome is ok, and the
// document of ingest_docs exists only where it was allowed).
func TestToolsPermissionMatrix(t *testing.T) {
	s := startTools(t)
	args := map[string]string{
		"summarize":        `{"args":{"text":"Solar panels turn light into power. Batteries store it for the night."}}`,
		"extract_entities": `{"args":{"text":"Write to ops@acme.example by 2026-05-01."}}`,
		"classify_intent":  `{"args":{"text":"please refund my invoice"}}`,
		"tag_chunk":        `{"args":{"markdown":"# Bread\n\nBread needs flour."}}`,
		"ingest_docs":      `{"args":{"documents":[{"id":"DOCID","text":"A note written by a tool."}]}}`,
		"unknown_tool":     `{"args":{}}`,
		"Summarize":        `{"args":{"text":"x"}}`,
	}
	type key struct {
		key, tenant string
		allowed     []string
	}
	keys := []key{
		{"ck_dev_acme", "acme", []string{"summarize", "extract_entities", "classify_intent", "tag_chunk", "ingest_docs"}},
		{acmeAllWrite, "acme", []string{"summarize", "extract_entities", "classify_intent", "tag_chunk", "ingest_docs"}},
		{acmeWriteKey, "acme", []string{"summarize", "extract_entities", "classify_intent", "tag_chunk"}},
		{acmeToolsKey, "acme", []string{"summarize", "extract_entities", "classify_intent", "tag_chunk"}},
		{acmeChatKey, "acme", nil},
		{acmeAdminKey, "acme", nil},
		{"ck_dev_globex", "globex", []string{"summarize"}},
		{globexAdminKey, "globex", []string{"summarize"}},
	}
	enabled := map[string][]string{
		"acme":   {"summarize", "extract_entities", "classify_intent", "tag_chunk", "ingest_docs"},
		"globex": {"summarize"},
	}
	hasToolsScope := map[string]bool{"ck_dev_acme": true, acmeAllWrite: true, acmeWriteKey: true, acmeToolsKey: true, "ck_dev_globex": true, globexAdminKey: true}
	oks := map[string]int{}
	for i, k := range keys {
		for _, name := range slices.Sorted(maps.Keys(args)) {
			docID := fmt.Sprintf("tooldoc-%d", i)
			c := invokeTool(t, s, k.key, name, strings.Replace(args[name], "DOCID", docID, 1))
			var want int
			switch {
			case !hasToolsScope[k.key]:
				want = 403 // the route itself needs the scope tools
			case !slices.Contains(enabled[k.tenant], name):
				want = 404
			case !slices.Contains(k.allowed, name):
				want = 403
			default:
				want = 200
				oks[k.tenant]++
			}
			if c.status != want {
				t.Errorf("%s %s: status %d %+v, want %d", k.key, name, c.status, c.env.Error, want)
			}
			if name == "ingest_docs" && k.tenant == "acme" {
				status, _ := get(t, s.url+"/documents/"+docID, "ck_dev_acme")
				if ran := status == 200; ran != (want == 200) {
					t.Errorf("%s ingest_docs: document exists %v, call allowed %v", k.key, ran, want == 200)
				}
			}
		}
	}
	// The audit log agrees: one ok record per allowed call, in its tenant.
	for tn, admin := range map[string]string{"acme": "ck_dev_acme", "globex": globexAdminKey} {
		status, page, e := auditPage(t, s, admin, "?limit=500")
		if status != 200 {
			t.Fatalf("%s audit: %d %+v", tn, status, e)
		}
		n := 0
		for _, r := range page.Records {
			if r.Outcome == "ok" {
				n++
			}
		}
		if n != oks[tn] {
			t.Errorf("%s: %d ok audit records, want %d", tn, n, oks[tn])
		}
	}
}

func TestToolInvokeErrors(t *testing.T) {
	s := startTools(t)
	for _, tt := range []struct {
		name, body string
		status     int
		code       api.ErrorCode
		path       string
	}{
		{"summarize", `{"args":{"text":5,"maxSentences":99,"x":1}}`, 400, api.CodeInvalidRequest, "/args"},
		{"summarize", `{"args":{"text":5}}`, 400, api.CodeInvalidRequest, "/args/text"},
		{"summarize", `{"args":"text"}`, 400, api.CodeInvalidRequest, "/args"},
		{"summarize", `{"arguments":{}}`, 400, api.CodeInvalidRequest, "/arguments"},
		{"summarize", `{"args":`, 400, api.CodeInvalidRequest, ""},
		{"nope", `{"args":{}}`, 404, api.CodeNotFound, ""},
		{"ingest_docs", `{"args":{"documents":[{"text":"x"}]}}`, 403, api.CodeForbidden, ""},
	} {
		key := "ck_dev_acme"
		if tt.name == "ingest_docs" {
			key = acmeToolsKey
		}
		c := invokeTool(t, s, key, tt.name, tt.body)
		if c.status != tt.status || c.env.Error == nil || c.env.Error.Code != tt.code {
			t.Errorf("%s %s: %d %+v, want %d %s", tt.name, tt.body, c.status, c.env.Error, tt.status, tt.code)
			continue
		}
		if tt.path != "" && c.env.Error.Details["path"] != tt.path {
			t.Errorf("%s %s: path %v, want %s", tt.name, tt.body, c.env.Error.Details["path"], tt.path)
		}
	}
	// Every failing path is listed.
	c := invokeTool(t, s, "ck_dev_acme", "summarize", `{"args":{"text":5,"maxSentences":99,"x":1}}`)
	var paths []string
	for _, p := range c.env.Error.Details["errors"].([]any) {
		paths = append(paths, p.(map[string]any)["path"].(string))
	}
	if !slices.Equal(paths, []string{"/", "/maxSentences", "/text"}) {
		t.Errorf("paths %v, want /, /maxSentences, /text", paths)
	}
}

// TestAuditLog checks the records of API invocations field by field, the
// filters and pages of GET /audit, its errors, and that each tenant sees
// only its own records.
func TestAuditLog(t *testing.T) {
	s := startTools(t)
	before := time.Now().UTC().Add(-time.Second)
	ok := invokeTool(t, s, "ck_dev_acme", "summarize", `{"args":{"text":"Cats purr when content. Dogs wag their tails.", "maxSentences": 1}}`)
	denied := invokeTool(t, s, acmeToolsKey, "ingest_docs", `{"args":{"documents":[{"text":"x"}]}}`)
	invalid := invokeTool(t, s, "ck_dev_acme", "tag_chunk", `{"args":{}}`)
	unknown := invokeTool(t, s, "ck_dev_acme", "drop_tables", `{"args":{"all":true}}`)
	globexOK := invokeTool(t, s, "ck_dev_globex", "summarize", `{"args":{"text":"Globex makes widgets. Widgets are sold worldwide."}}`)
	if ok.status != 200 || denied.status != 403 || invalid.status != 400 || unknown.status != 404 || globexOK.status != 200 {
		t.Fatalf("statuses %d %d %d %d %d", ok.status, denied.status, invalid.status, unknown.status, globexOK.status)
	}
	hash := func(canonical string) string {
		sum := sha256.Sum256([]byte(canonical))
		return hex.EncodeToString(sum[:])
	}
	status, page, e := auditPage(t, s, "ck_dev_acme", "")
	if status != 200 || len(page.Records) != 4 || page.Next != "" {
		t.Fatalf("acme audit: %d %+v %+v", status, page, e)
	}
	want := []api.AuditRecord{ // newest first
		{RequestID: unknown.reqID, KeyID: "dev", Tool: "drop_tables", ArgsSHA256: hash(`{"all":true}`), Outcome: "denied", ErrorCode: "not_found"},
		{RequestID: invalid.reqID, KeyID: "dev", Tool: "tag_chunk", ArgsSHA256: hash(`{}`), Outcome: "invalid", ErrorCode: "invalid_request"},
		{RequestID: denied.reqID, KeyID: "acme_tools", Tool: "ingest_docs", ArgsSHA256: hash(`{"documents":[{"text":"x"}]}`), Outcome: "denied", ErrorCode: "forbidden"},
		{RequestID: ok.reqID, KeyID: "dev", Tool: "summarize", ArgsSHA256: hash(`{"maxSentences":1,"text":"Cats purr when content. Dogs wag their tails."}`), Outcome: "ok"},
	}
	for i, r := range page.Records {
		w := want[i]
		if r.Tenant != "acme" || r.RequestID == "" || r.RequestID != w.RequestID || r.KeyID != w.KeyID || r.Tool != w.Tool || r.ArgsSHA256 != w.ArgsSHA256 ||
			r.Outcome != w.Outcome || r.ErrorCode != w.ErrorCode || r.FromModel || r.ID == "" ||
			r.Time.Before(before) || r.Time.After(time.Now().Add(time.Second)) || r.LatencyMS < 0 {
			t.Errorf("record %d:\n got %+v\nwant %+v", i, r, w)
		}
	}

	// globex sees its own record only, and acme never sees globex's.
	_, gpage, _ := auditPage(t, s, globexAdminKey, "")
	if len(gpage.Records) != 1 || gpage.Records[0].RequestID != globexOK.reqID || gpage.Records[0].KeyID != "dev" || gpage.Records[0].Tenant != "globex" {
		t.Errorf("globex audit = %+v", gpage.Records)
	}
	for _, r := range page.Records {
		if r.RequestID == globexOK.reqID {
			t.Error("acme sees globex's record")
		}
	}

	// Filters and pages.
	if _, p, _ := auditPage(t, s, "ck_dev_acme", "?tool=summarize"); len(p.Records) != 1 || p.Records[0].Tool != "summarize" {
		t.Errorf("tool filter = %+v", p.Records)
	}
	future := url.QueryEscape(time.Now().Add(time.Hour).Format(time.RFC3339))
	if _, p, _ := auditPage(t, s, "ck_dev_acme", "?from="+future); len(p.Records) != 0 {
		t.Errorf("from the future = %+v", p.Records)
	}
	if _, p, _ := auditPage(t, s, "ck_dev_acme", "?to="+url.QueryEscape(before.Format(time.RFC3339Nano))); len(p.Records) != 0 {
		t.Errorf("to the past = %+v", p.Records)
	}
	var walked []string
	q := "?limit=3"
	for range 3 {
		_, p, e := auditPage(t, s, "ck_dev_acme", q)
		if e != nil {
			t.Fatal(e)
		}
		for _, r := range p.Records {
			walked = append(walked, r.RequestID)
		}
		if p.Next == "" {
			break
		}
		q = "?limit=3&cursor=" + p.Next
	}
	if len(walked) != 4 || walked[0] != unknown.reqID || walked[3] != ok.reqID {
		t.Errorf("pages walked %v", walked)
	}

	// Errors.
	for _, q := range []string{"?from=yesterday", "?to=2026-13-01T00:00:00Z", "?limit=0", "?limit=501", "?cursor=abc", "?colour=red",
		"?from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z"} {
		if status, _, e := auditPage(t, s, "ck_dev_acme", q); status != 400 || e.Code != api.CodeInvalidRequest {
			t.Errorf("%s: %d %+v, want 400", q, status, e)
		}
	}
	for _, key := range []string{"ck_dev_globex", acmeToolsKey} {
		if status, _, _ := auditPage(t, s, key, ""); status != 403 {
			t.Errorf("%s: audit status %d, want 403", key, status)
		}
	}
	if status, _, _ := auditPage(t, s, "", ""); status != 401 {
		t.Errorf("no key: audit status %d, want 401", status)
	}
}

// TestIngestDocsTool checks that ingest_docs writes to the caller's
// knowledge base only, where retrieval finds it.
func TestIngestDocsTool(t *testing.T) {
	s := startTools(t)
	c := invokeTool(t, s, "ck_dev_acme", "ingest_docs", `{"args":{"documents":[{"id":"zebra","title":"Zebras","text":"Zebras have black and white stripes that confuse biting flies."}]}}`)
	if c.status != 200 {
		t.Fatalf("ingest_docs: %d %+v", c.status, c.env.Error)
	}
	var res struct {
		Result struct {
			Results []struct {
				ID, Status string
				Chunks     int
			}
		}
	}
	_ = json.Unmarshal(c.env.Data, &res)
	if len(res.Result.Results) != 1 || res.Result.Results[0].ID != "zebra" || res.Result.Results[0].Status != "created" || res.Result.Results[0].Chunks != 1 {
		t.Errorf("result %s", c.env.Data)
	}
	retrieve := func(key string) string {
		res := do(t, t.Context(), "POST", s.url+"/retrieve", key, `{"query":"zebra stripes flies"}`)
		var env api.Envelope
		decodeBody(t, res, &env)
		return string(env.Data)
	}
	if got := retrieve("ck_dev_acme"); !strings.Contains(got, `"docId":"zebra"`) {
		t.Errorf("acme retrieve = %s", got)
	}
	if got := retrieve("ck_dev_globex"); strings.Contains(got, "zebra") {
		t.Errorf("globex retrieves acme's document: %s", got)
	}
	// The same call again changes nothing.
	c = invokeTool(t, s, "ck_dev_acme", "ingest_docs", `{"args":{"documents":[{"id":"zebra","title":"Zebras","text":"Zebras have black and white stripes that confuse biting flies."}]}}`)
	if !strings.Contains(string(c.env.Data), `"status":"unchanged"`) {
		t.Errorf("second ingest = %s", c.env.Data)
	}
}
