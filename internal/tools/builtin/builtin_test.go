package builtin_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crispy-enigma/crispy/internal/store/sqlite"
	"github.com/crispy-enigma/crispy/internal/tenant"
	"github.com/crispy-enigma/crispy/internal/tools"
	"github.com/crispy-enigma/crispy/internal/tools/builtin"
)

var update = flag.Bool("update", false, "rewrite the .golden files in testdata")

// acme enables every builtin tool and chunks small, so that the fixtures
// make several chunks.
func acme() *tenant.Tenant {
	cfg := tenant.Config{
		ID:    "acme",
		RAG:   tenant.RAG{ChunkTokens: 40, OverlapTokens: 8},
		Tools: tenant.Tools{Enabled: []string{"summarize", "extract_entities", "classify_intent", "tag_chunk", "ingest_docs"}, Intents: []string{"billing", "support", "sales", "other"}},
	}.WithDefaults()
	return &tenant.Tenant{ID: tenant.MustID("acme"), Config: &cfg}
}

func dispatcher(t *testing.T) (*tools.Dispatcher, *sqlite.DB) {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "audit.db"), sqlite.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return tools.New(tools.Options{Registry: builtin.Registry(builtin.Deps{}), Audit: db.Audit()}), db
}

func caller() tenant.Caller {
	scopes := tenant.ScopeSet{tenant.ScopeTools}
	return tenant.Caller{Tenant: acme(), Key: &tenant.Key{ID: "k", Scopes: scopes}, RequestID: "req"}
}

var prefixes = map[string]string{
	"summarize_": builtin.Summarize,
	"entities_":  builtin.ExtractEntities,
	"intent_":    builtin.ClassifyIntent,
	"tag_":       builtin.TagChunk,
}

// TestGolden runs every fixture in testdata through the dispatcher (so
// that arguments and results pass their schemas) and compares the result
// with its .golden file.
func TestGolden(t *testing.T) {
	d, _ := dispatcher(t)
	files, _ := filepath.Glob("testdata/*.json")
	if len(files) == 0 {
		t.Fatal("no fixtures")
	}
	seen := map[string]bool{}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		t.Run(name, func(t *testing.T) {
			tool := ""
			for p, tl := range prefixes {
				if strings.HasPrefix(name, p) {
					tool = tl
				}
			}
			if tool == "" {
				t.Fatalf("fixture %s names no tool", name)
			}
			seen[tool] = true
			args, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			out, err := d.Invoke(t.Context(), caller(), tool, args, false)
			if err != nil {
				t.Fatalf("Invoke: %v", err)
			}
			checkResult(t, tool, args, out)
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, out, "", "  "); err != nil {
				t.Fatal(err)
			}
			pretty.WriteByte('\n')
			golden := strings.TrimSuffix(f, ".json") + ".golden"
			if *update {
				if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got := pretty.String(); got != string(want) {
				t.Errorf("result differs from %s:\n got %s\nwant %s", golden, got, want)
			}
		})
	}
	for _, tool := range prefixes {
		if !seen[tool] {
			t.Errorf("no fixture for %s", tool)
		}
	}
}

// checkResult checks what must hold of any result, beyond its golden file:
// entities and sentences are taken from the text, chunks are numbered in
// order and do not go back.
func checkResult(t *testing.T, tool string, args, out []byte) {
	t.Helper()
	var in struct{ Text, Markdown string }
	_ = json.Unmarshal(args, &in)
	switch tool {
	case builtin.ExtractEntities:
		var res builtin.EntitiesResult
		_ = json.Unmarshal(out, &res)
		for _, e := range res.Entities {
			if e.Start < 0 || e.End > len(in.Text) || in.Text[e.Start:e.End] != e.Text {
				t.Errorf("entity %+v is not text[start:end]", e)
			}
		}
	case builtin.Summarize:
		var res builtin.SummaryResult
		_ = json.Unmarshal(out, &res)
		for _, s := range res.Sentences {
			if !strings.Contains(in.Text, s) {
				t.Errorf("sentence %q is not in the text", s)
			}
		}
		if len(res.Sentences) > 3 {
			t.Errorf("%d sentences, want at most 3", len(res.Sentences))
		}
	case builtin.TagChunk:
		var res builtin.TagChunkResult
		_ = json.Unmarshal(out, &res)
		end := 0
		for i, c := range res.Chunks {
			if c.Ordinal != i || c.Start < end-200 || c.End <= c.Start || c.End-c.Start != len(c.Text) {
				t.Errorf("chunk %d: %+v", i, c)
			}
			end = c.End
		}
	}
}

// TestIntegerSpellings checks that integers JSON Schema accepts ("2.0",
// "2e0") reach the tool as integers instead of failing to decode.
func TestIntegerSpellings(t *testing.T) {
	d, _ := dispatcher(t)
	text := "Cats sleep most of the day. Dogs like long walks in the park. Birds sing early in the morning. Fish swim."
	for _, n := range []string{"2", "2.0", "2e0", "20e-1"} {
		out, err := d.Invoke(t.Context(), caller(), builtin.Summarize, []byte(`{"text":"`+text+`","maxSentences":`+n+`}`), false)
		if err != nil {
			t.Fatalf("maxSentences %s: %v", n, err)
		}
		var res builtin.SummaryResult
		_ = json.Unmarshal(out, &res)
		if len(res.Sentences) != 2 {
			t.Errorf("maxSentences %s: %d sentences", n, len(res.Sentences))
		}
	}
}

func TestPlaces(t *testing.T) {
	got := builtin.ExtractRules("A Parisian flew from Hong Kong to South Korea, then to New  York and paris; Berlin.", []string{"place"})
	var names []string
	for _, e := range got {
		names = append(names, e.Text)
	}
	if want := "Hong Kong|South Korea|Berlin"; strings.Join(names, "|") != want {
		t.Errorf("places = %q, want %s", names, want)
	}
}
