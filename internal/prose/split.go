package prose

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Span is one sentence of a text: text[Start:End], with no space at either
// end. A heading is a title line rather than a sentence: a Markdown "#"
// line, or a short line with no closing punctuation that has text after it.
// Code marks a sentence that is code, data or markup rather than prose
// (see IsCode): a line of a shell session, a piece of a JSON document.
type Span struct {
	Start, End int
	Heading    bool
	Code       bool
}

// Limits of a heading-like line.
const (
	headingMaxWords = 8
	headingMaxBytes = 80
)

// Split splits text into sentences. Between two sentences, and before the
// first and after the last, there is only white space: together they hold
// every other character of text, in order.
//
// Lines are first grouped into blocks: a blank line, a heading, a list item
// or a table row ends a block, and so does a short line with no closing
// punctuation followed by a line that starts with a capital or a digit (a
// title above a paragraph). Other lines are soft-wrapped prose and are
// joined. Each block is then split by Sentences. The sentences of a block
// that reads as code (IsCode: a JSON document, a shell session, a run of
// code lines) are all marked Code, even those that look like prose (a
// string in a JSON document); so is any other sentence that reads as code
// on its own.
func Split(text string) []Span {
	var out []Span
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
			out[n].Heading = true
		}
		code := IsCode(text[lines[blockStart].start:ln.end])
		for k := n; k < len(out); k++ {
			out[k].Code = code || IsCode(text[out[k].Start:out[k].End])
		}
		blockStart = -1
	}
	return out
}

// Sentences appends the sentences of the prose text[start:end] to out,
// each trimmed, none marked as a heading or as code. A blank line always
// ends a sentence. Otherwise a sentence ends at '.', '!', '?' or '…' (with
// any closing quotes and brackets) followed by white space, or right after
// the ideographic '。', '！', '？'. A '.' does not end a sentence after a
// known abbreviation ("e.g.", "Dr.", "approx."), after an initial ("J.
// Smith"), before a number after an abbreviation that numbers ("Fig. 3",
// "No. 5", "Jan. 12"), or before a lowercase word; "Inc.", "etc.", "U.S."
// and the like end one only before a capital that opens a sentence. A '.'
// inside a number ("3.5") or a name ("example.com") is never followed by
// space and so never ends one.
func Sentences(text string, start, end int, out []Span) []Span {
	s := start
	for i := start; i < end; {
		e := strings.IndexByte(text[i:end], '\n')
		if e < 0 {
			break
		}
		next := i + e + 1
		lineEnd := strings.IndexByte(text[next:end], '\n')
		if lineEnd < 0 {
			lineEnd = end
		} else {
			lineEnd += next
		}
		if skipSpace(text, next, lineEnd) == lineEnd && lineEnd < end {
			out = splitBlock(text, s, next, out)
			s = lineEnd
		}
		i = next
	}
	return splitBlock(text, s, end, out)
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
	case isMarkdownHeading(n), IsListItem(n), isTableRow(n):
		return true
	case IsListItem(c):
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
	return more && shortLine(s) && !IsListItem(s) && !isTableRow(s) && !endsClause(s) && (!endsSentence(s) || isQuestion(s))
}

// isQuestion reports whether s ends with a question mark, closing quotes
// and brackets aside: a short question on a line of its own before more
// text is a heading ("What is Crispy Enigma?"), never an answer.
func isQuestion(s string) bool {
	return strings.HasSuffix(strings.TrimRightFunc(s, isCloser), "?")
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

// IsListItem reports whether s starts with a list marker: a bullet, or up
// to three digits or one letter followed by '.' or ')', then a space.
func IsListItem(s string) bool {
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

// splitBlock appends the sentences of text[start:end], which holds no
// blank line, to out.
func splitBlock(text string, start, end int, out []Span) []Span {
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
	// A single '.': look at the word before it, at most 32 bytes back.
	w := i
	for w > s && i-w < 32 {
		r, size := utf8.DecodeLastRuneInString(text[s:w])
		if !unicode.IsLetter(r) && r != '.' {
			break
		}
		w -= size
	}
	word := strings.ToLower(text[w:i])
	if abbrevNever[word] {
		return false
	}
	if r, size := utf8.DecodeRuneInString(text[w:i]); size == i-w && unicode.IsUpper(r) {
		return false // an initial
	}
	if abbrevNumber[word] && unicode.IsDigit(following) {
		return false // "Fig. 3", "No. 5", "Jan. 12"
	}
	if abbrevBeforeCapital[word] || strings.Contains(word, ".") {
		// "in the U.S. The" ends a sentence, "the U.S. Army" does not: a
		// capitalised function word is a sentence's first word.
		return unicode.IsUpper(following) && startsSentence(text[j:end])
	}
	return !unicode.IsLower(following)
}

// startsSentence reports whether the first word of s is a capitalised
// stopword or a word that often opens a sentence.
func startsSentence(s string) bool {
	w := Words(nil, s[:min(len(s), 64)])
	if len(w) == 0 {
		return false
	}
	return openers[w[0]] || IsStopword(w[0])
}

// openers are words, not stopwords, that often open a sentence.
var openers = setOf(`however therefore thus hence also meanwhile moreover furthermore
	finally first second third next today yesterday tomorrow later instead still
	yet since although though because many several every one two three`)

// The abbreviations, the one list of them, lowercase and without their
// last '.'.
var (
	// abbrevNever a sentence hardly ends with: titles before a name, and
	// Latin and reference shorthands before what they introduce.
	abbrevNever = setOf(`dr mr mrs ms mx prof sr jr st mt rev fr hon gen col capt lt
		sgt cmdr adm gov sen rep pres messrs mme mlle e.g i.e cf vs viz approx al ca
		est resp dept univ`)
	// abbrevNumber number what follows: they do not end a sentence before
	// a digit.
	abbrevNumber = setOf(`no nos fig figs eq eqs ref refs vol vols p pp ch chap sec
		sect art para ed op pt jan feb mar apr jun jul aug sep sept oct nov dec`)
	// abbrevBeforeCapital often end a sentence: they end one when a
	// capital that opens a sentence follows.
	abbrevBeforeCapital = setOf(`etc inc ltd co corp llc plc bros jan feb mar apr jun
		jul aug sep sept oct nov dec mon tue wed thu fri sat sun a.m p.m u.s u.k e.u
		misc`)
)

func setOf(words string) map[string]bool {
	m := make(map[string]bool)
	for _, w := range strings.Fields(words) {
		m[w] = true
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
func appendSpan(out []Span, text string, start, end int) []Span {
	for end > start {
		r, size := utf8.DecodeLastRuneInString(text[start:end])
		if !unicode.IsSpace(r) {
			break
		}
		end -= size
	}
	start = skipSpace(text, start, end)
	if start < end {
		out = append(out, Span{Start: start, End: end})
	}
	return out
}

// Sentence returns a sentence as an answer quotes it: its white space
// collapsed to single spaces, and a heading or list item made a sentence of
// its own, without its marker, with a capital and closing punctuation.
func Sentence(s string) string {
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
