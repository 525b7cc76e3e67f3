package app_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/app"
	"github.com/crispy-enigma/crispy/internal/config"
)

// searchAnswer asks tenant id's /search and returns the answer.
func searchAnswer(t *testing.T, s *started, id, query string) string {
	t.Helper()
	status, env := call(t, s, id, "POST", "/search", "application/json", fmt.Sprintf(`{"query":%q}`, query))
	if status != 200 {
		t.Fatalf("search %q as %s: %d %+v", query, id, status, env.Error)
	}
	var res api.SearchResult
	if err := json.Unmarshal(env.Data, &res); err != nil {
		t.Fatal(err)
	}
	return res.Answer
}

// documentIDs lists acme's documents.
func documentIDs(t *testing.T, s *started) []string {
	t.Helper()
	status, env := call(t, s, "acme", "GET", "/documents", "", "")
	if status != 200 {
		t.Fatalf("GET /documents: %d %+v", status, env.Error)
	}
	var page struct {
		Documents []struct {
			ID string `json:"id"`
		} `json:"documents"`
	}
	if err := json.Unmarshal(env.Data, &page); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, d := range page.Documents {
		ids = append(ids, d.ID)
	}
	return ids
}

// TestExampleKnowledgeBaseIsSeeded starts the example tenants over an empty
// data folder: acme's seed documents answer the README's questions, globex
// has none, and a seed document deleted stays deleted after a restart.
func TestExampleKnowledgeBaseIsSeeded(t *testing.T) {
	cfg := testConfig(t, copyTenants(t))
	a, err := app.New(t.Context(), cfg, app.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	s := serveApp(t, a)
	if got, want := strings.Join(documentIDs(t, s), ","), "crispy-enigma.md,orders-and-shipping.md,travel-handbook.md"; got != want {
		t.Errorf("acme's documents = %s, want %s", got, want)
	}
	for q, want := range map[string]string{
		"How much is refunded per hotel night?": "180 euros per night",
		"What is Crispy Enigma?":                "tenant-first AI platform",
	} {
		if got := searchAnswer(t, s, "acme", q); !strings.Contains(got, want) {
			t.Errorf("acme: %q answered %q, want %q in it", q, got, want)
		}
	}
	if got := searchAnswer(t, s, "globex", "How much is refunded per hotel night?"); strings.Contains(got, "180") {
		t.Errorf("globex answers from acme's seed documents: %q", got)
	}
	if status, env := call(t, s, "acme", "DELETE", "/documents/orders-and-shipping.md", "", ""); status != 200 {
		t.Fatalf("delete: %d %+v", status, env.Error)
	}
	s.stop(t)

	a, err = app.New(t.Context(), cfg, app.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	s = serveApp(t, a)
	defer s.stop(t)
	if got, want := strings.Join(documentIDs(t, s), ","), "crispy-enigma.md,travel-handbook.md"; got != want {
		t.Errorf("after a restart acme's documents = %s, want %s (no second seeding)", got, want)
	}
}

// TestServeEmbeddedTenantsWithoutFolder starts in dev with no tenants
// folder: the examples embedded in the binary are served, seeded, and the
// log says so. In stage and prod a missing folder is an error.
func TestServeEmbeddedTenantsWithoutFolder(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "tenants")
	var logs lockedBuffer
	s := startDeps(t, testConfig(t, missing), app.Deps{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	for _, id := range []string{"acme", "globex"} {
		if status, _ := get(t, s.url+"/health", "ck_dev_"+id); status != 200 {
			t.Errorf("%s /health = %d", id, status)
		}
	}
	if got := searchAnswer(t, s, "acme", "How much is refunded per hotel night?"); !strings.Contains(got, "180 euros") {
		t.Errorf("acme answered %q", got)
	}
	if !strings.Contains(logs.String(), `"msg":"no tenants folder: serving the example tenants embedded in the binary`) {
		t.Errorf("the log does not say the examples are served:\n%s", logs.String())
	}

	for _, env := range []config.Env{config.Stage, config.Prod} {
		cfg := testConfig(t, missing)
		cfg.Env = env
		if _, err := app.New(t.Context(), cfg, app.Deps{}); err == nil || !strings.Contains(err.Error(), "read tenants folder") {
			t.Errorf("--env %s without a tenants folder: %v, want a read error", env, err)
		}
	}
}

// With rag.groundCompletions on, acme's OpenAI-compatible route answers
// from its knowledge base and cites it; a tenant without it is not
// grounded.
func TestGroundedCompletions(t *testing.T) {
	cfg := testConfig(t, copyTenants(t))
	a, err := app.New(t.Context(), cfg, app.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	s := serveApp(t, a)
	ask := func(key, question string) string {
		t.Helper()
		res := do(t, t.Context(), "POST", s.url+"/v1/chat/completions", key,
			`{"model":"builtin/extractive","messages":[{"role":"user","content":`+quote(question)+`}]}`)
		var out struct {
			Choices []struct {
				Message struct{ Content string }
			}
		}
		decodeBody(t, res, &out)
		if res.StatusCode != 200 || len(out.Choices) != 1 {
			t.Fatalf("%s: %d %+v", question, res.StatusCode, out)
		}
		return out.Choices[0].Message.Content
	}
	if got := ask("ck_dev_acme", "How much is refunded per hotel night?"); !strings.Contains(got, "180 euros per night") || !strings.Contains(got, "[1]") {
		t.Errorf("acme answered %q, want the handbook's figure with its citation", got)
	}
	if got := ask("ck_dev_acme", "What is Crispy Enigma?"); !strings.Contains(got, "tenant-first") {
		t.Errorf("acme answered %q", got)
	}
	if got := ask("ck_dev_globex", "How much is refunded per hotel night?"); strings.Contains(got, "180") || strings.Contains(got, "[1]") {
		t.Errorf("globex, not grounded, answered %q", got)
	}
}
