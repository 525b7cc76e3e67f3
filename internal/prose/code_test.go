package prose

import (
	"strings"
	"testing"
)

func TestIsCode(t *testing.T) {
	code := []string{
		`{"query": "How much are hotel costs refunded per night?", "topK": 4, "filters": {"dept": {"eq": "hr"}}}`,
		"{\n  \"answer\": \"Hotel costs are refunded up to 180 euros per night. [1]\",\n  \"sources\": [\n    {\"n\": 1}\n  ]\n}",
		`"answer": "Hotel costs are refunded up to 180 euros per night.",`,
		`"url": "https://intra.example/handbook", "snippet": "Travel handbook…", "score": 0.0328}`,
		`[{"id": 1}, {"id": 2}]`,
		`[1, 2, 3]`,
		`}`,
		`<div class="note">Hotel costs</div>`,
		`</p>`,
		`<!-- a comment -->`,
		`curl -s localhost:8080/tools -H 'Authorization: Bearer ck_dev_globex'`,
		`go run ./bench/eval -data ../shared/data/cranfield`,
		`go build -o /tmp/crispy ./cmd/crispy && go run ./bench/rag -bin /tmp/crispy`,
		`crispy ingest ./docs --tenant acme`,
		`$ make test`,
		`cat log.txt | grep error`,
		`https://intra.example/handbook`,
		`./bench/rag`,
		`/var/lib/crispy/data.db`,
		`retrieval = 0.7 · coverage + 0.3 · agreement`,
		`x := compute(a, b)`,
		`return nil;`,
		`func main() {`,
		`if (a == b) {`,
		"event: token\ndata: {\"text\":\"Hotel \"}\n...\nevent: done",
		"event: sources\nevent: token",
		"Content-Type: application/json\nAuthorization: Bearer ck_dev_acme",
		"package main\n\nimport \"fmt\"\n\nfunc main() {\n\tfmt.Println(1)\n}",
		`a[i] = b[j] + c{d}; e <= f`,
	}
	for _, s := range code {
		if !IsCode(s) {
			t.Errorf("IsCode(%q) = false, want true", s)
		}
	}
	prose := []string{
		"Hotel costs are refunded up to 180 euros per night.",
		"Run go test ./... before you commit.",
		`He said "Stop." Then he left.`,
		"The rate limit is 1,200 requests per minute (burst 60); see rate-limiting.md for details.",
		"Measured with go build -o /tmp/crispy ./cmd/crispy && go run ./bench/startup -bin /tmp/crispy -runs 5 (2 cores):",
		"mode: bm25 (exact terms: names, codes, numbers), vector (meaning), or hybrid (default): each retriever returns its best 100.",
		"rag.chunkTokens (default 256, counted with cl100k_base) bounds a chunk.",
		"Answers cite sources as [n], and every [n] names a source.",
		"[1] Hotel costs are refunded.",
		"The answer is no. The next one is yes.",
		"Scope: search. Rate limits and budgets: the search route family.",
		"Passwords must have at least 14 characters.",
		"Refund policy",
		"Node.js and Go",
		"$5 is the price of a coffee.",
		"< 5 ms at the 95th percentile",
		"This line is wrapped\nacross two lines. And\nthis one too.",
		"- dynamic typing and garbage collection\n- support for structured programming\n- a large standard library",
		"field | | \nquery | required | 1 to 2,000 characters after normalisation (below).",
		"Offline rules decide by default; when the search route's model is a language model, the model decides, answering a fixed prompt with {\"intent\", \"query\"}.",
		"",
	}
	for _, s := range prose {
		if IsCode(s) {
			t.Errorf("IsCode(%q) = true, want false", s)
		}
	}
}

// Split marks every sentence of a code block as code, prose ones too (a
// string in a JSON document), and leaves the prose around it alone.
func TestSplitMarksCode(t *testing.T) {
	text := "The envelope's data:\n\n{\n  \"answer\": \"Hotel costs are refunded up to 180 euros per night. [1]\",\n  \"confidence\": 0.767\n}\n\nIts JSON Schema is published. Every response is validated.\n\ncurl -s localhost:8080/search -H 'Authorization: Bearer ck_dev_acme'"
	var got []string
	for _, sp := range Split(text) {
		s := strings.Join(strings.Fields(text[sp.Start:sp.End]), " ")
		if sp.Code {
			s = "C: " + s
		}
		got = append(got, s)
	}
	want := []string{
		"The envelope's data:",
		`C: { "answer": "Hotel costs are refunded up to 180 euros per night.`,
		`C: [1]", "confidence": 0.767 }`,
		"Its JSON Schema is published.",
		"Every response is validated.",
		"C: curl -s localhost:8080/search -H 'Authorization: Bearer ck_dev_acme'",
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("Split\n got %q\nwant %q", got, want)
	}
}

func TestCorpusQuotesProseOnly(t *testing.T) {
	c := NewCorpus([]Passage{{Cite: 1, Title: "Search", Text: "## Response\n\n{\n  \"answer\": \"Hotel costs are refunded up to 180 euros per night. [1]\"\n}\n\nHotel costs are capped by the travel policy.\n\ngo run ./bench/rag -bin /tmp/crispy -chunks 100000"}})
	var got []string
	for _, cand := range c.Candidates {
		got = append(got, cand.Text)
	}
	if want := []string{"Hotel costs are capped by the travel policy."}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("candidates %q, want %q", got, want)
	}
}

func TestHasProse(t *testing.T) {
	for _, tt := range []struct {
		text string
		want bool
	}{
		{"## Request\n\n{\"query\": \"hotel refund per night\", \"topK\": 8}", false},
		{"go build -o /tmp/crispy ./cmd/crispy\ngo run ./bench/rag -bin /tmp/crispy", false},
		{"# Title\n\nToo short", false},
		{"", false},
		{"## Request\n\n{\"query\": \"x\"}\n\nThe query is normalised first.", true},
	} {
		if got := HasProse(tt.text); got != tt.want {
			t.Errorf("HasProse(%q) = %v, want %v", tt.text, got, tt.want)
		}
	}
}

func FuzzIsCode(f *testing.F) {
	for _, s := range []string{"", "{", "[1]", "<a", "$ x", "a := b", "go run ./x -y", "\"k\": 1", "key: value\nk: v", "\xff{"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		IsCode(s)
		for _, sp := range Split(s) {
			if sp.Start >= sp.End || sp.End > len(s) {
				t.Fatalf("bad span %+v", sp)
			}
		}
	})
}
