package search

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/crispy-enigma/crispy/internal/rag"
	"github.com/crispy-enigma/crispy/internal/rag/index"
)

// MaxFollowUps is the most follow-up questions a search returns.
const MaxFollowUps = 3

// maxFollowUpChars bounds one follow-up question.
const maxFollowUpChars = 200

// followUps proposes up to MaxFollowUps questions the knowledge base can
// answer, offline, from the retrieved chunks in rank order: each names the
// section heading of a chunk (or, failing headings, the title of a
// document) that the query does not already cover, so the question leads
// to a passage that exists. The headings of the chunks the answer cites
// (cited[i] for chunks[i]) are skipped: the answer already covered them. A
// heading that is already a question is asked as it is; any other becomes
// "What about <heading>?".
func followUps(query string, chunks []rag.Chunk, cited map[int]bool) []string {
	qterms := termSet(query)
	seen := map[string]bool{}
	var out []string
	add := func(topic string) {
		topic = strings.Join(strings.Fields(topic), " ")
		key := strings.ToLower(topic)
		if topic == "" || seen[key] || covered(topic, qterms) || utf8.RuneCountInString(topic) > maxFollowUpChars-20 {
			return
		}
		seen[key] = true
		out = append(out, question(topic))
	}
	for i, ch := range chunks {
		if len(out) == MaxFollowUps {
			return out
		}
		if n := len(ch.HeadingPath); n > 0 && !cited[i] {
			add(ch.HeadingPath[n-1])
		}
	}
	for _, ch := range chunks {
		if len(out) == MaxFollowUps {
			break
		}
		add(ch.Title)
	}
	return out
}

// covered reports whether most of a topic's terms are already in the
// query: asking about it again would not lead anywhere new.
func covered(topic string, qterms map[string]bool) bool {
	ts := dedup(index.Terms(topic))
	return len(ts) == 0 || 2*found(ts, qterms) > len(ts)
}

// question turns a heading into a question.
func question(topic string) string {
	topic = strings.TrimRight(topic, ".:;, ")
	if strings.HasSuffix(topic, "?") {
		return topic
	}
	first, _, _ := strings.Cut(topic, " ")
	if questionWords[strings.ToLower(first)] {
		return topic + "?"
	}
	return "What about " + lowerFirst(topic) + "?"
}

// lowerFirst lowercases a capitalised first word ("Installation"), leaving
// acronyms and mixed case ("API", "iPhone") alone.
func lowerFirst(s string) string {
	first, rest, _ := strings.Cut(s, " ")
	r, size := utf8.DecodeRuneInString(first)
	if !unicode.IsUpper(r) {
		return s
	}
	for _, c := range first[size:] {
		if !unicode.IsLower(c) {
			return s
		}
	}
	out := string(unicode.ToLower(r)) + first[size:]
	if rest != "" {
		out += " " + rest
	}
	return out
}
