package search

import (
	"slices"
	"strings"
	"testing"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/rag"
	"github.com/crispy-enigma/crispy/internal/rag/index"
)

func TestRules(t *testing.T) {
	for _, tt := range []struct {
		query, intent, rewritten string
	}{
		{"Hello", api.IntentChitChat, "Hello"},
		{"hi there!", api.IntentChitChat, "hi there!"},
		{"Thanks a lot", api.IntentChitChat, "Thanks a lot"},
		{"who are you?", api.IntentChitChat, "who are you?"},
		{"How much are hotel costs refunded?", api.IntentQuestion, "How much are hotel costs refunded"},
		{"Can you tell me how refunds work?", api.IntentQuestion, "how refunds work"},
		{"refund policy for hotels in europe and asia", api.IntentQuestion, "refund policy for hotels in europe and asia"},
		{"explain the refund rules", api.IntentQuestion, "explain the refund rules"},
		{"Skyways", api.IntentKeyword, "Skyways"},
		{"hotel refund, please", api.IntentKeyword, "hotel refund"},
		{"search for travel desk", api.IntentKeyword, "travel desk"},
		{"pricing page", api.IntentNavigational, "pricing page"},
		{"go to the billing settings", api.IntentNavigational, "go to the billing settings"},
		{"docs for the export API", api.IntentNavigational, "docs for the export API"},
		{"https://intra.example/handbook", api.IntentNavigational, "https://intra.example/handbook"},
		{"please", api.IntentKeyword, "please"}, // nothing left after the rewrite: kept
		{"hello world program", api.IntentKeyword, "hello world program"},
	} {
		p, reply := Rules(Normalize(tt.query))
		if p.Intent != tt.intent || p.Rewritten != tt.rewritten || p.By != "rules" {
			t.Errorf("Rules(%q) = %+v, want intent %s rewritten %q", tt.query, p, tt.intent, tt.rewritten)
		}
		if (reply != "") != (tt.intent == api.IntentChitChat) {
			t.Errorf("Rules(%q) reply = %q", tt.query, reply)
		}
	}
}

func TestNormalizeAndCacheForm(t *testing.T) {
	if got := Normalize("  \u201cHotel\u00a0 refunds\u201d \n"); got != "Hotel refunds" {
		t.Errorf("Normalize = %q", got)
	}
	if Normalize("Ｈｏｔｅｌ") != "Hotel" {
		t.Errorf("Normalize does not apply NFKC")
	}
	a, b := cacheForm(Normalize("How are hotels refunded?")), cacheForm(Normalize("how are HOTELS  refunded?"))
	if a != b {
		t.Errorf("cache forms differ: %q %q", a, b)
	}
	if cacheForm("hotel refunds!") != cacheForm("Hotel refunds.") {
		t.Error("a final full stop or exclamation mark changes the cache form")
	}
	// A final question mark changes the intent, and other characters the
	// meaning: they keep their own entries.
	for _, pair := range [][2]string{{"reset password?", "reset password"}, {"what is c#", "what is c"}, {"5%", "5"}} {
		if cacheForm(pair[0]) == cacheForm(pair[1]) {
			t.Errorf("%q and %q share a cache form", pair[0], pair[1])
		}
	}
	if cacheForm("hotels refunded") == cacheForm("hotels not refunded") {
		t.Error("different queries share a cache form")
	}
}

func TestCacheKey(t *testing.T) {
	base := Request{TopK: 4}
	k := cacheKey(1, "q", base)
	for name, other := range map[string]string{
		"version": cacheKey(2, "q", base),
		"query":   cacheKey(1, "r", base),
		"topK":    cacheKey(1, "q", Request{TopK: 5}),
		"model":   cacheKey(1, "q", Request{TopK: 4, Model: "m"}),
		"filters": cacheKey(1, "q", Request{TopK: 4, Filters: index.Filter{"a": {Eq: "b"}}}),
	} {
		if other == k {
			t.Errorf("a different %s gives the same key", name)
		}
	}
	if cacheKey(1, "Q.", base) != k {
		t.Error("case and a final full stop change the key")
	}
}

