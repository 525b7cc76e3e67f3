package app_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/app"
	"github.com/crispy-enigma/crispy/internal/prose"
)

// docsTenant is a tenant set up like the example tenant acme: builtin
// models, chunks of 256 tokens, minConfidence 0.2.
func docsTenant(id string) string {
	return fmt.Sprintf(`{
  "id": %q, "name": "Docs",
  "keys": [{"id": "dev", "hash": %q, "scopes": ["chat", "search", "documents:read", "documents:write"], "dev": true}],
  "models": {"chat": {"model": "builtin/extractive"}, "embedding": {"model": "builtin/hash-384"}},
  "rag": {"enabled": true, "chunkTokens": 256, "overlapTokens": 32, "topK": 8, "maxTopK": 20, "minConfidence": 0.2},
}`, id, keyHash("ck_dev_"+id))
}

// startDocs serves a tenant whose knowledge base is the Markdown files of
// testdata/kb (copies of pages of docs/, so that the test does not move
// when the docs do), ingested as `crispy ingest` does: the ID is the file
// name and the title comes from the page.
func startDocs(t *testing.T) *started {
	t.Helper()
	dir := t.TempDir()
	writeTenant(t, dir, "docs", docsTenant("docs"))
	s := startDeps(t, testConfig(t, dir), app.Deps{})
	files, err := filepath.Glob("testdata/kb/*.md")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		body := fmt.Sprintf(`{"id":%q,"markdown":%s}`, filepath.Base(f), quote(string(b)))
		if status, env := call(t, s, "docs", "POST", "/documents", "application/json", body); status != 201 {
			t.Fatalf("ingest %s = %d %+v", f, status, env.Error)
		}
	}
	return s
}

var citationRun = regexp.MustCompile(`(\s*\[\d+\])+`)

// claims cuts an answer after each citation run.
func claims(answer string) []string {
	var out []string
	for _, c := range citationRun.Split(answer, -1) {
		if c = strings.TrimSpace(c); c != "" {
			out = append(out, c)
		}
	}
	return out
}

// checkProse fails when an answer quotes code, data or markup as a
// sentence.
func checkProse(t *testing.T, query string, res api.SearchResult) {
	t.Helper()
	for _, c := range claims(res.Answer) {
		if prose.IsCode(c) || strings.IndexAny(c, `{["<`) == 0 || strings.Contains(c, `":`) {
			t.Errorf("%q: the answer quotes code as a sentence: %q (confidence %v)", query, c, res.Confidence)
		}
	}
}

// checkQuestion fails when a follow-up is not a well-formed question made
// of prose.
func checkQuestion(t *testing.T, query, q string) {
	t.Helper()
	first, _ := utf8.DecodeRuneInString(q)
	if !unicode.IsUpper(first) || !strings.HasSuffix(q, "?") || strings.Count(q, "?") != 1 ||
		strings.ContainsAny(q, "{}[]<>\"`|\n") || prose.IsCode(strings.TrimSuffix(q, "?")) || len(strings.Fields(q)) < 2 {
		t.Errorf("%q: follow-up %q is not a question in prose", query, q)
	}
}

// The repository's docs hold JSON bodies and shell sessions among their
// prose. Search answers from the prose alone, says it does not know when
// only code matches, and proposes follow-ups that are questions in prose,
// each of which leads to a prose answer.
func TestSearchNeverServesCodeAsProse(t *testing.T) {
	s := startDocs(t)
	ask := func(query string) api.SearchResult {
		t.Helper()
		status, res, e := search(t, s, "docs", fmt.Sprintf(`{"query":%s}`, quote(query)))
		if status != 200 {
			t.Fatalf("search %q = %d %+v", query, status, e)
		}
		checkProse(t, query, res)
		for _, q := range res.FollowUps {
			checkQuestion(t, query, q)
		}
		return res
	}

	// The refund limit is stated only inside example JSON bodies: there is
	// no prose to answer from.
	for _, query := range []string{
		"How much is refunded per hotel night?",
		"How much are hotel costs refunded per night?",
		// Their best lexical matches are in code blocks.
		"topK filters dept eq hr",
		"dept eq hr year in 2025 2026",
		"Travel handbook Expenses headingPath",
		"job status running total 120 done 57 failed 0",
	} {
		res := ask(query)
		if res.Answer != api.NoConfidentAnswer {
			t.Errorf("%q: answer %q (confidence %v), want %q", query, res.Answer, res.Confidence, api.NoConfidentAnswer)
		}
		if res.Confidence >= 0.2 {
			t.Errorf("%q: confidence %v with no prose to answer from", query, res.Confidence)
		}
	}

	// Prose questions keep their prose answers, and every follow-up asked
	// back gets one too.
	for _, query := range []string{
		"How are follow-up questions chosen offline?",
		"What does the cache key hold?",
		"How does reciprocal rank fusion combine the retrievers?",
	} {
		res := ask(query)
		if res.Answer == api.NoConfidentAnswer || !citation.MatchString(res.Answer) || res.Confidence < 0.2 {
			t.Errorf("%q: answer %q confidence %v, want a cited prose answer", query, res.Answer, res.Confidence)
		}
		if len(res.FollowUps) == 0 {
			t.Errorf("%q: no follow-ups", query)
		}
		for _, q := range res.FollowUps {
			again := ask(q)
			if again.Answer == api.NoConfidentAnswer || !citation.MatchString(again.Answer) {
				t.Errorf("follow-up %q of %q: answer %q confidence %v, want a cited prose answer", q, query, again.Answer, again.Confidence)
			}
		}
	}
}
