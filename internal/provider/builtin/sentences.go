package builtin

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// span is one sentence of a text: text[start:end], with no space at either
// end. A heading is a title line rather than a sentence: a Markdown "#"
// line, or a short line with no closing punctuation that has text after it.
type span struct {
	start, end int
	heading    bool
}

// Limits of a heading-like line.
const (
	headingMaxWords = 8
	headingMaxBytes = 80
)

// splitSentences splits text into sentences. Between two sentences, and
// before the first and after the last, there is only white space: together
// they hold every other character of text, in order.
//
// Lines are first grouped into blocks: a blank line, a heading, a list item
// or a table row ends a block, and so does a short line with no closing
// punctuation followed by a line that starts with a capital or a digit (a
// title above a paragraph). Other lines are soft-wrapped prose and are
// joined. Within a block a sentence ends at '.', '!', '?' or '…' (with any
// closing quotes and brackets) followed by white space, or right after the
// ideographic '。', '！', '？'. A '.' does not end a sentence after a known
// abbreviation ("e.g.", "Dr.", "approx."), after an initial ("J. Smith"), or
// before a lowercase word; "Inc.", "etc.", "U.S." and the like end one only
// before a capital. A '.' inside a number ("3.5") or a name ("example.com")
// is never followed by space and so never ends one.
func splitSentences(text string) []span {
	var out []span
	lines := splitLines(text)
	lastText := -1 // the last line that is not blank
	for i, ln := range lines {
		if !ln.blank {
			lastText = i
		}
	}
	blockStart := -1
	for i, ln := range lines {
		if ln.blank {
			continue
		}
		if blockStart < 0 {
			blockStart = i
		}
		last := i+1 == len(lines)
		if !last && !breakAfter(text, ln, lines[i+1]) {
			continue
		}
		n := len(out)
		out = splitBlock(text, lines[blockStart].start, ln.end, out)
		if blockStart == i && len(out) == n+1 && isHeadingLine(text, ln, i < lastText) {
			out[n].heading = true
		}
		blockStart = -1
	}
	return out
}

// line is one line of a text, without its '\n'.
type line struct {
	start, end int
	blank      bool
}

func splitLines(text string) []line {
	var lines []line
	for start := 0; start <= len(text); {
		end := strings.IndexByte(text[start:], '\n')
		if end < 0 {
			end = len(text)
		} else {
			end += start
		}
		lines = append(lines, line{start: start, end: end, blank: strings.TrimFunc(text[start:end], unicode.IsSpace) == ""})
		start = end + 1
	}
	return lines
}

// breakAfter reports whether a block ends between cur and next.
func breakAfter(text string, cur, next line) bool {
	if next.blank {
		return true
	}
	c := strings.TrimFunc(text[cur.start:cur.end], unicode.IsSpace)
	nraw := text[next.start:next.end]
	n := strings.TrimFunc(nraw, unicode.IsSpace)
	switch {
	case isMarkdownHeading(c), isTableRow(c):
		return true
	case isMarkdownHeading(n), isListItem(n), isTableRow(n):
		return true
	case isListItem(c):
		// A list item goes on in an indented next line.
		r, _ := utf8.DecodeRuneInString(nraw)
		return !unicode.IsSpace(r)
	}
	if !shortLine(c) || endsClause(c) || endsSentence(c) {
		return false
	}
	r, _ := utf8.DecodeRuneInString(n)
	return unicode.IsUpper(r) || unicode.IsDigit(r)
}

// isHeadingLine reports whether a line that makes a block of one sentence
// is a heading.
func isHeadingLine(text string, ln line, more bool) bool {
	s := strings.TrimFunc(text[ln.start:ln.end], unicode.IsSpace)
	if isMarkdownHeading(s) {
		return true
	}
	return more && shortLine(s) && !isListItem(s) && !isTableRow(s) && !endsClause(s) && !endsSentence(s)
}

func shortLine(s string) bool {
	return len(s) <= headingMaxBytes && len(strings.Fields(s)) <= headingMaxWords
}

