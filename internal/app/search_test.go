package app_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/app"
	"github.com/crispy-enigma/crispy/schema"
)

// searchTenant is a tenant whose knowledge base answers /search with the
// builtin models (or with models, a "models" object), its cache on. Its
// key ck_dev_<id> has every scope search needs; ck_nosearch_<id> lacks
// the search scope.
func searchTenant(id, models, providers string) string {
	if models == "" {
		models = `{"chat": {"model": "builtin/extractive"}, "embedding": {"model": "builtin/hash-384"}}`
	}
	return fmt.Sprintf(`{
  "id": %q, "name": "Search",
  "keys": [
    {"id": "dev", "hash": %q, "scopes": ["chat", "search", "documents:read", "documents:write", "usage:read"], "dev": true},
    {"id": "nosearch", "hash": %q, "scopes": ["chat"]},
  ],
  "providers": {%s},
  "models": %s,
  "cache": {"enabled": true, "searchTtl": "1m"},
  "rag": {"enabled": true, "chunkTokens": 64, "overlapTokens": 8, "topK": 4, "maxTopK": 10, "minConfidence": 0.3},
}`, id, keyHash("ck_dev_"+id), keyHash("ck_nosearch_"+id), providers, models)
}

const securityGuide = `# Security guide

## Passwords

Passwords must have at least 14 characters. Rotate service passwords every 90 days.

## Badges

Visitors receive a red badge at the front desk and are escorted at all times.
`

func startSearch(t *testing.T) *started {
	t.Helper()
	dir := t.TempDir()
	writeTenant(t, dir, "acme", searchTenant("acme", "", ""))
	writeTenant(t, dir, "globex", searchTenant("globex", "", ""))
	s := startDeps(t, testConfig(t, dir), app.Deps{})
	ingestDoc(t, s, "acme", "handbook", "Travel handbook", handbook)
	ingestDoc(t, s, "acme", "security", "Security guide", securityGuide)
	return s
}

func ingestDoc(t *testing.T, s *started, tenant, id, title, markdown string) {
	t.Helper()
	body := fmt.Sprintf(`{"id":%q,"title":%q,"url":"https://intra.example/%s","markdown":%s}`, id, title, id, quote(markdown))
	if status, env := call(t, s, tenant, "POST", "/documents", "application/json", body); status != 201 && status != 200 {
		t.Fatalf("ingest %s/%s = %d %+v", tenant, id, status, env.Error)
	}
}

