package chunk

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// span is a range of the document text.
type span struct{ start, end int }

// lines appends the non-blank lines of text[start:end], trimmed, to out:
// the "sentences" of code, lists and tables.
func lines(text string, start, end int, out []span) []span {
	for start < end {
		e := strings.IndexByte(text[start:end], '\n')
		if e < 0 {
			e = end
		} else {
			e += start
		}
		if a, b := trim(text, start, e); a < b {
			out = append(out, span{a, b})
		}
		start = e + 1
	}
	return out
}

// sentences appends the sentences of the prose text[start:end], trimmed,
// to out. A sentence ends at '.', '!', '?' or an ellipsis (closing quotes
// and brackets included) followed by white space and then not by a
// lower-case letter; a single '.' does not end one after an abbreviation
// ("Dr.", "e.g.", "U.S.", "Fig." before a number) or an initial ("J.").
// "3.5" and "example.com" hold no space after the '.', so never split. A
// blank line always ends a sentence, and so do the CJK full stops "。！？".
func sentences(text string, start, end int, out []span) []span {
	start, end = trim(text, start, end)
	s := start // the current sentence's start
	for i := start; i < end; {
		c := text[i]
		var termEnd int // just past the terminator, when i starts one
		single := false // the terminator is one '.'
		cjk := false
		switch {
		case c == '.' || c == '!' || c == '?':
			termEnd = i + 1
			for termEnd < end && (text[termEnd] == '.' || text[termEnd] == '!' || text[termEnd] == '?') {
				termEnd++
			}
			single = c == '.' && termEnd == i+1
		case c == '\n':
			// A blank line ends a sentence.
			j := i + 1
			for j < end && (text[j] == ' ' || text[j] == '\t' || text[j] == '\r') {
				j++
			}
			if j < end && text[j] == '\n' {
				if a, b := trim(text, s, i); a < b {
					out = append(out, span{a, b})
				}
				s, _ = trim(text, j, end)
				i = s
				continue
			}
			i++
			continue
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRuneInString(text[i:end])
			switch r {
			case '…':
				termEnd = i + size
			case '。', '！', '？':
				termEnd, cjk = i+size, true
			default:
				i += size
				continue
			}
		default:
			i++
			continue
		}
		k := skipClosers(text, termEnd, end)
		if k >= end {
			break
		}
		r, size := utf8.DecodeRuneInString(text[k:end])
		if !unicode.IsSpace(r) && !cjk {
			i = k // "3.5", "a.b", "?!x"
			continue
		}
		n := k
		for n < end {
			r, size = utf8.DecodeRuneInString(text[n:end])
			if !unicode.IsSpace(r) {
				break
			}
			n += size
		}
		if n < end && (cjk || endsSentence(text, s, i, single, r)) {
			out = append(out, span{s, k})
			s = n
		}
		i = n
	}
	if a, b := trim(text, s, end); a < b {
		out = append(out, span{a, b})
	}
	return out
}

// endsSentence decides whether the terminator at text[i] ends the sentence
// that starts at s, given the first character of what follows.
func endsSentence(text string, s, i int, single bool, next rune) bool {
	if unicode.IsLower(next) {
		return false
	}
	if !single {
		return true
	}
	w := wordBefore(text, s, i)
	if w == "" {
		return true
	}
	if strings.Contains(w, ".") {
		return false // e.g., i.e., U.S., a.m.
	}
	if r, _ := utf8.DecodeRuneInString(w); len(w) == utf8.RuneLen(r) && unicode.IsUpper(r) {
		return false // an initial: "J. R. R. Tolkien"
	}
	lw := strings.ToLower(w)
	if abbreviations[lw] {
		return false
	}
	if numbered[lw] && unicode.IsDigit(next) {
		return false
	}
	return true
}

// wordBefore returns the letters and dots just before offset i, within
// text[s:i] and at most 32 bytes.
func wordBefore(text string, s, i int) string {
	j := i
	for j > s && i-j < 32 {
		r, size := utf8.DecodeLastRuneInString(text[s:j])
		if !unicode.IsLetter(r) && r != '.' {
			break
		}
		j -= size
	}
	return text[j:i]
}

// abbreviations never end a sentence: titles and Latin shorthands.
var abbreviations = setOf(
	"mr", "mrs", "ms", "mx", "dr", "prof", "sr", "jr", "st", "mt", "rev", "fr", "gen", "col",
	"capt", "lt", "sgt", "cmdr", "adm", "gov", "sen", "rep", "hon", "messrs", "mme", "mlle",
	"cf", "vs", "viz", "al", "approx", "ca", "resp",
)

// numbered abbreviations do not end a sentence before a number ("Fig. 3",
// "No. 5", "Jan. 12").
var numbered = setOf(
	"no", "nos", "fig", "figs", "eq", "eqs", "vol", "vols", "ch", "chap", "sec", "sect", "p", "pp",
	"art", "para", "ed", "op", "pt", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep",
	"sept", "oct", "nov", "dec",
)

func setOf(words ...string) map[string]bool {
	m := make(map[string]bool, len(words))
	for _, w := range words {
		m[w] = true
	}
	return m
}

// skipClosers skips closing quotes and brackets after a terminator.
func skipClosers(text string, i, end int) int {
	for i < end {
		r, size := utf8.DecodeRuneInString(text[i:end])
		switch r {
		case '"', '\'', ')', ']', '}', '”', '’', '»', '」', '』', '）':
			i += size
		default:
			return i
		}
	}
	return i
}

// trim narrows text[a:b] to exclude white space at both ends.
func trim(text string, a, b int) (int, int) {
	for a < b {
		r, size := utf8.DecodeRuneInString(text[a:b])
		if !unicode.IsSpace(r) {
			break
		}
		a += size
	}
	for b > a {
		r, size := utf8.DecodeLastRuneInString(text[a:b])
		if !unicode.IsSpace(r) {
			break
		}
		b -= size
	}
	return a, b
}

// words appends the white-space separated words of text[start:end] to out.
func words(text string, start, end int, out []span) []span {
	w := -1
	for i := start; i < end; {
		r, size := rune(text[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(text[i:end])
		}
		if unicode.IsSpace(r) {
			if w >= 0 {
				out = append(out, span{w, i})
				w = -1
			}
		} else if w < 0 {
			w = i
		}
		i += size
	}
	if w >= 0 {
		out = append(out, span{w, end})
	}
	return out
}
