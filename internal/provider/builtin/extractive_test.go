package builtin_test

import (
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/crispy-enigma/crispy/internal/provider"
	"github.com/crispy-enigma/crispy/internal/provider/builtin"
	"github.com/crispy-enigma/crispy/internal/tokens"
)

var update = flag.Bool("update", false, "rewrite the .golden files in testdata")

// collect reads a stream to its end. It returns the text, the last delta
// (finish reason and usage) and the number of text deltas.
func collect(t *testing.T, s provider.Stream) (string, provider.Delta, int) {
	t.Helper()
	defer s.Close()
	var b strings.Builder
	var last provider.Delta
	n := 0
	for {
		d, err := s.Recv()
		if err == io.EOF {
			return b.String(), last, n
		}
		if err != nil {
			t.Fatalf("Recv: %v", err)
		}
		if d.Text != "" {
			n++
		}
		if d.FinishReason != "" && d.Text != "" {
			t.Errorf("final delta carries text %q", d.Text)
		}
		b.WriteString(d.Text)
		last = d
	}
}

func chat(t *testing.T, req *provider.ChatRequest) (string, provider.Delta) {
	t.Helper()
	s, err := new(builtin.Extractive).Chat(context.Background(), req)
	if err != nil {
		t.Fatalf("Chat: %v", err)
	}
	text, last, _ := collect(t, s)
	return text, last
}

var citation = regexp.MustCompile(`\[(\d+)\]`)

// quoted splits an answer into its sentences and the citation of each.
func quoted(answer string) (sentences []string, cites []string) {
	rest := answer
	for {
		loc := citation.FindStringSubmatchIndex(rest)
		if loc == nil {
			return sentences, cites
		}
		sentences = append(sentences, strings.TrimSpace(rest[:loc[0]]))
		cites = append(cites, rest[loc[2]:loc[3]])
		rest = rest[loc[1]:]
	}
}

func normalize(s string) string { return strings.Join(strings.Fields(s), " ") }

func TestExtractiveGolden(t *testing.T) {
	tests := []struct {
		name, question string
		cites          string // the citations the answer must use, in order
	}{
		{"eiffel-height", "How tall is the Eiffel Tower?", "111"},
		{"eiffel-builder", "Who built the Eiffel Tower?", "11"},
		{"photosynthesis", "How does photosynthesis turn light into chemical energy?", "22"},
		{"photosynthesis-inputs", "What are the inputs and outputs of photosynthesis?", "222"},
		{"python-release", "Who created Python and when was it first released?", "3"},
		{"python-features", "What are the notable features of Python?", "333"},
		{"chlorophyll", "What is chlorophyll?", "24"},
		{"no-overlap", "What is the capital of Australia?", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, last := chat(t, &provider.ChatRequest{Model: builtin.ChatModel, Messages: user(tt.question), Passages: passages})
			if last.FinishReason != "stop" {
				t.Errorf("finish reason %q, want stop", last.FinishReason)
			}
			sents, cites := quoted(got)
			if strings.Join(cites, "") != tt.cites {
				t.Errorf("citations %q, want %q in\n%s", strings.Join(cites, ""), tt.cites, got)
			}
			if tt.cites == "" && got != builtin.NoAnswer {
				t.Errorf("answer %q, want NoAnswer", got)
			}
			// Every quoted sentence comes from the passage it cites, list
			// markers aside.
			for i, s := range sents {
				p := passages[cites[i][0]-'1']
				core := strings.TrimRight(s, ".")
				if !strings.Contains(strings.ToLower(normalize(p.Text)), strings.ToLower(core)) {
					t.Errorf("sentence %q is not in passage %s", s, cites[i])
				}
			}
			golden(t, filepath.Join("testdata", tt.name+".golden"), got)
		})
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != strings.TrimSuffix(string(want), "\n") {
		t.Errorf("answer differs from %s\n got: %s\nwant: %s", path, got, want)
	}
}