// searchSchema compiles the published schema of /search responses; ref
// picks the root ("") or one of its $defs ("#/$defs/...").
func searchSchema(t *testing.T, ref string) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema.SearchResponse))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	const url = "https://crispy-enigma.dev/schema/search.response.schema.json"
	if err := c.AddResource(url, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(url + ref)
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

func validate(t *testing.T, sch *jsonschema.Schema, data []byte) {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(v); err != nil {
		t.Errorf("response does not match the schema: %v\n%s", err, data)
	}
}

// search posts a non-streaming search as tenant id and checks a success
// against the schema.
func search(t *testing.T, s *started, id, body string) (int, api.SearchResult, *api.Error) {
	t.Helper()
	status, env := call(t, s, id, "POST", "/search", "application/json", body)
	var out api.SearchResult
	if env.OK {
		validate(t, searchSchema(t, ""), env.Data)
		if err := json.Unmarshal(env.Data, &out); err != nil {
			t.Fatal(err)
		}
	}
	return status, out, env.Error
}

var citation = regexp.MustCompile(`\[(\d+)\]`)

// checkCitations asserts that every [n] of the answer names a source and
// that every source is a chunk of one of docs.
func checkCitations(t *testing.T, res api.SearchResult, docs ...string) {
	t.Helper()
	for _, m := range citation.FindAllStringSubmatch(res.Answer, -1) {
		n, _ := strconv.Atoi(m[1])
		if n < 1 || n > len(res.Sources) {
			t.Errorf("answer cites [%d] with %d sources: %q", n, len(res.Sources), res.Answer)
		}
	}
	for i, src := range res.Sources {
		if src.N != i+1 || !slices.Contains(docs, src.DocID) || !strings.HasPrefix(src.ChunkID, src.DocID+"#") {
			t.Errorf("source %d = %+v, want n=%d from %v", i, src, i+1, docs)
		}
	}
}

func TestSearchAnswersWithSources(t *testing.T) {
	s := startSearch(t)
	status, res, e := search(t, s, "acme", `{"query":"How much are hotel costs refunded per night?"}`)
	if status != 200 {
		t.Fatalf("search = %d %+v", status, e)
	}
	if res.Intent != api.IntentQuestion || res.RewrittenQuery != "How much are hotel costs refunded per night" || res.Cached {
		t.Errorf("intent %q rewritten %q cached %v", res.Intent, res.RewrittenQuery, res.Cached)
	}
	if !strings.Contains(res.Answer, "180 euros") || !citation.MatchString(res.Answer) {
		t.Errorf("answer = %q, want the refund limit with a citation", res.Answer)
	}
	checkCitations(t, res, "handbook", "security")
	if res.Sources[0].DocID != "handbook" || res.Sources[0].URL != "https://intra.example/handbook" {
		t.Errorf("best source = %+v", res.Sources[0])
	}
	if res.Confidence < 0.3 || res.Confidence > 1 {
		t.Errorf("confidence = %v, want at least the threshold 0.3", res.Confidence)
	}
	if want := []string{"rewrite:rules", "retrieve", "answer", "followUps:rules"}; !slices.Equal(res.Path, want) {
		t.Errorf("path = %v, want %v", res.Path, want)
	}
	if res.Model != "builtin/extractive" || res.Timings["retrieve"] <= 0 || res.Timings["total"] < res.Timings["retrieve"] {
		t.Errorf("model %q timings %v", res.Model, res.Timings)
	}

	// Every follow-up is a question the knowledge base answers.
	if len(res.FollowUps) == 0 || len(res.FollowUps) > 3 {
		t.Fatalf("followUps = %q", res.FollowUps)
	}
	for _, q := range res.FollowUps {
		status, fu, e := search(t, s, "acme", `{"query":`+quote(q)+`}`)
		if status != 200 || fu.Answer == api.NoConfidentAnswer || fu.Confidence < 0.3 {
			t.Errorf("follow-up %q: %d %+v answer %q confidence %v", q, status, e, fu.Answer, fu.Confidence)
		}
	}
}

func TestSearchIntentPaths(t *testing.T) {
	s := startSearch(t)
	for _, tt := range []struct {
		query, intent string
		path          []string
		answer        string // a substring of the answer
		sources       bool
	}{
		{"Hello!", api.IntentChitChat, []string{"rewrite:rules", "reply"}, "Hello", false},
		{"Skyways", api.IntentKeyword, []string{"rewrite:rules", "retrieve", "answer", "followUps:rules"}, "Skyways", true},
		{"security guide", api.IntentNavigational, []string{"rewrite:rules", "retrieve", "navigate", "followUps:rules"}, "“Security guide” (https://intra.example/security) [1]", true},
		{"travel handbook page", api.IntentNavigational, []string{"rewrite:rules", "retrieve", "navigate", "followUps:rules"}, "“Travel handbook”", true},
		{"What does quantum chromodynamics predict about gluon confinement?", api.IntentQuestion, []string{"rewrite:rules", "retrieve", "abstain", "followUps:rules"}, api.NoConfidentAnswer, true},
	} {
		status, res, e := search(t, s, "acme", `{"query":`+quote(tt.query)+`}`)
		if status != 200 {
			t.Fatalf("%q: %d %+v", tt.query, status, e)
		}
		if res.Intent != tt.intent || !slices.Equal(res.Path, tt.path) || !strings.Contains(res.Answer, tt.answer) {
			t.Errorf("%q: intent %q path %v answer %q; want %q %v %q", tt.query, res.Intent, res.Path, res.Answer, tt.intent, tt.path, tt.answer)
		}
		if (len(res.Sources) > 0) != tt.sources {
			t.Errorf("%q: %d sources", tt.query, len(res.Sources))
		}
		checkCitations(t, res, "handbook", "security")
	}

	// Low confidence: it says it does not know, and still lists what it found.
	_, res, _ := search(t, s, "acme", `{"query":"What does quantum chromodynamics predict about gluon confinement?"}`)
	if res.Confidence >= 0.3 || res.Answer != api.NoConfidentAnswer || len(res.Sources) == 0 {
		t.Errorf("low confidence: %v %q %d sources", res.Confidence, res.Answer, len(res.Sources))
	}
}

func TestSearchCacheAndInvalidation(t *testing.T) {
	s := startSearch(t)
	q := `{"query":"How much are hotel costs refunded per night?"}`
	_, first, _ := search(t, s, "acme", q)
	_, again, _ := search(t, s, "acme", `{"query":"  how much are HOTEL costs refunded per night? "}`)
	if first.Cached || !again.Cached || !slices.Equal(again.Path, []string{"cache"}) || again.Answer != first.Answer ||
		again.Confidence != first.Confidence || !slices.Equal(again.FollowUps, first.FollowUps) || len(again.Sources) != len(first.Sources) {
		t.Fatalf("repeat: cached %v→%v path %v answer %q vs %q", first.Cached, again.Cached, again.Path, again.Answer, first.Answer)
	}
	if _, ok := again.Timings["cache"]; !ok {
		t.Errorf("a cache hit has no cache timing: %v", again.Timings)
	}
	// The tenant's default topK (4), named, is the same search.
	if _, r, _ := search(t, s, "acme", `{"query":"How much are hotel costs refunded per night?","topK":4}`); !r.Cached {
		t.Error("topK equal to the default missed the cache")
	}
	// Other parameters are other entries.
	if _, r, _ := search(t, s, "acme", `{"query":"How much are hotel costs refunded per night?","topK":2}`); r.Cached {
		t.Error("another topK was served from the cache")
	}
	// The same query for another tenant is never served from acme's entry.
	if _, r, _ := search(t, s, "globex", q); r.Cached || len(r.Sources) != 0 {
		t.Errorf("globex got %d sources, cached %v", len(r.Sources), r.Cached)
	}

	// An ingest invalidates: the new document is found at once.
	ingestDoc(t, s, "acme", "hotels", "Hotel policy", "# Hotel policy\n\nHotel costs in Tokyo are refunded up to 250 euros per night.\n")
	_, after, _ := search(t, s, "acme", q)
	if after.Cached {
		t.Error("served from the cache after an ingest")
	}
	if !slices.ContainsFunc(after.Sources, func(src api.Source) bool { return src.DocID == "hotels" }) {
		t.Errorf("the new document is not among the sources: %+v", after.Sources)
	}
	if _, r, _ := search(t, s, "acme", q); !r.Cached {
		t.Error("not cached again after the ingest")
	}
	// A delete invalidates: the deleted document is gone from the answer.
	if status, env := call(t, s, "acme", "DELETE", "/documents/hotels", "", ""); status != 200 {
		t.Fatalf("delete = %d %+v", status, env.Error)
	}
	_, gone, _ := search(t, s, "acme", q)
	if gone.Cached || slices.ContainsFunc(gone.Sources, func(src api.Source) bool { return src.DocID == "hotels" }) {
		t.Errorf("after delete: cached %v sources %+v", gone.Cached, gone.Sources)
	}

	m := metrics(t, s)
	if !strings.Contains(m, `crispy_search_cache_total{result="hit"} 3`) || !strings.Contains(m, `crispy_search_stage_seconds_count{stage="retrieve"}`) {
		t.Errorf("metrics:\n%s", grep(m, "crispy_search"))
	}
}

func TestSearchTenantIsolation(t *testing.T) {
	s := startSearch(t)
	ingestDoc(t, s, "globex", "zanzibar", "Zanzibar protocol", "# Zanzibar protocol\n\nThe Zanzibar protocol rotates vault keys every Tuesday.\n")
	for _, q := range []string{"Zanzibar protocol", "How often does the Zanzibar protocol rotate vault keys?"} {
		_, res, _ := search(t, s, "acme", `{"query":`+quote(q)+`}`)
		checkCitations(t, res, "handbook", "security")
		if strings.Contains(res.Answer, "Tuesday") {
			t.Errorf("acme's answer leaks globex's document: %q", res.Answer)
		}
		_, res, _ = search(t, s, "globex", `{"query":`+quote(q)+`}`)
		checkCitations(t, res, "zanzibar")
	}
	// Filters cannot widen the namespace.
	_, res, _ := search(t, s, "acme", `{"query":"Zanzibar","filters":{"tenant":{"eq":"globex"}}}`)
	if len(res.Sources) != 0 {
		t.Errorf("a filter reached another tenant: %+v", res.Sources)
	}
}

func TestSearchStream(t *testing.T) {
	s := startSearch(t)
	defs := map[string]string{"sources": "#/$defs/sourcesEvent", "token": "#/$defs/tokenEvent", "followUps": "#/$defs/followUpsEvent", "done": ""}
	for _, cachedRun := range []bool{false, true} {
		res := do(t, t.Context(), "POST", s.url+"/search", "ck_dev_acme", `{"query":"How much are hotel costs refunded per night?","stream":true}`)
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("stream = %d %s", res.StatusCode, res.Header.Get("Content-Type"))
		}
		evs, _ := events(t, res.Body)
		res.Body.Close()
		var names []string
		var text strings.Builder
		var done api.SearchResult
		for _, ev := range evs {
			def, ok := defs[ev.Event]
			if !ok {
				t.Fatalf("unexpected event %q: %s", ev.Event, ev.Data)
			}
			validate(t, searchSchema(t, def), ev.Data)
			if len(names) == 0 || names[len(names)-1] != ev.Event {
				names = append(names, ev.Event)
			}
			switch ev.Event {
			case "token":
				var tok api.ChatToken
				_ = json.Unmarshal(ev.Data, &tok)
				text.WriteString(tok.Text)
			case "done":
				_ = json.Unmarshal(ev.Data, &done)
			}
		}
		if want := []string{"sources", "token", "followUps", "done"}; !slices.Equal(names, want) {
			t.Fatalf("cached=%v: events %v, want %v", cachedRun, names, want)
		}
		if done.Cached != cachedRun || strings.TrimSpace(text.String()) != done.Answer || !strings.Contains(done.Answer, "180 euros") {
			t.Errorf("cached=%v: done %+v, tokens %q", cachedRun, done, text.String())
		}
	}
}

