package prose

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Words appends the lowercase words of s to dst: runs of letters, digits and
// combining marks, with a '.' or ',' between two digits kept ("3.5",
// "1,000"). Apostrophes split words, so "don't" gives "don" and "t"; both
// are stopwords.
func Words(dst []string, s string) []string {
	start := -1
	var prev rune
	for i, r := range s {
		if isWordRune(r) {
			if start < 0 {
				start = i
			}
			prev = r
			continue
		}
		if start >= 0 && (r == '.' || r == ',') && unicode.IsDigit(prev) {
			if next, _ := utf8.DecodeRuneInString(s[i+1:]); unicode.IsDigit(next) {
				continue
			}
		}
		if start >= 0 {
			dst = append(dst, lower(s[start:i]))
			start = -1
		}
		prev = r
	}
	if start >= 0 {
		dst = append(dst, lower(s[start:]))
	}
	return dst
}

func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r)
}

// lower is strings.ToLower without the allocation for a word that is
// lowercase ASCII already.
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || 'A' <= c && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

// Stem folds English plurals with Harman's S-stemmer ("How effective is
// suffixing?", JASIS 1991): "-ies" to "-y", "-es" to "-e", "-s" to "", except
// after a, e, o (ies, es) and u, s (s). Words of three letters or fewer are
// kept as they are.
func Stem(w string) string {
	if len(w) <= 3 {
		return w
	}
	switch {
	case strings.HasSuffix(w, "ies") && !strings.HasSuffix(w, "eies") && !strings.HasSuffix(w, "aies"):
		return w[:len(w)-3] + "y"
	case strings.HasSuffix(w, "es") && !strings.HasSuffix(w, "aes") && !strings.HasSuffix(w, "ees") && !strings.HasSuffix(w, "oes"):
		return w[:len(w)-1]
	case strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "us") && !strings.HasSuffix(w, "ss"):
		return w[:len(w)-1]
	}
	return w
}

// stopwords are function words, question words and the pieces apostrophes
// leave behind: words that say nothing about what a sentence is about.
var stopwords = func() map[string]struct{} {
	m := make(map[string]struct{})
	for _, w := range strings.Fields(`
		a about above after again against all also am an and any are as at
		be been before being below between both but by can could d did do does
		doing don doesn didn down during each either else ever few for from
		further had has have having he her here hers herself him himself his
		how i if in into is isn it its itself just ll m may me might more most
		must my myself no nor not now of off on once only or other our ours
		ourselves out over own please re s same shall she should so some such
		t tell than that the their theirs them themselves then there these they
		this those through to too under until up upon us ve very was wasn we
		were weren what when where which while who whom whose why will with
		won would wouldn you your yours yourself yourselves`) {
		m[w] = struct{}{}
	}
	return m
}()

// IsStopword reports whether w, a lowercase word, is a function word,
// a question word or a piece an apostrophe leaves behind.
func IsStopword(w string) bool {
	_, ok := stopwords[w]
	return ok
}