func TestExtractiveRedundancy(t *testing.T) {
	dup := "Photosynthesis converts light energy into chemical energy stored in glucose."
	got, _ := chat(t, &provider.ChatRequest{Messages: user("What does photosynthesis convert light energy into?"), Passages: passages})
	if n := strings.Count(got, dup); n != 1 {
		t.Errorf("the sentence both passages 2 and 4 hold is quoted %d times, want once:\n%s", n, got)
	}
	// The same passage twice under two numbers: its sentences are quoted
	// once, from the first.
	twice := []provider.Passage{passages[0], {N: 2, Text: passages[0].Text}}
	got, _ = chat(t, &provider.ChatRequest{Messages: user("How tall is the Eiffel Tower?"), Passages: twice})
	if _, cites := quoted(got); strings.Contains(strings.Join(cites, ""), "2") {
		t.Errorf("a duplicate passage was quoted:\n%s", got)
	}
}

func TestExtractiveNoAnswer(t *testing.T) {
	tests := []struct {
		name string
		req  *provider.ChatRequest
	}{
		{"no passages", &provider.ChatRequest{Messages: user("How tall is the Eiffel Tower?")}},
		{"no user message", &provider.ChatRequest{Messages: []provider.Message{{Role: provider.RoleSystem, Content: "Eiffel Tower"}}, Passages: passages}},
		{"only stopwords", &provider.ChatRequest{Messages: user("What is it and where is that?"), Passages: passages}},
		{"no shared word", &provider.ChatRequest{Messages: user("Which planet has the most moons?"), Passages: passages}},
		{"empty passages", &provider.ChatRequest{Messages: user("How tall is it?"), Passages: []provider.Passage{{N: 1}, {N: 2, Text: "  \n"}}}},
		{"earlier turns do not count", &provider.ChatRequest{Messages: []provider.Message{
			{Role: provider.RoleUser, Content: "How tall is the Eiffel Tower?"},
			{Role: provider.RoleAssistant, Content: "330 m."},
			{Role: provider.RoleUser, Content: "Which planet has the most moons?"},
		}, Passages: passages}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, last := chat(t, tt.req)
			if got != builtin.NoAnswer {
				t.Errorf("answer %q, want %q", got, builtin.NoAnswer)
			}
			if last.FinishReason != "stop" || last.Usage == nil || last.Usage.CompletionTokens != tokens.Count(builtin.NoAnswer) {
				t.Errorf("final delta %+v, want stop with the tokens of NoAnswer", last)
			}
		})
	}
}

func TestExtractiveLastUserMessage(t *testing.T) {
	msgs := []provider.Message{
		{Role: provider.RoleSystem, Content: "Answer from the sources."},
		{Role: provider.RoleUser, Content: "What is chlorophyll?"},
		{Role: provider.RoleAssistant, Content: "A green pigment."},
		{Role: provider.RoleUser, Content: "Who built the Eiffel Tower?"},
	}
	got, _ := chat(t, &provider.ChatRequest{Messages: msgs, Passages: passages})
	if _, cites := quoted(got); len(cites) == 0 || strings.Trim(strings.Join(cites, ""), "1") != "" {
		t.Errorf("answer to the last question cites %v:\n%s", cites, got)
	}
}

func TestExtractiveUsage(t *testing.T) {
	req := &provider.ChatRequest{Messages: append([]provider.Message{{Role: provider.RoleSystem, Content: "Be brief."}}, user("Who built the Eiffel Tower?")...), Passages: passages}
	got, last := chat(t, req)
	want := tokens.CountMessages(req.Messages)
	for _, p := range passages {
		want += tokens.Count(p.Text)
	}
	u := last.Usage
	if u == nil {
		t.Fatal("no usage on the final delta")
	}
	if u.PromptTokens != want || u.CompletionTokens != tokens.Count(got) || u.Estimated {
		t.Errorf("usage %+v, want prompt %d, completion %d, not estimated", *u, want, tokens.Count(got))
	}
}