// endsClause reports whether s ends with punctuation that continues on the
// next line: a comma, semicolon, colon, dash or opening bracket.
func endsClause(s string) bool {
	r, _ := utf8.DecodeLastRuneInString(s)
	return strings.ContainsRune(",;:-–—([{", r)
}

// endsSentence reports whether s ends like a sentence, closing quotes and
// brackets aside.
func endsSentence(s string) bool {
	s = strings.TrimRightFunc(s, isCloser)
	r, _ := utf8.DecodeLastRuneInString(s)
	return isTerminal(r)
}

// isMarkdownHeading reports whether s starts with one to six '#' and a
// space, or is only '#'s.
func isMarkdownHeading(s string) bool {
	n := 0
	for n < len(s) && s[n] == '#' {
		n++
	}
	return n >= 1 && n <= 6 && (n == len(s) || s[n] == ' ' || s[n] == '\t')
}

func isTableRow(s string) bool { return strings.HasPrefix(s, "|") }

// isListItem reports whether s starts with a list marker: a bullet, or up
// to three digits or one letter followed by '.' or ')', then a space.
func isListItem(s string) bool {
	return listMarkerLen(s) > 0
}

// listMarkerLen returns the length of the list marker that s starts with,
// its space included, or 0.
func listMarkerLen(s string) int {
	r, size := utf8.DecodeRuneInString(s)
	switch r {
	case '-', '*', '+', '•', '·', '‣', '◦', '–':
		if size < len(s) && (s[size] == ' ' || s[size] == '\t') {
			return size + 1
		}
		return 0
	}
	n := 0
	for n < len(s) && n < 3 && '0' <= s[n] && s[n] <= '9' {
		n++
	}
	if n == 0 && len(s) > 0 && ('a' <= s[0] && s[0] <= 'z' || 'A' <= s[0] && s[0] <= 'Z') {
		n = 1
		if n < len(s) && s[n] != ')' {
			return 0 // "a." would take every "I." and "A." for a list
		}
	}
	if n == 0 || n+1 >= len(s) || s[n] != '.' && s[n] != ')' || s[n+1] != ' ' && s[n+1] != '\t' {
		return 0
	}
	return n + 2
}

// splitBlock appends the sentences of text[start:end] to out.
func splitBlock(text string, start, end int, out []span) []span {
	s := skipSpace(text, start, end)
	// The '.' of a list marker ("1. ") ends nothing.
	for i := s + listMarkerLen(text[s:end]); i < end; {
		r, size := utf8.DecodeRuneInString(text[i:end])
		if !isTerminal(r) {
			i += size
			continue
		}
		// The run of closing punctuation, quotes and brackets.
		j := i + size
		for j < end {
			r2, size2 := utf8.DecodeRuneInString(text[j:end])
			if !isTerminal(r2) && !isCloser(r2) {
				break
			}
			j += size2
		}
		if j >= end {
			break
		}
		if isIdeographicTerminal(text[i:j]) || endsHere(text, s, i, j, end) {
			out = appendSpan(out, text, s, j)
			s = skipSpace(text, j, end)
			j = s
		}
		i = j
	}
	return appendSpan(out, text, s, end)
}

// endsHere decides whether the punctuation text[i:j] ends the sentence that
// began at s.
func endsHere(text string, s, i, j, end int) bool {
	next, _ := utf8.DecodeRuneInString(text[j:end])
	if !unicode.IsSpace(next) {
		return false
	}
	punct := strings.TrimRightFunc(text[i:j], isCloser)
	following := firstLetter(text[j:end])
	switch {
	case strings.ContainsAny(punct, "!?"):
		return true
	case punct != ".":
		// An ellipsis, "..." or "…", trails off inside a sentence unless a
		// capital follows.
		return unicode.IsUpper(following)
	}
	// A single '.': look at the word before it.
	w := i
	for w > s {
		r, size := utf8.DecodeLastRuneInString(text[s:w])
		if !unicode.IsLetter(r) && r != '.' {
			break
		}
		w -= size
	}
	word := strings.ToLower(text[w:i])
	if _, ok := abbrevNever[word]; ok {
		return false
	}
	if r, size := utf8.DecodeRuneInString(text[w:i]); size == i-w && unicode.IsUpper(r) {
		return false // an initial
	}
	if _, ok := abbrevBeforeCapital[word]; ok || strings.Contains(word, ".") {
		// "in the U.S. The" ends a sentence, "the U.S. Army" does not: a
		// capitalised function word is a sentence's first word.
		return unicode.IsUpper(following) && startsSentence(text[j:end])
	}
	return !unicode.IsLower(following)
}