func TestCiteFilter(t *testing.T) {
	for _, tt := range []struct {
		pieces  []string
		sources int
		want    string
		dropped []int
	}{
		{[]string{"Paris [1] and Rome [2]."}, 2, "Paris [1] and Rome [2].", nil},
		{[]string{"Paris [", "1", "] and Rome [", "9]."}, 2, "Paris [1] and Rome .", []int{9}},
		{[]string{"Arrays [0] and [x] stay"}, 3, "Arrays  and [x] stay", []int{0}},
		{[]string{"see [12345] and [7] and [2]"}, 3, "see  and  and [2]", []int{12345, 7}},
		{[]string{"huge [99999999999999999999999] gone"}, 3, "huge  gone", []int{0}},
		{[]string{"open [3"}, 3, "open [3", nil},
		{[]string{"a [1][2][3]"}, 2, "a [1][2]", []int{3}},
	} {
		f := newCiteFilter(tt.sources)
		var b strings.Builder
		for _, p := range tt.pieces {
			b.WriteString(f.Write(p))
		}
		b.WriteString(f.Flush())
		if b.String() != tt.want || !slices.Equal(f.dropped, tt.dropped) {
			t.Errorf("%q: got %q dropped %v, want %q %v", tt.pieces, b.String(), f.dropped, tt.want, tt.dropped)
		}
	}
}

func TestSupport(t *testing.T) {
	passages := []string{"Hotel costs are refunded up to 180 euros per night.", "Flights are booked through Skyways.",
		`Example: {"answer": "Hotel costs are refunded up to 180 euros per night.", "confidence": 1}`}
	for _, tt := range []struct {
		answer string
		want   float64
		cites  bool
	}{
		{"Hotel costs are refunded up to 180 euros per night [1].", 1, true},
		{"Hotel costs are refunded up to 180 euros per night. [1] Flights are booked through Skyways. [2]", 1, true},
		{"Hotel costs are refunded up to 180 euros per night [2].", 0, true}, // cites the wrong passage
		{"Hotel costs are refunded up to 180 euros per night.", 0, false},    // cites nothing
		{"Hotel costs are refunded [1]. Trains are free.", 0.5, true},
		// Code quoted as a claim backs nothing, even from the passage that
		// holds it.
		{`{"answer": "Hotel costs are refunded up to 180 euros per night. [3]`, 0, true},
		{`{"answer": "Hotel costs are refunded up to 180 euros per night.", "confidence": 1} [3] Flights are booked through Skyways. [2]`, 0.5, true},
		{"", 0, false},
	} {
		if got, cites := support(tt.answer, passages); got != tt.want || cites != tt.cites {
			t.Errorf("support(%q) = %v, %v, want %v, %v", tt.answer, got, cites, tt.want, tt.cites)
		}
	}
}

func TestAnswerCoverage(t *testing.T) {
	for _, tt := range []struct {
		query, answer string
		want          float64
	}{
		{"hotel refunds", "Hotels are refunded up to 180 euros [1].", 1},
		{"How do budgets work?", "The benchmark runs the same work [1].", 0.5},
		{"quantum", "Hotels are refunded [1].", 0},
		{"the of", "anything", 1},
	} {
		if got := answerCoverage(tt.query, tt.answer); got != tt.want {
			t.Errorf("answerCoverage(%q, %q) = %v, want %v", tt.query, tt.answer, got, tt.want)
		}
	}
	if got := answerConfidence(0.8, 1, true, 1); got != 0.8 {
		t.Errorf("a backed answer that covers the query keeps the retrieval figure: %v", got)
	}
	if got := answerConfidence(0.8, 0, true, 0); got != 0.2 {
		t.Errorf("an unbacked answer that misses the query: %v, want 0.2", got)
	}
	if got := answerConfidence(1, 0, false, 1); got != 0 {
		t.Errorf("an answer that cites nothing: %v, want 0", got)
	}
}

func TestBestTitle(t *testing.T) {
	chunks := []rag.Chunk{{Title: "Architecture"}, {Title: "Tenants"}, {Title: "Tenants and keys"}}
	if got := bestTitle("tenants page", chunks); got != 1 {
		t.Errorf("bestTitle = %d, want 1 (the best ranked title naming tenants)", got)
	}
	if got := bestTitle("pricing page", chunks); got != 0 {
		t.Errorf("no title matches: %d, want the best ranked, 0", got)
	}
	if got := navigate(rag.Chunk{Title: "Tenants", URL: "https://x/t"}, 2); got != "The page you are looking for is probably “Tenants” (https://x/t) [2]." {
		t.Errorf("navigate = %q", got)
	}
}

