package rag

import (
	"regexp"
	"slices"
	"strings"
)

// injectionPatterns match text that addresses a model rather than a reader:
// instructions to ignore its rules, to change role, to reveal its prompt or
// to call tools, and chat-template control tokens. A match flags the passage;
// it is still used, framed as data and marked, so that a document that
// merely discusses prompt injection is not lost.
var injectionPatterns = []struct {
	// need are groups of words: every match of the pattern holds a word of
	// each group, so the expression, which costs a hundred times more than
	// finding them, runs only when all groups are present, and only around
	// the words of the group anchor (see LooksLikeInjection). The rarest
	// group comes first: most texts are ruled out by it alone.
	need   [][]string
	anchor int
	// whole: the pattern is anchored at the start of the text, so it runs
	// on the whole text rather than around its words.
	whole bool
	re    *regexp.Regexp
}{
	{[][]string{{"ignore", "disregard", "forget", "override"}, {"instruction", "rules", "prompt", "directions", "guidelines"}}, 0, false,
		regexp.MustCompile(`(?i)\b(ignore|disregard|forget|override)\b.{0,40}\b(previous|prior|above|earlier|all|any|your|the)\b.{0,20}\b(instructions?|rules|prompts?|directions|guidelines)\b`)},
	{[][]string{{"you are now", "act as", "instruction", "from now on"}}, 0, false,
		regexp.MustCompile(`(?i)\byou are now\b|\bact as (an?|the) \w+|\bnew instructions?\s{0,20}:|\bfrom now on,? you\b`)},
	{[][]string{{"system prompt", "instruction"}, {"reveal", "print", "show", "repeat", "output"}}, 0, false,
		regexp.MustCompile(`(?i)\b(reveal|print|show|repeat|output)\b.{0,30}\b(system prompt|hidden instructions?|your instructions)\b`)},
	{[][]string{{"tool", "function"}, {"call", "invoke", "run", "execute", "use"}, {"ingest_docs", "summarize", "extract_entities", "classify_intent", "tag_chunk", "with arguments", "now"}}, 0, false,
		regexp.MustCompile(`(?i)\b(call|invoke|run|execute|use)\b.{0,20}\b(the )?(tool|function)s?\b.{0,40}\b(ingest_docs|summarize|extract_entities|classify_intent|tag_chunk|with arguments|now)\b`)},
	{[][]string{{"<|", "[inst", "[/inst", "<<sys>>", "##"}}, 0, true,
		regexp.MustCompile(`(?i)<\|(im_start|im_end|system|assistant|user|endoftext)\|>|\[/?INST\]|<<SYS>>|^\s*#{2,}\s*(system|instruction)s?\b`)},
	{[][]string{{"ignore", "you must", "you should", "always", "never"}, {":", ","}, {"assistant", "ai", "model", "llm", "chatbot"}}, 0, false,
		regexp.MustCompile(`(?i)\b(assistant|ai|model|llm|chatbot)\s{0,20}[:,]\s{0,20}(ignore|you must|you should|always|never)\b`)},
}

// hintWindow is how far, in bytes, around an anchor word a match can
// reach: every pattern's gaps are bounded (.{0,40}, \s{0,20} and the like,
// in runes of up to four bytes), and the longest reach, pattern 1's, is
// under 300.
const hintWindow = 400

// LooksLikeInjection reports whether text contains instructions aimed at a
// model. A pattern runs only when the text holds a word of each of its
// groups, and then on the stretches around its anchor words (hintWindow
// bytes on each side, widened to whole words, overlapping stretches merged)
// rather than on all of the text: never more text than the whole, often
// much less.
func LooksLikeInjection(text string) bool {
	// The patterns are case-insensitive, so matching the lower case is the
	// same, once the letters that fold to ASCII ones without being their
	// lower case (the long s) are folded too, for the words to be found.
	lower := strings.ToLower(text)
	if strings.ContainsRune(lower, 'ſ') {
		lower = strings.ReplaceAll(lower, "ſ", "s")
	}
	var spans [][2]int
	for _, p := range injectionPatterns {
		if !holdsAll(lower, p.need) {
			continue
		}
		if p.whole {
			if p.re.MatchString(lower) {
				return true
			}
			continue
		}
		spans = spans[:0]
		for _, w := range p.need[p.anchor] {
			for from := 0; ; {
				i := strings.Index(lower[from:], w)
				if i < 0 {
					break
				}
				i += from
				from = i + len(w)
				spans = append(spans, [2]int{max(0, i-hintWindow), min(len(lower), from+hintWindow)})
			}
		}
		slices.SortFunc(spans, func(a, b [2]int) int { return a[0] - b[0] })
		for k := 0; k < len(spans); {
			lo, hi := spans[k][0], spans[k][1]
			for k++; k < len(spans) && spans[k][0] <= hi; k++ {
				hi = max(hi, spans[k][1])
			}
			if p.re.MatchString(lower[wordStart(lower, lo):wordEnd(lower, hi)]) {
				return true
			}
		}
	}
	return false
}

// holdsAll reports whether s holds a word of every group.
func holdsAll(s string, groups [][]string) bool {
	for _, g := range groups {
		if !slices.ContainsFunc(g, func(w string) bool { return strings.Contains(s, w) }) {
			return false
		}
	}
	return true
}

// wordStart moves i back to the start of the word it is in, so that a
// stretch does not begin inside a word.
func wordStart(s string, i int) int {
	for i > 0 && !isSpace(s[i-1]) {
		i--
	}
	return i
}

// wordEnd moves i forward to the end of the word it is in.
func wordEnd(s string, i int) int {
	for i < len(s) && !isSpace(s[i]) {
		i++
	}
	return i
}

func isSpace(b byte) bool { return b == ' ' || b == '\n' || b == '\t' || b == '\r' }

var (
	emailPattern = regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}`)
	// Phone numbers: an optional +country code, then 7 to 15 digits in
	// groups separated by spaces, dots, dashes or parentheses.
	phonePattern = regexp.MustCompile(`(?:\+\d{1,3}[\s.\-]?)?(?:\(\d{1,4}\)[\s.\-]?)?\d{2,4}(?:[\s.\-]\d{2,4}){1,4}`)
	isoDate      = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
)

// Redact masks the kinds of personal data listed ("email", "phone").
func Redact(text string, kinds []string) string {
	for _, k := range kinds {
		switch k {
		case "email":
			text = emailPattern.ReplaceAllString(text, "[email]")
		case "phone":
			text = phonePattern.ReplaceAllStringFunc(text, func(m string) string {
				// 7 to 15 digits, and the look of a phone number: a country
				// code, an area code in parentheses, or three groups (but
				// not an ISO date).
				digits, groups := 0, 1
				for i, r := range m {
					switch {
					case r >= '0' && r <= '9':
						digits++
					case i > 0 && (r == ' ' || r == '.' || r == '-'):
						groups++
					}
				}
				shaped := strings.ContainsAny(m, "+(") || (groups >= 3 && !isoDate.MatchString(m))
				if digits < 7 || digits > 15 || !shaped {
					return m
				}
				return "[phone]"
			})
		}
	}
	return text
}

// frame keeps passage text from closing the element that frames it.
var frame = strings.NewReplacer("<source", "‹source", "</source", "‹/source")
