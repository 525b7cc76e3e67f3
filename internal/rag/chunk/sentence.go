package chunk

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/crispy-enigma/crispy/internal/prose"
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
// to out, as prose.Sentences splits them: at sentence ends, abbreviations
// and initials aside, and at blank lines.
func sentences(text string, start, end int, out []span) []span {
	for _, st := range prose.Sentences(text, start, end, nil) {
		out = append(out, span{st.Start, st.End})
	}
	return out
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
