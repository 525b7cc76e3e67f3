package mockupstream

import (
	"strconv"
	"unicode/utf8"
)

const hex = "0123456789abcdef"

// appendString appends s as a JSON string, escaped as encoding/json does
// (HTML characters aside), with invalid UTF-8 replaced by U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendNullString appends s as a JSON string, or null if it is empty.
func appendNullString(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return appendString(b, s)
}

func appendInt(b []byte, n int) []byte { return strconv.AppendInt(b, int64(n), 10) }

// isSpace reports whether c is ASCII white space.
func isSpace(c byte) bool {
	return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v'
}

// splitTokens cuts s into tokens: each is a word with the white space
// before it, so that the tokens concatenate back to s. Trailing white space
// joins the last token.
func splitTokens(s string) []string {
	var toks []string
	start, i := 0, 0
	for i < len(s) {
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		for i < len(s) && !isSpace(s[i]) {
			i++
		}
		toks = append(toks, s[start:i])
		start = i
	}
	if n := len(toks); n > 1 && isBlank(toks[n-1]) {
		toks[n-2] += toks[n-1]
		toks = toks[:n-1]
	}
	return toks
}

func isBlank(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isSpace(s[i]) {
			return false
		}
	}
	return true
}

// countWords counts the runs of non-space bytes in s.
func countWords(s string) int {
	n := 0
	in := false
	for i := 0; i < len(s); i++ {
		sp := isSpace(s[i])
		if !sp && !in {
			n++
		}
		in = !sp
	}
	return n
}

// reshape repeats or cuts toks to exactly n tokens (n > 0), putting a space
// before a word that starts a repetition.
func reshape(toks []string, n int) []string {
	if len(toks) == 0 {
		toks = []string{"ok"}
	}
	out := make([]string, 0, n)
	for i := 0; len(out) < n; i++ {
		t := toks[i%len(toks)]
		if i >= len(toks) && i%len(toks) == 0 && (t == "" || !isSpace(t[0])) {
			t = " " + t
		}
		out = append(out, t)
	}
	return out
}