func TestSearchBadInput(t *testing.T) {
	s := startSearch(t)
	for _, tt := range []struct {
		body, ctype string
		status      int
		code        api.ErrorCode
	}{
		{`{"query":""}`, "application/json", 400, api.CodeInvalidRequest},
		{`{"query":"   \n "}`, "application/json", 400, api.CodeInvalidRequest},
		{`{"query":` + quote(strings.Repeat("word ", 401)) + `}`, "application/json", 400, api.CodeInvalidRequest},
		{`{"query":"hotel"`, "application/json", 400, api.CodeInvalidRequest},
		{`{"query":"hotel","colour":"red"}`, "application/json", 400, api.CodeInvalidRequest},
		{`{"query":42}`, "application/json", 400, api.CodeInvalidRequest},
		{`{"query":"hotel","topK":11}`, "application/json", 400, api.CodeInvalidRequest},
		{`{"query":"hotel","topK":-1}`, "application/json", 400, api.CodeInvalidRequest},
		{`{"query":"hotel","filters":{"dept":{"eq":"hr","in":["x"]}}}`, "application/json", 400, api.CodeInvalidRequest},
		{`{"query":"hello","model":"openai/gpt-4o"}`, "application/json", 400, api.CodeModelNotAllowed},
		{`{"query":"hotel"}`, "text/plain", 415, api.CodeUnsupportedMediaType},
		{`{"query":"` + strings.Repeat("x", 2<<20) + `"}`, "application/json", 413, api.CodePayloadTooLarge},
	} {
		status, env := call(t, s, "acme", "POST", "/search", tt.ctype, tt.body)
		if status != tt.status || env.Error == nil || env.Error.Code != tt.code {
			t.Errorf("%.60s: %d %+v, want %d %s", tt.body, status, env.Error, tt.status, tt.code)
		}
	}
	// Without the search scope, or without a key.
	for key, want := range map[string]int{"ck_nosearch_acme": 403, "": 401, "ck_dev_nobody": 401} {
		res := do(t, t.Context(), "POST", s.url+"/search", key, `{"query":"hotel"}`)
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("key %q: %d, want %d", key, res.StatusCode, want)
		}
	}
}