func TestExtractiveMaxTokens(t *testing.T) {
	ask := func(limit int) (string, provider.Delta) {
		return chat(t, &provider.ChatRequest{Messages: user("How tall is the Eiffel Tower?"), Passages: passages, MaxTokens: limit})
	}
	full, _ := ask(0)
	total := tokens.Count(full)
	// The best sentence is quoted whatever the budget, and cut to fit.
	best, _ := (&builtin.Extractive{MaxSentences: 1}).Answer(&provider.ChatRequest{Messages: user("How tall is the Eiffel Tower?"), Passages: passages})
	first := tokens.Count(best)
	for _, limit := range []int{1, 2, 5, first - 1, first, total - 1, total, total + 10} {
		got, last := ask(limit)
		n := tokens.Count(got)
		if n > limit {
			t.Errorf("MaxTokens %d: answer has %d tokens: %q", limit, n, got)
		}
		if last.Usage.CompletionTokens != n {
			t.Errorf("MaxTokens %d: usage says %d completion tokens, the text has %d", limit, last.Usage.CompletionTokens, n)
		}
		switch {
		case limit >= total:
			if got != full || last.FinishReason != "stop" {
				t.Errorf("MaxTokens %d: %q, %q; want the whole answer, stop", limit, got, last.FinishReason)
			}
		case limit >= first:
			// Fewer whole sentences that fit.
			if !strings.HasSuffix(got, "]") || last.FinishReason != "stop" || len(got) >= len(full) {
				t.Errorf("MaxTokens %d: %q, %q; want fewer whole sentences, stop", limit, got, last.FinishReason)
			}
		default:
			// The first sentence alone is too long: it is cut after a word.
			if !strings.HasPrefix(best, got) || best[len(got)] != ' ' || last.FinishReason != "length" {
				t.Errorf("MaxTokens %d: %q, %q; want a cut after a whole word, length", limit, got, last.FinishReason)
			}
		}
	}
}

func TestExtractiveStop(t *testing.T) {
	req := &provider.ChatRequest{Messages: user("Who built the Eiffel Tower?"), Passages: passages}
	full, _ := chat(t, req)
	req.Stop = []string{"zzz", "Gustave", "company"}
	got, last := chat(t, req)
	if want := strings.TrimSpace(full[:strings.Index(full, "Gustave")]); got != want || last.FinishReason != "stop" {
		t.Errorf("got %q, %q; want %q, stop", got, last.FinishReason, want)
	}
}

func TestExtractiveMaxSentences(t *testing.T) {
	e := builtin.Extractive{MaxSentences: 1}
	text, _ := e.Answer(&provider.ChatRequest{Messages: user("How tall is the Eiffel Tower?"), Passages: passages})
	if sents, _ := quoted(text); len(sents) != 1 || !strings.Contains(text, "330 m") {
		t.Errorf("one sentence: %q", text)
	}
}

func TestExtractiveUnnumberedPassages(t *testing.T) {
	ps := []provider.Passage{{Text: "Cats sleep for most of the day."}, {Text: "Dogs like long walks in the park."}}
	text, _ := new(builtin.Extractive).Answer(&provider.ChatRequest{Messages: user("Do dogs like walks?"), Passages: ps})
	if text != "Dogs like long walks in the park. [2]" {
		t.Errorf("got %q; a passage without N is cited by its position", text)
	}
}

func TestExtractiveStreamsWords(t *testing.T) {
	req := &provider.ChatRequest{Messages: user("Who built the Eiffel Tower?"), Passages: passages}
	s, err := new(builtin.Extractive).Chat(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	text, _, n := collect(t, s)
	if want := len(strings.Fields(text)); n != want {
		t.Errorf("%d text deltas for %d words", n, want)
	}
	// The stream and Answer agree, and so do two runs.
	answer, _ := new(builtin.Extractive).Answer(req)
	again, _ := chat(t, req)
	if text != answer || text != again {
		t.Errorf("stream %q, Answer %q, second run %q", text, answer, again)
	}
	// After the end, io.EOF again.
	if _, err := s.Recv(); err != io.EOF {
		t.Errorf("Recv after the end: %v, want io.EOF", err)
	}
}

func TestExtractiveDeterministic(t *testing.T) {
	for _, q := range []string{"How tall is the Eiffel Tower?", "What is chlorophyll?", "What are the notable features of Python?"} {
		req := &provider.ChatRequest{Messages: user(q), Passages: passages}
		first, _ := chat(t, req)
		for range 20 {
			if got, _ := chat(t, req); got != first {
				t.Fatalf("%q: %q then %q", q, first, got)
			}
		}
	}
}

func TestExtractiveCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s, err := new(builtin.Extractive).Chat(ctx, &provider.ChatRequest{Messages: user("How tall is the Eiffel Tower?"), Passages: passages})
	if err != nil {
		t.Fatal(err)
	}
	if d, err := s.Recv(); err != nil || d.Text == "" {
		t.Fatalf("first Recv: %+v, %v", d, err)
	}
	cancel()
	for range 2 {
		if _, err := s.Recv(); !errors.Is(err, context.Canceled) {
			t.Fatalf("Recv after cancel: %v, want context.Canceled", err)
		}
	}
	// Cancelled before the call: Chat fails.
	if _, err := new(builtin.Extractive).Chat(ctx, &provider.ChatRequest{Messages: user("x")}); !errors.Is(err, context.Canceled) {
		t.Errorf("Chat with a cancelled context: %v", err)
	}
}