func TestRetrievalConfidence(t *testing.T) {
	chunks := []rag.Chunk{
		{Title: "Travel", Text: "Hotel costs are refunded up to 180 euros per night.", Ranks: rag.Ranks{BM25: 1, Vector: 2}},
	}
	if got := retrievalConfidence("hotel refunds", chunks); got != 1 {
		t.Errorf("full coverage, both retrievers: %v, want 1", got)
	}
	if got := retrievalConfidence("hotel submarine", chunks); got != 0.65 {
		t.Errorf("half coverage: %v, want 0.65", got)
	}
	chunks[0].Ranks = rag.Ranks{Vector: 40}
	if got := retrievalConfidence("quantum chromodynamics", chunks); got != 0 {
		t.Errorf("no coverage, no agreement: %v, want 0", got)
	}
	if retrievalConfidence("hotel", nil) != 0 || retrievalConfidence("the of", chunks) != 0 {
		t.Error("no chunks or no query terms must give 0")
	}
}

func TestFollowUps(t *testing.T) {
	const text = "Some prose to answer from."
	chunks := []rag.Chunk{
		{Title: "Travel handbook", HeadingPath: []string{"Travel handbook", "Expenses"}, Text: text},
		{Title: "Travel handbook", HeadingPath: []string{"Travel handbook", "Flights"}, Text: text},
		{Title: "Travel handbook", HeadingPath: []string{"Travel handbook", "Flights"}, Text: text},
		{Title: "Security guide", HeadingPath: []string{"How do I reset my password?"}, Text: text},
		{Title: "API reference", HeadingPath: []string{"API limits"}, Text: text},
	}
	got := followUps("expenses", chunks, nil)
	want := []string{"What about flights?", "How do I reset my password?", "What about API limits?"}
	if !slices.Equal(got, want) {
		t.Errorf("followUps = %q, want %q", got, want)
	}
	if got := followUps("x", chunks[:1], nil); !slices.Equal(got, []string{"What about expenses?", "What about travel handbook?"}) {
		t.Errorf("followUps falls back to titles: %q", got)
	}
	// The sections the answer cites are not proposed again.
	if got := followUps("x", chunks[:3], map[int]bool{0: true}); !slices.Equal(got, []string{"What about flights?", "What about travel handbook?"}) {
		t.Errorf("followUps with chunk 0 cited: %q", got)
	}
	if got := followUps("x", nil, nil); len(got) != 0 {
		t.Errorf("no chunks: %q", got)
	}
}

// Follow-ups lead to prose: a section that holds only code, JSON or a
// command gives none, and neither do headings and titles that are code, a
// path or a file name.
func TestFollowUpsFromProseOnly(t *testing.T) {
	const text = "Some prose to answer from."
	chunks := []rag.Chunk{
		{Title: "Search", HeadingPath: []string{"Search", "Request"}, Text: `Request

{"query": "How much are hotel costs refunded per night?", "topK": 4}`},
		{Title: "Search", HeadingPath: []string{"Search", "Response"}, Text: "{\n  \"answer\": \"Hotel costs are refunded up to 180 euros per night. [1]\",\n  \"confidence\": 0.767\n}"},
		{Title: "Speed", HeadingPath: []string{"Speed", "Commands"}, Text: "go build -o /tmp/crispy ./cmd/crispy\ngo run ./bench/rag -bin /tmp/crispy -chunks 100000"},
		{Title: "search.md", HeadingPath: []string{"crispy ingest ./docs --tenant acme"}, Text: text},
		{Title: "search.md", HeadingPath: []string{"/v1/chat/completions"}, Text: text},
		{Title: "search.md", HeadingPath: []string{"x"}, Text: text},
		{Title: "Search", HeadingPath: []string{"Search", "Confidence"}, Text: "Before any answer, the retrieval confidence measures how well the sources bear on the query."},
	}
	got := followUps("hotel refunds", chunks, nil)
	if want := []string{"What about confidence?", "What about search?"}; !slices.Equal(got, want) {
		t.Errorf("followUps = %q, want %q", got, want)
	}
}