// startsSentence reports whether the first word of s is a capitalised
// stopword or a word that often opens a sentence.
func startsSentence(s string) bool {
	w := words(nil, s[:min(len(s), 64)])
	if len(w) == 0 {
		return false
	}
	_, ok := openers[w[0]]
	return ok || isStopword(w[0])
}

// openers are words, not stopwords, that often open a sentence.
var openers = setOf(`however therefore thus hence also meanwhile moreover furthermore
	finally first second third next today yesterday tomorrow later instead still
	yet since although though because many several every one two three`)

// abbrevNever are abbreviations that a sentence hardly ends with: titles
// before a name, and Latin and reference abbreviations before what they
// introduce.
var abbrevNever = setOf(`dr mr mrs ms mx prof sr jr st rev hon gen col capt lt sgt
	cmdr adm gov sen rep pres e.g i.e cf vs viz approx fig figs eq eqs ref refs
	vol vols pp ch sec no nos al ca est dept univ`)

// abbrevBeforeCapital are abbreviations that often end a sentence: they end
// one when a capital follows.
var abbrevBeforeCapital = setOf(`etc inc ltd co corp llc plc bros jan feb mar apr jun
	jul aug sep sept oct nov dec mon tue wed thu fri sat sun a.m p.m u.s u.k e.u
	misc`)

func setOf(words string) map[string]struct{} {
	m := make(map[string]struct{})
	for _, w := range strings.Fields(words) {
		m[w] = struct{}{}
	}
	return m
}

// firstLetter returns the first letter or digit of s, skipping space,
// opening quotes and brackets, or 0.
func firstLetter(s string) rune {
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return r
		}
		if !unicode.IsSpace(r) && !strings.ContainsRune("\"'“‘«([{¿¡*_", r) {
			return r
		}
	}
	return 0
}

func isTerminal(r rune) bool {
	switch r {
	case '.', '!', '?', '…', '。', '！', '？':
		return true
	}
	return false
}

func isIdeographicTerminal(s string) bool {
	return strings.ContainsAny(s, "。！？")
}

func isCloser(r rune) bool {
	switch r {
	case '"', '\'', '”', '’', '»', ')', ']', '}', '*', '_':
		return true
	}
	return false
}

func skipSpace(text string, i, end int) int {
	for i < end {
		r, size := utf8.DecodeRuneInString(text[i:end])
		if !unicode.IsSpace(r) {
			break
		}
		i += size
	}
	return i
}

// appendSpan appends text[start:end], trimmed, when it is not empty.
func appendSpan(out []span, text string, start, end int) []span {
	for end > start {
		r, size := utf8.DecodeLastRuneInString(text[start:end])
		if !unicode.IsSpace(r) {
			break
		}
		end -= size
	}
	start = skipSpace(text, start, end)
	if start < end {
		out = append(out, span{start: start, end: end})
	}
	return out
}

// sentenceText returns a sentence as an answer quotes it: its white space
// collapsed to single spaces, and a heading or list item made a sentence of
// its own, without its marker, with a capital and closing punctuation.
func sentenceText(s string) string {
	item := false
	if isMarkdownHeading(s) {
		s, item = strings.TrimLeft(s, "#"), true
	} else if n := listMarkerLen(s); n > 0 {
		s, item = s[n:], true
	}
	s = strings.Join(strings.Fields(s), " ")
	if !item || s == "" {
		return s
	}
	if r, size := utf8.DecodeRuneInString(s); unicode.IsLower(r) {
		s = string(unicode.ToUpper(r)) + s[size:]
	}
	if !endsSentence(s) {
		s = strings.TrimRight(s, ",;:") + "."
	}
	return s
}