func TestExtractiveClose(t *testing.T) {
	s, err := new(builtin.Extractive).Chat(context.Background(), &provider.ChatRequest{Messages: user("How tall is the Eiffel Tower?"), Passages: passages})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { // Close may race with Recv
		s.Close()
		close(done)
	}()
	s.Recv()
	<-done
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.Recv(); err == nil || err == io.EOF {
		t.Errorf("Recv after Close: %v, want an error", err)
	}
}

func FuzzExtractive(f *testing.F) {
	f.Add("How tall is it?", passages[0].Text, 0)
	f.Add("photosynthesis energy", passages[1].Text+"\n\n"+passages[3].Text, 7)
	f.Add("x", "", 1)
	f.Fuzz(func(t *testing.T, question, text string, limit int) {
		limit %= 64
		req := &provider.ChatRequest{Messages: user(question), Passages: []provider.Passage{{N: 1, Text: text}, {N: 2, Text: text}}, MaxTokens: limit}
		got, finish := new(builtin.Extractive).Answer(req)
		if limit > 0 && tokens.Count(got) > limit {
			t.Fatalf("%d tokens over MaxTokens %d: %q", tokens.Count(got), limit, got)
		}
		if finish != "stop" && finish != "length" {
			t.Fatalf("finish %q", finish)
		}
		if again, _ := new(builtin.Extractive).Answer(req); again != got {
			t.Fatalf("not deterministic: %q then %q", got, again)
		}
	})
}

// Code, JSON and command lines are not sentences: the answer quotes the
// prose around them, and when only code matches the question it says it
// does not know.
func TestExtractiveNeverQuotesCode(t *testing.T) {
	docs := []provider.Passage{
		{N: 1, Title: "Search", Text: "## Request\n\n{\"query\": \"How much are hotel costs refunded per night?\", \"topK\": 4}\n\n## Response\n\nThe envelope's data:\n\n{\n  \"answer\": \"Hotel costs are refunded up to 180 euros per night. [1]\",\n  \"confidence\": 0.767\n}"},
		{N: 2, Title: "Speed", Text: "Build it first.\n\ngo build -o /tmp/crispy ./cmd/crispy\ngo run ./bench/rag -bin /tmp/crispy -chunks 100000"},
		{N: 3, Title: "Limits", Text: "Rag.maxContextTokens caps how much retrieved text one prompt holds. Pages hold 1-1000 documents per page."},
		{N: 4, Title: "Travel", Text: "Flights are booked through Skyways. Hotel costs are refunded up to 150 euros per night in Europe."},
	}
	for _, tt := range []struct {
		question string
		passages []provider.Passage
		want     string
	}{
		{"How much is refunded per hotel night?", docs[:3], builtin.NoAnswer},
		{"How much are hotel costs refunded per night?", docs[:3], builtin.NoAnswer},
		{"go build crispy bench rag chunks", docs[:3], builtin.NoAnswer},
		{"How much are hotel costs refunded per night?", docs, "Hotel costs are refunded up to 150 euros per night in Europe. [4]"},
	} {
		got, _ := chat(t, &provider.ChatRequest{Messages: user(tt.question), Passages: tt.passages})
		if got != tt.want {
			t.Errorf("%q over %d passages: %q, want %q", tt.question, len(tt.passages), got, tt.want)
		}
	}
}