// fakeLLM is an OpenAI-compatible chat endpoint standing in for a tenant's
// language model: it rewrites queries for the planner prompt, suggests
// follow-ups for the follow-up prompt, and otherwise answers citing [1]
// and a source that does not exist, [7].
func fakeLLM(t *testing.T, planner string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Stream   bool `json:"stream"`
			Messages []struct {
				Role    string `json:"role"`
				Content string `json:"content"`
			} `json:"messages"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || r.URL.Path != "/v1/chat/completions" {
			http.Error(w, "bad request", 400)
			return
		}
		sys := req.Messages[0].Content
		text := "Hotel costs are refunded up to 180 euros per night [1], and trains are free [7]."
		switch {
		case strings.Contains(sys, "You prepare queries"):
			text = planner
		case strings.Contains(sys, "follow-up questions"):
			text = "1. Which airline books flights?\n2. What about receipts?\nnot a question\n"
		}
		if req.Stream {
			w.Header().Set("Content-Type", "text/event-stream")
			for _, word := range strings.SplitAfter(text, " ") {
				b, _ := json.Marshal(map[string]any{"id": "c", "object": "chat.completion.chunk", "model": "m",
					"choices": []any{map[string]any{"index": 0, "delta": map[string]any{"content": word}}}})
				fmt.Fprintf(w, "data: %s\n\n", b)
			}
			fmt.Fprint(w, `data: {"id":"c","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":50,"completion_tokens":20,"total_tokens":70}}`+"\n\ndata: [DONE]\n\n")
			return
		}
		b, _ := json.Marshal(map[string]any{"id": "c", "object": "chat.completion", "model": "m",
			"choices": []any{map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": text}, "finish_reason": "stop"}},
			"usage":   map[string]any{"prompt_tokens": 50, "completion_tokens": 20, "total_tokens": 70}})
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestSearchWithLanguageModel(t *testing.T) {
	for _, tt := range []struct {
		name, planner, rewritten, by string
	}{
		{"model rewrite", `{"intent":"question","query":"hotel refund limit per night"}`, "hotel refund limit per night", "rewrite:model"},
		{"planner out of form", `I think you mean hotels.`, "How much are hotel costs refunded per night", "rewrite:rules"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			llm := fakeLLM(t, tt.planner)
			dir := t.TempDir()
			models := `{"chat": {"model": "builtin/extractive"}, "embedding": {"model": "builtin/hash-384"}, "routes": {"search": {"model": "llm/m"}}}`
			writeTenant(t, dir, "acme", searchTenant("acme", models, `"llm": {"type": "openai", "baseUrl": "`+llm.URL+`/v1"}`))
			s := startDeps(t, testConfig(t, dir), app.Deps{})
			ingestDoc(t, s, "acme", "handbook", "Travel handbook", handbook)

			status, res, e := search(t, s, "acme", `{"query":"How much are hotel costs refunded per night?"}`)
			if status != 200 {
				t.Fatalf("search = %d %+v", status, e)
			}
			if res.Path[0] != tt.by || res.RewrittenQuery != tt.rewritten || res.Model != "llm/m" {
				t.Errorf("path %v rewritten %q model %q", res.Path, res.RewrittenQuery, res.Model)
			}
			// The citation of a source that does not exist is dropped.
			if strings.Contains(res.Answer, "[7]") || !strings.Contains(res.Answer, "[1]") {
				t.Errorf("answer = %q", res.Answer)
			}
			checkCitations(t, res, "handbook")
			if !slices.Equal(res.FollowUps, []string{"Which airline books flights?", "What about receipts?"}) || res.Path[len(res.Path)-1] != "followUps:model" {
				t.Errorf("followUps %q path %v", res.FollowUps, res.Path)
			}
			// Half the answer is unsupported ("trains are free"): the
			// confidence says so.
			if res.Confidence >= 0.9 {
				t.Errorf("confidence %v for a half-supported answer", res.Confidence)
			}
		})
	}
}

// A search whose answer does not fit the tenant's budget is refused before
// anything streams, with its own status; the paths that call no model
// still answer.
func TestSearchBudget(t *testing.T) {
	dir := t.TempDir()
	writeTenant(t, dir, "acme", strings.Replace(searchTenant("acme", "", ""), `"cache"`, `"limits": {"budget": {"tokensPerDay": 1000}}, "cache"`, 1))
	s := startDeps(t, testConfig(t, dir), app.Deps{})
	ingestDoc(t, s, "acme", "handbook", "Travel handbook", handbook)
	for _, stream := range []string{"false", "true"} {
		status, env := call(t, s, "acme", "POST", "/search", "application/json", `{"query":"How much are hotel costs refunded per night?","stream":`+stream+`}`)
		if status != 402 || env.Error == nil || env.Error.Code != api.CodeBudgetExceeded {
			t.Errorf("stream %s: %d %+v, want 402 budget_exceeded", stream, status, env.Error)
		}
	}
	if status, res, e := search(t, s, "acme", `{"query":"travel handbook"}`); status != 200 || res.Intent != api.IntentNavigational {
		t.Errorf("navigational search over budget = %d %+v %+v", status, res, e)
	}
}
