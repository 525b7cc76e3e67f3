package search

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/crispy-enigma/crispy/internal/prose"
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
// (cited[i] for chunks[i]) are skipped: the answer already covered them.
// So are the headings and titles of chunks that hold no prose to answer
// from (a section that is one JSON example), and topics that are not prose
// themselves (code, a path, markup). A heading that is already a question
// is asked as it is; any other becomes "What about <heading>?".
func followUps(query string, chunks []rag.Chunk, cited map[int]bool) []string {
	qterms := termSet(query)
	seen := map[string]bool{}
	answerable := make([]int8, len(chunks)) // 0: not known yet, 1: yes, -1: no
	hasProse := func(i int) bool {
		if answerable[i] == 0 {
			answerable[i] = -1
			if prose.HasProse(chunks[i].Text) {
				answerable[i] = 1
			}
		}
		return answerable[i] > 0
	}
	var out []string
	add := func(i int, topic string) {
		topic = strings.Join(strings.Fields(topic), " ")
		key := strings.ToLower(topic)
		if topic == "" || seen[key] || covered(topic, qterms) || utf8.RuneCountInString(topic) > maxFollowUpChars-20 ||
			!proseTopic(topic) || !hasProse(i) {
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
			add(i, ch.HeadingPath[n-1])
		}
	}
	for i, ch := range chunks {
		if len(out) == MaxFollowUps {
			break
		}
		add(i, ch.Title)
	}
	return out
}

// proseTopic reports whether a heading or title can be asked about in a
// sentence: it has a word of two letters or more and reads as prose, not
// as code, a path, a file name or markup.
func proseTopic(topic string) bool {
	if strings.ContainsAny(topic, "{}[]<>|`\\\"") || prose.IsCode(topic) {
		return false
	}
	for _, w := range strings.Fields(topic) {
		if fileName(w) {
			return false
		}
	}
	letters := 0
	for _, r := range topic {
		if unicode.IsLetter(r) {
			if letters++; letters >= 2 {
				return true
			}
		} else {
			letters = 0
		}
	}
	return false
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

// fileName reports whether a word is the name of a document or data file,
// such as "search.md" or "tenant.jsonc": a document ingested by its file
// name has it for a title, which is no topic to ask about.
func fileName(w string) bool {
	i := strings.LastIndexByte(w, '.')
	return i > 0 && fileExts[strings.ToLower(w[i+1:])]
}

var fileExts = map[string]bool{"md": true, "markdown": true, "txt": true, "html": true, "htm": true, "json": true,
	"jsonc": true, "yaml": true, "yml": true, "toml": true, "csv": true, "xml": true, "pdf": true}
